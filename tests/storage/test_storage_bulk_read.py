"""FileArray's bulk read (raw descriptors): large files, missing files, a vanished folder, corrupt files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pipemap.storage import CorruptElementWarning, FileArray


def test_get_many_reads_small_large_and_missing_elements(tmp_path: Path) -> None:
    big = bytes(range(256)) * 2000  # 512 kB: more than one os.read
    arr = FileArray(tmp_path, (4,))
    arr.dump_many([0, 1, 3], ["small", big, {"k": [1, 2]}])
    out = arr.get_many(np.array([3, 2, 1, 0]))
    assert out[0] == {"k": [1, 2]}
    assert out[1] is np.ma.masked
    assert out[2] == big
    assert out[3] == "small"
    assert arr.get_from_index(1) == big


def test_get_many_after_the_folder_vanished_is_all_masked(tmp_path: Path) -> None:
    arr = FileArray(tmp_path / "a", (2,))
    arr.dump_many([0, 1], [1, 2])
    shutil.rmtree(tmp_path / "a")
    assert arr.get_many([0, 1]) == [np.ma.masked, np.ma.masked]


def test_get_many_masks_a_corrupt_element_and_names_its_file(tmp_path: Path) -> None:
    arr = FileArray(tmp_path, (3,))
    arr.dump_many([0, 1, 2], ["a", "b", "c"])
    (tmp_path / "__1__.pickle").write_bytes(b"\x80\x05\x95")
    with pytest.warns(CorruptElementWarning, match=r"__1__\.pickle"):
        out = arr.get_many([0, 1, 2])
    assert out[0] == "a" and out[1] is np.ma.masked and out[2] == "c"


def test_custom_filename_template_is_honoured(tmp_path: Path) -> None:
    arr = FileArray(tmp_path, (3,), filename_template="e{:d}.bin")
    arr.dump_many([2], ["z"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e2.bin", "shape.json"]
    assert arr.get_many([0, 2]) == [np.ma.masked, "z"]

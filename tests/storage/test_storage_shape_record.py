"""The shape record of `file_array` and `chunked` output folders (`shape.json`, FORMAT.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipemap.storage import ChunkedArray, FileArray, RunFolderError

BACKENDS = [FileArray, ChunkedArray]


@pytest.mark.parametrize("cls", BACKENDS)
def test_folder_of_another_shape_is_refused(tmp_path: Path, cls: type) -> None:
    folder = tmp_path / "outputs" / "y"
    store = cls(folder, (2, 3))
    store.dump_many(range(6), list(range(6)))
    assert json.loads((folder / "shape.json").read_text())["shape"] == [2, 3]
    with pytest.raises(RunFolderError) as info:
        cls(folder, (3, 2))
    msg = str(info.value)
    assert "`y`" in msg and str(folder) in msg and "(3, 2)" in msg and "(2, 3)" in msg
    assert cls(folder, (2, 3)).get_many(range(6)) == list(range(6))


@pytest.mark.parametrize("cls", BACKENDS)
def test_unresolved_shape_is_checked_once_resolved(tmp_path: Path, cls: type) -> None:
    folder = tmp_path / "y"
    cls(folder, (4,)).dump_many(range(4), list("abcd"))
    later = cls(folder, ("?",))  # not known yet: nothing to compare
    later.shape = (5,)
    before = sorted(str(p) for p in folder.rglob("*"))
    with pytest.raises(RunFolderError, match=r"\(5,\).*\(4,\)"):
        later.done_mask()
    with pytest.raises(RunFolderError, match=r"\(5,\).*\(4,\)"):
        later.dump_many([4], ["e"])
    assert sorted(str(p) for p in folder.rglob("*")) == before  # the refused write wrote nothing
    assert cls(folder, (4,)).get_many(range(4)) == list("abcd")


@pytest.mark.parametrize("cls", BACKENDS)
def test_internal_shape_is_part_of_the_record(tmp_path: Path, cls: type) -> None:
    folder = tmp_path / "y"
    cls(folder, (2,), (3,), (True, False)).dump_many(range(2), [[1, 2, 3], [4, 5, 6]])
    with pytest.raises(RunFolderError, match="internal"):
        cls(folder, (2,), (4,), (True, False))
    assert cls(folder, (2,), (3,), (True, False)).to_array().tolist() == [[1, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize("cls", BACKENDS)
def test_folder_without_record_is_read_as_before(tmp_path: Path, cls: type) -> None:
    folder = tmp_path / "y"
    cls(folder, (3,)).dump_many(range(3), [1, 2, 3])
    (folder / "shape.json").unlink()
    other = cls(folder, (3,))
    assert other.get_many(range(3)) == [1, 2, 3]
    assert other.done_mask().tolist() == [True, True, True]
    other.dump_many([0], [9])  # a later write records the shape it writes with
    assert json.loads((folder / "shape.json").read_text())["shape"] == [3]


@pytest.mark.parametrize("cls", BACKENDS)
def test_damaged_record_is_a_clear_error(tmp_path: Path, cls: type) -> None:
    folder = tmp_path / "y"
    cls(folder, (3,)).dump_many(range(3), [1, 2, 3])
    (folder / "shape.json").write_text("{not json")
    with pytest.raises(RunFolderError, match="shape.json"):
        cls(folder, (3,))

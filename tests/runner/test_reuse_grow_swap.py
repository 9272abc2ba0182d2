"""The folder swap of an in-place grow (``pipemap.storage._grow_swap``): a ``file_array`` output
whose reused elements mostly keep their index gets the old element folder itself (one rename),
holding exactly the reused elements at their new indices; damaged files and error snapshots of
the folder's own old run are recomputed, never served.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from pipemap.runner import PipeFunc, Pipeline, run_map
from pipemap.storage import FileArray, copy_elements, grow_copies, read_keys
from pipemap.storage._copy import _intact_positions

if str(Path(__file__).parent) not in sys.path:  # (import mode is importlib)
    sys.path.insert(0, str(Path(__file__).parent))

from _reuse_helpers import LOG, calls, grid_pipeline, note, reset

os.environ.setdefault(LOG, os.path.join(tempfile.mkdtemp(prefix="pipemap-reuse-log-"), "calls.log"))


@pytest.fixture(autouse=True)
def _fresh_log():
    reset()


def run(folder, x, y=range(3), **kwargs):
    kwargs.setdefault("parallel", False)
    inputs = {"x": np.asarray(x, dtype=float), "y": np.asarray(y, dtype=float)}
    return run_map(grid_pipeline(), inputs, run_folder=folder, reuse_from=folder, **kwargs)


def element_files(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def check(r, x, y=range(3)) -> None:
    z = np.outer(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    np.testing.assert_array_equal(np.asarray(r["z"].output, dtype=float), z)
    np.testing.assert_array_equal(np.asarray(r["row"].output, dtype=float), z.sum(1))
    np.testing.assert_array_equal(np.asarray(r["col"].output, dtype=float), z.sum(0))


def test_growing_the_first_axis_swaps_the_old_folder_in(tmp_path):
    folder = tmp_path / "run"
    run(folder, range(4))
    z = folder / "outputs" / "z"
    inode = os.stat(z).st_ino
    reset()
    r = run(folder, range(7))
    check(r, range(7))
    assert set(calls("mul")) == {repr((float(x), float(y))) for x in (4, 5, 6) for y in range(3)}
    assert calls()["row_sum"] == 3
    assert os.stat(z).st_ino == inode  # the old element folder itself, not a copy of its files
    assert json.loads((z / "shape.json").read_text())["shape"] == [7, 3]
    assert element_files(z) == sorted(["shape.json", *(f"__{n}__.pickle" for n in range(21))])
    assert not grow_copies(folder)
    assert r.summary.elements["mul"] == {"reused": 12, "computed": 9}


def test_reordered_dropped_and_new_rows(tmp_path):
    """Rows 0 and 1 trade places (a cycle of renames), x=6 is dropped, x=7 moves up, two rows are new."""
    folder = tmp_path / "run"
    run(folder, range(8))
    z = folder / "outputs" / "z"
    inode = os.stat(z).st_ino
    reset()
    x = [1, 0, 2, 3, 4, 5, 7, 8, 9]
    r = run(folder, x)
    check(r, x)
    assert set(calls("mul")) == {repr((float(v), float(y))) for v in (8, 9) for y in range(3)}
    assert os.stat(z).st_ino == inode  # swapped (12 of 21 reused elements keep their index)
    assert element_files(z) == sorted(["shape.json", *(f"__{n}__.pickle" for n in range(27))])  # no dropped or temporary file
    assert read_keys(folder, "z").shape == (9, 3, 2)


def test_shrinking_keeps_only_the_reused_files(tmp_path):
    folder = tmp_path / "run"
    run(folder, range(5))
    reset()
    r = run(folder, range(3))
    check(r, range(3))
    assert calls()["mul"] == 0
    assert element_files(folder / "outputs" / "z") == sorted(["shape.json", *(f"__{n}__.pickle" for n in range(9))])


def test_mostly_moved_elements_are_moved_one_by_one(tmp_path):
    """Growing the last axis changes almost every linear index: no swap, the same result."""
    folder = tmp_path / "run"
    run(folder, range(3), range(3))
    inode = os.stat(folder / "outputs" / "z").st_ino
    reset()
    r = run(folder, range(3), range(5))
    check(r, range(3), range(5))
    assert set(calls("mul")) == {repr((float(x), float(y))) for x in range(3) for y in (3, 4)}
    assert os.stat(folder / "outputs" / "z").st_ino != inode


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_own_file_is_recomputed_not_served(tmp_path, damage):
    folder = tmp_path / "run"
    run(folder, range(4))
    path = folder / "outputs" / "z" / "__4__.pickle"  # z[1, 1]
    data = path.read_bytes()
    path.write_bytes({"garbage": b"\x80\x05garbage.", "truncated": data[:-2], "empty": b""}[damage])
    reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = run(folder, range(6))
    check(r, range(6))
    assert calls("mul")["(1.0, 1.0)"] == 1
    assert calls()["mul"] == 7


def test_a_stray_file_of_the_old_folder_is_not_carried_over(tmp_path):
    folder = tmp_path / "run"
    run(folder, range(3))
    (folder / "outputs" / "z" / ".__2__.pickle.tmp-123-4").write_bytes(b"half")
    run(folder, range(4))
    assert not [n for n in os.listdir(folder / "outputs" / "z") if n.startswith(".")]


def fragile(x):
    note("fragile", x)
    if x == 2:
        raise ValueError("bad 2")
    return x


def big(x):
    note("big", x)
    return np.full(20_000, float(x))  # > 64 KiB: a pickle of several frames (decoded, not framed)


def test_error_snapshots_of_the_own_run_are_recomputed(tmp_path):
    p = Pipeline([PipeFunc(fragile, "y", mapspec="x[i] -> y[i]")])
    folder = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_map(p, {"x": [1, 2, 3, 4]}, run_folder=folder, parallel=False, error_handling="continue")
        reset()
        r = run_map(p, {"x": [1, 2, 3, 4, 5]}, run_folder=folder, reuse_from=folder, parallel=False, error_handling="continue")
    assert set(calls("fragile")) == {"2", "5"}
    assert r.summary.elements["fragile"] == {"reused": 3, "computed": 2}


def test_large_elements_are_decoded_and_reused(tmp_path):
    p = Pipeline([PipeFunc(big, "y", mapspec="x[i] -> y[i]")])
    folder = tmp_path / "run"
    run_map(p, {"x": [1, 2, 3]}, run_folder=folder, parallel=False)
    reset()
    r = run_map(p, {"x": [1, 2, 3, 4]}, run_folder=folder, reuse_from=folder, parallel=False)
    assert set(calls("big")) == {"4"}
    assert [float(v[0]) for v in r["y"].output] == [1.0, 2.0, 3.0, 4.0]


def test_framing_check_without_unpickling():
    whole = pickle.dumps({"a": 1.5}, protocol=5)
    big_one = pickle.dumps(np.ones(20_000), protocol=5)
    raw = [whole, whole[:-1], whole[:-3] + b".", None, b"", big_one, big_one[:1000], whole + b"x"]
    # a file that fails the framing check is decoded (the trailing byte: the value is whole)
    assert _intact_positions(raw, (), quick=True) == _intact_positions(raw, (), quick=False) == [0, 5, 7]


def test_copy_elements_swap_calls_forget_before_moving(tmp_path):
    old = FileArray(tmp_path / "old" / "z", (4,))
    old.dump_many([0, 1, 2, 3], ["a", "b", "c", "d"])
    new = FileArray(tmp_path / "new" / "z", (6,))
    forgotten = []

    def forget(indices):
        forgotten.append(sorted(indices.tolist()))
        assert sorted(os.listdir(old.folder)) == ["__0__.pickle", "__2__.pickle", "__3__.pickle"]  # nothing moved yet

    got = copy_elements(new, old, np.array([0, 2, 3, 4]), np.array([0, 3, 2, 4]), (), move=True, forget=forget)
    assert sorted(got.tolist()) == [0, 2, 3]  # (old element 4 does not exist; element 1 is not reused)
    assert forgotten == [[2, 3]]
    assert new.to_array().tolist() == ["a", None, "d", "c", None, None]
    assert not old.folder.exists()


# ---------------------------------------------------------------- chunked: whole packs


def chunk_dirs(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in folder.iterdir() if p.name.startswith("c") and p.name[1:].isdigit()}


def test_chunked_rerun_in_place_moves_whole_chunks(tmp_path):
    folder = tmp_path / "run"
    x = np.arange(40, dtype=float)
    run(folder, x, range(50), storage="chunked")  # 2000 elements: two chunks of 1024
    before = chunk_dirs(folder / "outputs" / "z")
    reset()
    x2 = x.copy()
    x2[35] = -1.0  # z[35, :] = elements 1750..1799, in chunk 1
    r = run(folder, x2, range(50), storage="chunked")
    check(r, x2, range(50))
    assert set(calls("mul")) == {repr((-1.0, float(y))) for y in range(50)}
    after = chunk_dirs(folder / "outputs" / "z")
    assert after["c0"] == before["c0"]  # chunk 0: every element reused at its index: its folder moved in
    assert after["c1"] != before["c1"]  # chunk 1 holds the changed row: element-wise
    assert not grow_copies(folder)


def test_chunked_reuse_from_another_folder_links_packs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run_map(grid_pipeline(), {"x": np.arange(30.0), "y": np.arange(40.0)}, run_folder=a, storage="chunked", parallel=False)
    reset()
    r = run_map(grid_pipeline(), {"x": np.arange(31.0), "y": np.arange(40.0)}, run_folder=b, storage="chunked", parallel=False, reuse_from=a)
    check(r, range(31), range(40))
    assert calls()["mul"] == 40
    packs = [p for p in (b / "outputs" / "z" / "c0").iterdir() if p.suffix == ".pack"]
    assert packs and all(p.stat().st_nlink == 2 for p in packs)  # shared with `a`, not rewritten
    links = sorted(p.stat().st_nlink for p in (b / "outputs" / "z" / "c1").iterdir() if p.suffix == ".pack")
    assert links[0] == 1 and links[-1] == 2  # chunk 1: the old elements linked, the 40 new ones in a pack of b's own


def test_chunks_with_a_log_a_snapshot_or_a_damaged_pack_go_element_wise(tmp_path):
    from pipemap.storage import ChunkedArray, CorruptElementWarning, ErrorSnapshot
    from pipemap.storage._copy_packs import link_chunks

    old = ChunkedArray(tmp_path / "old", (12,), chunk_size=4)
    old.dump_many(range(12), list(range(12)))
    old.dump(1, 100)  # chunk 0: a log
    try:
        raise ValueError("boom")
    except ValueError as exc:
        snap = ErrorSnapshot(fragile, exc, kwargs={"x": 2})
    old.dump_many([5], [snap])  # chunk 1: an error snapshot
    old.flush()
    pack = sorted((tmp_path / "old" / "c2").iterdir())[0]
    pack.write_bytes(pack.read_bytes()[:-3] + b"xyz")  # chunk 2: a damaged pack of the right size
    new = ChunkedArray(tmp_path / "new", (12,), chunk_size=4)
    everything = np.arange(12)
    assert link_chunks(new, old, everything, everything).tolist() == []
    with pytest.warns(CorruptElementWarning, match="c2"):
        got = copy_elements(new, old, everything, everything, (ErrorSnapshot,))
    assert sorted(got.tolist()) == [0, 1, 2, 3, 4, 6, 7]  # the snapshot and the damaged pack are not copied
    assert new.get_many(range(8))[:5] == [0, 100, 2, 3, 4]

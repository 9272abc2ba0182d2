"""``reuse_from`` through every entry point and scheduling path, multi-output functions, and the
folder's own old copies of an in-place grow."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from pipemap.runner import PipeFunc, Pipeline, run_map, run_map_async
from pipemap.storage import begin_grow, grow_copies

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from _reuse_helpers import LOG, calls, grid_pipeline, note, reset

os.environ.setdefault(LOG, os.path.join(tempfile.mkdtemp(prefix="pipemap-reuse-log-"), "calls.log"))


@pytest.fixture(autouse=True)
def _fresh_log():
    reset()


def inputs(n: int) -> dict:
    return {"x": np.arange(n, dtype=float), "y": np.arange(3, dtype=float)}


def expected(n: int) -> np.ndarray:
    return np.outer(np.arange(n, dtype=float), np.arange(3, dtype=float))


def test_pipeline_map_and_map_async_take_reuse_from(tmp_path):
    p = grid_pipeline()
    p.map(inputs(2), run_folder=tmp_path / "a", parallel=False)
    reset()
    r = p.map(inputs(3), run_folder=tmp_path / "b", parallel=False, reuse_from=tmp_path / "a")
    assert calls()["mul"] == 3
    np.testing.assert_array_equal(np.asarray(r["z"].output, dtype=float), expected(3))
    reset()

    async def go():
        runner = p.map_async(inputs(4), run_folder=tmp_path / "c", reuse_from=[tmp_path / "b"], executor=None)
        return await runner.task

    r = asyncio.run(go())
    assert calls()["mul"] == 3
    np.testing.assert_array_equal(np.asarray(r["z"].output, dtype=float), expected(4))


def test_run_map_async_and_eager_scheduling(tmp_path):
    run_map(grid_pipeline(), inputs(2), run_folder=tmp_path / "a", parallel=False)
    reset()
    r = run_map_async(grid_pipeline(), inputs(3), run_folder=tmp_path / "b", reuse_from=tmp_path / "a", executor=None, start=False).result()
    assert calls()["mul"] == 3
    assert r.summary.elements["mul"] == {"reused": 6, "computed": 3}
    reset()
    r = run_map(grid_pipeline(), inputs(4), run_folder=tmp_path / "c", reuse_from=tmp_path / "b", parallel=False, scheduling_strategy="eager")
    assert calls()["mul"] == 3
    np.testing.assert_array_equal(np.asarray(r["row"].output, dtype=float), expected(4).sum(1))


def split(x):
    note("split", x)
    return x, -x


def test_multi_output_functions(tmp_path):
    p = Pipeline([PipeFunc(split, ("pos", "neg"), mapspec="x[i] -> pos[i], neg[i]")])
    run_map(p, {"x": [1, 2]}, run_folder=tmp_path / "a", parallel=False)
    reset()
    r = run_map(p, {"x": [1, 2, 3]}, run_folder=tmp_path / "b", parallel=False, reuse_from=tmp_path / "a")
    assert calls()["split"] == 1
    assert list(r["pos"].output) == [1, 2, 3] and list(r["neg"].output) == [-1, -2, -3]


def test_grow_in_place_leaves_no_copy_and_a_resume_uses_an_interrupted_ones(tmp_path):
    folder = tmp_path / "run"
    run_map(grid_pipeline(), inputs(2), run_folder=folder, parallel=False)
    run_map(grid_pipeline(), inputs(3), run_folder=folder, parallel=False, reuse_from=folder)
    assert not grow_copies(folder)
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".pipemap.grow"))== []
    # a grow killed after the new record: the new run is resumable and the old copy is a source
    begin_grow(folder)
    reset()
    r = run_map(grid_pipeline(), inputs(4), run_folder=folder, parallel=False)  # (a new record, nothing computed yet)
    assert calls()["mul"] == 12  # a plain fresh run does not reuse: and it deletes the copy
    assert not grow_copies(folder)
    copy = begin_grow(folder)
    (folder / "run_info.json").write_bytes((copy / "run_info.json").read_bytes())  # the "new" record (same inputs)
    (folder / "pipemap.json").write_bytes((copy / "pipemap.json").read_bytes())
    for sub in ("inputs", "defaults"):
        os.makedirs(folder / sub)
        for f in (copy / sub).iterdir():
            (folder / sub / f.name).write_bytes(f.read_bytes())
    reset()
    r = run_map(grid_pipeline(), inputs(4), run_folder=folder, parallel=False, resume=True)
    assert calls()["mul"] == 0  # everything came from the copy kept aside
    np.testing.assert_array_equal(np.asarray(r["z"].output, dtype=float), expected(4))
    assert not grow_copies(folder)


def test_reuse_from_needs_a_run_folder_and_rejects_other_types(tmp_path):
    with pytest.raises(ValueError, match="`reuse_from` needs a `run_folder`"):
        run_map(grid_pipeline(), inputs(2), parallel=False, reuse_from=tmp_path)
    with pytest.raises(TypeError, match="`reuse_from` must be a run folder"):
        run_map(grid_pipeline(), inputs(2), run_folder=tmp_path / "a", parallel=False, reuse_from=3)


def inc(x):
    note("inc", x)
    return x + 1


def twice(y):
    note("twice", y)
    return 2 * y


def test_a_fused_element_wise_chain_in_a_process_pool(tmp_path, process_pool):
    p = Pipeline([PipeFunc(inc, "y", mapspec="x[i] -> y[i]"), PipeFunc(twice, "w", mapspec="y[i] -> w[i]")])
    run_map(p, {"x": list(range(6))}, run_folder=tmp_path / "a", executor=process_pool)
    reset()
    r = run_map(p, {"x": list(range(10))}, run_folder=tmp_path / "b", executor=process_pool, reuse_from=tmp_path / "a")
    assert calls() == {"inc": 4, "twice": 4}
    assert list(r["w"].output) == [2 * (x + 1) for x in range(10)]

"""``wait=False`` returns once everything is queued; ``scancel`` of the running array job then
``resume=True`` submits, and recomputes, only the missing elements.
"""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from pipemap.io import load_outputs
from pipemap.runner import Pipeline, pipefunc, run_map
from pipemap.runner.slurm import SlurmExecutor, SlurmRunError

_spec = importlib.util.spec_from_file_location("_slurm_helpers", Path(__file__).with_name("_slurm_helpers.py"))
assert _spec is not None and _spec.loader is not None
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

pytestmark = pytest.mark.slurm

N = 24


@pipefunc("y", mapspec="x[i] -> y[i]")
def slow(x, calls):
    time.sleep(0.2)
    (Path(calls) / f"{x}-{uuid.uuid4().hex}").touch()  # one file per call
    return 10 * x


@pipefunc("total")
def add_up(y):
    return int(np.sum(y))


PIPELINE = Pipeline([slow, add_up])


@pytest.fixture
def folders(tmp_path: Path):
    helpers.need_cluster()
    run, calls = tmp_path / "run", tmp_path / "calls"
    calls.mkdir()
    yield run, calls
    helpers.cancel_and_wait(run)


def _calls(calls: Path) -> list[int]:
    counts = [0] * N
    for p in calls.iterdir():
        counts[int(p.name.split("-")[0])] += 1
    return counts


def _stored(run: Path) -> np.ndarray:
    y = load_outputs("y", run_folder=run)
    return ~np.ma.getmaskarray(y)


def test_scancel_then_resume_recomputes_only_missing(folders) -> None:
    run, calls = folders
    inputs = {"x": list(range(N)), "calls": str(calls)}
    ex = SlurmExecutor(elements_per_task=4, poll_interval=0.3, wait=False)
    t0 = time.perf_counter()
    empty = run_map(PIPELINE, inputs, run_folder=run, executor=ex)
    assert time.perf_counter() - t0 < 30 and len(empty) == 0  # returned once queued
    jobs = json.loads((run / "slurm" / "jobs.json").read_text())
    array_id = jobs["functions"][0]["job_id"]
    deadline = time.monotonic() + 60
    while sum(_calls(calls)) < 6:  # part of the array has run
        assert time.monotonic() < deadline, "the array job did not start"
        time.sleep(0.1)
    helpers.cancel_and_wait(run)
    stored = _stored(run)
    assert 0 < stored.sum() < N, stored
    before = _calls(calls)
    assert not (run / "outputs" / "total.cloudpickle").exists()  # the reduction was cancelled with it

    again = SlurmExecutor(elements_per_task=4, poll_interval=0.3)
    results = run_map(PIPELINE, inputs, run_folder=run, executor=again, resume=True)
    assert results["y"].output.tolist() == [10 * x for x in range(N)]
    assert results["total"].output == 10 * sum(range(N))
    plan = json.loads((run / "slurm" / "jobs.json").read_text())["functions"]
    assert plan[0]["job_id"] != array_id
    assert plan[0]["n_elements"] == int((~stored).sum())  # only the missing elements were submitted
    after = _calls(calls)
    for k in range(N):
        if stored[k]:
            assert after[k] == before[k] == 1, k  # stored before the cancel: never recomputed
        else:
            assert after[k] == before[k] + 1, k


def test_resume_refused_while_jobs_are_queued(folders) -> None:
    run, calls = folders
    inputs = {"x": list(range(N)), "calls": str(calls)}
    run_map(PIPELINE, inputs, run_folder=run, executor=SlurmExecutor(elements_per_task=4, wait=False))
    with pytest.raises(SlurmRunError, match="still queued or running"):
        run_map(PIPELINE, inputs, run_folder=run, executor=SlurmExecutor(), resume=True)


def test_resume_of_a_finished_run_submits_nothing(folders) -> None:
    run, calls = folders
    inputs = {"x": list(range(6)), "calls": str(calls)}
    ex = SlurmExecutor(elements_per_task=3, poll_interval=0.3)
    first = run_map(PIPELINE, inputs, run_folder=run, executor=ex)
    second = run_map(PIPELINE, inputs, run_folder=run, executor=ex, resume=True)
    assert second["total"].output == first["total"].output == 150
    assert json.loads((run / "slurm" / "jobs.json").read_text())["functions"] == []
    assert sum(_calls(calls)) == 6

"""SlurmExecutor on a real SLURM cluster (the local one of tools/slurm/local_slurm.sh): results
equal the sequential run for element-wise, outer-product and reduction pipelines, with
``file_array`` and ``chunked``; the whole pipeline is queued at once as one array job per
mapped function; raise mode names the failed job and its log.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from pipemap.runner import Pipeline, pipefunc, run_map
from pipemap.runner.slurm import SlurmExecutor, SlurmJobError

_spec = importlib.util.spec_from_file_location("_slurm_helpers", Path(__file__).with_name("_slurm_helpers.py"))
assert _spec is not None and _spec.loader is not None
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

pytestmark = pytest.mark.slurm


@pipefunc("y", mapspec="x[i] -> y[i]")
def square(x):
    return x * x


@pipefunc("z", mapspec="y[i], w[j] -> z[i, j]")
def shift(y, w):
    return y + w


@pipefunc("s")
def total(z):
    return int(np.sum(z))


PIPELINE = Pipeline([square, shift, total])
INPUTS = {"x": list(range(13)), "w": [1, 2, 3]}


@pytest.fixture
def run_folder(tmp_path: Path):
    helpers.need_cluster()
    folder = tmp_path / "run"
    yield folder
    helpers.cancel_and_wait(folder)


def _same(results, expected) -> None:
    for name, value in expected.items():
        got = results[name].output
        if isinstance(value.output, np.ndarray):
            assert np.array_equal(np.asarray(got, dtype=object), np.asarray(value.output, dtype=object)), name
        else:
            assert got == value.output, name


@pytest.mark.parametrize("storage", ["file_array", "chunked"])
def test_results_equal_sequential_run(run_folder: Path, storage: str) -> None:
    expected = run_map(PIPELINE, INPUTS, parallel=False)
    ex = SlurmExecutor(elements_per_task=5, poll_interval=0.3)
    results = run_map(PIPELINE, INPUTS, run_folder=run_folder, executor=ex, storage=storage)
    _same(results, expected)
    jobs = json.loads((run_folder / "slurm" / "jobs.json").read_text())
    kinds = [(r["key"], r["kind"], r["n_tasks"]) for r in jobs["functions"]]
    assert kinds == [("y", "array", 3), ("z", "array", 8), ("s", "single", 1)]
    # the reduction waited for the outer product, which waited for the element-wise function
    assert [r["depends_on"] for r in jobs["functions"]] == [[], ["y"], ["z"]]


@pipefunc("y", mapspec="x[i] -> y[i]")
def fails_at_three(x):
    if x == 3:
        raise ValueError(f"bad element {x}")
    return x


@pipefunc("t")
def tally(y):
    return int(np.sum(y))


def test_raise_mode_names_job_and_log(run_folder: Path) -> None:
    ex = SlurmExecutor(elements_per_task=2, poll_interval=0.3)
    with pytest.raises(SlurmJobError) as info:
        run_map(Pipeline([fails_at_three, tally]), {"x": list(range(6))}, run_folder=run_folder, executor=ex)
    err = info.value
    jobs = json.loads((run_folder / "slurm" / "jobs.json").read_text())
    array_id = jobs["functions"][0]["job_id"]
    assert err.job == f"{array_id}_1"  # elements 2, 3 are array task 1
    assert err.log == str(run_folder.absolute() / "slurm" / "logs" / f"y-{array_id}_1.log")
    assert Path(err.log).is_file()
    assert "bad element 3" in str(err)  # the end of the log: the traceback
    helpers.wait_done(run_folder)
    assert not (run_folder / "outputs" / "t.cloudpickle").exists()  # the reduction never ran


@pipefunc("u", mapspec="y[i] -> u[i]")
def plus_one(y):
    return y + 1


@pipefunc("y", mapspec="x[i] -> y[i]")
def dies_at_three(x):
    if x == 3:
        os._exit(3)  # the whole array task dies (as on a lost node or the OOM killer)
    return x


def _is_error(value: object) -> bool:
    return "ErrorSnapshot" in type(value).__name__


@pytest.mark.parametrize("first", [fails_at_three, dies_at_three], ids=["raises", "task-dies"])
def test_continue_mode_stores_errors_and_runs_on(run_folder: Path, first) -> None:
    ex = SlurmExecutor(elements_per_task=2, poll_interval=0.3)
    inputs = {"x": list(range(6))}
    pipe = Pipeline([first, plus_one])
    results = run_map(pipe, inputs, run_folder=run_folder, executor=ex, error_handling="continue")
    ys, us = results["y"].output, results["u"].output
    lost = {3} if first is fails_at_three else {2, 3}  # a dead task loses its unwritten elements too
    assert [k for k in range(6) if _is_error(ys[k])] == sorted(lost)
    assert [k for k in range(6) if _is_error(us[k])] == sorted(lost)
    assert [us[k] for k in range(6) if k not in lost] == [k + 1 for k in range(6) if k not in lost]
    failures = json.loads((run_folder / "failures.json").read_text())
    assert failures["outputs"]["y"] == sorted(lost)
    if first is dies_at_three:
        jobs = json.loads((run_folder / "slurm" / "jobs.json").read_text())
        array_id = jobs["functions"][0]["job_id"]
        snapshot = ys[3]
        assert f"SLURM job {array_id}" in str(snapshot.exception)
        assert f"{array_id}_1: FAILED" in str(snapshot.exception)

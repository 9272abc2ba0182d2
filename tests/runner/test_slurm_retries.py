"""Retries on SLURM: an array task that dies (as on a lost node) leaves its elements missing;
with ``retries=`` its seal job resubmits exactly those elements (up to the budget) and the
dependent reduction waits for the resubmission. Without attempts left, raise mode names the
failed task and its log.
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
def dies_once(x, marks):
    mark = Path(marks) / f"died-{x}"
    if x == 3 and not mark.exists():
        mark.touch()
        os._exit(9)  # the whole array task dies, the first time only
    (Path(marks) / f"ran-{x}-{os.getpid()}").touch()
    return 3 * x


@pipefunc("s")
def total(y):
    return int(np.sum(y))


@pytest.fixture
def folders(tmp_path: Path):
    helpers.need_cluster()
    run, marks = tmp_path / "run", tmp_path / "marks"
    marks.mkdir()
    yield run, marks
    helpers.cancel_and_wait(run)


def test_lost_elements_are_resubmitted(folders) -> None:
    run, marks = folders
    inputs = {"x": list(range(8)), "marks": str(marks)}
    ex = SlurmExecutor(elements_per_task=2, poll_interval=0.3)
    results = run_map(Pipeline([dies_once, total]), inputs, run_folder=run, executor=ex, retries=1)
    assert results["y"].output.tolist() == [3 * x for x in range(8)]
    assert results["s"].output == 3 * sum(range(8))
    rec = json.loads((run / "slurm" / "jobs.json").read_text())["functions"][0]
    assert rec["attempt"] == 2 and len(rec["earlier"]) == 1
    assert rec["n_elements"] == 2  # only the two elements of the dead task (2 and 3)
    ran = sorted(int(p.name.split("-")[1]) for p in marks.glob("ran-*"))
    # element 2 ran before its task died, unstored (batches are written every 0.25 s): it ran
    # again; every stored element ran exactly once
    assert ran == [0, 1, 2, 2, 3, 4, 5, 6, 7]


def test_without_attempts_left_raise_mode_names_the_task(folders) -> None:
    run, marks = folders
    inputs = {"x": list(range(8)), "marks": str(marks)}
    ex = SlurmExecutor(elements_per_task=2, poll_interval=0.3)
    with pytest.raises(SlurmJobError) as info:
        run_map(Pipeline([dies_once, total]), inputs, run_folder=run, executor=ex)
    rec = json.loads((run / "slurm" / "jobs.json").read_text())["functions"][0]
    assert info.value.job == f"{rec['job_id']}_1"
    assert info.value.log.endswith(f"y-{rec['job_id']}_1.log")

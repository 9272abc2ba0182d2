"""SLURM planning and scripts without a cluster: task sizes, array plans, the rendered sbatch
scripts, option checks, and the plan of a prepared run (10^5 elements -> one array per mapped
function, within the array-size cap); plus the clear errors before anything is submitted.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from pipemap.runner import Pipeline, pipefunc, run_map
from pipemap.runner.engine._prepare import prepare_run
from pipemap.runner.slurm import SlurmExecutor, SlurmRunError
from pipemap.runner.slurm._jobs import fold_state, parse_task_id
from pipemap.runner.slurm._plan import JobPlan, read_todo
from pipemap.runner.slurm._layout import SlurmFolder
from pipemap.runner.slurm._script import log_file, render_script, render_seal_script
from pipemap.runner.slurm._shared_log import SharedFailureLog
from pipemap.runner.slurm._submit import plan_run


@pipefunc("y", mapspec="x[i] -> y[i]")
def double(x):
    return 2 * x


@pipefunc("z", mapspec="y[i], w[j] -> z[i, j]")
def outer(y, w):
    return y * w


@pipefunc("s")
def total(z):
    return int(np.sum(z))


PIPELINE = Pipeline([double, outer, total])


def test_task_size_from_wall_time_estimate_or_fixed() -> None:
    ex = SlurmExecutor(task_seconds=600, seconds_per_element={"y": 2.0, "": 0.01})
    assert ex.task_size("y", 10_000) == 300
    assert ex.task_size("z", 10_000) == 10_000  # 600 s / 0.01 s = 60000 > n: one task takes all
    assert SlurmExecutor(elements_per_task={"y": 7}).task_size("y", 100) == 7
    assert SlurmExecutor().task_size("y", 1000) == 10  # no estimate: DEFAULT_TASKS tasks
    # never more than max_tasks array tasks, whatever the estimate
    assert SlurmExecutor(elements_per_task=1, max_tasks=50).task_size("y", 1000) == 20


def test_bad_options_are_named() -> None:
    with pytest.raises(ValueError, match="cpus_per_task"):
        SlurmExecutor(cpus_per_task=0)
    with pytest.raises(ValueError, match="max_concurrent"):
        SlurmExecutor(max_concurrent=0)
    with pytest.raises(TypeError, match="setup"):
        SlurmExecutor(setup=[1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="elements_per_task` for `y`"):
        SlurmExecutor(elements_per_task=0).task_size("y", 10)


def test_plan_ranges_cover_the_todo_exactly() -> None:
    todo = np.array([1, 4, 5, 9, 11, 12, 20], dtype=np.int64)
    plan = JobPlan("f", "y", ("y",), "array", todo, 3, ())
    assert plan.n_tasks == 3
    parts = [todo[slice(*plan.task_range(k))] for k in range(plan.n_tasks)]
    assert np.array_equal(np.concatenate(parts), todo)


def test_rendered_script_options_and_command(tmp_path: Path) -> None:
    ex = SlurmExecutor(
        partition="gpu", account="proj", time="01:00:00", memory="4G", cpus_per_task=2, max_concurrent=5,
        extra_sbatch=["#SBATCH --qos=short", "--constraint=avx"], setup=["module load python"], python="/opt/py/bin/python",
    )
    plan = JobPlan("double", "y", ("y",), "array", range(0, 100), 30, ())
    run = str(tmp_path / "my run")
    text = render_script(ex, plan, run)
    lines = text.splitlines()
    for expected in (
        "#SBATCH --array=0-3%5", "#SBATCH --partition=gpu", "#SBATCH --account=proj", "#SBATCH --time=01:00:00",
        "#SBATCH --mem=4G", "#SBATCH --cpus-per-task=2", "#SBATCH --qos=short", "#SBATCH --constraint=avx",
        "#SBATCH --kill-on-invalid-dep=yes", "module load python",
    ):
        assert expected in lines, expected
    command = lines[-1]
    assert command.startswith("exec /opt/py/bin/python -m pipemap.runner.slurm.task ")
    assert shlex.quote(run) in command and '"$START:$STOP"' in command
    assert "START=$(( SLURM_ARRAY_TASK_ID * 30 ))" in lines
    # setup lines run before Python, sbatch directives come before any command
    assert lines.index("module load python") < len(lines) - 1
    assert max(k for k, l in enumerate(lines) if l.startswith("#SBATCH")) < lines.index("module load python")
    single = render_script(ex, JobPlan("total", "s", ("s",), "single", None, 1, ("y",)), run)
    assert "--array" not in single and single.rstrip().endswith(" s all")
    seal = render_seal_script(ex, plan, run, "42")
    assert "--seal" in seal and seal.rstrip().endswith(" y 42")
    assert log_file(run, "y", "array", "42", 3).endswith("slurm/logs/y-42_3.log")


def test_state_folding() -> None:
    assert [fold_state(s) for s in ("PENDING", "RUNNING", "COMPLETED", "FAILED", "TIMEOUT", "NODE_FAIL", "CANCELLED+")] == [
        "pending", "running", "done", "failed", "failed", "failed", "failed",
    ]
    assert parse_task_id("12_7") == ("12", 7) and parse_task_id("12_[0-99%4]") == ("12", None)


def test_shared_failure_log_merges_concurrent_writers(tmp_path: Path) -> None:
    first, second = SharedFailureLog(tmp_path), SharedFailureLog(tmp_path)
    first.begin(("y",), [0, 1, 2]); first.record(("y",), [1])
    second.begin(("y",), [3, 4]); second.record(("y",), [4])
    first.flush(); second.flush()
    third = SharedFailureLog(tmp_path)
    third.begin(("y",), [1]); third.flush()  # element 1 recomputed: forgotten, 4 kept
    assert json.loads((tmp_path / "failures.json").read_text())["outputs"] == {"y": [4]}


def test_plan_of_a_large_run_is_a_handful_of_arrays(tmp_path: Path) -> None:
    inputs = {"x": np.arange(100_000), "w": [1.0]}
    prep = prepare_run(pipeline=PIPELINE, inputs=inputs, run_folder=tmp_path / "run", internal_shapes=None, parallel=False)
    try:
        plans = plan_run(SlurmExecutor(elements_per_task=10, max_tasks=1000), prep)  # 10^4 tasks asked, capped
    finally:
        prep.lock.release()
    assert [(p.key, p.kind, p.n_tasks, p.n_elements) for p in plans] == [
        ("y", "array", 1000, 100_000), ("z", "array", 1000, 100_000), ("s", "single", 1, None),
    ]
    folder = SlurmFolder(tmp_path / "run")
    folder.make()
    data = plans[0].to_json(folder)
    assert read_todo(folder, data) == range(0, 100_000)


def test_errors_before_submission(tmp_path: Path) -> None:
    ex = SlurmExecutor()
    with pytest.raises(SlurmRunError, match="needs a `run_folder`"):
        run_map(PIPELINE, {"x": [1], "w": [1]}, executor=ex)
    with pytest.raises(SlurmRunError, match="`dict` storage"):
        run_map(PIPELINE, {"x": [1], "w": [1]}, run_folder=tmp_path / "r", executor=ex, storage="dict")
    with pytest.raises(SlurmRunError, match="fixed_indices"):
        run_map(PIPELINE, {"x": [1], "w": [1]}, run_folder=tmp_path / "r", executor=ex, fixed_indices={"i": 0})
    from pipemap.runner import run_map_async

    with pytest.raises(TypeError, match="use `run_map`"):
        run_map_async(PIPELINE, {"x": [1], "w": [1]}, run_folder=tmp_path / "r", executor=ex)

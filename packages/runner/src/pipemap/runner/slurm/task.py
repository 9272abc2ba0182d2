"""The array-task entry point: ``python -m pipemap.runner.slurm.task RUN_FOLDER KEY START:STOP``.

Runs positions ``START:STOP`` of the planned missing elements of the function whose outputs are
``KEY`` (``all``: every element still missing, or the single function), writing the values
straight into the run folder through the worker code every executor uses
(``worker/_chunk.run_chunk`` via the scheduler's ``prepare_mapped`` / ``run_prepared_job``).
Elements stored meanwhile (a requeued task, a resumed run) are skipped.

``python -m pipemap.runner.slurm.task --seal RUN_FOLDER KEY JOB_ID`` (``error_handling="continue"``
runs): after array job ``JOB_ID`` ended, however it ended, store every planned element it left
missing as an error snapshot naming the job and its log files, so dependent jobs can run.

Exit status: 0 when every element was stored (failures as error snapshots in continue mode),
1 when the function raised (raise mode: dependents are cancelled by SLURM), 2 on bad arguments.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import numpy as np

from pipemap.runner.executors._dispatch import lost_chunk_result
from pipemap.runner.slurm._jobs import SlurmTaskError, query_states
from pipemap.runner.slurm._layout import SlurmFolder
from pipemap.runner.slurm._plan import compact, read_todo
from pipemap.runner.slurm._script import log_pattern
from pipemap.runner.slurm._task_state import function_of, load_spec, make_runner
from pipemap.runner.worker._chunk import Linear


def _planned(folder: SlurmFolder, key: str) -> Linear | None:
    data = json.loads(folder.plan(key).read_text())
    return read_todo(folder, data)


def _intersect(todo: Linear, mine: Linear) -> Linear:
    if isinstance(todo, range) and isinstance(mine, range):
        lo, hi = max(todo.start, mine.start), min(todo.stop, mine.stop)
        return range(lo, max(lo, hi))
    return compact(np.intersect1d(np.asarray(todo, dtype=np.int64), np.asarray(mine, dtype=np.int64)), 0)


def run_task(run_folder: Path, key: str, span: str) -> int:
    """Run one array task (or single job); the exit status."""
    folder = SlurmFolder(run_folder)
    runner = make_runner(run_folder, load_spec(run_folder))
    f = function_of(runner, key)
    if not f.requires_mapping:
        asyncio.run(runner.run_single_function(f))
        return 0
    failures, runner.failures = runner.failures, None  # forget earlier failures of OUR elements only
    job = runner.prepare_mapped(f)
    planned = _planned(folder, key)
    if span != "all" and planned is not None:
        lo, hi = (int(v) for v in span.split(":"))
        job.todo = _intersect(job.todo, planned[lo:hi])
    if failures is not None:
        failures.begin(f.output_names, job.todo)
    runner.failures = failures
    asyncio.run(runner.run_prepared_job(job))
    if failures is not None:
        failures.flush()
    return 0


def seal(run_folder: Path, key: str, job_id: str) -> int:
    """Store the planned elements array job ``job_id`` left missing as error snapshots."""
    folder = SlurmFolder(run_folder)
    runner = make_runner(run_folder, load_spec(run_folder))
    f = function_of(runner, key)
    failures, runner.failures = runner.failures, None
    job = runner.prepare_mapped(f)
    planned = _planned(folder, key)
    missing = job.todo if planned is None else _intersect(job.todo, planned)
    if not len(missing):
        return 0
    try:
        bad = sorted(
            {f"{s.job_id}_{s.task}: {s.state}" for s in query_states([job_id]) if s.task is not None and s.folded == "failed"}
        )
    except Exception:  # noqa: BLE001 - the error message is only less specific
        bad = []
    error = SlurmTaskError(f.__name__, job_id, log_pattern(str(run_folder), key, "array"), bad)
    lost = lost_chunk_result(job.task, missing, error)
    for storage, values in zip(job.storages, lost.values or ()):
        storage.dump_many(missing, values)
    if failures is not None:
        failures.begin(f.output_names, missing)
        failures.record(f.output_names, lost.failed_linear)
        failures.flush()
    print(f"stored {len(missing)} missing element(s) of `{f.__name__}` as errors: {error}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 4 and args[0] == "--seal":
        return seal(Path(args[1]), args[2], args[3])
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    return run_task(Path(args[0]), args[1], args[2])


if __name__ == "__main__":
    raise SystemExit(main())

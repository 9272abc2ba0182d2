"""The array-task entry point: ``python -m pipemap.runner.slurm.task RUN_FOLDER KEY START:STOP``.

Runs positions ``START:STOP`` of the planned missing elements of the function whose outputs are
``KEY`` (``all``: every element still missing, or the single function), writing the values
straight into the run folder through the worker code every executor uses
(``worker/_chunk.run_chunk`` via the scheduler's ``prepare_mapped`` / ``run_prepared_job``).
Elements stored meanwhile (a requeued task, a resumed run) are skipped.

``python -m pipemap.runner.slurm.task --seal RUN_FOLDER KEY JOB_ID``: the seal job of array job
``JOB_ID`` (see :mod:`pipemap.runner.slurm._seal`).

Exit status: 0 when every element was stored (failures as error snapshots in continue mode),
1 when the function raised (raise mode: dependents are cancelled by SLURM), 2 on bad arguments.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from pipemap.runner.slurm._layout import SlurmFolder
from pipemap.runner.slurm._seal import seal
from pipemap.runner.slurm._task_state import function_of, load_spec, make_runner
from pipemap.runner.slurm._todo import intersect, planned_todo


def _mark_raised(folder: SlurmFolder, key: str) -> None:
    """This task's function raised: its seal must not resubmit the elements (a marker file)."""
    job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if job is None:
        return
    path = folder.raised_marker(key, f"{job}_{task}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


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
    planned, _ = planned_todo(folder, key)
    if span != "all" and planned is not None:
        lo, hi = (int(v) for v in span.split(":"))
        job.todo = intersect(job.todo, planned[lo:hi])
    if failures is not None:
        failures.begin(f.output_names, job.todo)
    runner.failures = failures
    try:
        asyncio.run(runner.run_prepared_job(job))
    except Exception:
        _mark_raised(folder, key)
        raise
    if failures is not None:
        failures.flush()
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

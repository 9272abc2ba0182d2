"""``run_map(..., executor=SlurmExecutor(...))``: prepare the run folder, pickle the pipeline,
plan and submit the jobs, then (``wait=True``) wait for them and load the results.

The run folder is prepared exactly as for any executor (every bad-input check, the run record,
the inputs written once to ``RUN/inputs``), then released: the array tasks write their own
elements without the run lock. Resuming (``resume=True``) submits only what is missing. A
submission (fresh or resumed) is refused while jobs of an earlier submission of the same folder
are still queued or running.
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import TYPE_CHECKING

from pipemap.runner.engine._prepare import prepare_run
from pipemap.runner.engine._results import ResultDict
from pipemap.runner.engine._run import run_map
from pipemap.runner.slurm._jobs import query_states
from pipemap.runner.slurm._layout import SlurmFolder
from pipemap.runner.slurm._submit import plan_run, sealed_keys, submit_plans
from pipemap.runner.slurm._wait import job_ids, wait_for_jobs
from pipemap.runner.worker._modes import ErrorHandling
from pipemap.runner.worker._pickling import dumps_task

if TYPE_CHECKING:
    from pipemap.runner.engine._options import RunOptions
    from pipemap.runner.slurm._options import SlurmExecutor


class SlurmRunError(ValueError):
    """A run that cannot go to SLURM as asked (no run folder, in-memory storage, jobs still active)."""


def _check(options: RunOptions) -> None:
    if options.run_folder is None:
        msg = "SlurmExecutor needs a `run_folder` on a file system the cluster's nodes share: the array tasks read the pipeline and inputs from it and write their results into it."
        raise SlurmRunError(msg)
    if options.fixed_indices:
        msg = "SlurmExecutor does not support `fixed_indices`; run the full grid (or a sub-pipeline) instead."
        raise SlurmRunError(msg)


def _check_storages(prep: object) -> None:
    store = getattr(prep, "store", {})
    for name, storage in store.items():
        if hasattr(storage, "dump_in_subprocess") and not storage.dump_in_subprocess:
            msg = (
                f"SlurmExecutor: output `{name}` uses the `{getattr(storage, 'storage_id', type(storage).__name__)}`"
                " storage, which array tasks on other nodes cannot write; use `file_array` or `chunked`."
            )
            raise SlurmRunError(msg)


def _refuse_active(folder: SlurmFolder) -> None:
    jobs = folder.read_jobs()
    if not jobs:
        return
    ids = job_ids(jobs)
    active = sorted({s.job_id for s in query_states(ids) if s.folded in ("pending", "running")})
    if active:
        msg = (
            f"Jobs {', '.join(active)} of an earlier submission of `{folder.run_folder}` are still queued or"
            f" running; wait for them (`pipemap status {folder.run_folder}`) or cancel them (`scancel {' '.join(active)}`)"
            " before submitting again."
        )
        raise SlurmRunError(msg)


def submit_run(ex: SlurmExecutor, options: RunOptions) -> dict:
    """Prepare the folder and queue every job; the ``jobs.json`` record (see ``_layout``)."""
    _check(options)
    assert options.run_folder is not None
    folder = SlurmFolder(Path(options.run_folder).absolute())
    _refuse_active(folder)  # (a fresh run would also clear the folder under their feet)
    quiet = options.replace(executor=None, parallel=False, show_progress=False, callbacks=None)
    prep = prepare_run(quiet)
    try:
        _check_storages(prep)
        folder = SlurmFolder(Path(prep.run_info.run_folder or folder.run_folder))
        folder.make()
        spec = {
            "pipeline": prep.pipeline,
            "error_handling": prep.error_handling.value,
            "retries": prep.retries,
            "retry_failed": prep.retry_failed,
            "executor": ex,  # a seal job resubmitting lost elements uses the same options
        }
        folder.spec.write_bytes(dumps_task(spec, [f.func for f in prep.pipeline.functions]))
        plans = plan_run(ex, prep)
        return submit_plans(ex, plans, folder, prep.error_handling, sealed_keys(prep, plans))
    finally:
        if prep.lock is not None:
            prep.lock.release()


def run_on_slurm(ex: SlurmExecutor, options: RunOptions) -> ResultDict:
    """Submit; with ``ex.wait`` wait for the jobs and return the results (loaded from the folder)."""
    submit_run(ex, options)
    folder = str(Path(str(options.run_folder)).absolute())
    if not ex.wait:
        return ResultDict(_inputs_={}, _pipeline_=None)
    raise_mode = options.error_handling == ErrorHandling.RAISE
    wait_for_jobs(SlurmFolder(Path(folder)), poll=ex.poll_interval, raise_on_failure=raise_mode)
    # everything is stored: a sequential resume of the same run only loads it
    load = options.replace(executor=None, parallel=False, resume=True, show_progress=False, callbacks=None)
    arguments = {f.name: getattr(load, f.name) for f in dataclasses.fields(load)}
    arguments = {k: v.value if isinstance(v, enum.Enum) else v for k, v in arguments.items()}
    return run_map(**arguments)

"""Waiting for a submitted run: poll the job states, summarise them per function, and in raise
mode stop at the first failed job (cancelling the rest) with an error naming the job and its log.

>>> summarize([TaskState("17", 0, "COMPLETED"), TaskState("17", 1, "RUNNING")])
{'17': {'pending': 0, 'running': 1, 'done': 1, 'failed': 0}}
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipemap.runner.slurm._jobs import TaskState, query_states, scancel
from pipemap.runner.slurm._script import log_file

#: the lines of a failed task's log quoted in the error
LOG_TAIL = 15


class SlurmJobError(RuntimeError):
    """A job of the run failed (raise mode): the function, the job (and array task) id, its state
    and log file, and the end of that log. The jobs depending on it were cancelled."""

    def __init__(self, function: str, job: str, state: str, log: str, tail: str = "") -> None:
        self.function, self.job, self.state, self.log = function, job, state, log
        msg = f"SLURM job {job} running `{function}` ended {state}; log file: {log}"
        if tail:
            msg += "\n--- end of the log ---\n" + tail
        msg += "\nThe jobs depending on it were cancelled; what was stored is kept: rerun with `resume=True`."
        super().__init__(msg)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.args[0], self.function, self.job, self.state, self.log))


def _rebuild(msg: str, function: str, job: str, state: str, log: str) -> SlurmJobError:
    err = SlurmJobError.__new__(SlurmJobError)
    RuntimeError.__init__(err, msg)
    err.function, err.job, err.state, err.log = function, job, state, log
    return err


def summarize(states: Sequence[TaskState]) -> dict[str, dict[str, int]]:
    """Per job id: the number of tasks pending, running, done and failed."""
    out: dict[str, dict[str, int]] = {}
    for s in states:
        counts = out.setdefault(s.job_id, {"pending": 0, "running": 0, "done": 0, "failed": 0})
        counts[s.folded] += 1
    return out


def _tail(path: str) -> str:
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL:])


def first_failure(jobs: dict[str, Any], states: Sequence[TaskState], run_folder: str) -> SlurmJobError | None:
    """The failed task of the most upstream job (jobs cancelled for a failed dependency come after)."""
    failed: dict[str, TaskState] = {}
    for s in states:
        if s.folded == "failed":
            failed.setdefault(s.job_id, s)
    for rec in jobs["functions"]:
        for job_id, kind, key in ((rec["job_id"], rec["kind"], rec["key"]), (rec.get("seal_job_id"), "single", rec["key"] + ".seal")):
            bad = failed.get(str(job_id)) if job_id else None
            if bad is None:
                continue
            if "Dependency" in bad.reason and bad.task is None:
                continue  # cancelled because an upstream job failed: that one is reported
            log = log_file(run_folder, key, kind, str(job_id), bad.task)
            name = f"{job_id}_{bad.task}" if bad.task is not None else str(job_id)
            return SlurmJobError(rec["function"], name, bad.state, log, _tail(log))
    return None


def wait_for_jobs(jobs: dict[str, Any], ids: list[str], run_folder: str, *, poll: float, raise_on_failure: bool) -> None:
    """Poll until no job of ``ids`` is pending or running. Raise mode: at the first failed job,
    cancel the others and raise its :class:`SlurmJobError`. Continue mode: only a failed seal or
    single job is an error (an array task's elements are stored as errors by its seal job)."""
    delay = min(0.25, poll)
    while True:
        states = query_states(ids)
        active = any(s.folded in ("pending", "running") for s in states)
        if raise_on_failure and any(s.folded == "failed" for s in states):
            err = first_failure(jobs, states, run_folder)
            if err is not None:
                scancel(ids)
                raise err
        if not active:
            if any(s.folded == "failed" for s in states):
                err = first_failure(jobs, states, run_folder)
                if err is not None and (raise_on_failure or not _is_array_task(jobs, err)):
                    raise err
            return
        time.sleep(delay)
        delay = min(poll, delay * 1.5)


def _is_array_task(jobs: dict[str, Any], err: SlurmJobError) -> bool:
    job = err.job.partition("_")[0]
    return any(str(rec["job_id"]) == job and rec["kind"] == "array" for rec in jobs["functions"])

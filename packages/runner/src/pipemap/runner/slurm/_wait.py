"""Waiting for a submitted run: poll the job states (re-reading ``jobs.json``: a seal job may
have resubmitted lost elements), and in raise mode stop at the first fatal failure, cancelling
the rest, with an error naming the job and its log.

Fatal: a failed single job, a failed task of an array job without a seal job, a failed seal job
(its array's failed task is reported: that is where the log is). Continue mode: only failed
single or seal jobs are (an array task's lost elements are stored as errors by its seal).

>>> summarize([TaskState("17", 0, "COMPLETED"), TaskState("17", 1, "RUNNING")])
{'17': {'pending': 0, 'running': 1, 'done': 1, 'failed': 0}}
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipemap.runner.slurm._jobs import TaskState, query_states, scancel
from pipemap.runner.slurm._layout import SlurmFolder
from pipemap.runner.slurm._script import log_file

#: the lines of a failed task's log quoted in the error
LOG_TAIL = 15


class SlurmJobError(RuntimeError):
    """A job of the run failed (raise mode): the function, the job (and array task) id, its state
    and log file, and the end of that log. The jobs depending on it were cancelled.

    Parameters
    ----------
    function : str
        The function the job ran.
    job : str
        The job (and array task) id.
    state : str
        The state SLURM reports (``FAILED``, ``TIMEOUT``, ...).
    log : str
        The job's log file.
    tail : str, default ""
        The end of that log.

    Examples
    --------
    >>> str(SlurmJobError("double", "17_3", "FAILED", "run/slurm/logs/y-17_3.log")).splitlines()[0]
    'SLURM job 17_3 running `double` ended FAILED; log file: run/slurm/logs/y-17_3.log'
    """

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


def job_ids(jobs: dict[str, Any]) -> list[str]:
    """Every job id (array, single and seal jobs, earlier attempts included) of a ``jobs.json``."""
    out = []
    for rec in jobs.get("functions", []):
        for entry in [*rec.get("earlier", []), rec]:
            out.append(str(entry["job_id"]))
            if entry.get("seal_job_id"):
                out.append(str(entry["seal_job_id"]))
    return out


def _error(rec: dict[str, Any], bad: TaskState, key: str, kind: str, run_folder: str) -> SlurmJobError:
    log = log_file(run_folder, key, kind, bad.job_id, bad.task)
    name = f"{bad.job_id}_{bad.task}" if bad.task is not None else bad.job_id
    return SlurmJobError(rec["function"], name, bad.state, log, _tail(log))


def fatal_failure(jobs: dict[str, Any], states: Sequence[TaskState], run_folder: str, *, raise_mode: bool) -> SlurmJobError | None:
    """The fatal failure of the most upstream function (see the module docstring), or None."""
    failed: dict[str, TaskState] = {}
    for s in sorted(states, key=lambda s: -1 if s.task is None else s.task):
        if s.folded == "failed":
            failed.setdefault(s.job_id, s)
    for rec in jobs["functions"]:
        job, seal = str(rec["job_id"]), rec.get("seal_job_id")
        array_bad = failed.get(job)
        if rec["kind"] == "single":
            if array_bad is not None and not ("Dependency" in array_bad.reason and array_bad.task is None):
                return _error(rec, array_bad, rec["key"], "single", run_folder)
            continue
        seal_bad = failed.get(str(seal)) if seal else None
        if seal_bad is not None and "Dependency" not in seal_bad.reason:
            if array_bad is not None:
                return _error(rec, array_bad, rec["key"], "array", run_folder)
            return _error(rec, seal_bad, rec["key"] + ".seal", "single", run_folder)
        if raise_mode and not seal and array_bad is not None:
            return _error(rec, array_bad, rec["key"], "array", run_folder)
    return None


def wait_for_jobs(folder: SlurmFolder, *, poll: float, raise_on_failure: bool) -> None:
    """Poll until no job of the run is pending or running; raise the fatal failure if any
    (raise mode: at once, after cancelling the other jobs)."""
    delay = min(0.25, poll)
    run = str(folder.run_folder)
    while True:
        jobs = folder.read_jobs() or {"functions": []}
        ids = job_ids(jobs)
        states = query_states(ids)
        active = any(s.folded in ("pending", "running") for s in states)
        err = fatal_failure(jobs, states, run, raise_mode=raise_on_failure) if any(s.folded == "failed" for s in states) else None
        if err is not None and (raise_on_failure or not active):
            scancel(ids)
            raise err
        if not active:
            return
        time.sleep(delay)
        delay = min(poll, delay * 1.5)

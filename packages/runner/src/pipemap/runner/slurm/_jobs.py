"""Talking to SLURM: ``sbatch`` (submission), ``squeue``/``sacct`` (job states), ``scancel``.

States are folded into four: ``pending``, ``running``, ``done`` and ``failed`` (``sacct`` is
asked only for jobs ``squeue`` no longer knows, when accounting is enabled).

>>> fold_state("COMPLETED"), fold_state("PENDING"), fold_state("OUT_OF_MEMORY"), fold_state("CANCELLED by 0")
('done', 'pending', 'failed', 'failed')
>>> parse_task_id("17_3"), parse_task_id("17_[0-9%2]"), parse_task_id("18")
(('17', 3), ('17', None), ('18', None))
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED", "STOPPED"}
_RUNNING = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING"}
_DONE = {"COMPLETED"}


class SlurmCommandError(RuntimeError):
    """A SLURM command failed or is not installed (the message names the command and its stderr)."""


def fold_state(state: str) -> str:
    """A SLURM job state as ``pending``, ``running``, ``done`` or ``failed``."""
    word = state.split()[0].rstrip("+") if state else ""
    if word in _PENDING:
        return "pending"
    if word in _RUNNING:
        return "running"
    if word in _DONE:
        return "done"
    return "failed"


def parse_task_id(text: str) -> tuple[str, int | None]:
    """``"17_3"`` -> ``("17", 3)``; a job that is not one array task -> ``(id, None)``."""
    job, _, task = text.partition("_")
    return job, int(task) if task.isdigit() else None


def run_command(args: Sequence[str], *, timeout: float = 60.0) -> str:
    """Run a SLURM command; its stdout, or a :class:`SlurmCommandError` with its stderr."""
    if shutil.which(args[0]) is None:
        msg = f"`{args[0]}` is not installed (or not on PATH): SlurmExecutor needs a SLURM cluster."
        raise SlurmCommandError(msg)
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        msg = f"`{' '.join(args[:3])} ...` failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
        raise SlurmCommandError(msg)
    return proc.stdout


def sbatch(script: str, dependency: str | None = None) -> str:
    """Submit the script file ``script``; the job id."""
    args = ["sbatch", "--parsable"]
    if dependency:
        args.append(f"--dependency={dependency}")
    args.append(script)
    return run_command(args).strip().split(";")[0]


def scancel(job_ids: Iterable[str]) -> None:
    """Cancel jobs (already finished ones are ignored)."""
    ids = [j for j in job_ids if j]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, check=False)


@dataclass(frozen=True)
class TaskState:
    """One job or array task: ``job_id``, ``task`` (None: not an array task), raw and folded state."""

    job_id: str
    task: int | None
    state: str
    reason: str = ""

    @property
    def folded(self) -> str:
        return fold_state(self.state)


def query_states(job_ids: Sequence[str]) -> list[TaskState]:
    """Every task of ``job_ids`` that ``squeue`` (then ``sacct``) still knows about."""
    ids = [j for j in job_ids if j]
    if not ids:
        return []
    try:
        out = run_command(["squeue", "--states=all", "-h", "-r", "-j", ",".join(ids), "-o", "%i|%T|%r"])
    except SlurmCommandError as exc:
        if "Invalid job id" not in str(exc) or len(ids) == 1:
            if "Invalid job id" in str(exc):
                return _from_sacct(ids)
            raise
        # squeue rejects the whole list when it has forgotten one job: ask one job at a time
        return [s for job in ids for s in query_states([job])]
    states = []
    seen: set[str] = set()
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 2:
            continue
        job, task = parse_task_id(parts[0])
        seen.add(job)
        states.append(TaskState(job, task, parts[1], parts[2] if len(parts) > 2 else ""))
    return states + _from_sacct([j for j in ids if j not in seen])


def _from_sacct(ids: Sequence[str]) -> list[TaskState]:
    """The states of jobs squeue has forgotten, from accounting (none when it is disabled)."""
    if not ids or not shutil.which("sacct"):
        return []
    proc = subprocess.run(
        ["sacct", "-n", "-P", "-X", "-j", ",".join(ids), "-o", "JobID,State"], capture_output=True, text=True, check=False
    )
    states = []
    if proc.returncode == 0:
        for line in proc.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) >= 2:
                job, task = parse_task_id(parts[0])
                states.append(TaskState(job, task, parts[1]))
    return states


class SlurmTaskError(RuntimeError):
    """Array tasks of a SLURM job ended (failed, timed out, cancelled, node lost) before storing
    their elements; names the function, the job id, the failed tasks and the log files.

    Parameters
    ----------
    function : str
        The function the job ran.
    job_id : str
        The SLURM job id.
    log : str
        The log file pattern (``%A`` job id, ``%a`` array task id).
    tasks : sequence of str, default ()
        The failed array tasks with their states (e.g. ``"17_2: TIMEOUT"``).

    Examples
    --------
    >>> str(SlurmTaskError("double", "17", "/r/slurm/logs/y-%A_%a.log", ["17_2: TIMEOUT"]))[:58]
    'Array task(s) 17_2: TIMEOUT of SLURM job 17 running `doubl'
    """

    def __init__(self, function: str, job_id: str, log: str, tasks: Sequence[str] = ()) -> None:
        self.function, self.job_id, self.log, self.tasks = function, job_id, log, list(tasks)
        which = ", ".join(self.tasks) if self.tasks else "(some)"
        logs = log.replace("%A", job_id)
        msg = (
            f"Array task(s) {which} of SLURM job {job_id} running `{function}` ended before storing"
            f" their elements; see the log file(s) {logs} (%a = array task id)."
        )
        super().__init__(msg)

    def __reduce__(self) -> tuple[object, ...]:
        return (SlurmTaskError, (self.function, self.job_id, self.log, self.tasks))

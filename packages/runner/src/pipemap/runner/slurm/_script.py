"""The sbatch scripts: one per function (an array job or a single job) and the seal jobs.

An array task runs ``python -m pipemap.runner.slurm.task RUN_FOLDER KEY START:STOP``, where
``START:STOP`` are positions in the function's planned missing elements, computed from
``$SLURM_ARRAY_TASK_ID``. Nothing but the run folder, the function's key and that range is on
the command line: the pipeline and the inputs are read from the run folder.

>>> from pipemap.runner.slurm._options import SlurmExecutor
>>> from pipemap.runner.slurm._plan import JobPlan
>>> plan = JobPlan("double", "y", ("y",), "array", range(0, 10), 4, ())
>>> script = render_script(SlurmExecutor(python="python3", max_concurrent=2), plan, "/runs/r")
>>> print(script.splitlines()[4])
#SBATCH --array=0-2%2
>>> "pipemap.runner.slurm.task /runs/r y" in script
True
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipemap.runner.slurm._options import SlurmExecutor
    from pipemap.runner.slurm._plan import JobPlan

ENTRY_MODULE = "pipemap.runner.slurm.task"


def log_pattern(run_folder: str, key: str, kind: str) -> str:
    """The ``--output`` of a job: ``%A_%a`` (array job and task id) or ``%j`` (job id)."""
    suffix = "%A_%a" if kind == "array" else "%j"
    return f"{run_folder}/slurm/logs/{key}-{suffix}.log"


def log_file(run_folder: str, key: str, kind: str, job_id: str, task: int | None = None) -> str:
    """The log file of one job (``task``: the array task id).

    >>> log_file("/r", "y", "array", "17", 3)
    '/r/slurm/logs/y-17_3.log'
    """
    pattern = log_pattern(run_folder, key, kind)
    return pattern.replace("%A", job_id).replace("%a", str(task if task is not None else 0)).replace("%j", job_id)


def _header(ex: SlurmExecutor, name: str, output: str) -> list[str]:
    lines = ["#!/bin/bash", f"#SBATCH --job-name={shlex.quote(name)}", f"#SBATCH --output={shlex.quote(output)}"]
    lines.append("#SBATCH --kill-on-invalid-dep=yes")  # a failed upstream job cancels its dependents
    return lines


def _body(ex: SlurmExecutor, command: list[str]) -> list[str]:
    lines = list(ex.setup)
    lines.append("export PYTHONUNBUFFERED=1")
    lines.append("exec " + " ".join(command))
    return lines


def render_script(ex: SlurmExecutor, plan: JobPlan, run_folder: str) -> str:
    """The sbatch script of ``plan``'s job (dependencies are passed to ``sbatch`` separately)."""
    lines = _header(ex, f"{ex.job_name}-{plan.function}", log_pattern(run_folder, plan.key, plan.kind))
    if plan.kind == "array":
        limit = f"%{ex.max_concurrent}" if ex.max_concurrent else ""
        lines.append(f"#SBATCH --array=0-{plan.n_tasks - 1}{limit}")
    lines.extend(f"#SBATCH {opt}" for opt in ex.sbatch_options())
    base = [shlex.quote(ex.python), "-m", ENTRY_MODULE, shlex.quote(run_folder), shlex.quote(plan.key)]
    if plan.kind == "array" and plan.todo is not None:
        per = plan.per_task
        lines.append(f"START=$(( SLURM_ARRAY_TASK_ID * {per} ))")
        lines.append(f"STOP=$(( START + {per} ))")
        command = [*base, '"$START:$STOP"']
    else:
        command = [*base, "all"]
    lines.extend(_body(ex, command))
    return "\n".join(lines) + "\n"


def render_seal_script(ex: SlurmExecutor, plan: JobPlan, run_folder: str, job_id: str) -> str:
    """The seal job of a function (``error_handling="continue"``): it runs after the array job
    whatever its outcome, and stores the elements a failed array task left missing as errors."""
    lines = _header(ex, f"{ex.job_name}-{plan.function}-seal", log_pattern(run_folder, plan.key + ".seal", "single"))
    lines.extend(f"#SBATCH {opt}" for opt in ex.sbatch_options())
    command = [shlex.quote(ex.python), "-m", ENTRY_MODULE, "--seal", shlex.quote(run_folder), shlex.quote(plan.key), shlex.quote(job_id)]
    lines.extend(_body(ex, command))
    return "\n".join(lines) + "\n"

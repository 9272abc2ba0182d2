"""``SlurmExecutor``: run a pipeline as SLURM job arrays (one ``sbatch --array`` job per mapped
function, chained with ``--dependency``, all queued at once).

>>> ex = SlurmExecutor(partition="debug", time="00:10:00", max_concurrent=4)
>>> ex.sbatch_options()
['--partition=debug', '--time=00:10:00', '--cpus-per-task=1']
>>> ex.task_size("y", 1000)
10
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipemap.runner.slurm._run import run_on_slurm

if TYPE_CHECKING:
    from pipemap.runner.engine._options import RunOptions
    from pipemap.runner.engine._results import ResultDict

#: without a time estimate, a function's elements are split into this many array tasks
DEFAULT_TASKS = 100


def _per_name(value: Any, name: str) -> Any:
    """``value`` itself, or ``value[name]`` / ``value[""]`` (the default) for a mapping."""
    if isinstance(value, Mapping):
        return value.get(name, value.get(""))
    return value


@dataclass(frozen=True)
class SlurmExecutor:
    """Run ``run_map`` on a SLURM cluster as job arrays, without a driver process.

    Pass it as ``run_map(..., executor=SlurmExecutor(...), run_folder=...)``. Each mapped
    function becomes ONE ``sbatch --array`` job whose tasks each take a range of elements;
    non-mapped functions and reductions are single jobs; the jobs are chained with
    ``--dependency=afterok`` so the whole pipeline is queued at once. Array tasks read the
    pipeline and inputs from the run folder and write their results straight into it.

    Parameters
    ----------
    partition, account : str, optional
        ``--partition`` / ``--account`` of every job.
    time : str, optional
        ``--time``: the wall time of one job or array task (e.g. ``"01:00:00"``).
    memory : str, optional
        ``--mem`` of every job (e.g. ``"4G"``).
    cpus_per_task : int, default 1
        ``--cpus-per-task``.
    max_concurrent : int, optional
        At most this many tasks of one array run at once (``--array=...%N``).
    extra_sbatch : sequence of str, default ()
        More ``#SBATCH`` lines, e.g. ``["--qos=short"]``.
    setup : sequence of str, default ()
        Shell lines run before Python in every job, e.g.
        ``["module load python", "source venv/bin/activate"]``.
    task_seconds : float, default 600.0
        Target wall time of one array task, used with ``seconds_per_element``.
    seconds_per_element : float or mapping of str to float, optional
        An estimate of one element's run time (``{output name: seconds, "": default}`` per
        function): a task gets ``task_seconds / seconds_per_element`` elements.
    elements_per_task : int or mapping of str to int, optional
        The elements of one array task (same per-function form); wins over
        ``seconds_per_element``. With neither, a function is split into ``DEFAULT_TASKS`` tasks.
    max_tasks : int, default 1000
        No array has more tasks than this.
    python : str, default: this interpreter
        The Python of the array tasks.
    wait : bool, default True
        ``True``: ``run_map`` waits for the jobs and returns the results like any executor;
        ``False``: it returns an empty ``ResultDict`` right after queuing (watch with
        ``pipemap status RUN``, continue with ``resume=True``).
    poll_interval : float, default 1.0
        Seconds between job-state queries while waiting.
    job_name : str, default "pipemap"
        The prefix of the jobs' names.

    Examples
    --------
    >>> executor = SlurmExecutor(partition="short", time="00:30:00", elements_per_task=500)
    >>> executor.sbatch_options()
    ['--partition=short', '--time=00:30:00', '--cpus-per-task=1']
    """

    partition: str | None = None
    account: str | None = None
    time: str | None = None
    memory: str | None = None
    cpus_per_task: int = 1
    max_concurrent: int | None = None
    extra_sbatch: Sequence[str] = ()
    setup: Sequence[str] = ()
    task_seconds: float = 600.0
    seconds_per_element: float | Mapping[str, float] | None = None
    elements_per_task: int | Mapping[str, int] | None = None
    max_tasks: int = 1000
    python: str = field(default_factory=lambda: sys.executable)
    wait: bool = True
    poll_interval: float = 1.0
    job_name: str = "pipemap"

    def __post_init__(self) -> None:
        if self.cpus_per_task < 1:
            msg = f"SlurmExecutor: `cpus_per_task` must be >= 1, got {self.cpus_per_task!r}."
            raise ValueError(msg)
        if self.max_concurrent is not None and self.max_concurrent < 1:
            msg = f"SlurmExecutor: `max_concurrent` must be >= 1 or None, got {self.max_concurrent!r}."
            raise ValueError(msg)
        if self.max_tasks < 1:
            msg = f"SlurmExecutor: `max_tasks` must be >= 1, got {self.max_tasks!r}."
            raise ValueError(msg)
        if not self.task_seconds > 0:
            msg = f"SlurmExecutor: `task_seconds` must be > 0, got {self.task_seconds!r}."
            raise ValueError(msg)
        for name in ("extra_sbatch", "setup"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            elif not all(isinstance(v, str) for v in value):
                msg = f"SlurmExecutor: `{name}` must be a sequence of strings, got {value!r}."
                raise TypeError(msg)

    def sbatch_options(self) -> list[str]:
        """The ``#SBATCH`` options every job of the run gets."""
        out = []
        for flag, value in (("partition", self.partition), ("account", self.account), ("time", self.time), ("mem", self.memory)):
            if value is not None:
                out.append(f"--{flag}={value}")
        out.append(f"--cpus-per-task={self.cpus_per_task}")
        for line in self.extra_sbatch:
            line = line.strip()
            out.append(line.removeprefix("#SBATCH").strip())
        return out

    def task_size(self, output_name: str, n_elements: int) -> int:
        """Elements one array task of ``output_name`` takes (at least 1, at most ``max_tasks`` tasks)."""
        n = max(1, n_elements)
        fixed = _per_name(self.elements_per_task, output_name)
        if fixed is not None:
            if not isinstance(fixed, int) or fixed < 1:
                msg = f"SlurmExecutor: `elements_per_task` for `{output_name}` must be a positive int, got {fixed!r}."
                raise ValueError(msg)
            per = fixed
        else:
            estimate = _per_name(self.seconds_per_element, output_name)
            if estimate is not None:
                per = max(1, int(self.task_seconds // max(float(estimate), 1e-9)))
            else:
                per = math.ceil(n / DEFAULT_TASKS)
        return min(n, max(per, math.ceil(n / self.max_tasks)))

    def _pipemap_run_map(self, options: RunOptions) -> ResultDict:
        """``run_map``'s hook for run-level executors: submit (and wait) instead of dispatching chunks."""
        return run_on_slurm(self, options)

"""SLURM job arrays: ``run_map(..., executor=SlurmExecutor(...))`` queues the whole pipeline at once.

Modules: ``_options`` (:class:`SlurmExecutor`), ``_plan`` (array tasks per function),
``_script`` (sbatch scripts), ``_submit`` (sbatch + dependencies + ``jobs.json``), ``_jobs``
(squeue/sacct/scancel), ``_wait``, ``_run`` (the ``run_map`` path), ``_task_state`` and
``task`` (the array-task entry point ``python -m pipemap.runner.slurm.task``), ``_shared_log``.
This package sits above the engine: the engine reaches it only through the executor's
``_pipemap_run_map`` hook, never by import.

>>> SlurmExecutor(partition="debug").partition
'debug'
"""

from pipemap.runner.slurm._jobs import SlurmCommandError, SlurmTaskError
from pipemap.runner.slurm._options import SlurmExecutor
from pipemap.runner.slurm._run import SlurmRunError, submit_run
from pipemap.runner.slurm._wait import SlurmJobError

__all__ = ["SlurmCommandError", "SlurmExecutor", "SlurmJobError", "SlurmRunError", "SlurmTaskError", "submit_run"]

"""pipemap.runner: the pipeline model (`PipeFunc`, `pipefunc`, `Pipeline`) and the map engine.

>>> from pipemap.runner import Pipeline, pipefunc
>>> @pipefunc(output_name="y", mapspec="x[i] -> y[i]")
... def double(x):
...     return 2 * x
>>> Pipeline([double]).mapspecs_as_strings
['x[i] -> y[i]']

Layers (see ``docs/architecture.md``): ``model`` (what a pipeline is), ``engine`` (how a run is
prepared, planned, scheduled, resumed and collected), ``executors`` (where chunks go),
``worker`` (what runs in a worker), ``progress`` (displays fed by the engine's events),
``slurm`` (whole runs as SLURM job arrays, above the engine).
"""

from pipemap.runner.engine import (
    AsyncMap,
    FailedElementsWarning,
    NothingToRetryWarning,
    Result,
    ResultDict,
    ResumeRecomputeWarning,
    ResumeUnverifiedWarning,
    ReuseWarning,
    RunInfo,
    RunSummary,
    run_map,
    run_map_async,
)
from pipemap.runner.executors import MainGuardError, SynchronousExecutor, WorkerDiedError, shutdown_default_pool
from pipemap.runner.model import (
    DiskCache,
    Generations,
    HybridCache,
    LRUCache,
    NestedPipeFunc,
    PipeFunc,
    Pipeline,
    RetryPolicy,
    SimpleCache,
    UnknownNameError,
    pipefunc,
)
from pipemap.runner.slurm import SlurmExecutor, SlurmJobError, SlurmTaskError
from pipemap.runner.worker import FunctionTimeoutError, WorkerTraceback

__all__: list[str] = [
    "AsyncMap",
    "DiskCache",
    "FailedElementsWarning",
    "ReuseWarning",
    "FunctionTimeoutError",
    "Generations",
    "HybridCache",
    "LRUCache",
    "MainGuardError",
    "NestedPipeFunc",
    "NothingToRetryWarning",
    "PipeFunc",
    "Pipeline",
    "Result",
    "ResultDict",
    "ResumeRecomputeWarning",
    "ResumeUnverifiedWarning",
    "RetryPolicy",
    "RunInfo",
    "RunSummary",
    "SimpleCache",
    "SlurmExecutor",
    "SlurmJobError",
    "SlurmTaskError",
    "SynchronousExecutor",
    "UnknownNameError",
    "WorkerDiedError",
    "WorkerTraceback",
    "pipefunc",
    "run_map",
    "run_map_async",
    "shutdown_default_pool",
]

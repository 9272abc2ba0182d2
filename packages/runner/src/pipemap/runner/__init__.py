"""pipemap.runner: the pipeline model (`PipeFunc`, `pipefunc`, `Pipeline`) and the map engine.

>>> from pipemap.runner import Pipeline, pipefunc
>>> @pipefunc(output_name="y", mapspec="x[i] -> y[i]")
... def double(x):
...     return 2 * x
>>> Pipeline([double]).mapspecs_as_strings
['x[i] -> y[i]']
"""

from pipemap.runner.executors._dispatch import WorkerDiedError
from pipemap.runner.executors._executors import SynchronousExecutor
from pipemap.runner.model._decorator import pipefunc
from pipemap.runner.executors._default_pool import shutdown_default_pool
from pipemap.runner.model._pipefunc import PipeFunc
from pipemap.runner.model._pipeline import Generations, Pipeline, UnknownNameError
from pipemap.runner.engine._results import Result, ResultDict
from pipemap.runner.engine._run import AsyncMap, run_map, run_map_async
from pipemap.runner.engine._run_info import RunInfo
from pipemap.runner.worker._timeout import FunctionTimeoutError

__all__: list[str] = [
    "AsyncMap",
    "FunctionTimeoutError",
    "Generations",
    "PipeFunc",
    "Pipeline",
    "Result",
    "ResultDict",
    "RunInfo",
    "SynchronousExecutor",
    "UnknownNameError",
    "WorkerDiedError",
    "pipefunc",
    "run_map",
    "run_map_async",
    "shutdown_default_pool",
]

"""Code that runs inside workers (and inline in sequential runs): one chunk of one function
(`run_chunk`: gather inputs, compiled call, guards, batch writes), fused chains, error snapshots,
per-element timeouts and what crosses a process boundary (`TaskRef`, pickling checks).

No asyncio here, and nothing from the engine: a worker needs only this package, the executors'
worker initialiser, `pipemap.mapspec` and `pipemap.storage`.
"""

from pipemap.runner.worker._chain import ChainResult, execute_chain, run_chain
from pipemap.runner.worker._chunk import ChunkResult, FunctionTask, run_chunk
from pipemap.runner.worker._task_ref import TaskRef, execute_ref
from pipemap.runner.worker._frames import WorkerTraceback
from pipemap.runner.worker._timeout import FunctionTimeoutError

__all__ = [
    "ChainResult",
    "ChunkResult",
    "FunctionTask",
    "FunctionTimeoutError",
    "TaskRef",
    "WorkerTraceback",
    "execute_chain",
    "execute_ref",
    "run_chain",
    "run_chunk",
]

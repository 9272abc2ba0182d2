"""Where chunks go: executor adapters (`SynchronousExecutor`, per-output executors, the fork or
forkserver choice), pipemap's own process pool kept between runs, and dispatch
(`ChunkDispatcher`, the only caller of ``executor.submit``; in-flight tracking and cancellation).
"""

from pipemap.runner.executors._default_pool import shutdown_default_pool
from pipemap.runner.executors._dispatch import ChunkDispatcher, WorkerDiedError
from pipemap.runner.executors._main_guard import MainGuardError
from pipemap.runner.executors._executors import SynchronousExecutor, executor_for, is_thread_or_sync

__all__ = [
    "ChunkDispatcher",
    "MainGuardError",
    "SynchronousExecutor",
    "WorkerDiedError",
    "executor_for",
    "is_thread_or_sync",
    "shutdown_default_pool",
]

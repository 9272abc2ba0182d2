"""Every executor form reduced to one ``submit`` boundary (docs/behaviour.md §4.2).

Accepted: ``None`` (a default process pool when ``parallel=True``), any
``concurrent.futures.Executor``, a ``dask.distributed.Client`` (converted with
``client.get_executor()``), a :class:`SynchronousExecutor`, or a dict of those keyed by
output name (tuple names for multi-output functions) with ``""`` as the default.

>>> ex = SynchronousExecutor()
>>> ex.submit(pow, 2, 5).result()
32
>>> executor_for({"": ex}, ("a", "b")) is ex
True
"""

from __future__ import annotations

import multiprocessing
import os
import re
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Callable

from pipemap.runner.executors._worker_init import WATCH_THREAD_NAME, init_worker
from pipemap.runner.executors._main_guard import check_main_guard


class SynchronousExecutor(Executor):
    """Run each submitted call immediately in the calling thread (for debugging).

    >>> SynchronousExecutor().submit(len, "abc").result()
    3
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            future.set_exception(exc)
        return future


def _is_dask_client(obj: object) -> bool:
    module = type(obj).__module__ or ""
    return module.startswith("distributed") and hasattr(obj, "get_executor")


def as_executor(obj: Any) -> Executor:
    """Convert ``obj`` into a ``concurrent.futures.Executor`` or raise a clear ``TypeError``."""
    if isinstance(obj, Executor):
        return obj
    if _is_dask_client(obj):
        # not pure: a chunk writes storage, and dask need not hash every task's arguments
        return obj.get_executor(pure=False)
    msg = f"Expected a `concurrent.futures.Executor` (or a dask Client), got {type(obj).__name__}: {obj!r}."
    raise TypeError(msg)


def normalize_executors(
    executor: object,
    canonical_name: Callable[[str | tuple[str, ...]], str | tuple[str, ...]],
) -> dict[str | tuple[str, ...], Executor] | None:
    """One executor becomes ``{"": ex}``; dict keys that name one output of a multi-output
    function are rewritten to the function's tuple name; two keys for one function are refused."""
    if executor is None:
        return None
    if not isinstance(executor, dict):
        expanded: dict[str | tuple[str, ...], Executor] = {"": as_executor(executor)}
    else:
        expanded = {}
        for name, ex in executor.items():
            key = "" if name == "" else canonical_name(name)
            if key in expanded:
                msg = f"Executor for `output_name={key!r}` is already set."
                raise ValueError(msg)
            expanded[key] = as_executor(ex)
    for ex in expanded.values():  # a process pool that imports the main script again in its workers
        context = getattr(ex, "_mp_context", None) if isinstance(ex, ProcessPoolExecutor) else None
        if context is not None:
            check_main_guard(context.get_start_method())
    return expanded


def executor_for(
    executors: dict[str | tuple[str, ...], Executor],
    output_name: str | tuple[str, ...],
) -> Executor:
    """Exact (tuple) name first, then the ``""`` default."""
    ex = executors.get(output_name)
    if ex is None:
        ex = executors.get("")
    if ex is None:
        msg = (
            f"No executor found for output `{output_name}`. Please either specify an executor for this"
            f" output using `executor['{output_name}'] = ...`, or provide a default executor using"
            ' `executor[""] = ...`.'
        )
        raise ValueError(msg)
    return ex


def n_workers(executor: Executor) -> int | None:
    """Number of workers of ``executor`` if it can be determined, else None."""
    if isinstance(executor, SynchronousExecutor):
        return 1
    max_workers = getattr(executor, "_max_workers", None)
    if isinstance(max_workers, int):
        return max_workers
    client = getattr(executor, "_client", None)  # dask's ClientExecutor
    if client is not None:
        try:
            return sum(client.ncores().values()) or None
        except Exception:  # noqa: BLE001
            return None
    return None


def cpu_count() -> int:
    """CPUs available to this process."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


#: name of pipemap's own idle-pool timer thread (a thread that is safe to fork past)
IDLE_TIMER_THREAD_NAME = "pipemap-default-pool-idle-timer"


#: pipemap.storage's log flusher (``chunked`` single dumps): its state is reset in a forked child
LOG_FLUSHER_THREAD_NAME = "pipemap-log-flusher"

#: zarr v3's I/O loop thread and the default-executor threads of that loop: zarr resets both in
#: a forked child (``os.register_at_fork`` in ``zarr.core.sync``), so they never block a worker
_FORK_AWARE_LIBRARY_THREADS = re.compile(r"zarr_io|asyncio_\d+")


def _fork_safe_thread(thread: threading.Thread) -> bool:
    """Threads of the standard library's process pools and queues, pipemap's pool timer, a worker's
    parent watcher, pipemap.storage's log flusher and
    zarr's I/O threads: none holds a lock a freshly forked worker of a *new* pool would need."""
    from concurrent.futures.process import _ExecutorManagerThread

    if thread is threading.main_thread() or thread is threading.current_thread():
        return True
    if isinstance(thread, _ExecutorManagerThread):
        return True
    if thread.name.startswith("QueueFeederThread") or thread.name in (IDLE_TIMER_THREAD_NAME, WATCH_THREAD_NAME, LOG_FLUSHER_THREAD_NAME):
        return True
    return _FORK_AWARE_LIBRARY_THREADS.fullmatch(thread.name) is not None


def foreign_threads() -> list[threading.Thread]:
    """Running threads that make ``fork`` unsafe (anything but the ones :func:`_fork_safe_thread` knows)."""
    return [t for t in threading.enumerate() if not _fork_safe_thread(t)]


def default_executor() -> ProcessPoolExecutor:
    """A process pool sized to the machine.

    The platform's default start method (``fork`` on Linux before Python 3.14), unless threads
    of unknown origin are running: forking then risks a worker that deadlocks on a lock some
    thread held, so ``forkserver`` (else ``spawn``) is used, which imports the main module and
    pipemap once more (about 0.4 s here) and needs the usual ``if __name__ == "__main__":`` guard.
    A process-wide default that is no standard method (a loky worker's ``"loky"``: a fresh
    interpreter per worker) is replaced by the platform's default.
    """
    if not foreign_threads():
        context = None
        if multiprocessing.get_start_method(allow_none=True) not in (None, "fork", "spawn", "forkserver"):
            context = multiprocessing.get_context(multiprocessing.get_all_start_methods()[0])
        # every worker of the default pool exits when the parent is gone (_worker_init)
        return ProcessPoolExecutor(max_workers=cpu_count(), mp_context=context, initializer=init_worker, initargs=(None,))
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    # a forkserver child inherits the server's environment, not the parent's current one
    return ProcessPoolExecutor(
        max_workers=cpu_count(), mp_context=ctx, initializer=init_worker, initargs=(dict(os.environ),)
    )


def is_thread_or_sync(executor: Executor) -> bool:
    """True when submitted work shares the parent's memory (no pickling, storage writes visible)."""
    return isinstance(executor, ThreadPoolExecutor | SynchronousExecutor)

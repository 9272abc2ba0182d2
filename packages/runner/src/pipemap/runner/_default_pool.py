"""pipemap's own process pool (``parallel=True`` without an executor), kept between runs.

Starting worker processes costs tens of milliseconds with ``fork`` and about 0.4 s with
``forkserver``/``spawn`` (each worker imports numpy and pipemap again), which is a large part
of a short parallel run. So, like loky's reusable executor, the pool outlives a run and the
next run starts on warm workers. It is shut down

* when a run that used it fails or is cancelled (workers may still be busy with its chunks),
* when it broke (a worker died); the next run gets a fresh one,
* after :data:`IDLE_SECONDS` without any run using it, and at interpreter exit,
* by :func:`shutdown_default_pool`.

>>> pool = acquire()
>>> pool.submit(abs, -3).result()
3
>>> release(pool, healthy=True)
>>> acquire() is pool  # the next run reuses the warm workers
True
>>> release(pool, healthy=True)
>>> shutdown_default_pool()
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ProcessPoolExecutor

from ._executors import IDLE_TIMER_THREAD_NAME, cpu_count, default_executor

#: an unused pool is shut down after this many seconds (loky's reusable executor uses 300 too)
IDLE_SECONDS = 300.0

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None  # the pool new runs get
_owner_pid = os.getpid()
_users: dict[ProcessPoolExecutor, int] = {}  # runs using each pool (current or retired)
_idle_timer: threading.Timer | None = None


def _is_broken(pool: ProcessPoolExecutor) -> bool:
    return bool(getattr(pool, "_broken", False)) or bool(getattr(pool, "_shutdown_thread", False))


def _stop_idle_timer() -> None:
    global _idle_timer
    if _idle_timer is not None:
        _idle_timer.cancel()
        _idle_timer = None


def _forget_inherited_pool() -> None:
    """In a forked child the parent's pool object is a copy without workers: never use it."""
    global _pool, _owner_pid, _users, _idle_timer
    if _owner_pid != os.getpid():
        _pool, _users, _idle_timer, _owner_pid = None, {}, None, os.getpid()


def _drop_user(pool: ProcessPoolExecutor) -> int:
    """One run less on ``pool``; a pool no run uses and new runs do not get is shut down."""
    left = _users.get(pool, 1) - 1
    if left > 0:
        _users[pool] = left
        return left
    _users.pop(pool, None)
    if pool is not _pool:
        pool.shutdown(wait=False, cancel_futures=True)
    return 0


def _retire_current() -> None:
    global _pool
    pool, _pool = _pool, None
    if pool is not None and not _users.get(pool):
        pool.shutdown(wait=False, cancel_futures=True)


def acquire() -> ProcessPoolExecutor:
    """The shared default pool, started (sized to the machine) if there is none or it broke."""
    global _pool
    with _lock:
        _forget_inherited_pool()
        _stop_idle_timer()
        if _pool is None or _is_broken(_pool) or getattr(_pool, "_max_workers", None) != cpu_count():
            _retire_current()
            _pool = default_executor()
        _users[_pool] = _users.get(_pool, 0) + 1
        return _pool


def release(pool: ProcessPoolExecutor, *, healthy: bool) -> None:
    """Give ``pool`` back after a run; an unhealthy run (error, cancel) retires it.

    A retired pool is shut down by its last user, so a concurrent run keeps its workers.
    """
    global _idle_timer
    with _lock:
        _forget_inherited_pool()
        if pool is _pool and (not healthy or _is_broken(pool)):
            _retire_current()
        if _drop_user(pool) == 0 and pool is _pool:
            _idle_timer = threading.Timer(IDLE_SECONDS, _shutdown_if_idle, args=(pool,))
            _idle_timer.daemon = True
            _idle_timer.name = IDLE_TIMER_THREAD_NAME
            _idle_timer.start()


def replace_broken(broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
    """A fresh pool in place of ``broken`` (a worker died); the calling run now uses the new one."""
    global _pool
    with _lock:
        _forget_inherited_pool()
        if broken is _pool:
            _retire_current()
        _drop_user(broken)
        if _pool is None or _is_broken(_pool):
            _pool = default_executor()
        _users[_pool] = _users.get(_pool, 0) + 1
        return _pool


def _shutdown_if_idle(pool: ProcessPoolExecutor) -> None:
    global _idle_timer
    with _lock:
        if _pool is pool and not _users.get(pool):
            _idle_timer = None
            _retire_current()


def shutdown_default_pool(wait: bool = True) -> None:
    """Stop the worker processes that pipemap keeps for ``parallel=True`` runs.

    They are also stopped after 300 idle seconds and at exit; call this to free their memory
    at once (a run still using the pool fails). The next parallel run starts a new pool.

    >>> from pipemap.runner import shutdown_default_pool
    >>> shutdown_default_pool()
    """
    global _pool
    with _lock:
        _forget_inherited_pool()
        _stop_idle_timer()
        pool, _pool = _pool, None
        if pool is not None:
            _users.pop(pool, None)
    if pool is not None:
        pool.shutdown(wait=wait, cancel_futures=True)

"""pipemap's own process pool (``parallel=True`` without an executor), kept between runs.

Starting worker processes costs tens of milliseconds with ``fork`` and about 0.4 s with
``forkserver``/``spawn`` (each worker imports numpy and pipemap again), which is a large part
of a short parallel run. So, like loky's reusable executor, the pool outlives a run and the
next run starts on warm workers. It is shut down

* when the parent changed since the workers started, in ways a worker would not see: the
  working directory, an environment variable, or the source file of a user module (one that is
  neither standard library nor installed in site-packages; e.g. edited and reloaded in a
  notebook), so workers never run stale code,
* when a run that used it fails or is cancelled (workers may still be busy with its chunks),
* when it broke (a worker died); the next run gets a fresh one,
* after :data:`IDLE_SECONDS` without any run using it, and at interpreter exit,
* by :func:`shutdown_default_pool`.

A process that is itself a worker of some process pool (``concurrent.futures``, loky, pipemap's
own: adaptive's ``Runner`` calls ``run_map`` there) keeps no pool: each run's pool is shut down
when the run ends. Such a process joins its child processes when it exits, before the
``concurrent.futures`` exit hook would have told a kept pool's workers to stop, so a kept pool
would hang it (and the ``shutdown()`` of the pool it belongs to) forever. For the same reason
every pool is also told to stop by a ``multiprocessing`` exit finalizer, which runs before that
join.

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

import multiprocessing
import os
import sys
import sysconfig
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import wait as mp_wait
from multiprocessing.util import Finalize

from pipemap.runner.executors._executors import IDLE_TIMER_THREAD_NAME, cpu_count, default_executor
from pipemap.runner.executors._main_guard import MainGuardError, check_main_guard

#: an unused pool is shut down after this many seconds (loky's reusable executor uses 300 too)
IDLE_SECONDS = 300.0

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None  # the pool new runs get
_owner_pid = os.getpid()
_users: dict[ProcessPoolExecutor, int] = {}  # runs using each pool (current or retired)
_idle_timer: threading.Timer | None = None
_started_with: tuple[str, int, dict[str, tuple[int, int]]] | None = None  # the parent when _pool started
_user_names: tuple[int, list[str]] = (-1, [])  # (len(sys.modules), the user modules among them)
_exit_hook_pid = -1  # the process whose multiprocessing exit finalizer stops its pools


def in_pool_worker() -> bool:
    """True in a process started by ``multiprocessing`` (or loky): a pool's worker, which keeps no pool."""
    return multiprocessing.parent_process() is not None


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple({paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(k)})


def _user_modules() -> list[str]:
    """Imported modules with a source file outside the standard library and site-packages."""
    global _user_names
    n = len(sys.modules)
    if _user_names[0] != n:
        roots = _library_roots()
        names = []
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str) and not path.startswith(roots):
                names.append(name)
        _user_names = (n, names)
    return _user_names[1]


def _stamp(name: str) -> tuple[int, int]:
    """(source mtime, identity of the module's spec): a reload replaces the spec, an edit the mtime."""
    module = sys.modules.get(name)
    if module is None:
        return (-1, -1)
    try:
        mtime = os.stat(module.__file__).st_mtime_ns  # type: ignore[arg-type]
    except (OSError, TypeError):
        mtime = -1
    return (mtime, id(getattr(module, "__spec__", None)))


def _parent_state() -> tuple[str, int, dict[str, tuple[int, int]]]:
    """What forked workers inherit and a kept pool would miss if it changed."""
    return os.getcwd(), hash(frozenset(os.environ.items())), {name: _stamp(name) for name in _user_modules()}


def _parent_changed() -> bool:
    """True when the parent moved on since the workers started (and notes new user modules:
    the workers import those from disk as they are now)."""
    if _started_with is None:
        return False
    cwd, env, stamps = _started_with
    if os.getcwd() != cwd or hash(frozenset(os.environ.items())) != env:
        return True
    if any(_stamp(name) != stamp for name, stamp in stamps.items()):
        return True
    for name in _user_modules():
        if name not in stamps:
            stamps[name] = _stamp(name)
    return False


def _is_broken(pool: ProcessPoolExecutor) -> bool:
    return bool(getattr(pool, "_broken", False)) or bool(getattr(pool, "_shutdown_thread", False))


def _stop_idle_timer() -> None:
    global _idle_timer
    if _idle_timer is not None:
        _idle_timer.cancel()
        _idle_timer = None


def _stop_all_at_exit() -> None:
    """Tell every pool of this process to stop (a multiprocessing exit finalizer: it runs before
    a ``multiprocessing`` child joins its children, which would wait forever for a kept pool)."""
    global _pool
    with _lock:
        if _owner_pid != os.getpid():
            return
        pools = {id(p): p for p in [_pool, *_users] if p is not None}
        _pool = None
        _users.clear()
        _stop_idle_timer()
    for pool in pools.values():
        try:  # wait: the sentinels must reach the workers before the call queue's own exit
            pool.shutdown(wait=True, cancel_futures=True)  # finalizer (priority 10) closes its feeder thread
        except Exception:  # noqa: BLE001 -- interpreter exit: never fail it
            pass


def _start_pool() -> ProcessPoolExecutor:
    global _pool, _started_with, _exit_hook_pid
    if _exit_hook_pid != os.getpid():
        _exit_hook_pid = os.getpid()
        Finalize(None, _stop_all_at_exit, exitpriority=100)
    _started_with = _parent_state()
    pool = default_executor()
    context = getattr(pool, "_mp_context", None)
    if context is not None:
        try:
            check_main_guard(context.get_start_method())
        except MainGuardError:
            pool.shutdown(wait=False)
            raise
    _pool = pool
    if context is not None and context.get_start_method() == "fork":
        # fork the workers now: default_executor chose fork because every running thread is one
        # known to be safe (Python >= 3.12 would warn about any thread at all); the first submit
        # forks them all, here, and nothing waits for them to come up (the run's chunks queue)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*multi-threaded.*fork", category=DeprecationWarning)
            pool.submit(int)
    return pool


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
        stale = _pool is not None and _parent_changed()
        if _pool is None or stale or _is_broken(_pool) or getattr(_pool, "_max_workers", None) != cpu_count():
            _retire_current()
            _start_pool()
        pool = _pool
        assert pool is not None
        _users[pool] = _users.get(pool, 0) + 1
        return pool


def is_warm() -> bool:
    """A started, healthy default pool of this process is kept (:func:`acquire` starts nothing)."""
    with _lock:
        return _pool is not None and _owner_pid == os.getpid() and not _is_broken(_pool)


def release(pool: ProcessPoolExecutor, *, healthy: bool) -> None:
    """Give ``pool`` back after a run; an unhealthy run (error, cancel) retires it.

    A retired pool is shut down by its last user, so a concurrent run keeps its workers. In a
    pool worker (:func:`in_pool_worker`) the last user shuts the pool down and waits for its
    workers to exit.
    """
    global _idle_timer
    one_shot = in_pool_worker()
    with _lock:
        _forget_inherited_pool()
        if pool is _pool and (not healthy or _is_broken(pool) or one_shot):
            _retire_current()
        if _drop_user(pool) == 0 and pool is _pool:  # (never in a pool worker: retired above)
            _idle_timer = threading.Timer(IDLE_SECONDS, _shutdown_if_idle, args=(pool,))
            _idle_timer.daemon = True
            _idle_timer.name = IDLE_TIMER_THREAD_NAME
            _idle_timer.start()
    if one_shot and pool not in _users:
        pool.shutdown(wait=True)


def replace_broken(broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
    """A fresh pool in place of ``broken`` (a worker died); the calling run now uses the new one."""
    global _pool
    with _lock:
        _forget_inherited_pool()
        if broken is _pool:
            _retire_current()
        _drop_user(broken)
        pool = _pool if _pool is not None and not _is_broken(_pool) else _start_pool()
        _users[pool] = _users.get(pool, 0) + 1
        return pool


def stop_workers(pool: ProcessPoolExecutor) -> bool:
    """Retire ``pool`` and terminate its workers (their running tasks stop at once) unless
    another run still uses it; True once they have exited. For runs that end early, so that
    no chunk of theirs writes after the run let go of its run folder."""
    global _pool
    with _lock:
        _forget_inherited_pool()
        if _users.get(pool, 0) > 1:
            return False
        if pool is _pool:
            _pool = None  # new runs get a fresh pool; the last user's release() shuts this one down
        processes = list((getattr(pool, "_processes", None) or {}).values())
    _forget_finished_work(pool)
    for p in processes:
        p.terminate()
    for p in _still_running(processes, 5.0):
        p.kill()  # a worker that handles SIGTERM itself
    _still_running(processes, 30.0)
    return True


def _forget_finished_work(pool: ProcessPoolExecutor) -> None:
    """Drop the pool's cancelled (done) work items: once its workers are terminated, Python 3.11's
    pool sets an exception on every pending future and fails loudly on a cancelled one
    (``InvalidStateError`` in its manager thread)."""
    pending = getattr(pool, "_pending_work_items", None)
    if not isinstance(pending, dict):
        return
    for key, item in list(pending.items()):
        if item.future.done():
            pending.pop(key, None)


def _still_running(processes: list, timeout: float) -> list:
    """Those of ``processes`` that have not exited within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    left = {p.sentinel: p for p in processes}
    while left and (remaining := deadline - time.monotonic()) > 0:
        for sentinel in mp_wait(list(left), remaining):
            left.pop(sentinel)
    return list(left.values())


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

    Parameters
    ----------
    wait : bool, default True
        Wait until the workers have exited.

    Examples
    --------
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

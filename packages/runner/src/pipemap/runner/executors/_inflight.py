"""The chunks a run has submitted and that have not finished: stopped before the run lets go.

A run that ends early (an error, ``AsyncMap.cancel()``, Ctrl-C or a notebook's interrupt) still
has chunks in its executor, and those write into the run folder. The run folder's lock must not
be released while they can still write (another run could take the folder over), so the end of a
run first stops them: chunks not started yet are cancelled; running chunks on pipemap's own pool
are stopped by terminating its workers (unless another run shares the pool); on any other
executor (whose workers pipemap must not kill) the run waits for them. Should that wait itself be
interrupted, the lock is released by the last of those chunks when it finishes.

>>> from concurrent.futures import ThreadPoolExecutor
>>> chunks = InFlight()
>>> with ThreadPoolExecutor(1) as ex:
...     chunks.add(ex.submit(sum, [1, 2]), ex)
...     chunks.stop(owned=None)
>>> chunks.release_when_idle(lambda: print("released"))
released
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, wait
from typing import Any

from pipemap.runner.executors import _default_pool


class InFlight:
    """Submitted, unfinished chunk futures of one run (with the executor of each)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[Future, Any] = {}
        self._on_idle: Callable[[], None] | None = None

    def add(self, future: Future, executor: Executor) -> None:
        """Track ``future`` (submitted to ``executor``) until it is done."""
        with self._lock:
            self._futures[future] = executor
        future.add_done_callback(self._finished)

    def _finished(self, future: Future) -> None:
        with self._lock:
            self._futures.pop(future, None)
            release = self._take_on_idle()
        if release is not None:
            release()

    def _take_on_idle(self) -> Callable[[], None] | None:
        """The pending release once nothing runs any more (called with the lock held)."""
        if self._on_idle is None or any(not f.done() for f in self._futures):
            return None
        release, self._on_idle = self._on_idle, None
        return release

    def unfinished(self) -> list[Future]:
        with self._lock:
            return [f for f in self._futures if not f.done()]

    def stop(self, owned: ProcessPoolExecutor | None) -> None:
        """Cancel what has not started; stop or wait for what runs (see the module docstring).

        ``owned`` is pipemap's own pool of this run (its workers may be terminated), or None.
        """
        futures = self.unfinished()
        for f in futures:
            f.cancel()
        with self._lock:
            running = [(f, self._futures.get(f)) for f in futures if not f.done()]
        if not running:
            return
        if owned is not None and any(ex is owned for _, ex in running) and _default_pool.stop_workers(owned):
            with self._lock:  # its workers have exited: nothing of theirs writes any more
                for f, ex in running:
                    if ex is owned:
                        self._futures.pop(f, None)
            running = [(f, ex) for f, ex in running if ex is not owned]
        if running:
            wait([f for f, _ in running])

    def release_when_idle(self, release: Callable[[], None]) -> None:
        """Call ``release`` now if no chunk runs, else when the last running one finishes."""
        with self._lock:
            self._on_idle = release
            now = self._take_on_idle()
        if now is not None:
            now()


async def gather_or_cancel(coros: Iterable[Awaitable[object]]) -> None:
    """Run ``coros`` concurrently; the first error cancels the others and waits for them
    (``asyncio.gather`` would leave them running, still submitting chunks)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise

"""What a worker of pipemap's default pool does when it starts: watch its parent, adopt its environment.

When only the parent of a process pool dies (SIGKILL, the OOM killer), its workers are adopted
by another process and would go on running queued chunks for a run nobody waits for. Each
worker of pipemap's default pool runs :func:`watch_parent`: a daemon thread that notices within
:data:`WATCH_SECONDS` that its parent changed and ends the worker at once (every write is atomic,
so stopping mid-chunk loses nothing already stored). With ``forkserver`` the parent is the fork
server, which itself exits when the run's process is gone.

>>> _parent_is(os.getppid())
True
"""

from __future__ import annotations

import os
import threading
import time

#: how often a worker looks whether its parent is still there
WATCH_SECONDS = 0.2
#: the exit status of a worker that ended because its parent died
ORPHAN_EXIT_STATUS = 75
#: the watcher thread's name
WATCH_THREAD_NAME = "pipemap-parent-watch"


def _parent_is(parent: int) -> bool:
    return os.getppid() == parent


def _watch(parent: int, period: float) -> None:
    while True:
        time.sleep(period)
        if not _parent_is(parent):
            os._exit(ORPHAN_EXIT_STATUS)


def watch_parent(period: float = WATCH_SECONDS) -> None:
    """Start the daemon thread that ends this process once its current parent is gone."""
    threading.Thread(target=_watch, args=(os.getppid(), period), name=WATCH_THREAD_NAME, daemon=True).start()


def init_worker(environ: dict[str, str] | None) -> None:
    """Initializer of the default pool's workers: watch the parent; with ``forkserver`` also take
    the parent's current environment (``environ``)."""
    watch_parent()
    if environ is not None:
        adopt_environment(environ)


def adopt_environment(environ: dict[str, str]) -> None:
    """Take the parent's environment variables (as a forked worker would).

    >>> adopt_environment({**os.environ, "PIPEMAP_DOCTEST": "1"}); os.environ.pop("PIPEMAP_DOCTEST")
    '1'
    """
    if dict(os.environ) != environ:
        os.environ.clear()
        os.environ.update(environ)

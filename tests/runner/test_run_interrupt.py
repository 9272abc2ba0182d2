"""Ctrl-C inside the process (a terminal's SIGINT, a notebook's interrupt) during a parallel run:
the run folder's lock is released only once no chunk of the run writes into the folder any more.

A real process pool runs slow elements that the workers store themselves (``file_array``). A
thread interrupts the main thread (``SIGINT`` to it, as a terminal or Jupyter's interrupt does)
once some elements are stored. After ``run_map`` raised ``KeyboardInterrupt`` the lock file must
be gone *and* the folder must stay unchanged: a chunk still running in a worker after the lock
was released would write its elements later (another run could own the folder by then).

Two ways the interrupt reaches the run: ``run_map`` called from plain code drives an asyncio loop
in the main thread, whose SIGINT handler cancels the run; ``run_map`` called while an event loop
runs in this thread (Jupyter) drives the run in a helper thread while the main thread waits, and
the interrupt raises ``KeyboardInterrupt`` in the main thread.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from pipemap.runner import Pipeline, pipefunc, run_map, shutdown_default_pool
from pipemap.storage import open_run_folder

N = 24
SECONDS = 0.25  # per element; chunks of 2 elements


@pipefunc("y", mapspec="x[i] -> y[i]")
def slow(x: int) -> int:
    time.sleep(SECONDS)
    return x * 10


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def _n_stored(folder: Path) -> int:
    out = folder / "outputs" / "y"
    return len(list(out.glob("*.pickle"))) if out.is_dir() else 0


class Interrupter(threading.Thread):
    """SIGINT to the main thread once ``at_least`` elements are stored (never after ``done``)."""

    def __init__(self, folder: Path, at_least: int = 2) -> None:
        super().__init__(daemon=True)
        self.folder = folder
        self.at_least = at_least
        self.done = threading.Event()
        self.sent = False

    def run(self) -> None:
        while not self.done.wait(0.005):
            if _n_stored(self.folder) >= self.at_least:
                if not self.done.is_set():
                    self.sent = True
                    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # type: ignore[arg-type]
                return


def _interrupted_run(folder: Path, *, in_running_loop: bool, **kwargs) -> None:
    """``run_map`` interrupted from a thread; asserts it raised ``KeyboardInterrupt``."""
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    interrupter = Interrupter(folder)

    def call() -> None:
        run_map(Pipeline([slow]), {"x": list(range(N))}, run_folder=folder, chunksizes=2, show_progress=False, **kwargs)

    async def cell() -> None:  # a notebook cell: synchronous code while the kernel's loop runs
        call()

    interrupter.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            if in_running_loop:
                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(cell())
                finally:
                    loop.close()
            else:
                call()
    finally:
        interrupter.done.set()
        interrupter.join()
    assert interrupter.sent


def _assert_quiet_after_release(folder: Path) -> None:
    """No lock, and nothing in the folder changes any more (no chunk still writing)."""
    assert not (folder / ".pipemap.lock").exists(), "run_map returned but still holds the run folder"
    before = _listing(folder)
    stored = _n_stored(folder)
    assert 2 <= stored < N
    time.sleep(4 * 2 * SECONDS)  # longer than every chunk that was in flight (window of 4 chunks of 2)
    after = _listing(folder)
    assert not (folder / ".pipemap.lock").exists()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"written after the run folder was released: {changed}"
    # what is stored is complete and right
    _, stores = open_run_folder(folder)
    done = np.flatnonzero(stores["y"].done_mask())
    assert len(done) == stored
    assert stores["y"].get_many(done) == [10 * int(i) for i in done]


@pytest.fixture
def fresh_default_pool():
    shutdown_default_pool()
    yield
    shutdown_default_pool()


@pytest.mark.parametrize("in_running_loop", [False, True], ids=["asyncio-run", "running-loop"])
def test_interrupt_stops_default_pool_chunks_before_releasing(tmp_path, fresh_default_pool, in_running_loop) -> None:
    folder = tmp_path / "run"
    _interrupted_run(folder, in_running_loop=in_running_loop, parallel=True)
    _assert_quiet_after_release(folder)


@pytest.mark.parametrize("in_running_loop", [False, True], ids=["asyncio-run", "running-loop"])
def test_interrupt_waits_for_user_pool_chunks_before_releasing(tmp_path, in_running_loop) -> None:
    folder = tmp_path / "run"
    with ProcessPoolExecutor(max_workers=2) as pool:
        _interrupted_run(folder, in_running_loop=in_running_loop, executor=pool)
        _assert_quiet_after_release(folder)

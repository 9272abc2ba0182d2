"""pipemap's own pool (``parallel=True``, no executor) is reused between runs and retired after
a failure, a worker death, an idle timeout or ``shutdown_default_pool()``."""

from __future__ import annotations

import os
import time

import pytest
from pipemap.runner import Pipeline, pipefunc, run_map, shutdown_default_pool
from pipemap.runner import _default_pool


@pipefunc("pid", mapspec="x[i] -> pid[i]")
def worker_pid(x):
    time.sleep(0.002)
    return os.getpid()


@pipefunc("y", mapspec="x[i] -> y[i]")
def fails_on_three(x):
    if x == 3:
        raise ValueError("three")
    return x


PIDS = Pipeline([worker_pid])


def pids_of_run() -> set[int]:
    r = run_map(PIDS, {"x": list(range(40))}, parallel=True, chunksizes=1, show_progress=False)
    return set(r["pid"].output.tolist())


@pytest.fixture(autouse=True)
def fresh_pool():
    shutdown_default_pool()
    yield
    shutdown_default_pool()


def test_second_run_reuses_the_warm_workers() -> None:
    first = pids_of_run()
    assert os.getpid() not in first
    assert pids_of_run() == first


def test_failed_run_retires_the_pool() -> None:
    first = pids_of_run()
    with pytest.raises(ValueError, match="three"):
        run_map(Pipeline([fails_on_three]), {"x": list(range(8))}, parallel=True, chunksizes=1)
    assert pids_of_run().isdisjoint(first)


def test_shutdown_default_pool_stops_the_workers() -> None:
    import psutil

    first = pids_of_run()
    shutdown_default_pool()
    for pid in first:
        try:
            psutil.Process(pid).wait(timeout=10)
        except psutil.NoSuchProcess:
            pass
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert pids_of_run().isdisjoint(first)


def test_idle_pool_is_shut_down(monkeypatch) -> None:
    monkeypatch.setattr(_default_pool, "IDLE_SECONDS", 0.2)
    first = pids_of_run()
    deadline = time.monotonic() + 10
    while _default_pool._pool is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _default_pool._pool is None
    assert pids_of_run().isdisjoint(first)


def test_worker_death_gives_the_next_run_a_fresh_pool() -> None:
    @pipefunc("y", mapspec="x[i] -> y[i]")
    def die_on_two(x):
        if x == 2:
            os._exit(3)
        return x

    first = pids_of_run()
    from pipemap.runner import WorkerDiedError

    with pytest.raises(WorkerDiedError):
        run_map(Pipeline([die_on_two]), {"x": list(range(6))}, parallel=True, chunksizes=1)
    assert pids_of_run().isdisjoint(first)


def test_concurrent_runs_share_one_pool_and_a_failure_spares_the_other() -> None:
    import asyncio

    from pipemap.runner import run_map_async

    slow = Pipeline([worker_pid])

    async def main():
        ok = run_map_async(slow, {"x": list(range(60))}, chunksizes=1, show_progress=False)
        bad = run_map_async(Pipeline([fails_on_three]), {"x": list(range(8))}, chunksizes=1, show_progress=False)
        results = await asyncio.gather(ok.task, bad.task, return_exceptions=True)
        return results

    good, error = asyncio.run(main())
    assert isinstance(error, ValueError)
    assert len(good["pid"].output) == 60


START_METHODS = """
import multiprocessing, threading
from concurrent.futures import ProcessPoolExecutor
from pipemap.runner._executors import default_executor, foreign_threads

with ProcessPoolExecutor(1) as other:  # its manager thread is a known, fork-safe thread
    other.submit(abs, 1).result()
    assert foreign_threads() == [], foreign_threads()
    pool = default_executor()
    print(pool._mp_context.get_start_method() == multiprocessing.get_start_method())
    pool.shutdown()
stop = threading.Event()
t = threading.Thread(target=stop.wait, name="user-thread", daemon=True)
t.start()
assert foreign_threads() == [t]
pool = default_executor()
print(pool._mp_context.get_start_method(), pool.submit(abs, -2).result())
pool.shutdown()
stop.set()
"""


def test_start_method_forks_past_pool_threads_but_not_foreign_ones() -> None:
    """In a fresh process (no threads left over from other tests)."""
    import subprocess
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("fork is the default start method on Linux only")
    out = subprocess.run([sys.executable, "-c", START_METHODS], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "forkserver", "2"]


def test_forked_workers_write_zarr_after_zarr_threads_started(tmp_path) -> None:
    """zarr's I/O threads do not force forkserver, and forked workers can still write zarr."""
    pytest.importorskip("zarr")
    from pipemap.runner._executors import foreign_threads

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def double(x):
        return 2 * x

    p = Pipeline([double])
    run_map(p, {"x": [1, 2]}, run_folder=tmp_path / "a", storage="zarr_file_array", parallel=False)
    assert not [t for t in foreign_threads() if t.name.startswith(("zarr", "asyncio_"))]
    r = run_map(p, {"x": list(range(50))}, run_folder=tmp_path / "b", storage="zarr_file_array", parallel=True, chunksizes=5)
    assert r["y"].output.tolist() == [2 * x for x in range(50)]

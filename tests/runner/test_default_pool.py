"""pipemap's own pool (``parallel=True``, no executor) is reused between runs and retired after
a failure, a worker death, an idle timeout or ``shutdown_default_pool()``."""

from __future__ import annotations

import os
import time

import pytest
from pipemap.runner import Pipeline, pipefunc, run_map, shutdown_default_pool
from pipemap.runner.executors import _default_pool


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
    """The worker processes of the pool this run used (not all of them may have got work)."""
    r = run_map(PIDS, {"x": list(range(40))}, parallel=True, chunksizes=1, show_progress=False)
    used = set(r["pid"].output.tolist())
    workers = pool_workers()
    assert used <= workers
    return workers


def pool_workers() -> set[int]:
    pool = _default_pool._pool
    assert pool is not None
    return set(pool._processes)


@pytest.fixture(autouse=True)
def fresh_pool():
    shutdown_default_pool()
    yield
    shutdown_default_pool()


def test_second_run_reuses_the_warm_workers() -> None:
    first = pids_of_run()
    pool = _default_pool._pool
    assert os.getpid() not in first
    assert first <= pids_of_run()  # (forkserver pools start their workers one by one)
    assert _default_pool._pool is pool


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
from pipemap.runner.executors._executors import default_executor, foreign_threads

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
first = default_executor()
first.submit(abs, 1).result()  # the forkserver is running from here on
first.shutdown()
import os
os.environ["PIPEMAP_TEST_LATE"] = "late"  # after the forkserver started: adopted all the same
pool = default_executor()
print(pool._mp_context.get_start_method(), pool.submit(abs, -2).result(), pool.submit(os.getenv, "PIPEMAP_TEST_LATE").result())
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
    assert out.stdout.split() == ["True", "forkserver", "2", "late"]


def test_forked_workers_write_zarr_after_zarr_threads_started(tmp_path) -> None:
    """zarr's I/O threads do not force forkserver, and forked workers can still write zarr."""
    pytest.importorskip("zarr")
    from pipemap.runner.executors._executors import foreign_threads

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def double(x):
        return 2 * x

    p = Pipeline([double])
    run_map(p, {"x": [1, 2]}, run_folder=tmp_path / "a", storage="zarr_file_array", parallel=False)
    assert not [t for t in foreign_threads() if t.name.startswith(("zarr", "asyncio_"))]
    r = run_map(p, {"x": list(range(50))}, run_folder=tmp_path / "b", storage="zarr_file_array", parallel=True, chunksizes=5)
    assert r["y"].output.tolist() == [2 * x for x in range(50)]


def test_workers_never_run_stale_user_code(tmp_path, monkeypatch) -> None:
    """A user module edited and reloaded in the parent (as autoreload does): the kept workers
    would still hold the old code, so the next run starts a fresh pool and sees the new code."""
    import importlib
    import sys

    module = tmp_path / "pipemap_test_helper_mod.py"
    module.write_text("def value():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    helper = importlib.import_module("pipemap_test_helper_mod")

    @pipefunc("v", mapspec="x[i] -> v[i]")
    def through_helper(x):
        return (helper.value(), os.getpid())

    p = Pipeline([through_helper])
    try:
        first = run_map(p, {"x": list(range(4))}, parallel=True, chunksizes=1)["v"].output
        assert {v[0] for v in first} == {1}
        pool = _default_pool._pool
        run_map(p, {"x": list(range(4))}, parallel=True, chunksizes=1)
        assert _default_pool._pool is pool  # unchanged parent: pool reused
        workers = pool_workers()
        module.write_text("def value():\n    return 2\n")
        importlib.reload(helper)
        after = run_map(p, {"x": list(range(4))}, parallel=True, chunksizes=1)["v"].output
        assert {v[0] for v in after} == {2}
        assert not {v[1] for v in after} & workers
    finally:
        sys.modules.pop("pipemap_test_helper_mod", None)


def test_changed_working_directory_or_environment_starts_fresh_workers(tmp_path, monkeypatch) -> None:
    @pipefunc("w", mapspec="x[i] -> w[i]")
    def where(x):
        return (os.getcwd(), os.environ.get("PIPEMAP_TEST_FLAG"), os.getpid())

    p = Pipeline([where])
    run_map(p, {"x": [0, 1]}, parallel=True, chunksizes=1)
    workers = pool_workers()
    monkeypatch.chdir(tmp_path)
    moved = run_map(p, {"x": [0, 1]}, parallel=True, chunksizes=1)["w"].output
    assert {v[0] for v in moved} == {str(tmp_path)}
    assert not {v[2] for v in moved} & workers
    workers = pool_workers()
    monkeypatch.setenv("PIPEMAP_TEST_FLAG", "on")
    flagged = run_map(p, {"x": [0, 1]}, parallel=True, chunksizes=1)["w"].output
    assert not {v[2] for v in flagged} & workers  # fresh workers
    assert {v[1] for v in flagged} == {"on"}  # forked, or forkserver workers that adopted it


def test_forking_past_known_threads_does_not_warn() -> None:
    """Python >= 3.12 warns when a multi-threaded process forks; pipemap forks only past
    threads it knows are safe, so that warning is not passed on to the user."""
    import sys
    import warnings
    from concurrent.futures import ProcessPoolExecutor

    if sys.version_info < (3, 12):
        pytest.skip("Python < 3.12 does not warn about forking a multi-threaded process")
    with ProcessPoolExecutor(1) as other:  # a live, known-safe thread
        other.submit(abs, 1).result()
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            assert pids_of_run()

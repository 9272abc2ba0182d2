"""A real ``dask.distributed.LocalCluster`` (2 worker processes): the Client itself and
``client.get_executor()`` run pipelines with on-disk storage; results equal the sequential run.

One module-scoped cluster: starting it costs seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
from pipemap.runner import Pipeline, pipefunc, run_map, run_map_async

distributed = pytest.importorskip("distributed")


@pipefunc("y", mapspec="x[i] -> y[i]")
def square(x):
    return x * x


@pipefunc("z", mapspec="y[i], w[j] -> z[i, j]")
def shift(y, w):
    return y + w


@pipefunc("s")
def total(z):
    return int(np.sum(z))


PIPELINE = Pipeline([square, shift, total])
INPUTS = {"x": list(range(30)), "w": [1, 2]}


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=40
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def expected() -> dict:
    return {k: v.output for k, v in run_map(PIPELINE, INPUTS, parallel=False).items()}


def need_storage(name: str) -> None:
    from pipemap.storage import get_storage_class

    try:
        get_storage_class(name)
    except (ValueError, ImportError) as e:
        pytest.skip(f"storage `{name}` unavailable: {e}")


def same(r, expected: dict) -> None:
    assert r["y"].output.tolist() == expected["y"].tolist()
    assert r["z"].output.tolist() == expected["z"].tolist()
    assert r["s"].output == expected["s"]


@pytest.mark.parametrize("storage", ["file_array", "chunked", "zarr_file_array"])
def test_client_directly(client, storage, tmp_path, expected) -> None:
    need_storage(storage)
    r = run_map(PIPELINE, INPUTS, run_folder=tmp_path, executor=client, storage=storage)
    same(r, expected)
    # the workers' writes are on disk: a resumed sequential run recomputes nothing mapped
    again = run_map(PIPELINE, INPUTS, run_folder=tmp_path, storage=storage, resume=True, parallel=False)
    same(again, expected)


def test_client_executor_and_work_spread_over_both_workers(client, tmp_path, expected) -> None:
    import os

    @pipefunc("pid", mapspec="x[i] -> pid[i]")
    def where(x):
        import time

        time.sleep(0.01)
        return os.getpid()

    r = run_map(
        Pipeline([where]), {"x": list(range(40))}, run_folder=tmp_path, executor=client.get_executor(), chunksizes=2
    )
    pids = set(r["pid"].output.tolist())
    worker_pids = set(client.run(os.getpid).values())
    assert pids <= worker_pids
    assert len(pids) == 2
    r = run_map(PIPELINE, INPUTS, executor=client.get_executor(), storage="file_array", run_folder=tmp_path / "b")
    same(r, expected)


def test_dict_mixes_dask_and_threads(client, expected) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as threads:
        r = run_map(PIPELINE, INPUTS, executor={"y": threads, "": client})
    same(r, expected)


def test_async_run_on_dask(client, tmp_path, expected) -> None:
    import asyncio

    async def main():
        runner = run_map_async(PIPELINE, INPUTS, run_folder=tmp_path, executor=client, show_progress="headless")
        result = await runner.task
        return runner, result

    runner, result = asyncio.run(main())
    same(result, expected)
    assert runner.status()["progress"]["z"]["completed"] == 60


def test_dask_chunks_are_longer_than_pool_chunks(client) -> None:
    """A dask task costs the client and scheduler milliseconds: aim for 0.5 s chunks, not 0.25 s."""
    from concurrent.futures import ThreadPoolExecutor

    from pipemap.runner.executors._dispatch import ChunkSizer, chunk_seconds_for

    assert chunk_seconds_for(client.get_executor()) == (0.5, 0.05)
    with ThreadPoolExecutor(1) as threads:
        assert chunk_seconds_for(threads) == (0.25, 0.005)
    sizer = ChunkSizer(200, 5, False, 2, *chunk_seconds_for(client.get_executor()))
    sizer.observe(5, 0.05)  # 10 ms per element
    assert sizer.next_size(195) == 49  # a quarter of what is left, under the 0.5 s target
    assert sizer.next_size(12) == 5  # the tail never drops below 50 ms of work

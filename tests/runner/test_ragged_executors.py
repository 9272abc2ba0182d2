"""Ragged axes in parallel runs (issue 16): pipemap's default pool, thread and process pools, fused
chains, a real dask.distributed LocalCluster; chunks cut the flat elements, not the rows."""

from __future__ import annotations

import os
import time

import pytest
from pipemap.runner import Pipeline, pipefunc, run_map

from tests.runner._ragged_pipeline import N, TEXT, check, pipeline


@pipefunc("row", mapspec="t[i] -> row[i, j*]")
def one_long_row(t):
    return list(range(t))


@pipefunc("pid", mapspec="row[i, j*] -> pid[i, j*]")
def where(row):
    time.sleep(0.02)
    return os.getpid()


@pytest.mark.parametrize("storage", ["file_array", "chunked", "shared_memory_dict"])
def test_default_pool(storage, tmp_path) -> None:
    check(run_map(pipeline(), {"text": TEXT, "n": N}, run_folder=tmp_path, storage=storage, parallel=True))


def test_process_pool(process_pool, tmp_path) -> None:
    check(run_map(pipeline(), {"text": TEXT, "n": N}, run_folder=tmp_path, executor=process_pool, chunksizes=2))


def test_thread_pool_eager(thread_pool, tmp_path) -> None:
    r = run_map(
        pipeline(), {"text": TEXT, "n": N}, run_folder=tmp_path, executor=thread_pool, chunksizes=1, scheduling_strategy="eager"
    )
    check(r)


def test_fused_chain_of_element_wise_consumers(tmp_path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from pipemap.runner.engine._fusion import plan_chains
    from pipemap.runner.engine._prepare import prepare_run

    with ThreadPoolExecutor(1) as ex:
        prep = prepare_run(
            pipeline=pipeline(), inputs={"text": TEXT, "n": N}, run_folder=None, internal_shapes=None,
            parallel=True, executor=ex, show_progress=False,
        )
        chains = [[f.output_name for f in chain] for chain in plan_chains(prep).values()]
    # the producer and the reductions never join a chain; element-wise consumers do
    assert chains and all("words" not in c and "count" not in c and "joined" not in c for c in chains)
    assert any(len(c) >= 2 and set(c) <= {"upper", "tagged", "paired"} for c in chains), chains
    check(run_map(pipeline(), {"text": TEXT, "n": N}, run_folder=tmp_path, parallel=True, chunksizes=3))


def test_one_long_row_is_split_over_workers(process_pool, tmp_path) -> None:
    r = run_map(Pipeline([one_long_row, where]), {"t": [0, 60, 0]}, run_folder=tmp_path, executor=process_pool, chunksizes=4)
    pids = set(r["pid"].output.tolist())
    assert len(r["pid"].output) == 60
    assert len(pids) == 2, "the 60 elements of one row ran in one worker"


distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.mark.parametrize("storage", ["file_array", "chunked", "zarr_file_array"])
def test_dask_local_cluster(client, storage, tmp_path) -> None:
    from pipemap.storage import get_storage_class

    try:
        get_storage_class(storage)
    except (ValueError, ImportError) as e:
        pytest.skip(f"storage `{storage}` unavailable: {e}")
    r = run_map(pipeline(), {"text": TEXT, "n": N}, run_folder=tmp_path, executor=client, storage=storage, chunksizes=2)
    check(r)
    again = run_map(pipeline(), {"text": TEXT, "n": N}, run_folder=tmp_path, storage=storage, resume=True, parallel=False)
    check(again)

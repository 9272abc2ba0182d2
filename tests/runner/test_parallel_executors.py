"""Every executor form with real pools gives the sequential run's results, for every on-disk storage.

Forms: ``parallel=True`` (pipemap's default process pool), ``ProcessPoolExecutor``,
``ThreadPoolExecutor``, loky's reusable executor, a per-output dict with ``""`` default, and
``SynchronousExecutor``. Storages: ``file_array``, ``chunked``, ``zarr_file_array`` in a run folder.
Also: the windowed dispatcher's chunk sizes (fixed forms and automatic/adaptive).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from pipemap.runner import Pipeline, pipefunc, run_map
from pipemap.runner.executors._dispatch import ChunkSizer
from pipemap.runner.engine._events import ChunkDone
from pipemap.runner.executors._executors import SynchronousExecutor

STORAGES = ["file_array", "chunked", "zarr_file_array"]


@pipefunc(("a", "b"), mapspec="x[i] -> a[i], b[i]")
def split(x):
    return x + 1, 2 * x


@pipefunc("c", mapspec="a[i], b[i], w[j] -> c[i, j]")
def grid(a, b, w):
    return a * b + w


@pipefunc("rowsum", mapspec="c[i, :] -> rowsum[i]")
def rowsum(c):
    return int(np.sum(c))


@pipefunc("total")
def total(rowsum):
    return int(np.sum(rowsum))


PIPELINE = Pipeline([split, grid, rowsum, total])
INPUTS = {"x": list(range(23)), "w": [0, 10, 100]}


@pytest.fixture(scope="module")
def expected() -> dict:
    r = run_map(PIPELINE, INPUTS, parallel=False)
    return {k: v.output for k, v in r.items()}


def need_storage(name: str) -> None:
    from pipemap.storage import get_storage_class

    try:
        get_storage_class(name)
    except (ValueError, ImportError) as e:  # not registered (yet) or its optional dependency is missing
        pytest.skip(f"storage `{name}` unavailable: {e}")


def check(result, expected: dict, run_folder, storage: str | None = None) -> None:
    for name, value in expected.items():
        got = result[name].output
        if isinstance(value, np.ndarray):
            assert got.tolist() == value.tolist(), name
        else:
            assert got == value, name
    if run_folder is not None:  # what the workers wrote to disk: resume reads it back, computes nothing
        calls: list = []
        again = run_map(
            PIPELINE, INPUTS, run_folder=run_folder, storage=storage, resume=True, parallel=False,
            callbacks=[lambda e: calls.append(e.output_name) if isinstance(e, ChunkDone) and e.n_done else None],
        )
        for name, value in expected.items():
            got = again[name].output
            assert (got.tolist() if isinstance(value, np.ndarray) else got) == (
                value.tolist() if isinstance(value, np.ndarray) else value
            ), name
        assert not {"a", "c", "rowsum"} & set(calls), calls  # mapped elements all came from disk


@pytest.mark.parametrize("storage", STORAGES)
def test_process_pool(process_pool, storage, tmp_path, expected) -> None:
    need_storage(storage)
    r = run_map(PIPELINE, INPUTS, run_folder=tmp_path, executor=process_pool, storage=storage)
    check(r, expected, tmp_path, storage)


@pytest.mark.parametrize("storage", STORAGES)
def test_thread_pool(storage, tmp_path, expected) -> None:
    need_storage(storage)
    with ThreadPoolExecutor(max_workers=3) as ex:
        r = run_map(PIPELINE, INPUTS, run_folder=tmp_path, executor=ex, storage=storage)
    check(r, expected, tmp_path, storage)


@pytest.fixture(scope="module")
def loky_executor():
    """loky's reusable executor, warm across this module's tests; its workers stop at the end."""
    loky = pytest.importorskip("loky")
    ex = loky.get_reusable_executor(max_workers=2)
    yield ex
    ex.shutdown(wait=True, kill_workers=True)


@pytest.mark.parametrize("storage", STORAGES)
def test_loky_reusable_executor(storage, tmp_path, expected, loky_executor) -> None:
    need_storage(storage)
    r = run_map(PIPELINE, INPUTS, run_folder=tmp_path, executor=loky_executor, storage=storage)
    check(r, expected, tmp_path, storage)


@pytest.mark.parametrize("storage", STORAGES)
def test_synchronous_executor(storage, tmp_path, expected) -> None:
    need_storage(storage)
    r = run_map(PIPELINE, INPUTS, run_folder=tmp_path, executor=SynchronousExecutor(), storage=storage)
    check(r, expected, tmp_path, storage)


def test_default_pool_parallel_true(tmp_path, expected) -> None:
    """``parallel=True`` without an executor: pipemap's own pool, shut down after the run."""
    r = run_map(PIPELINE, INPUTS, run_folder=tmp_path, parallel=True, storage="chunked")
    check(r, expected, tmp_path, "chunked")


def test_dict_per_output_with_default(process_pool, tmp_path, expected) -> None:
    """``("a", "b")`` (named by one of its outputs) on threads, everything else on processes."""
    seen: list[str] = []
    with ThreadPoolExecutor(max_workers=2) as threads:
        executors = {"a": threads, "": process_pool}
        r = run_map(
            PIPELINE,
            INPUTS,
            run_folder=tmp_path,
            executor=executors,
            storage={"c": "chunked", "": "file_array"},
            callbacks=[lambda e: seen.append(e.output_name) if isinstance(e, ChunkDone) else None],
        )
    check(r, expected, tmp_path, {"c": "chunked", "": "file_array"})
    assert {"a", "c", "rowsum", "total"} <= set(seen)


def test_dict_without_default_names_missing_output(process_pool) -> None:
    with pytest.raises(ValueError, match="No executor found for output `c`"):
        run_map(PIPELINE, INPUTS, executor={("a", "b"): process_pool})


@pytest.mark.parametrize(
    "chunksizes",
    [1, 4, {"": 3, "c": 10}, {"": lambda n: max(1, n // 5)}, None],
    ids=["int1", "int4", "dict", "callable", "auto"],
)
def test_chunksize_forms_in_process_pool(process_pool, chunksizes, expected) -> None:
    r = run_map(PIPELINE, INPUTS, executor=process_pool, chunksizes=chunksizes)
    check(r, expected, None)


def test_fixed_chunksize_gives_exact_chunks(process_pool) -> None:
    sizes: list[int] = []
    p = Pipeline([split])
    run_map(
        p,
        {"x": list(range(10))},
        executor=process_pool,
        chunksizes=3,
        callbacks=[lambda e: sizes.append(e.n_done) if isinstance(e, ChunkDone) else None],
    )
    assert sorted(sizes) == [1, 3, 3, 3]


def test_invalid_chunksize_names_function(process_pool) -> None:
    with pytest.raises(ValueError, match="Invalid chunksize -1 for"):
        run_map(Pipeline([split]), {"x": [1, 2, 3]}, executor=process_pool, chunksizes=-1)


def test_automatic_chunks_adapt_to_element_time() -> None:
    """Fast elements: chunks grow until ~0.25 s of work; the tail shrinks to balance workers."""
    s = ChunkSizer(total=100_000, first=2500, fixed=False, n_workers=2)
    assert s.next_size(100_000) == 2500  # seed rule until something was measured
    s.observe(2500, 2500 * 1e-6)  # 1 µs per element
    assert s.next_size(90_000) == 22_500  # capped at a quarter of what is left (2 workers)
    assert s.next_size(40_000) == 10_000  # a quarter of what is left ...
    assert s.next_size(12_000) == 5_000  # ... but never less than ~5 ms of work ...
    assert s.next_size(400) == 400  # ... nor more than what is left
    ms = ChunkSizer(total=10_000, first=250, fixed=False, n_workers=2)
    ms.observe(250, 250 * 1e-3)  # 1 ms per element
    assert ms.next_size(2000) == 250  # 0.25 s of work
    assert ms.next_size(100) == 25  # tail: a quarter of what is left, above the 5-element floor
    slow = ChunkSizer(total=200, first=5, fixed=False, n_workers=2)
    slow.observe(5, 5 * 0.05)  # 50 ms per element -> 5 elements make 0.25 s
    assert slow.next_size(150) == 5
    fixed = ChunkSizer(total=200, first=7, fixed=True, n_workers=2)
    fixed.observe(7, 1.0)
    assert fixed.next_size(150) == 7


def test_automatic_chunks_grow_in_a_real_pool(process_pool) -> None:
    """10^4 trivial elements: far fewer tasks than with a fixed seed-sized chunk."""
    sizes: list[int] = []
    run_map(
        Pipeline([split]),
        {"x": list(range(10_000))},
        executor=process_pool,
        callbacks=[lambda e: sizes.append(e.n_done) if isinstance(e, ChunkDone) else None],
    )
    assert sum(sizes) == 10_000
    assert max(sizes) > 250  # the seed rule alone would give 10_000 / (20 * 2) = 250

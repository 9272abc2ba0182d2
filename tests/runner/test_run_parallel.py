"""Parallel execution through the executor boundary: process and thread pools, dicts, chunk sizes."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from pipemap.runner import Pipeline, pipefunc, run_map
from pipemap.runner.executors._executors import SynchronousExecutor


@pipefunc(("y1", "y2"), mapspec="x[i] -> y1[i], y2[i]")
def split(x):
    return x, 10 * x


@pipefunc("z", mapspec="y1[i], y2[i] -> z[i]")
def combine(y1, y2):
    return y1 + y2


@pipefunc("h", mapspec="z[i], w[j] -> h[i, j]")
def outer(z, w):
    return z * w


@pipefunc("total")
def total(h):
    return int(np.sum(h))


PIPELINE = Pipeline([split, combine, outer, total])
INPUTS = {"x": list(range(7)), "w": [1, 2, 3]}


def _expected() -> dict:
    r = run_map(PIPELINE, INPUTS, parallel=False)
    return {k: v.output for k, v in r.items()}


def _check(r, expected) -> None:
    for name, value in expected.items():
        got = r[name].output
        if isinstance(value, np.ndarray):
            assert got.tolist() == value.tolist(), name
        else:
            assert got == value, name


@pytest.mark.parametrize("storage", ["dict", "file_array", "shared_memory_dict"])
def test_process_pool(process_pool, storage, tmp_path) -> None:
    r = run_map(PIPELINE, INPUTS, run_folder=tmp_path, executor=process_pool, storage=storage, chunksizes=2)
    _check(r, _expected())


def test_thread_pool_and_sync_executor(tmp_path) -> None:
    expected = _expected()
    with ThreadPoolExecutor(2) as ex:
        _check(run_map(PIPELINE, INPUTS, run_folder=tmp_path, executor=ex), expected)
    _check(run_map(PIPELINE, INPUTS, executor=SynchronousExecutor()), expected)


def test_executor_dict_and_chunksizes(process_pool, tmp_path) -> None:
    with ThreadPoolExecutor(2) as threads:
        r = run_map(
            PIPELINE,
            INPUTS,
            run_folder=tmp_path,
            executor={("y1", "y2"): threads, "": process_pool},
            chunksizes={"y1": 2, "h": lambda n: n // 2, "": 1},
            storage={("y1", "y2"): "file_array", "": "dict"},
        )
    _check(r, _expected())
    for cs in (1, 10_000):
        _check(run_map(PIPELINE, INPUTS, executor=process_pool, chunksizes=cs), _expected())


def test_default_pool_dict_storage() -> None:
    _check(run_map(PIPELINE, INPUTS, storage="dict"), _expected())


def test_raise_in_process_pool_sets_snapshot(process_pool) -> None:
    @pipefunc("y", mapspec="x[i] -> y[i]")
    def bad(x):
        if x == 1:
            raise ValueError("one")
        return x

    p = Pipeline([bad])
    with pytest.raises(ValueError, match="one") as info:
        run_map(p, {"x": [0, 1, 2]}, executor=process_pool)
    assert any("bad(x=1)" in n for n in info.value.__notes__)
    with pytest.raises(ValueError, match="one"):
        p.error_snapshot.reproduce()


def test_continue_in_process_pool(process_pool) -> None:
    from pipemap.storage import ErrorSnapshot, PropagatedErrorSnapshot

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def bad(x):
        if x == 1:
            raise ValueError("one")
        return x

    @pipefunc("z", mapspec="y[i] -> z[i]")
    def inc(y):
        return y + 1

    r = run_map(Pipeline([bad, inc]), {"x": [0, 1, 2]}, executor=process_pool, error_handling="continue", chunksizes=1)
    assert isinstance(r["y"].output[1], ErrorSnapshot)
    assert isinstance(r["z"].output[1], PropagatedErrorSnapshot)
    assert r["z"].output[2] == 3


def test_large_input_sent_through_file(process_pool, tmp_path) -> None:
    big = np.arange(400_000, dtype=np.float64)  # 3.2 MB: above the inline payload limit

    @pipefunc("y", mapspec="i_[i] -> y[i]")
    def pick(i_, big):
        return float(big[i_])

    r = run_map(Pipeline([pick]), {"i_": [0, 5, 399_999], "big": big}, run_folder=tmp_path, executor=process_pool, chunksizes=1)
    assert r["y"].output.tolist() == [0.0, 5.0, 399_999.0]
    assert not any((tmp_path / ".tasks").iterdir())  # the payload file is removed after the run


def test_eager_scheduling(process_pool) -> None:
    r = run_map(PIPELINE, INPUTS, executor=process_pool, scheduling_strategy="eager")
    _check(r, _expected())


class Box:
    """A user class defined in this (not importable by workers) test module."""

    def __init__(self, v):
        self.v = v


def test_spawned_workers_get_user_code_by_value() -> None:
    import multiprocessing

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def boxed(x):
        return Box(x).v * 2

    @pipefunc("s")
    def total(y):
        return Box(int(np.sum(y))).v

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as ex:
        r = run_map(Pipeline([boxed, total]), {"x": [1, 2, 3]}, executor=ex)
    assert r["y"].output.tolist() == [2, 4, 6]
    assert r["s"].output == 12

"""Element-wise chains fused into one task per chunk: same stored values, events, failures and
results as function-by-function runs, on real thread and process pools."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from pipemap.runner import Pipeline, pipefunc, run_map
from pipemap.runner.engine._fusion import plan_chains
from pipemap.runner.engine._prepare import prepare_run


@pipefunc("y", mapspec="x[i] -> y[i]")
def inc(x):
    return x + 1


@pipefunc("z", mapspec="y[i] -> z[i]")
def double(y):
    if y == 1000:
        raise ValueError("y is 1000")
    return 2 * y


@pipefunc("w", mapspec="z[i], x[i] -> w[i]")
def minus(z, x):
    return z - x


@pipefunc("s")
def total(w):
    return int(np.sum(w))


@pipefunc("u", mapspec="y[i], v[j] -> u[i, j]")
def outer(y, v):
    return y * v


@pipefunc("m")
def mean_y(y):
    return float(np.mean(y))


CHAIN = Pipeline([inc, double, minus, total])
XS = list(range(200))


def chains_of(pipeline: Pipeline, inputs: dict, **kw) -> list[list[str]]:
    prep = prepare_run(
        pipeline=pipeline, inputs=inputs, run_folder=None, internal_shapes=None, parallel=True,
        executor=ThreadPoolExecutor(1), show_progress=False, **kw,
    )
    return [[f.output_name for f in chain] for chain in plan_chains(prep).values()]


def test_planner_fuses_identity_chains_only() -> None:
    assert chains_of(CHAIN, {"x": XS}) == [["y", "z", "w"]]
    # `u` reads y over another axis too, `m` reads all of y: neither joins; z still does
    mixed = Pipeline([inc, double, outer, mean_y])
    assert chains_of(mixed, {"x": XS, "v": [1, 2]}) == [["y", "z"]]
    # different chunk sizes or executors per output keep functions apart
    assert chains_of(CHAIN, {"x": XS}, chunksizes={"y": 5, "z": 7, "w": 7}) == [["z", "w"]]


def test_planner_skips_a_consumer_of_a_same_generation_output() -> None:
    @pipefunc("q", mapspec="x[i] -> q[i]")
    def other(x):
        return -x

    @pipefunc("r", mapspec="y[i], q[i] -> r[i]")
    def both(y, q):
        return y + q

    # r also needs q, produced in y's generation: r cannot run inside y's chunks
    assert chains_of(Pipeline([inc, other, both]), {"x": XS}) == []


@pytest.mark.parametrize("pool", ["thread_pool", "process_pool"])
@pytest.mark.parametrize("storage", ["dict", "file_array", "chunked"])
def test_fused_results_equal_sequential(pool, storage, request, tmp_path) -> None:
    ex = request.getfixturevalue(pool)
    folder = None if storage == "dict" else tmp_path / "run"
    seq = run_map(CHAIN, {"x": XS}, parallel=False)
    r = run_map(CHAIN, {"x": XS}, executor=ex, storage=storage, run_folder=folder, chunksizes=16)
    for name in ("y", "z", "w"):
        assert r[name].output.tolist() == seq[name].output.tolist()
    assert r["s"].output == seq["s"].output
    if folder is not None:  # every output of the chain is on disk: a resume computes nothing
        again = run_map(CHAIN, {"x": XS}, storage=storage, run_folder=folder, resume=True, parallel=False)
        assert again["w"].output.tolist() == seq["w"].output.tolist()


def test_fused_run_without_results_stores_everything(process_pool, tmp_path) -> None:
    import pipemap.io as pio

    run_map(CHAIN, {"x": XS}, executor=process_pool, run_folder=tmp_path, storage="file_array", return_results=False)
    assert pio.load_outputs("w", run_folder=tmp_path).tolist() == [2 * (x + 1) - x for x in XS]


def test_downstream_starts_before_upstream_finished(thread_pool) -> None:
    @pipefunc("y", mapspec="x[i] -> y[i]")
    def slow(x):
        time.sleep(0.01)
        return (x, time.time())

    @pipefunc("z", mapspec="y[i] -> z[i]")
    def stamp(y):
        return (y[0], time.time())

    r = run_map(Pipeline([slow, stamp]), {"x": list(range(20))}, executor=thread_pool, chunksizes=2)
    assert min(z[1] for z in r["z"].output) < max(y[1] for y in r["y"].output)
    assert [z[0] for z in r["z"].output] == list(range(20))


def test_error_in_a_fused_tail_names_the_tail(process_pool) -> None:
    with pytest.raises(ValueError, match="y is 1000") as info:
        run_map(CHAIN, {"x": [1, 999, 3]}, executor=process_pool, chunksizes=1)
    assert any("double" in note for note in getattr(info.value, "__notes__", []))
    tail = next(f for f in CHAIN.functions if f.output_name == "z")
    assert tail.error_snapshot is not None and tail.error_snapshot.kwargs == {"y": 1000}


@pytest.mark.parametrize("pool", ["thread_pool", "process_pool"])
def test_continue_mode_propagates_inside_the_chain(pool, request, tmp_path) -> None:
    ex = request.getfixturevalue(pool)
    xs = [1, 999, 3]
    seq = run_map(CHAIN, {"x": xs}, parallel=False, error_handling="continue")
    r = run_map(CHAIN, {"x": xs}, executor=ex, run_folder=tmp_path, error_handling="continue", chunksizes=1)
    for name in ("y", "z", "w"):
        assert [type(v).__name__ for v in r[name].output] == [type(v).__name__ for v in seq[name].output]
    assert type(r["z"].output[1]).__name__ == "ErrorSnapshot"
    assert type(r["w"].output[1]).__name__ == "PropagatedErrorSnapshot"
    assert r["w"].output[0] == seq["w"].output[0]


def test_partly_done_chain_runs_function_by_function(tmp_path) -> None:
    """Resume with all of y stored but elements of z and w lost: y computes nothing, the rest
    of the chain recomputes exactly what is missing."""
    calls = []

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def counted(x):
        calls.append(x)
        return x + 1

    p = Pipeline([counted, double, minus, total])
    run_map(p, {"x": XS}, run_folder=tmp_path, storage="file_array", parallel=False)
    for name in ("z", "w"):
        for k in range(10):
            (tmp_path / "outputs" / name / f"__{k}__.pickle").unlink()
    calls.clear()
    with ThreadPoolExecutor(2) as ex:
        r = run_map(p, {"x": XS}, run_folder=tmp_path, storage="file_array", executor=ex, resume=True)
    assert calls == []  # y was reused
    assert r["w"].output.tolist() == [2 * (x + 1) - x for x in XS]


def test_worker_death_in_a_fused_chunk_continue_mode(tmp_path) -> None:
    @pipefunc("y", mapspec="x[i] -> y[i]")
    def die_on_five(x):
        if x == 5:
            os._exit(3)
        return x + 1

    p = Pipeline([die_on_five, double, minus])
    # pipemap's own pool: renewed after the death, the other lost chunks are re-run one at a time
    r = run_map(p, {"x": list(range(12))}, parallel=True, run_folder=tmp_path, chunksizes=1, error_handling="continue")
    kinds = [type(v).__name__ for v in r["w"].output]
    assert kinds[5] == "PropagatedErrorSnapshot"
    assert type(r["y"].output[5]).__name__ == "ErrorSnapshot"
    assert [v for k, v in enumerate(r["w"].output) if k != 5] == [x + 2 for x in range(12) if x != 5]


def test_multi_output_functions_fuse(process_pool) -> None:
    @pipefunc(("a", "b"), mapspec="x[i] -> a[i], b[i]")
    def pair(x):
        return x + 1, x + 2

    @pipefunc(("c", "d"), mapspec="b[i] -> c[i], d[i]")
    def widen(b):
        return b * 10, b * 100

    @pipefunc("e", mapspec="d[i] -> e[i]")
    def negate(d):
        return -d

    p = Pipeline([pair, widen, negate])
    assert chains_of(p, {"x": XS}) == [[("a", "b"), ("c", "d"), "e"]]
    seq = run_map(p, {"x": XS}, parallel=False)
    r = run_map(p, {"x": XS}, executor=process_pool, chunksizes=7)
    for name in "abcde":
        assert r[name].output.tolist() == seq[name].output.tolist()


def test_fixed_indices_fuse_over_a_strided_selection(process_pool) -> None:
    @pipefunc("y", mapspec="x[i], q[j] -> y[i, j]")
    def grid(x, q):
        return x * 10 + q

    @pipefunc("z", mapspec="y[i, j] -> z[i, j]")
    def neg(y):
        return -y

    p = Pipeline([grid, neg])
    inputs = {"x": list(range(6)), "q": list(range(5))}
    fixed = {"j": slice(1, 4, 2)}
    seq = run_map(p, inputs, parallel=False, fixed_indices=fixed)
    r = run_map(p, inputs, executor=process_pool, fixed_indices=fixed, chunksizes=2)
    assert r["z"].output.tolist() == seq["z"].output.tolist()
    assert r["z"].output[0, 1] == -1 and r["z"].output[0, 0] is None

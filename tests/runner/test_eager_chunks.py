"""Eager scheduling at chunk level: a chunk starts once the upstream elements it reads are stored.

Real thread and process pools; results are compared with the sequential run. Timing is only
used for ordering (which element started before which finished), never for durations.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from pipemap.runner import Pipeline, pipefunc, run_map


# --------------------------------------------------------------------------- overlap
@pipefunc("y", mapspec="x[i] -> y[i]")
def slow_stamp(x):
    time.sleep(0.03)
    return (x, time.time())  # (value, when this element finished)


@pipefunc("z", mapspec="y[i] -> z[i]")
def start_stamp(y):
    return (2 * y[0], time.time())  # (value, when this element started)


STAMPED = Pipeline([slow_stamp, start_stamp])


def _stamps(r) -> tuple[float, float, list]:
    ys, zs = r["y"].output, r["z"].output
    return max(y[1] for y in ys), min(z[1] for z in zs), [z[0] for z in zs]


@pytest.mark.parametrize("pool", ["thread_pool", "process_pool"])
def test_downstream_elements_start_before_upstream_finished(pool, request, tmp_path) -> None:
    ex = request.getfixturevalue(pool)
    inputs = {"x": list(range(12))}
    r = run_map(
        STAMPED, inputs, run_folder=tmp_path, executor=ex, storage="file_array",
        chunksizes=1, scheduling_strategy="eager",
    )
    last_y_end, first_z_start, values = _stamps(r)
    assert values == [2 * x for x in range(12)]
    assert first_z_start < last_y_end  # z ran while y was still running


def test_generation_strategy_waits_for_the_whole_upstream(thread_pool) -> None:
    # different chunk sizes keep the two functions apart (an identity chain would be fused)
    r = run_map(STAMPED, {"x": list(range(6))}, executor=thread_pool, chunksizes={"y": 1, "z": 2})
    last_y_end, first_z_start, _ = _stamps(r)
    assert first_z_start >= last_y_end


def test_parent_side_storage_in_processes_falls_back_to_whole_function(process_pool) -> None:
    # a dict lives in the parent: a worker would read a copy, so z waits for all of y
    r = run_map(STAMPED, {"x": list(range(6))}, executor=process_pool, chunksizes=1, scheduling_strategy="eager")
    last_y_end, first_z_start, values = _stamps(r)
    assert values == [2 * x for x in range(6)]
    assert first_z_start >= last_y_end


@pytest.mark.parametrize("storage", ["chunked", "zarr_file_array"])
def test_storages_with_shared_files_fall_back_to_whole_function(storage, thread_pool, tmp_path) -> None:
    # several elements share a file that later writes replace or merge: z waits for all of y
    r = run_map(STAMPED, {"x": list(range(6))}, run_folder=tmp_path, executor=thread_pool, storage=storage,
                chunksizes=1, scheduling_strategy="eager")
    last_y_end, first_z_start, values = _stamps(r)
    assert values == [2 * x for x in range(6)]
    assert first_z_start >= last_y_end


def test_dict_storage_in_threads_starts_early(thread_pool) -> None:
    r = run_map(STAMPED, {"x": list(range(12))}, executor=thread_pool, chunksizes=1, scheduling_strategy="eager")
    last_y_end, first_z_start, _ = _stamps(r)
    assert first_z_start < last_y_end


# --------------------------------------------------------------------------- identical results
@pipefunc(("a", "b"), mapspec="x[i] -> a[i], b[i]")
def split(x):
    time.sleep(0.002)
    return x, 10 * x


@pipefunc("c", mapspec="a[i], b[i] -> c[i]")
def combine(a, b):
    return a + b


@pipefunc("m", mapspec="c[i], w[j] -> m[i, j]")
def outer(c, w):
    time.sleep(0.001)
    return c * w


@pipefunc("r", mapspec="m[i, :] -> r[i]")
def row_sum(m):
    return int(np.sum(m))


@pipefunc("col", mapspec="m[:, j] -> col[j]")
def col_sum(m):
    return int(np.sum(m))


@pipefunc("q", mapspec="r[i], x[i] -> q[i]")
def zipped(r, x):
    return r - x


@pipefunc("total")
def grand_total(q, col):
    return int(np.sum(q)) + int(np.sum(col))


GRAPH = Pipeline([split, combine, outer, row_sum, col_sum, zipped, grand_total])
GRAPH_INPUTS = {"x": list(range(9)), "w": [1, 2, 3, 4]}


def _outputs(r) -> dict:
    out = {}
    for name, res in r.items():
        v = res.output
        out[name] = v.tolist() if isinstance(v, np.ndarray) else v
    return out


@pytest.fixture(scope="module")
def sequential() -> dict:
    return _outputs(run_map(GRAPH, GRAPH_INPUTS, parallel=False))


@pytest.mark.parametrize("pool", ["thread_pool", "process_pool"])
@pytest.mark.parametrize("storage", ["dict", "file_array", "chunked"])
def test_results_identical_to_sequential(pool, storage, request, tmp_path, sequential) -> None:
    ex = request.getfixturevalue(pool)
    r = run_map(
        GRAPH, GRAPH_INPUTS, run_folder=tmp_path, executor=ex, storage=storage,
        chunksizes=2, scheduling_strategy="eager",
    )
    assert _outputs(r) == sequential
    reloaded = run_map(GRAPH, GRAPH_INPUTS, run_folder=tmp_path, storage=storage, resume=True, parallel=False)
    assert _outputs(reloaded) == sequential


def test_mixed_executors_and_storages(process_pool, thread_pool, tmp_path, sequential) -> None:
    r = run_map(
        GRAPH, GRAPH_INPUTS, run_folder=tmp_path,
        executor={("a", "b"): thread_pool, "m": thread_pool, "": process_pool},
        storage={("a", "b"): "dict", "m": "chunked", "": "file_array"},
        chunksizes={"c": 3, "": 1}, scheduling_strategy="eager",
    )
    assert _outputs(r) == sequential


# --------------------------------------------------------------------------- fallbacks
@pipefunc("n")
def how_many(k):
    return list(range(k))  # unknown length until it ran: downstream shapes are "?"


@pipefunc("sq", mapspec="n[i] -> sq[i]")
def square(n):
    return n * n


@pipefunc("vec", mapspec="sq[i] -> vec[i, j]")
def expand(sq):
    return [sq, sq + 1, sq + 2]  # internal axis j


@pipefunc("vsum", mapspec="vec[i, :] -> vsum[i]")
def vec_sum(vec):
    return int(np.sum(vec))


FALLBACK = Pipeline([how_many, square, expand, vec_sum])


@pytest.mark.parametrize("storage", ["dict", "file_array", "chunked"])
@pytest.mark.parametrize("internal", [{"vec": 3}, None], ids=["internal-known", "internal-unknown"])
@pytest.mark.parametrize("pool", ["thread_pool", "process_pool"])
def test_unresolved_and_internal_shapes(pool, internal, storage, request, tmp_path) -> None:
    # sq waits for the single function n ("?" shape); vsum reads vec's whole elements early when
    # vec's internal shape is known, and waits for all of vec when it is still "?"
    ex = request.getfixturevalue(pool)
    expected = _outputs(run_map(FALLBACK, {"k": 5}, internal_shapes=internal, parallel=False))
    r = run_map(
        FALLBACK, {"k": 5}, internal_shapes=internal, run_folder=tmp_path, executor=ex,
        storage=storage, chunksizes=1, scheduling_strategy="eager",
    )
    assert _outputs(r) == expected
    assert expected["vsum"] == [3 * v * v + 3 for v in range(5)]


@pipefunc("yy", mapspec="x[i] -> yy[i]")
def fail_on_three(x):
    if x == 3:
        raise ValueError("x is three")
    return x


@pipefunc("zz", mapspec="yy[i] -> zz[i]")
def plus_one(yy):
    return yy + 1


FAILING = Pipeline([fail_on_three, plus_one])


def test_continue_mode_falls_back_with_identical_results(thread_pool) -> None:
    inputs = {"x": list(range(6))}
    expected = run_map(FAILING, inputs, parallel=False, error_handling="continue")
    r = run_map(FAILING, inputs, executor=thread_pool, chunksizes=1, error_handling="continue", scheduling_strategy="eager")
    for name in ("yy", "zz"):
        want = [type(v).__name__ if k == 3 else v for k, v in enumerate(expected[name].output.tolist())]
        got = [type(v).__name__ if k == 3 else v for k, v in enumerate(r[name].output.tolist())]
        assert got == want


def test_fixed_indices_fall_back_with_identical_results(process_pool, tmp_path) -> None:
    chain = Pipeline([split, combine])
    inputs = {"x": list(range(6))}
    kwargs = {"fixed_indices": {"i": slice(1, 4)}, "storage": "file_array"}
    expected = run_map(chain, inputs, run_folder=tmp_path / "seq", parallel=False, **kwargs)
    r = run_map(
        chain, inputs, run_folder=tmp_path / "par", executor=process_pool,
        chunksizes=1, scheduling_strategy="eager", **kwargs,
    )
    assert r["c"].output.tolist() == expected["c"].output.tolist()
    assert r["c"].output.tolist()[1:4] == [11, 22, 33]


def test_resume_after_partial_run(process_pool, tmp_path) -> None:
    inputs = {"x": list(range(8))}
    with pytest.raises(ValueError, match="x is three"):
        run_map(FAILING, inputs, run_folder=tmp_path, executor=process_pool, storage="file_array",
                chunksizes=1, scheduling_strategy="eager")

    @pipefunc("yy", mapspec="x[i] -> yy[i]")
    def fixed(x):
        return x

    r = run_map(Pipeline([fixed, plus_one]), inputs, run_folder=tmp_path, executor=process_pool,
                storage="file_array", chunksizes=1, resume=True, resume_validation="skip",
                scheduling_strategy="eager")
    assert r["zz"].output.tolist() == [x + 1 for x in range(8)]


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("pool", ["thread_pool", "process_pool"])
def test_raise_mode_reports_the_failing_element(pool, request, tmp_path) -> None:
    ex = request.getfixturevalue(pool)
    with pytest.raises(ValueError, match="x is three") as info:
        run_map(FAILING, {"x": list(range(8))}, run_folder=tmp_path, executor=ex, storage="file_array",
                chunksizes=1, scheduling_strategy="eager")
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "fail_on_three" in notes
    assert "linear index 3" in notes


@pipefunc("zz", mapspec="y[i] -> zz[i]")
def fail_downstream(y):
    if y[0] == 2:
        raise ValueError("y is two")
    return y[0]


def test_downstream_failure_while_upstream_runs(thread_pool) -> None:
    with pytest.raises(ValueError, match="y is two") as info:
        run_map(Pipeline([slow_stamp, fail_downstream]), {"x": list(range(12))}, executor=thread_pool,
                chunksizes=1, scheduling_strategy="eager")
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "fail_downstream" in notes
    assert "linear index 2" in notes


def test_fixed_chunk_sizes_are_kept_exactly(thread_pool) -> None:
    from pipemap.runner.engine._events import ChunkDone

    sizes: dict[str, list[int]] = {"a": [], "c": []}

    def record(event) -> None:
        if isinstance(event, ChunkDone):
            sizes[event.output_name].append(event.n_done)

    r = run_map(Pipeline([split, combine]), {"x": list(range(10))}, executor=thread_pool,
                chunksizes={"a": 2, "c": 3}, scheduling_strategy="eager", callbacks=[record])
    assert r["c"].output.tolist() == [11 * x for x in range(10)]
    assert sorted(sizes["a"]) == [2, 2, 2, 2, 2]
    assert sorted(sizes["c"]) == [1, 3, 3, 3]

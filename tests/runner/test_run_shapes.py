"""Shapes at run time (docs/behaviour.md §2.3/§2.4, edge cases §8.19-8.27, §8.48): internal axes, "?" resolution."""

from __future__ import annotations

import numpy as np
import pytest
from pipemap.runner import Pipeline, PipeFunc, RunInfo, pipefunc, run_map


def test_list_producer_autogen_stored_as_single_value(tmp_path) -> None:
    @pipefunc("x")
    def gen(n):
        return list(range(n))

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def ident(x):
        return x

    r = run_map(Pipeline([gen, ident]), {"n": 3}, run_folder=tmp_path, parallel=False)
    assert r["x"].output == [0, 1, 2]
    assert (tmp_path / "outputs" / "x.cloudpickle").is_file()
    assert r["y"].output.tolist() == [0, 1, 2]


@pytest.mark.parametrize("how", ["pipefunc", "question", "argument"])
def test_internal_shape_forms_equivalent(how) -> None:
    kwargs = {"internal_shape": (3,)} if how == "pipefunc" else ({"internal_shape": "?"} if how == "question" else {})
    gen = PipeFunc(lambda: [1, 2, 3], "y", mapspec="... -> y[i]", **kwargs)
    cons = PipeFunc(lambda y: y * 10, "z", mapspec="y[i] -> z[i]")
    internal = {"y": 3} if how == "argument" else None
    r = run_map(Pipeline([gen, cons]), {}, internal_shapes=internal, parallel=False)
    assert r["z"].output.tolist() == [10, 20, 30]


def test_internal_axis_first(tmp_path) -> None:
    @pipefunc("y", mapspec="x[:, k] -> y[i, k]")
    def f(x):
        return list(range(6))

    x = np.arange(6).reshape(2, 3)
    r = run_map(Pipeline([f]), {"x": x}, run_folder=tmp_path, parallel=False)
    assert r["y"].output.shape == (6, 3)
    assert r["y"].output[:, 0].tolist() == list(range(6))
    assert len(list((tmp_path / "outputs" / "y").iterdir())) == 3 + 1  # + shape.json
    assert RunInfo.load(tmp_path).resolved_shapes["y"] == (6, 3)


def test_internal_axis_elements_are_arrays() -> None:
    @pipefunc("y1", mapspec="x[j] -> y1[i, j]")
    def f(x):
        return np.ones((2, 2)) * x

    r = run_map(Pipeline([f]), {"x": [5]}, parallel=False)
    out = r["y1"].output
    assert out.shape == (2, 1)
    assert out[1, 0].tolist() == [5.0, 5.0]


def test_generator_2d_rows() -> None:
    @pipefunc("x")
    def gen():
        return np.arange(8).reshape(4, 2)

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def row_sum(x):
        return int(x.sum())

    r = run_map(Pipeline([gen, row_sum]), {}, parallel=False)
    assert r["y"].output.tolist() == [1, 5, 9, 13]


@pytest.mark.parametrize("internal", [3, "?", None])
@pytest.mark.parametrize("order", ["selected_first", "out2_first"])
def test_tuple_producer_with_selection(internal, order) -> None:
    kw = {} if internal is None else {"internal_shape": internal}
    prod = PipeFunc(lambda: ([1, 2, 3], [10, 20, 30]), ("out1", "out2"), **kw)
    select = PipeFunc(lambda out1: out1, "selected")
    spec = "selected[i], out2[i] -> processed[i]" if order == "selected_first" else "out2[i], selected[i] -> processed[i]"
    proc = PipeFunc(lambda selected, out2: selected + out2, "processed", mapspec=spec)
    r = run_map(Pipeline([prod, select, proc]), {}, parallel=False)
    assert r["processed"].output.tolist() == [11, 22, 33]


def test_single_producer_and_consumer_skipped_on_resume(tmp_path) -> None:
    calls = []

    @pipefunc("x", internal_shape=3)
    def gen():
        calls.append("gen")
        return [1, 2, 3]

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def double(x):
        calls.append("y")
        return 2 * x

    p = Pipeline([gen, double])
    run_map(p, {}, run_folder=tmp_path, parallel=False)
    assert calls == ["gen", "y", "y", "y"]
    r = run_map(p, {}, run_folder=tmp_path, parallel=False, resume=True)
    assert calls == ["gen", "y", "y", "y"]
    assert r["y"].output.tolist() == [2, 4, 6]


def test_failing_generator_with_unknown_length_aborts() -> None:
    @pipefunc("x")
    def gen():
        raise RuntimeError("no data")

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def ident(x):
        return x

    with pytest.raises(ValueError, match="Internal shape for 'x' is too short."):
        run_map(Pipeline([gen, ident]), {}, parallel=False, error_handling="continue")


def test_all_upstream_failing_with_executor_dict() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from pipemap.storage import PropagatedErrorSnapshot

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def bad(x):
        raise ValueError(x)

    @pipefunc("z", mapspec="y[i] -> z[i]")
    def inc(y):
        return y + 1

    with ThreadPoolExecutor(2) as a, ThreadPoolExecutor(1) as b:
        r = run_map(Pipeline([bad, inc]), {"x": [1, 2, 3]}, executor={"y": a, "": b}, error_handling="continue")
    assert all(isinstance(v, PropagatedErrorSnapshot) for v in r["z"].output)

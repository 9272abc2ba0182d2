"""run_map end to end, sequential: element-wise, outer products, reductions, generators, internal shapes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pipemap.runner import Pipeline, PipeFunc, ResultDict, pipefunc, run_map


def test_elementwise_dict_storage() -> None:
    p = Pipeline([PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")])
    r = run_map(p, {"x": [1, 2, 3]}, parallel=False)
    assert isinstance(r, ResultDict)
    out = r["y"].output
    assert out.dtype == object
    assert out.tolist() == [2, 4, 6]
    assert r["y"].function == "<lambda>"
    assert r["y"].kwargs == {"x": [1, 2, 3]}


def test_list_elements_are_python_ints_and_ndarray_elements_numpy_scalars() -> None:
    seen = []

    def f(x):
        seen.append(type(x))
        return x

    p = Pipeline([PipeFunc(f, "y", mapspec="x[i] -> y[i]")])
    run_map(p, {"x": [1, 2]}, parallel=False)
    run_map(p, {"x": np.array([1, 2])}, parallel=False)
    assert seen[:2] == [int, int]
    assert all(issubclass(t, np.integer) for t in seen[2:])


def test_outer_product_and_full_reduction(tmp_path) -> None:
    @pipefunc("y", mapspec="x[i] -> y[i]")
    def double(x):
        return 2 * x

    @pipefunc("z", mapspec="y[i], w[j] -> z[i, j]")
    def add(y, w):
        return y + w

    @pipefunc("s")
    def total(z):
        assert isinstance(z, np.ma.MaskedArray)
        return int(np.sum(z))

    p = Pipeline([double, add, total])
    r = run_map(p, {"x": [1, 2, 3], "w": [10, 20]}, run_folder=tmp_path, parallel=False)
    assert r["z"].output.shape == (3, 2)
    assert r["z"].output.tolist() == [[12, 22], [14, 24], [16, 26]]
    assert r["s"].output == 12 + 22 + 14 + 24 + 16 + 26
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["all_output_names"] == ["s", "y", "z"]
    assert info["shapes"] == {"x": [3], "w": [2], "y": [3], "z": [3, 2]}
    assert info["storage"] == "file_array"
    assert (tmp_path / "outputs" / "s.cloudpickle").is_file()
    assert sorted(p.name for p in (tmp_path / "outputs" / "y").iterdir())[:1]


def test_zipped_axes() -> None:
    p = Pipeline([PipeFunc(lambda x, y, z: (x, y, z), "r", mapspec="x[a], y[a], z[b] -> r[a, b]")])
    r = run_map(p, {"x": [1, 2, 3], "y": [4, 5, 6], "z": [7, 8]}, parallel=False)
    assert r["r"].output.shape == (3, 2)
    assert r["r"].output[2, 1] == (3, 6, 8)


def test_partial_reduction_2d() -> None:
    p = Pipeline([PipeFunc(lambda m: sum(m), "s", mapspec="m[i, :] -> s[i]")])
    m = np.arange(6).reshape(2, 3)
    r = run_map(p, {"m": m}, parallel=False)
    assert r["s"].output.tolist() == [3, 12]


def test_generator_with_unknown_length() -> None:
    @pipefunc("x")
    def gen(n):
        return list(range(n))

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def sq(x):
        return x * x

    p = Pipeline([gen, sq])
    r = run_map(p, {"n": 4}, parallel=False)
    assert r["x"].output == [0, 1, 2, 3]
    assert r["y"].output.tolist() == [0, 1, 4, 9]


def test_internal_axis_and_partial_reduction() -> None:
    @pipefunc("b", mapspec="a[i] -> b[i, j]")
    def expand(a):
        return [a, a + 1, a + 2]

    @pipefunc("c", mapspec="b[i, :] -> c[i]")
    def total(b):
        return sum(b)

    @pipefunc("d", mapspec="b[i, j] -> d[i, j]")
    def neg(b):
        return -b

    r = run_map(Pipeline([expand, total, neg]), {"a": [1, 2]}, parallel=False)
    assert r["b"].output.shape == (2, 3)
    assert r["b"].output.tolist() == [[1, 2, 3], [2, 3, 4]]
    assert r["c"].output.tolist() == [6, 9]
    assert r["d"].output.tolist() == [[-1, -2, -3], [-2, -3, -4]]


def test_wrong_internal_shape_raises_also_without_results() -> None:
    @pipefunc("x", mapspec="n[k] -> x[i, k]")
    def f(n):
        return list(range(n))

    p = Pipeline([f])
    with pytest.raises(ValueError, match=r"Output shape \(3,\) of function 'f' \(output 'x'\) does not match the expected internal shape \(2,\)"):
        run_map(p, {"n": [2, 3]}, parallel=False)
    r = run_map(p, {"n": [1, 1]}, parallel=False)
    assert r["x"].output.tolist() == [[0, 0]]
    # unlike pipefunc, also when no results are collected: element 1 would be truncated to (2,)
    with pytest.raises(ValueError, match=r"Output shape \(3,\) of function 'f'"):
        run_map(p, {"n": [2, 3]}, parallel=False, return_results=False)


def test_multiple_outputs() -> None:
    @pipefunc(("a", "b"), mapspec="x[i] -> a[i], b[i]")
    def split(x):
        return x, -x

    @pipefunc("c", mapspec="a[i], b[i] -> c[i]")
    def both(a, b):
        return a - b

    r = run_map(Pipeline([split, both]), {"x": [1, 2]}, parallel=False)
    assert r["a"].output.tolist() == [1, 2]
    assert r["b"].output.tolist() == [-1, -2]
    assert r["c"].output.tolist() == [2, 4]


def test_empty_input() -> None:
    p = Pipeline([PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]")])
    out = run_map(p, {"x": []}, parallel=False)["y"].output
    assert out.dtype == object
    assert out.shape == (0,)


def test_return_results_false(tmp_path) -> None:
    p = Pipeline([PipeFunc(lambda x: x + 1, "y", mapspec="x[i] -> y[i]")])
    r = run_map(p, {"x": [1, 2]}, run_folder=tmp_path, parallel=False, return_results=False)
    assert len(r) == 0
    assert len(list((tmp_path / "outputs" / "y").iterdir())) == 2 + 1  # + shape.json


def test_renames_bound_and_defaults() -> None:
    def f(a, b, c=5):
        return a + b + c

    pf = PipeFunc(f, "y", mapspec="x[i] -> y[i]", renames={"a": "x"}, bound={"b": 100})
    r = run_map(Pipeline([pf]), {"x": [1, 2]}, parallel=False)
    assert r["y"].output.tolist() == [106, 107]
    pf2 = PipeFunc(f, "y", mapspec="x[i] -> y[i]", renames={"a": "x"}, defaults={"c": 0})
    r = run_map(Pipeline([pf2]), {"x": [1, 2], "b": 1}, parallel=False)
    assert r["y"].output.tolist() == [2, 3]

"""pytest-benchmark suite of the runner's execution engine.

Run: ``uv run pytest tools/bench/bench_runner.py --benchmark-only -q`` (never collected by the
test run; never asserts on time).
"""

from __future__ import annotations

import numpy as np
import pytest
from pipemap.runner import Pipeline, pipefunc, run_map


@pipefunc("y", mapspec="x[i] -> y[i]")
def double(x):
    return 2 * x


@pipefunc("c", mapspec="a[i], b[j] -> c[i, j]")
def add(a, b):
    return a + b


@pipefunc("d", mapspec="c[i, j] -> d[i, j]")
def ident(c):
    return c


@pipefunc("e")
def total(d):
    return int(np.sum(d))


ONE = Pipeline([double])
THREE = Pipeline([add, ident, total])


@pytest.mark.parametrize("n", [1_000, 100_000])
def test_elementwise_dict_sequential(benchmark, n) -> None:
    x = list(range(n))
    benchmark(run_map, ONE, {"x": x}, parallel=False, storage="dict")


def test_elementwise_ndarray_input(benchmark) -> None:
    x = np.arange(100_000)
    benchmark(run_map, ONE, {"x": x}, parallel=False, storage="dict")


@pytest.mark.parametrize("n", [50, 300])
def test_three_functions_outer_product(benchmark, n) -> None:
    a = list(range(n))
    benchmark(run_map, THREE, {"a": a, "b": a}, parallel=False, storage="dict")


def test_resume_finished_file_array(benchmark, tmp_path) -> None:
    x = list(range(10_000))
    run_map(ONE, {"x": x}, run_folder=tmp_path, parallel=False)
    benchmark(run_map, ONE, {"x": x}, run_folder=tmp_path, parallel=False, resume=True)


def test_return_results_false(benchmark) -> None:
    x = list(range(100_000))
    benchmark(run_map, ONE, {"x": x}, parallel=False, storage="dict", return_results=False)


@pipefunc("c", mapspec="a[k], b[k] -> c[k]")
def _one(a, b):
    return 1


@pipefunc("d", mapspec="c[k], x[i], y[j] -> d[i, j, k]")
def _one4(b, c, x, y):
    return 1


@pipefunc("e", mapspec="d[i, j, :] -> e[i, j]")
def _one_d(d):
    return 1


ND = Pipeline([_one, _one4, _one_d])


@pytest.mark.parametrize("n", [15, 50])
def test_faq_nd_sweep(benchmark, n) -> None:
    lst = list(range(n))
    benchmark(run_map, ND, {"a": lst, "b": lst, "x": lst, "y": lst}, parallel=False, storage="dict")

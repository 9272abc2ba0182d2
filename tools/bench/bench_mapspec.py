"""pytest-benchmark suite for pipemap.mapspec's index math (with pipefunc 0.93.2 alongside).

    uv run pytest tools/bench/bench_mapspec.py --benchmark-enable -q -p no:cacheprovider \
        --benchmark-columns=min,median,mean,rounds

Scalar benchmarks time one call; batched benchmarks time one call over ``N`` linear indices of a
3-D external shape (divide by ``N`` for the cost per index). For the side-by-side ratios and the
issue-2 floors, run ``tools/bench/compare_mapspec.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipemap.mapspec import IndexPlan, MapSpec
# white-box: the raw batch kernels behind IndexPlan, timed on their own (not public API)
from pipemap.mapspec._kernels import select_range, unravel_array, unravel_range

SEED = "x[i, j], y[j, :, k] -> z[i, j, k]"
OUTER3 = "a[i], b[j], c[k] -> r[i, j, k]"
SHAPE3 = (100, 100, 100)
N = 1_000_000

SCALAR_CASES = [(SEED, (5, 2, 3), 23), ("x[i] -> y[i]", (1000,), 777)]


@pytest.fixture(scope="module")
def pipefunc_mapspec() -> type:
    pipefunc_map = pytest.importorskip("pipefunc.map")
    return pipefunc_map.MapSpec


@pytest.mark.parametrize(("text", "shape", "n"), SCALAR_CASES)
def test_input_keys_pipemap(benchmark, text: str, shape: tuple, n: int) -> None:
    spec = MapSpec.from_string(text)
    benchmark(spec.input_keys, shape, n)


@pytest.mark.parametrize(("text", "shape", "n"), SCALAR_CASES)
def test_output_key_pipemap(benchmark, text: str, shape: tuple, n: int) -> None:
    spec = MapSpec.from_string(text)
    benchmark(spec.output_key, shape, n)


@pytest.mark.parametrize(("text", "shape", "n"), SCALAR_CASES)
def test_input_keys_compiled_spec(benchmark, text: str, shape: tuple, n: int) -> None:
    compiled = MapSpec.from_string(text)._compiled()
    benchmark(compiled.input_keys, shape, n)


@pytest.mark.parametrize(("text", "shape", "n"), SCALAR_CASES)
def test_input_keys_pipefunc(benchmark, pipefunc_mapspec, text: str, shape: tuple, n: int) -> None:
    spec = pipefunc_mapspec.from_string(text)
    benchmark(spec.input_keys, shape, n)


@pytest.mark.parametrize(("text", "shape", "n"), SCALAR_CASES)
def test_output_key_pipefunc(benchmark, pipefunc_mapspec, text: str, shape: tuple, n: int) -> None:
    spec = pipefunc_mapspec.from_string(text)
    benchmark(spec.output_key, shape, n)


@pytest.mark.parametrize("text", [SEED, OUTER3])
def test_plan_selectors_range(benchmark, text: str) -> None:
    plan = IndexPlan(MapSpec.from_string(text), SHAPE3)
    benchmark(plan.input_selectors, range(N))


@pytest.mark.parametrize("text", [SEED, OUTER3])
def test_plan_keys_and_selectors_range(benchmark, text: str) -> None:
    plan = IndexPlan(MapSpec.from_string(text), SHAPE3)
    benchmark(plan.keys_and_selectors, range(N))


@pytest.mark.parametrize("text", [SEED, OUTER3])
def test_plan_selectors_shuffled_array(benchmark, text: str) -> None:
    plan = IndexPlan(MapSpec.from_string(text), SHAPE3)
    linear = np.random.default_rng(0).permutation(N)
    benchmark(plan.input_selectors, linear)


def test_kernel_unravel_range_prefaulted(benchmark) -> None:
    out = np.zeros((N, 3), dtype=np.int64)
    benchmark(unravel_range, 0, N, np.array(SHAPE3), out)


def test_kernel_unravel_array_prefaulted(benchmark) -> None:
    out = np.zeros((N, 3), dtype=np.int64)
    linear = np.random.default_rng(0).permutation(N)
    benchmark(unravel_array, linear, np.array(SHAPE3), out)


def test_kernel_select_range_prefaulted(benchmark) -> None:
    out = np.zeros((N, 3), dtype=np.int64)
    benchmark(select_range, 0, N, np.array(SHAPE3), np.array([1, -1, 2]), out)


def test_numpy_unravel_index_baseline(benchmark) -> None:
    linear = np.random.default_rng(0).permutation(N)
    benchmark(np.unravel_index, linear, SHAPE3)


# -- ragged axes: 10^4 rows of 0-200 elements (about 10^6 elements), as issue 16's workload --------


@pytest.fixture(scope="module")
def ragged_layout():
    from pipemap.mapspec import RaggedLayout

    lengths = np.random.default_rng(16).integers(0, 201, size=10_000)
    return RaggedLayout(lengths)


def test_ragged_layout_build(benchmark) -> None:
    from pipemap.mapspec import RaggedLayout

    lengths = np.random.default_rng(16).integers(0, 201, size=10_000)
    benchmark(RaggedLayout, lengths)


def test_ragged_expand_all(benchmark, ragged_layout) -> None:
    benchmark(ragged_layout.expand)


def test_ragged_locate_sorted(benchmark, ragged_layout) -> None:
    flat = np.arange(ragged_layout.size, dtype=np.int64)
    benchmark(ragged_layout.locate, flat)


def test_ragged_locate_shuffled(benchmark, ragged_layout) -> None:
    flat = np.random.default_rng(1).permutation(ragged_layout.size).astype(np.int64)
    benchmark(ragged_layout.locate, flat)


def test_numpy_repeat_baseline(benchmark, ragged_layout) -> None:
    """What numpy alone does for ``expand``'s row numbers (np.repeat) plus positions (arange - offsets)."""
    lengths = ragged_layout.lengths

    def expand_numpy():
        rows = np.repeat(np.arange(lengths.size), lengths)
        return rows, np.arange(rows.size) - ragged_layout.offsets[rows]

    benchmark(expand_numpy)

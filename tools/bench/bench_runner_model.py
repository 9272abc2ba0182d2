"""Benchmarks of the pipeline model: per-element call path and pipeline construction.

Run: ``uv run pytest tools/bench/bench_runner_model.py --benchmark-enable -q``
(pipefunc rows are the reference implementation, for comparison only).
"""

from __future__ import annotations

import pytest

from pipemap.runner import PipeFunc, Pipeline


def _f(x, b=1):
    return x


@pytest.mark.parametrize(
    "options",
    [{}, {"renames": {"x": "z"}}, {"bound": {"b": 2}}],
    ids=["plain", "renamed", "bound"],
)
def test_fast_call(benchmark, options) -> None:
    pf = PipeFunc(_f, "y", **options)
    call = pf._call_with_renamed_kwargs
    kwargs = {pf.parameters[0]: 1}
    benchmark(call, kwargs)


def test_direct_call(benchmark) -> None:
    kwargs = {"x": 1}
    benchmark(lambda: _f(**kwargs))


def test_pick_outputs_tuple(benchmark) -> None:
    pick = PipeFunc(lambda x: (x, x), ("a", "b"))._pick_outputs
    benchmark(pick, (1, 2))


def _chain(module, n: int) -> list:
    def make(k: int):
        def step(inp):
            return inp

        return module.PipeFunc(step, f"o{k}", renames={"inp": f"o{k - 1}" if k else "x"})

    return [make(k) for k in range(n)]


@pytest.mark.parametrize("n", [100, 1000])
def test_construct_chain_pipemap(benchmark, n) -> None:
    functions = _chain(__import__("pipemap.runner", fromlist=["PipeFunc"]), n)
    pipeline = benchmark(Pipeline, functions)
    assert len(pipeline.topological_generations.function_lists) == n


@pytest.mark.parametrize("n", [100])
def test_construct_chain_pipefunc(benchmark, n) -> None:
    pipefunc = pytest.importorskip("pipefunc")
    functions = _chain(pipefunc, n)
    benchmark.pedantic(pipefunc.Pipeline, args=(functions,), rounds=3, iterations=1)

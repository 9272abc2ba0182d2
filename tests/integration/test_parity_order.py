"""Parity (issue 13, item 10): the ``ResultDict`` lists outputs in pipeline order as pipefunc's
does, whatever order the functions finish in; pipefunc's ``launch_maps``/``gather_maps`` helpers
run pipemap's ``AsyncMap`` objects and give the same results as over pipefunc's."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

pipefunc = pytest.importorskip("pipefunc")
from pipefunc import PipeFunc, Pipeline  # noqa: E402

from pipemap.runner import run_map, run_map_async  # noqa: E402


def _slow_pair(x: int) -> tuple[int, int]:
    time.sleep(0.3)  # finishes after every other function of its generation
    return x, 2 * x


def _build() -> Pipeline:
    return Pipeline(
        [
            PipeFunc(lambda x: x, "c", mapspec="x[i] -> c[i]"),
            PipeFunc(lambda c: sum(c), "total"),
            PipeFunc(_slow_pair, ("b", "a"), mapspec="x[i] -> b[i], a[i]"),
            PipeFunc(lambda total, a: total + sum(a), "z"),
            PipeFunc(lambda y: y + 1, "w"),
            PipeFunc(lambda w, z: w + z, "v"),
        ]
    )


@pytest.mark.parametrize("strategy", ["generation", "eager"])
@pytest.mark.parametrize("output_names", [None, {"v"}, {"z"}])
def test_result_order_matches_pipefunc(parity: Any, strategy: str, output_names: set[str] | None) -> None:
    inputs = {"x": [1, 2, 3], "y": 4}
    kwargs: dict[str, Any] = {"output_names": output_names} if output_names else {}
    if output_names == {"z"}:
        inputs.pop("y")
    with ThreadPoolExecutor(4) as ex:
        pf = _build().map(inputs, parallel=True, executor=ex, **kwargs)
        pm = run_map(_build(), inputs, parallel=True, executor=ex, scheduling_strategy=strategy, **kwargs)
    assert list(pm) == list(pf)  # (the slow ('b', 'a') would otherwise come after 'c' and 'w')
    parity.assert_results(pf, pm)


def test_result_order_sequential(parity: Any) -> None:
    inputs = {"x": [1, 2], "y": 0}
    pf, pm, _, _ = parity.run_both(_build, inputs, folder=False)
    assert list(pm) == list(pf) == ["b", "a", "c", "w", "total", "z", "v"]


def _simple() -> Pipeline:
    return Pipeline([PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]"), PipeFunc(lambda y: sum(y), "s")])


def _values(results: list[Any]) -> list[dict[str, Any]]:
    return [{k: (v.output.tolist() if hasattr(v.output, "tolist") else v.output) for k, v in r.items()} for r in results]


@pytest.mark.parametrize("helper", ["launch_maps", "gather_maps"])
def test_pipefunc_helpers_run_pipemap_async_maps(helper: str, tmp_path: Any) -> None:
    from pipefunc.helpers import gather_maps, launch_maps

    async def main(engine: str) -> tuple[list[Any], list[Any]]:
        with ThreadPoolExecutor(2) as ex:
            if engine == "pipefunc":
                maps = [
                    _simple().map_async({"x": list(range(n))}, tmp_path / f"pf{n}", executor=ex, start=False)
                    for n in (2, 3, 4)
                ]
            else:
                maps = [
                    run_map_async(_simple(), {"x": list(range(n))}, tmp_path / f"pm{n}", executor=ex, start=False)
                    for n in (2, 3, 4)
                ]
            if helper == "launch_maps":
                results = await launch_maps(*maps, max_concurrent=2)
            else:
                results = await gather_maps(*maps, max_concurrent=2)
            # after awaiting, result() returns the same results (inside the running loop, too)
            return results, [m.result() for m in maps]

    pf_results, pf_again = asyncio.run(main("pipefunc"))
    pm_results, pm_again = asyncio.run(main("pipemap"))
    assert _values(pm_results) == _values(pf_results) == [
        {"y": [0, 2], "s": 2},
        {"y": [0, 2, 4], "s": 6},
        {"y": [0, 2, 4, 6], "s": 12},
    ]
    assert _values(pm_again) == _values(pf_again) == _values(pf_results)


def test_pipefunc_helpers_validate_pipemap_async_maps(tmp_path: Any) -> None:
    """pipefunc's own checks apply to pipemap's maps: an already started map is refused, as pipefunc's is.

    (A run folder shared by two maps: pipemap refuses the second map already when it is created,
    its run folder being locked; pipefunc's ``launch_maps`` refuses the pair.)
    """
    from pipefunc.helpers import launch_maps

    async def started(engine: str) -> str:
        if engine == "pipefunc":
            m = _simple().map_async({"x": [1]}, executor=ThreadPoolExecutor(1), display_widgets=False)
        else:
            m = run_map_async(_simple(), {"x": [1]}, executor=ThreadPoolExecutor(1))
        with pytest.raises(RuntimeError, match=r"map_async\(..., start=False\)") as info:
            await launch_maps(m)
        await m.task
        return str(info.value)

    assert asyncio.run(started("pipemap")) == asyncio.run(started("pipefunc"))


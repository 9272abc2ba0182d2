"""Parity (issue 13, item 19): ``cache=True`` functions and ``Pipeline(cache_type=...)``.

Both engines count the same calls across runs of one pipeline: results are reused within a run
and across ``run_map`` calls in one process, for each of pipefunc's cache types, with
``output_names`` sub-pipelines and thread pools; with ``error_handling="continue"`` a failed
call is cached (the second run calls nothing and gives the same error), with ``"raise"`` not.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pipefunc = pytest.importorskip("pipefunc")

import pipemap.api as pm  # noqa: E402
from pipemap.runner.model._cache import DiskCache, HybridCache, LRUCache, SimpleCache  # noqa: E402
from pipemap.runner.model._cached_call import with_cached_functions  # noqa: E402

CALLS: list[object] = []


def double(x: int) -> int:
    CALLS.append(x)
    if x < 0:
        msg = f"negative x={x}"
        raise ValueError(msg)
    return 2 * x


def total(y: Any) -> int:
    CALLS.append("total")
    return int(sum(y))


CACHE_TYPES = [None, "lru", "simple", "hybrid", "disk"]


def _build(ns: Any, cache_type: str | None, folder: Path, *, cache_total: bool = True) -> Any:
    # (pipefunc's "shared" caches start a multiprocessing manager per cache: not needed here)
    kwargs: dict[str, Any] = {"cache_dir": str(folder), "lru_shared": False} if cache_type == "disk" else {"shared": False}
    if cache_type == "simple":
        kwargs = {}
    return ns.Pipeline(
        [ns.PipeFunc(double, "y", mapspec="x[i] -> y[i]", cache=True), ns.PipeFunc(total, "s", cache=cache_total)],
        cache_type=cache_type,
        cache_kwargs=kwargs,
    )


def _runner(engine: str) -> Callable[..., Any]:
    if engine == "pipefunc":
        return lambda p, inputs, **kw: p.map(inputs, **kw)
    return lambda p, inputs, **kw: pm.run_map(p, inputs, **kw)


def _calls(run: Callable[..., Any], pipeline: Any, inputs: dict[str, Any], **kwargs: Any) -> tuple[int, Any]:
    CALLS.clear()
    kwargs.setdefault("parallel", False)
    try:
        result = run(pipeline, inputs, **kwargs)
    except ValueError as e:
        return len(CALLS), f"raised {e}"
    return len(CALLS), {k: (v.output.tolist() if hasattr(v.output, "tolist") else v.output) for k, v in result.items()}


def _scenario(engine: str, cache_type: str | None, tmp_path: Path) -> list[tuple[int, Any]]:
    run = _runner(engine)
    p = _build(pipefunc, cache_type, tmp_path / engine / "a")
    out = [
        _calls(run, p, {"x": [1, 2, 1]}),  # within a run: the second x=1 is a hit
        _calls(run, p, {"x": [1, 2, 3]}),  # across runs: only x=3 and the new total
        _calls(run, p, {"x": [1, 2, 3]}, parallel=True, executor=ThreadPoolExecutor(2)),  # all hits
        _calls(run, p, {"x": [1, 2, 3]}, output_names={"y"}),  # a sub-pipeline uses the same cache
    ]
    q = _build(pipefunc, cache_type, tmp_path / engine / "b", cache_total=False)
    out += [
        _calls(run, q, {"x": [1, -2]}, error_handling="continue"),
        _calls(run, q, {"x": [1, -2]}, error_handling="continue"),  # the error is cached too
        _calls(run, q, {"x": [1, -2]}),  # raise mode: its own keys; errors are not cached
        _calls(run, q, {"x": [1, -2]}),
    ]
    return out


def _comparable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _comparable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_comparable(v) for v in x]
    if type(x).__name__ in ("ErrorSnapshot", "PropagatedErrorSnapshot"):
        return (type(x).__name__, str(getattr(x, "exception", "")))
    return x


@pytest.mark.parametrize("cache_type", CACHE_TYPES)
def test_same_calls_and_results_across_runs(cache_type: str | None, tmp_path: Path) -> None:
    pf = _scenario("pipefunc", cache_type, tmp_path)
    pm_ = _scenario("pipemap", cache_type, tmp_path)
    assert [n for n, _ in pm_] == [n for n, _ in pf] == [3, 2, 0, 0, 2, 0, 2, 1]
    assert _comparable([r for _, r in pm_]) == _comparable([r for _, r in pf])


def test_pipemap_own_classes(tmp_path: Path) -> None:
    """pipemap's ``PipeFunc(cache=True)`` and ``Pipeline(cache_type=, cache_kwargs=)``: pipefunc's cache
    objects, the disk cache writes its files under ``cache_dir``."""
    for cache_type, cls in [(None, LRUCache), ("lru", LRUCache), ("simple", SimpleCache), ("hybrid", HybridCache)]:
        p = _build(pm, cache_type, tmp_path)
        assert type(p.cache) is cls
        assert _calls(pm.run_map, p, {"x": [1, 2, 1]})[0] == 3
        assert _calls(pm.run_map, p, {"x": [1, 2, 1]})[0] == 0
    p = _build(pm, "disk", tmp_path / "disk")
    assert type(p.cache) is DiskCache
    assert _calls(pm.run_map, p, {"x": [1, 2]})[0] == 3
    assert len(list((tmp_path / "disk").glob("*.pkl"))) == 3  # two elements and the total
    fresh = _build(pm, "disk", tmp_path / "disk")  # a new pipeline, same cache_dir: read from disk
    assert _calls(pm.run_map, fresh, {"x": [1, 2]}) == (0, {"y": [2, 4], "s": 6})
    assert pm.Pipeline([pm.PipeFunc(double, "y")]).cache is None  # nothing caches: no cache
    with pytest.raises(ValueError, match="Invalid cache type: nope"):
        pm.Pipeline([pm.PipeFunc(double, "y")], cache_type="nope")


def test_functions_without_cache_are_not_wrapped() -> None:
    """The decision is made once, when the run is prepared: without ``cache=True`` the run uses the
    pipeline's own functions (nothing added per element)."""
    plain = pm.Pipeline([pm.PipeFunc(double, "y", mapspec="x[i] -> y[i]"), pm.PipeFunc(total, "s")], cache_type="lru")
    assert with_cached_functions(plain, plain.cache, "raise") is plain
    mixed = _build(pm, None, Path("."), cache_total=False)
    run = with_cached_functions(mixed, mixed.cache, "raise")
    assert run["y"].func is not double and run["y"].func.__wrapped__ is double
    assert run["s"].func is total
    assert mixed["y"].func is double  # the user's pipeline is left as it was


def test_lru_evicts_like_pipefunc() -> None:
    ours, theirs = LRUCache(max_size=2, shared=False), pipefunc.cache.LRUCache(max_size=2, shared=False)
    for c in (ours, theirs):
        c.put("a", 1)
        c.put("b", 2)
        c.get("a")
        c.put("c", 3)
    assert sorted(ours.cache) == sorted(theirs.cache) == ["a", "c"]
    h1, h2 = HybridCache(max_size=2, shared=False), pipefunc.cache.HybridCache(max_size=2, shared=False)
    for c in (h1, h2):
        c.put("slow", 1, 5.0)
        c.put("fast", 2, 0.1)
        c.get("fast")
        c.put("new", 3, 1.0)
    assert sorted(h1.cache) == sorted(h2.cache)


@pytest.mark.parametrize("storage", ["file_array", "dict"])
def test_cached_reduction_over_stored_array(storage: str, tmp_path: Path) -> None:
    """A cached function reducing a stored mapped output (a masked array from file_array)."""
    counts = {}
    for engine in ("pipefunc", "pipemap"):
        run = _runner(engine)
        p = _build(pipefunc, "lru", tmp_path)
        counts[engine] = [
            _calls(run, p, {"x": [1, 2, 3]}, run_folder=tmp_path / engine / str(k), storage=storage) for k in range(2)
        ]
    assert counts["pipemap"] == counts["pipefunc"]
    assert [n for n, _ in counts["pipemap"]] == [4, 0]

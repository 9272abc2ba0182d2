"""Callable ``resources``, ``resources_scope`` and ``resources_variable`` as in pipefunc 0.93.2
(issue 13, item 17).

The same pipeline runs through ``pipeline.map`` and pipemap's ``run_map`` (sequentially and with a
process pool): what the function receives as its resources, what the resources callable is given,
a failing callable in ``"raise"`` mode (the error, with a note naming the function in pipemap) and
in ``"continue"`` mode (a ``PropagatedErrorSnapshot`` with pipefunc's reason, ``error_info`` key and
``attempted_kwargs``; the function is not called, and nothing is submitted for a failed map).
"""

from __future__ import annotations

from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import pytest

pipefunc = pytest.importorskip("pipefunc")

from pipemap.runner import PipeFunc, Pipeline, run_map  # noqa: E402

RESOURCE_KEY = "__pipefunc_internal_resource_error__"


def _make_cpus() -> Any:
    """A local function: pickled by value, so workers started by forkserver need not import this module."""

    def _cpus(kw: dict[str, Any]) -> dict[str, Any]:
        """Element scope: as many cpus as the element's y; map scope: the number of x values."""
        if "z" in kw:  # the single function
            return {"cpus": 7}
        y = kw["y"]
        if isinstance(y, int):
            if y == 4:
                msg = "no resources for y=4"
                raise RuntimeError(msg)
            return {"cpus": y}
        return {"cpus": len(kw["x"])}

    return _cpus


def build(scope: str, variable: str | None = "resources", resources: Any = None) -> Any:
    resources = resources if resources is not None else _make_cpus()

    @pipefunc.pipefunc(output_name="y", mapspec="x[i] -> y[i]")
    def double(x: int) -> int:
        return 2 * x

    extra: dict[str, Any] = {"resources": resources, "resources_scope": scope}
    if variable is not None:
        extra["resources_variable"] = variable

    @pipefunc.pipefunc(output_name="z", mapspec="y[i], x[i] -> z[i]", renames={"c": "cc"}, bound={"d": 5}, **extra)
    def use(y: int, x: int, c: int = 1, d: int = 0, resources: Any = None) -> Any:
        return y if resources is None else (y, resources.cpus)

    @pipefunc.pipefunc(output_name="s", **extra)
    def total(z: Any, resources: Any = None) -> Any:
        return (len(z), None if resources is None else resources.cpus)

    return pipefunc.Pipeline([double, use, total])


def _run(engine: str, pipeline: Any, inputs: dict[str, Any], **kwargs: Any) -> Any:
    kwargs.setdefault("storage", "dict")
    if engine == "pipefunc":
        return pipeline.map(inputs, **kwargs)
    return run_map(pipeline, inputs, **kwargs)


def _plain(value: Any) -> Any:
    """Snapshots described by what a user would compare."""
    if type(value).__name__ == "PropagatedErrorSnapshot":
        info = {k: (i.type, type(i.error).__name__ if i.error is not None else None) for k, i in value.error_info.items()}
        # pipefunc leaks its internal key of evaluated resources into attempted_kwargs; pipemap holds parameters only
        attempted = {k: v for k, v in value.attempted_kwargs.items() if k != "__pipefunc_internal_evaluated_resources__"}
        return ("propagated", value.reason, info, attempted, value.skipped_function.output_name)
    if type(value).__name__ == "ErrorSnapshot":
        return ("error", type(value.exception).__name__, str(value.exception))
    return value


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("scope", ["map", "element"])
def test_resources_variable_receives_evaluated_resources(scope: str, parallel: bool) -> None:
    inputs = {"x": [1, 3]}
    got = {}
    for engine in ("pipefunc", "pipemap"):
        r = _run(engine, build(scope), inputs, parallel=parallel)
        got[engine] = ([_plain(v) for v in r["z"].output], r["s"].output)
    assert got["pipemap"] == got["pipefunc"]
    expected_z = [(2, 2), (6, 6)] if scope == "element" else [(2, 2), (6, 2)]
    assert got["pipefunc"][0] == expected_z


@pytest.mark.parametrize("scope", ["map", "element"])
def test_resources_callable_gets_the_same_arguments(scope: str) -> None:
    """By pipeline name, defaults and bound values included: elements for "element", the whole
    inputs for "map" (pipefunc calls a map-scoped callable once per element, pipemap once per map)."""
    seen: dict[str, list[dict[str, Any]]] = {"pipefunc": [], "pipemap": []}
    for engine in seen:

        def record(kw: dict[str, Any], engine: str = engine) -> dict[str, Any]:
            seen[engine].append({k: v if isinstance(v, int) else "array" for k, v in kw.items()})
            return {"cpus": 1}

        _run(engine, build(scope, resources=record), {"x": [1, 3]}, parallel=False)
    if scope == "element":
        assert seen["pipemap"] == seen["pipefunc"]
        assert seen["pipefunc"][:2] == [{"y": 2, "x": 1, "cc": 1, "d": 5}, {"y": 6, "x": 3, "cc": 1, "d": 5}]
    else:
        assert {tuple(kw.items()) for kw in seen["pipemap"]} == {tuple(kw.items()) for kw in seen["pipefunc"]}
        assert seen["pipemap"] == [{"y": "array", "x": "array", "cc": 1, "d": 5}, {"z": "array"}]


@pytest.mark.parametrize("parallel", [False, True])
def test_failing_resources_in_raise_mode(parallel: bool) -> None:
    errors = {}
    for engine in ("pipefunc", "pipemap"):
        with pytest.raises(RuntimeError, match="no resources for y=4") as info:
            _run(engine, build("element"), {"x": [1, 2]}, parallel=parallel)
        errors[engine] = info.value
    notes = "\n".join(getattr(errors["pipemap"], "__notes__", []))
    assert "`resources` of function `use`" in notes


def test_failing_map_resources_in_raise_mode_fail_before_any_call() -> None:
    calls: list[int] = []

    def boom(kw: dict[str, Any]) -> Any:
        raise ValueError("map resources")

    def use(x: int, resources: Any) -> int:
        calls.append(x)
        return x

    for engine, pipeline in (
        ("pipefunc", pipefunc.Pipeline([pipefunc.PipeFunc(use, "z", mapspec="x[i] -> z[i]", resources=boom, resources_variable="resources")])),
        ("pipemap", Pipeline([PipeFunc(use, "z", mapspec="x[i] -> z[i]", resources=boom, resources_variable="resources")])),
    ):
        with pytest.raises(ValueError, match="map resources") as info:
            _run(engine, pipeline, {"x": [1, 2]}, parallel=False)
        if engine == "pipemap":
            assert "`resources` of function `use` (resources_scope='map')" in "\n".join(info.value.__notes__)
    assert calls == []


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("scope", ["map", "element"])
def test_failing_resources_in_continue_mode(scope: str, parallel: bool) -> None:
    def fail_map(kw: dict[str, Any]) -> Any:
        if not isinstance(kw.get("y", 0), int):
            raise RuntimeError("map resources fail")
        return {"cpus": 1}

    resources = _make_cpus() if scope == "element" else fail_map
    got = {}
    for engine in ("pipefunc", "pipemap"):
        r = _run(engine, build(scope, resources=resources), {"x": [1, 2, 3]}, parallel=parallel, error_handling="continue")
        got[engine] = ([_plain(v) for v in r["z"].output], _plain(r["s"].output))
    assert got["pipemap"] == got["pipefunc"]
    failed = ("propagated", "input_is_error", {RESOURCE_KEY: ("full", "ErrorSnapshot")})
    if scope == "element":
        assert got["pipefunc"][0][1] == (*failed, {"y": 4, "x": 2, "cc": 1, "d": 5}, "z")
        assert got["pipefunc"][0][0] == (2, 2)
    else:
        assert [v[:3] for v in got["pipefunc"][0]] == [failed] * 3


def test_stored_resources_failure_reproduces() -> None:
    pipeline = build("element")
    z = run_map(pipeline, {"x": [2]}, parallel=False, error_handling="continue")["z"].output[0]
    cause = z.error_info[RESOURCE_KEY].error
    assert cause.args == ({"y": 4, "x": 2, "cc": 1, "d": 5},)
    with pytest.raises(RuntimeError, match="no resources for y=4"):
        cause.reproduce()


class _Counting(Executor):
    """Runs submissions in a thread pool and counts them."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(2)
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        self.submitted += 1
        return self.pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, **kwargs: Any) -> None:
        self.pool.shutdown(wait=wait)


def test_nothing_is_submitted_for_a_failed_map() -> None:
    def boom(kw: dict[str, Any]) -> Any:
        raise ValueError("map resources")

    calls: list[int] = []

    def use(x: int, resources: Any) -> int:
        calls.append(x)
        return x

    executor = _Counting()
    try:
        pipeline = Pipeline([PipeFunc(use, "z", mapspec="x[i] -> z[i]", resources=boom, resources_variable="resources")])
        z = run_map(pipeline, {"x": [1, 2, 3]}, executor=executor, error_handling="continue")["z"].output
    finally:
        executor.shutdown()
    assert executor.submitted == 0 and calls == []
    assert [v.reason for v in z] == ["input_is_error"] * 3


def test_pipemap_pipefunc_arguments() -> None:
    """pipemap's own PipeFunc takes the same arguments; the variable is not a pipeline parameter."""

    def use(x: int, res: Any) -> int:
        return x * res["cpus"]

    f = PipeFunc(use, "z", mapspec="x[i] -> z[i]", resources={"cpus": 3}, resources_variable="res")
    assert f.parameters == ("x",)
    assert f(x=2) == 6
    assert run_map(Pipeline([f]), {"x": [1, 2]}, parallel=False)["z"].output.tolist() == [3, 6]
    assert f.copy().resources_variable == "res"
    with pytest.raises(ValueError, match="`resources_variable='nope'` should be a parameter of the function"):
        PipeFunc(use, "z", resources={"cpus": 1}, resources_variable="nope")
    with pytest.raises(ValueError, match="resources_scope"):
        PipeFunc(use, "z", resources_scope="elements")


def test_converted_functions_keep_their_resources_settings() -> None:
    """No UnsupportedPipefuncFeature nor warning any more; a static ``Resources`` reaches the
    function as the same object pipefunc passes."""
    import warnings

    from pipefunc.resources import Resources

    def use(x: int, resources: Any) -> Any:
        return type(resources).__name__, resources.cpus

    source = pipefunc.Pipeline(
        [pipefunc.PipeFunc(use, "z", mapspec="x[i] -> z[i]", resources=Resources(cpus=2), resources_variable="resources", resources_scope="element")]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        converted = Pipeline.from_pipefunc(source)
    f = converted["z"]
    assert (f.resources_variable, f.resources_scope) == ("resources", "element")
    ours = run_map(source, {"x": [1]}, parallel=False)["z"].output.tolist()
    theirs = source.map({"x": [1]}, parallel=False, storage="dict")["z"].output.tolist()
    assert ours == theirs == [("Resources", 2)]

"""Parity (issue 13, item 18): ``NestedPipeFunc`` (plain, with a mapspec derived or given, renames,
bound arguments, inside a map over an outer axis, ``Pipeline.nest_funcs``), converted from pipefunc
and built with pipemap's own class, runs as one unit per element with pipefunc's results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pickle

import pytest

pipefunc = pytest.importorskip("pipefunc")

import pipemap.api as pm  # noqa: E402
import pipemap.runner as pr  # noqa: E402

CALLS: list[str] = []


def f1(a: int, b: int = 2) -> int:
    CALLS.append("f1")
    return a + b


def f2(c: int, d: int) -> int:
    CALLS.append("f2")
    if d < 0:
        msg = f"negative d={d}"
        raise ValueError(msg)
    return c * d


def total(e: Any) -> int:
    return int(sum(e))


def _cases(ns: Any) -> dict[str, tuple[Callable[[], Any], dict[str, Any]]]:
    """The same pipelines written with pipefunc's classes (``ns=pipefunc``) or pipemap's (``ns=pipemap.runner``)."""
    PF, Nested, Pipeline = ns.PipeFunc, ns.NestedPipeFunc, ns.Pipeline

    def plain() -> Any:  # no mapspec: one call; a mapped consumer after it
        n = Nested([PF(f1, "c"), PF(f2, "e")])
        return Pipeline([n, PF(lambda e, x: e * x, "y", mapspec="x[i] -> y[i]")])

    def derived() -> Any:  # the mapspec derived from the inner ones
        n = Nested([PF(f1, "c", mapspec="a[i] -> c[i]"), PF(f2, "e", mapspec="c[i], d[i] -> e[i]")])
        return Pipeline([n, PF(total, "s")])

    def subset() -> Any:  # output_name: a subset, a function name
        n = Nested(
            [PF(f1, "c", mapspec="a[i] -> c[i]"), PF(f2, "e", mapspec="c[i], d[i] -> e[i]")],
            output_name="e",
            function_name="both",
        )
        return Pipeline([n, PF(total, "s")])

    def renamed() -> Any:  # renames of inputs and outputs, an explicit mapspec in the new names
        n = Nested(
            [PF(f1, "c"), PF(f2, "e")], renames={"a": "x", "e": "E"}, mapspec="x[i], d[i] -> c[i], E[i]"
        )
        return Pipeline([n, PF(lambda E: int(sum(E)), "s")])

    def bound() -> Any:  # a bound argument of the nested function, one of an inner function
        n = Nested(
            [PF(f1, "c", mapspec="a[i] -> c[i]", bound={"b": 10}), PF(f2, "e", mapspec="c[i] -> e[i]")],
            bound={"d": 3},
            output_name="e",
        )
        return Pipeline([n, PF(total, "s")])

    def outer_axis() -> Any:  # the nested function mapped over a second, outer axis too
        n = Nested([PF(f1, "c", mapspec="a[i] -> c[i]"), PF(f2, "e", mapspec="c[i], d[i] -> e[i]")])
        p = Pipeline([PF(lambda k: list(range(k)), "a"), n, PF(total, "s")])
        p.add_mapspec_axis("b", axis="j")
        return p

    def nest_funcs() -> Any:  # Pipeline.nest_funcs on a pipeline of plain functions
        p = Pipeline(
            [
                PF(f1, "c", mapspec="a[i] -> c[i]"),
                PF(f2, "e", mapspec="c[i], d[i] -> e[i]"),
                PF(total, "s"),
            ]
        )
        p.nest_funcs({"c", "e"}, new_output_name="e")
        return p

    return {
        "plain": (plain, {"a": 1, "d": 3, "x": [1, 2, 3]}),
        "derived": (derived, {"a": [1, 2, 3], "d": [4, 5, 6]}),
        "subset": (subset, {"a": [1, 2], "d": [4, 5], "b": 0}),
        "renamed": (renamed, {"x": [1, 2], "d": [3, 4]}),
        "bound": (bound, {"a": [1, 2]}),
        "outer_axis": (outer_axis, {"k": 2, "b": [1, 2, 3], "d": [5, 6]}),
        "nest_funcs": (nest_funcs, {"a": [1, 2], "d": [3, 4]}),
    }


CASES = sorted(_cases(pipefunc))


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_nested_converted_from_pipefunc(parity: Any, case: str, parallel: bool) -> None:
    build, inputs = _cases(pipefunc)[case]
    kwargs: dict[str, Any] = {}
    if parallel:
        from concurrent.futures import ThreadPoolExecutor

        kwargs = {"parallel": True, "executor": ThreadPoolExecutor(2)}
    CALLS.clear()
    pf, pm_, _, _ = parity.run_both(build, inputs, folder=False, **kwargs)
    assert list(pm_) == list(pf)
    parity.assert_results(pf, pm_)
    assert [r.function for r in pm_.values()] == [r.function for r in pf.values()]
    # one unit per element: each engine called each inner function once per element
    assert CALLS[: len(CALLS) // 2].count("f1") == CALLS[len(CALLS) // 2 :].count("f1")


@pytest.mark.parametrize("case", CASES)
def test_pipemap_nested_class_matches_pipefunc(parity: Any, case: str, tmp_path: Any) -> None:
    pf_build, inputs = _cases(pipefunc)[case]
    pm_build, _ = _cases(pr)[case]
    pf_pipeline, pm_pipeline = pf_build(), pm_build()
    nested = [f for f in pm_pipeline.functions if isinstance(f, pm.NestedPipeFunc)]
    pf_nested = [f for f in pf_pipeline.functions if isinstance(f, pipefunc.NestedPipeFunc)]
    assert len(nested) == len(pf_nested) == 1
    n, m = nested[0], pf_nested[0]
    assert n.parameters == m.parameters
    assert n.output_name == m.output_name
    assert n.defaults == m.defaults
    assert n.__name__ == m.__name__
    assert str(n.mapspec) == str(m.mapspec)
    pf = pf_pipeline.map(inputs, parallel=False)
    pm_ = pm.run_map(pickle.loads(pickle.dumps(pm_pipeline)), inputs, tmp_path / "run", parallel=False)
    assert list(pm_) == list(pf)
    parity.assert_results(pf, pm_)


def test_nested_error_continue_mode(parity: Any) -> None:
    """An inner function failing for one element: that element of every output is an error, as in pipefunc."""
    build, _ = _cases(pipefunc)["derived"]
    pf, pm_, _, _ = parity.run_both(build, {"a": [1, 2], "d": [3, -1]}, folder=False, error_handling="continue")
    parity.assert_results(pf, pm_)
    assert type(pm_["e"].output[1]).__name__ == "ErrorSnapshot"


def test_nested_direct_call_and_errors() -> None:
    n = pm.NestedPipeFunc([pm.PipeFunc(f1, "c"), pm.PipeFunc(f2, "e")], renames={"a": "x"}, bound={"d": 2})
    m = pipefunc.NestedPipeFunc([pipefunc.PipeFunc(f1, "c"), pipefunc.PipeFunc(f2, "e")], renames={"a": "x"}, bound={"d": 2})
    assert n(x=1) == m(x=1) == (3, 6)
    assert n.parameters == m.parameters
    with pytest.raises(ValueError, match="should be a subset of the combined output names"):
        pm.NestedPipeFunc([pm.PipeFunc(f1, "c"), pm.PipeFunc(f2, "e")], output_name="zz")
    with pytest.raises(ValueError, match="at least two"):
        pm.NestedPipeFunc([pm.PipeFunc(f1, "c")])
    with pytest.raises(ValueError, match="Cannot combine MapSpecs with different input mappings"):
        pm.NestedPipeFunc([pm.PipeFunc(f1, "c", mapspec="a[i] -> c[i]"), pm.PipeFunc(f2, "e", mapspec="c[j], d[j] -> e[j]")])
    with pytest.raises(NotImplementedError, match="variant"):
        pm.NestedPipeFunc([pm.PipeFunc(f1, "c"), pm.PipeFunc(f2, "e")], variant="fast")


def test_nested_scoped_parameters(parity: Any) -> None:
    """Functions in a scope nested with ``nest_funcs``: scoped parameters and outputs, as pipefunc."""

    def build() -> Any:
        p = pipefunc.Pipeline(
            [
                pipefunc.PipeFunc(f1, "c", mapspec="a[i] -> c[i]"),
                pipefunc.PipeFunc(f2, "e", mapspec="c[i], d[i] -> e[i]"),
            ],
            scope="foo",
        )
        p.nest_funcs("*")
        p.add(pipefunc.PipeFunc(lambda e: int(sum(e)), "s", renames={"e": "foo.e"}))
        return p

    pf, pm_, _, _ = parity.run_both(build, {"foo": {"a": [1, 2], "d": [3, 4]}}, folder=False)
    assert list(pm_) == list(pf) == ["foo.c", "foo.e", "s"]
    parity.assert_results(pf, pm_)
    n = pm.NestedPipeFunc([pm.PipeFunc(f1, "c", renames={"a": "foo.a"}), pm.PipeFunc(f2, "e")])
    assert n.parameters == ("b", "d", "foo.a")
    assert n.copy(renames={"foo.a": "x"}).parameters == ("b", "d", "x")
    assert n(**{"foo.a": 1, "d": 2}) == (3, 6)

"""Parity corpus, part 2: options (renames, scopes, defaults, bound, errors, output names, resume).

Every case builds a ``pipefunc.Pipeline`` and the test runs it through ``pipeline.map`` (pipefunc)
and ``pipemap.runner.run_map`` (pipemap) with the same inputs and options, then compares the
``ResultDict`` outputs element by element (values, Python types, shapes, dtype kinds) and, for runs
with a run folder, what ``load_outputs``, ``load_all_outputs``, ``load_xarray_dataset`` and
``load_dataframe`` give back. The ``parity`` fixture lives in ``conftest.py``; the mapping
patterns are in ``test_parity_corpus.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

pipefunc = pytest.importorskip("pipefunc")

pf = pipefunc.pipefunc
PfPipeline = pipefunc.Pipeline


@dataclass
class Case:
    """One corpus pipeline: a builder (called once per engine), inputs and ``map`` options.

    ``known``: tags of the differences that apply (``KNOWN_DIFFERENCES`` and ``DELIBERATE`` in
    ``conftest.py``): that aspect is compared leniently, and cases with an open (not deliberate)
    difference also run exactly in ``test_exact_parity``, a strict xfail.
    """

    name: str
    build: Callable[[], Any]
    inputs: dict[str, Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    folder: bool = True
    loaders: bool = True
    known: frozenset[str] = frozenset()


_DELIBERATE_TAGS = frozenset({"failed_masked"})
_FAIL = frozenset({"failed_masked"})


def renames() -> Any:
    def add(a: int, b: int) -> int:
        return a + b

    f = pipefunc.PipeFunc(add, "c", renames={"a": "x"}, mapspec="x[i], b[i] -> c[i]")

    @pf(output_name="d", mapspec="c[i] -> d[i]", renames={"value": "c"})
    def g(value: int) -> int:
        return value * 2

    return PfPipeline([f, g])


def defaults() -> Any:
    @pf(output_name="y", mapspec="x[i] -> y[i]", defaults={"scale": 3})
    def f(x: int, scale: int, offset: int = 7) -> int:
        return x * scale + offset

    return PfPipeline([f])


def bound() -> Any:
    @pf(output_name="y", mapspec="x[i] -> y[i]", bound={"k": 4})
    def f(x: int, k: int) -> int:
        return x**k

    return PfPipeline([f])


def scoped() -> Any:
    @pf(output_name="y", mapspec="x[i] -> y[i]")
    def f(x: int, c: int) -> int:
        return x + c

    p = PfPipeline([f])
    p.update_scope("sim", inputs={"c"}, outputs=None)
    return p


def _fails_at_three(x: int) -> int:
    if x == 3:
        msg = "three is bad"
        raise ValueError(msg)
    return 2 * x


def errors_continue() -> Any:
    @pf(output_name="z", mapspec="y[i] -> z[i]")
    def g(y: int) -> int:
        return y + 1

    @pf(output_name="total")
    def total(z: Any) -> int:
        return int(sum(z))

    return PfPipeline([pf(output_name="y", mapspec="x[i] -> y[i]")(_fails_at_three), g, total])


def errors_partial_reduction() -> Any:
    @pf(output_name="m", mapspec="x[i], y[j] -> m[i, j]")
    def f(x: int, y: int) -> int:
        if (x, y) == (1, 2):
            msg = "bad cell"
            raise RuntimeError(msg)
        return x * y

    @pf(output_name="row", mapspec="m[i, :] -> row[i]")
    def g(m: Any) -> int:
        return int(sum(m))

    return PfPipeline([f, g])


def errors_single_chain() -> Any:
    @pf(output_name="b")
    def f(a: int) -> int:
        return a + 1

    @pf(output_name="c")
    def g(b: int) -> int:
        raise ZeroDivisionError(b)

    @pf(output_name="d")
    def h(c: int) -> int:
        return c

    return PfPipeline([f, g, h])


def subpipeline_outputs() -> Any:
    @pf(output_name="y", mapspec="x[i] -> y[i]")
    def f(x: int) -> int:
        return x + 1

    @pf(output_name="unused", mapspec="y[i], q[i] -> unused[i]")
    def g(y: int, q: int) -> int:
        return y + q

    return PfPipeline([f, g])


def _elementwise() -> Any:
    @pf(output_name="y", mapspec="x[i] -> y[i]")
    def f(x: int) -> int:
        return 2 * x

    return PfPipeline([f])


def _two_axes() -> Any:
    @pf(output_name="z", mapspec="x[i], w[j] -> z[i, j]")
    def f(x: int, w: int) -> int:
        return x * w

    return PfPipeline([f])


_threads = ThreadPoolExecutor(max_workers=2)

CASES: list[Case] = [
    Case("renames", renames, {"x": [1, 2], "b": [10, 20]}),
    Case("defaults", defaults, {"x": [1, 2]}),
    Case("defaults_overridden", defaults, {"x": [1, 2], "scale": 10, "offset": 0}),
    Case("bound", bound, {"x": [1, 2, 3]}),
    Case("scoped", scoped, {"x": [1, 2], "sim": {"c": 100}}),
    Case("errors_continue", errors_continue, {"x": [1, 2, 3, 4, 5]}, {"error_handling": "continue"}, known=_FAIL),
    Case(
        "errors_partial_reduction",
        errors_partial_reduction,
        {"x": [0, 1], "y": [1, 2, 3]},
        {"error_handling": "continue"},
        known=_FAIL,
    ),
    Case("errors_single_chain", errors_single_chain, {"a": 1}, {"error_handling": "continue"}, known=_FAIL),
    Case("output_names_subset", subpipeline_outputs, {"x": [1, 2]}, {"output_names": {"y"}}),
    Case(
        "threads_errors_continue",
        errors_partial_reduction,
        {"x": [0, 1, 2], "y": [1, 2, 3]},
        {"parallel": True, "executor": _threads, "error_handling": "continue"},
        known=_FAIL,
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_parity(case: Case, parity: Any) -> None:
    """Both engines agree, except for the case's known differences (compared leniently there)."""
    parity.check(case)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES if c.known - _DELIBERATE_TAGS])
def test_exact_parity(case: Case, parity: Any) -> None:
    """Open differences compared exactly: conftest marks these strict xfails (XPASS once pipemap matches)."""
    parity.check(case, case.known & _DELIBERATE_TAGS)


def test_result_dataframe_column_order(parity: Any) -> None:
    """ResultDict.to_dataframe: the coordinates first (x, w), then the output, as in pipefunc."""
    pf_result, pm_result, *_ = parity.run_both(_two_axes, {"x": [1, 2], "w": [10, 20]}, folder=False)
    assert list(pf_result.to_dataframe().columns) == list(pm_result.to_dataframe().columns)


def _zipped_with_single() -> Any:
    @pf(output_name="r", mapspec="x[a], y[a], z[b] -> r[a, b]")
    def f(x: int, y: int, z: int) -> int:
        return x + y + z

    @pf(output_name="s", mapspec="r[a, :] -> s[a]")
    def g(r: Any) -> float:
        return float(np.sum(r))

    @pf(output_name="t")
    def t(r: Any) -> list:
        return [1, 2]

    return PfPipeline([f, g, t])


def test_result_polars_dataframe_parity(parity: Any) -> None:
    """ResultDict.to_dataframe(backend="polars") (built natively by pipemap): pipefunc's columns and
    dtypes, and the same frame as load_dataframe on the run folder."""
    import pipemap.io as pio

    inputs = {"x": [1, 2], "y": [3, 4], "z": [5, 6]}
    pf_result, pm_result, _, pm_folder = parity.run_both(_zipped_with_single, inputs)
    a = pf_result.to_dataframe(backend="polars")
    b = pm_result.to_dataframe(backend="polars")
    assert a.schema == b.schema
    assert a.to_dict(as_series=False) == b.to_dict(as_series=False)
    assert b.equals(pio.load_dataframe(run_folder=pm_folder, backend="polars"))


def test_failed_elements_are_masked_by_pipemap_loaders(parity: Any) -> None:
    """load_outputs returns the snapshots in both engines; pipemap masks them on request
    (``mask_errors=True``), in load_xarray_dataset and load_dataframe, and lists them in load_errors."""
    import pipefunc.map as pfm

    import pipemap.io as pio

    _, _, pf_folder, pm_folder = parity.run_both(errors_continue, {"x": [1, 2, 3, 4, 5]}, error_handling="continue")
    a = pfm.load_outputs("y", run_folder=pf_folder)
    b = pio.load_outputs("y", run_folder=pm_folder)
    assert type(a[2]).__name__ == type(b[2]).__name__ == "ErrorSnapshot"
    assert pio.load_outputs("y", run_folder=pm_folder, mask_errors=True)[2] is np.ma.masked
    assert pfm.load_outputs("total", run_folder=pf_folder).reason == "array_contains_errors"
    assert pio.load_outputs("total", run_folder=pm_folder).reason == "array_contains_errors"
    assert pio.load_outputs("total", run_folder=pm_folder, mask_errors=True) is None
    assert np.isnan(pio.load_xarray_dataset(run_folder=pm_folder)["y"].values[2])
    errors = pio.load_errors(run_folder=pm_folder)
    assert errors, "load_errors lists the failed elements"


def _counting_chain(calls: list[str]) -> Callable[[], Any]:
    def build() -> Any:
        @pf(output_name="y", mapspec="x[i] -> y[i]")
        def f(x: int) -> int:
            calls.append("f")
            return x * 2

        @pf(output_name="s")
        def s(y: Any) -> int:
            calls.append("s")
            return int(sum(y))

        return PfPipeline([f, s])

    return build


@pytest.mark.parametrize("storage", ["file_array", "dict"])
def test_resume_parity(storage: str, parity: Any) -> None:
    """A finished run resumed: neither engine calls anything again, and both return the same results."""
    pf_calls: list[str] = []
    pm_calls: list[str] = []
    inputs = {"x": [1, 2, 3]}
    kwargs = {"parallel": False, "storage": storage}
    pf_folder, pm_folder = parity.tmp_path / "pf", parity.tmp_path / "pm"
    _counting_chain(pf_calls)().map(inputs, run_folder=pf_folder, **kwargs)
    parity.pipemap_run(_counting_chain(pm_calls)(), inputs, run_folder=pm_folder, **kwargs)
    assert pf_calls == pm_calls == ["f", "f", "f", "s"]
    pf_calls.clear()
    pm_calls.clear()
    a = _counting_chain(pf_calls)().map(inputs, run_folder=pf_folder, resume=True, **kwargs)
    b = parity.pipemap_run(_counting_chain(pm_calls)(), inputs, run_folder=pm_folder, resume=True, **kwargs)
    assert pf_calls == pm_calls == []
    parity.assert_results(a, b)
    parity.assert_load_outputs(pf_folder, pm_folder, ["s", "y"])


def _fixed_then_resume(parity: Any) -> tuple[list[Any], list[Any]]:
    inputs = {"x": [1, 2, 3]}
    pf_folder, pm_folder = parity.tmp_path / "pf", parity.tmp_path / "pm"
    pf_results, pm_results = [], []
    for fixed, resume in [({"i": 2}, False), ({"i": 0}, True)]:
        kwargs = {"parallel": False, "fixed_indices": fixed, "resume": resume}
        pf_results.append(_elementwise().map(inputs, run_folder=pf_folder, **kwargs))
        pm_results.append(parity.pipemap_run(_elementwise(), inputs, run_folder=pm_folder, **kwargs))
    return pf_results, pm_results


def test_fixed_indices_then_resume_parity(parity: Any) -> None:
    """docs/behaviour.md §8.35: ``{"i": 2}`` then ``{"i": 0}`` with ``resume=True`` leaves both elements on disk."""
    pf_results, pm_results = _fixed_then_resume(parity)
    parity.assert_results(pf_results[0], pm_results[0])
    parity.assert_load_outputs(parity.tmp_path / "pf", parity.tmp_path / "pm", ["y"])
    import pipemap.io as pio

    assert np.ma.getmaskarray(pio.load_outputs("y", run_folder=parity.tmp_path / "pm")).tolist() == [False, True, False]


def test_fixed_indices_resume_result_parity(parity: Any) -> None:
    """The second run's ResultDict holds only the fixed position ([2, None, None]), in both engines."""
    pf_results, pm_results = _fixed_then_resume(parity)
    parity.assert_results(pf_results[1], pm_results[1])


def test_resume_with_changed_inputs_pipefunc_refuses_pipemap_recomputes(parity: Any) -> None:
    """A deliberate difference (docs/porting.md §4): pipefunc refuses to resume with other input
    values; pipemap recomputes the functions that receive them and says so."""
    from pipemap.runner import ResumeRecomputeWarning

    pf_folder, pm_folder = parity.tmp_path / "pf", parity.tmp_path / "pm"
    _elementwise().map({"x": [1, 2]}, run_folder=pf_folder, parallel=False)
    parity.pipemap_run(_elementwise(), {"x": [1, 2]}, run_folder=pm_folder, parallel=False)
    with pytest.raises(ValueError, match="`inputs` do not match previous run") as pf_error:
        _elementwise().map({"x": [1, 5]}, run_folder=pf_folder, parallel=False, resume=True)
    assert "resume" in str(pf_error.value)
    with pytest.warns(ResumeRecomputeWarning, match=r"\(y\): input `x` changed"):
        pm = parity.pipemap_run(_elementwise(), {"x": [1, 5]}, run_folder=pm_folder, parallel=False, resume=True)
    fresh = _elementwise().map({"x": [1, 5]}, run_folder=parity.tmp_path / "pf2", parallel=False)
    assert pm["y"].output.tolist() == fresh["y"].output.tolist()

"""Parity of the loaders and result conversions with pipefunc 0.93.2 (issue 13, items 7, 12, 14, 15, 16).

Each test runs the same pipefunc pipeline through ``pipeline.map`` (pipefunc) and
``pipemap.runner.run_map`` (pipemap) and compares what ``load_outputs``, ``load_all_outputs``,
``load_xarray_dataset``, ``load_dataframe``, ``ResultDict.to_xarray()`` and ``to_dataframe()``
give back; the ``parity`` fixture lives in ``conftest.py``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

pipefunc = pytest.importorskip("pipefunc")
pl = pytest.importorskip("polars")  # module level: the (string) annotations below resolve through it

pf = pipefunc.pipefunc
PfPipeline = pipefunc.Pipeline


# --- item 14: load_outputs returns failed elements as stored -------------------------------------


def _failing_chain() -> Any:
    @pf(output_name="y", mapspec="x[i] -> y[i]")
    def f(x: int) -> int:
        if x == 2:
            msg = "two is bad"
            raise ValueError(msg)
        return x * 10

    @pf(output_name="z", mapspec="y[i], w[j] -> z[i, j]")
    def g(y: int, w: int) -> int:
        return y + w

    @pf(output_name="total")
    def total(z: Any) -> int:
        return int(np.sum(z))

    return PfPipeline([f, g, total])


@pytest.mark.parametrize("storage", ["file_array", "dict"])
def test_load_outputs_returns_error_snapshots(parity: Any, storage: str) -> None:
    import pipefunc.map as pfm

    import pipemap.io as pio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf_result, pm_result, pf_folder, pm_folder = parity.run_both(
            _failing_chain, {"x": [1, 2, 3], "w": [1, 2]}, error_handling="continue", storage=storage
        )
    for name in ("y", "z", "total"):
        a = pfm.load_outputs(name, run_folder=pf_folder)
        b = pio.load_outputs(name, run_folder=pm_folder)
        parity.assert_same(a, b, f"load_outputs({name!r})")
        # the same objects as the ResultDict holds
        parity.assert_same(pm_result[name].output, np.ma.getdata(b) if isinstance(b, np.ndarray) else b, name)
    y = pio.load_outputs("y", run_folder=pm_folder)
    assert type(y[1]).__name__ == "ErrorSnapshot" and not np.ma.getmaskarray(y).any()
    assert str(y[1].exception) == "two is bad"
    z = pio.load_outputs("z", run_folder=pm_folder)
    assert [type(v).__name__ for v in z[1]] == ["PropagatedErrorSnapshot"] * 2
    total = pio.load_outputs("total", run_folder=pm_folder)
    assert type(total).__name__ == "PropagatedErrorSnapshot" and total.reason == "array_contains_errors"
    everything = pio.load_all_outputs(pm_folder)
    pf_everything = pfm.load_all_outputs(run_folder=pf_folder)
    assert list(everything) == list(pf_everything) == ["total", "y", "z"]
    for name in everything:
        parity.assert_same(pf_everything[name], everything[name], f"load_all_outputs()[{name!r}]")

    # the masked form is an option
    y_masked, total_masked = pio.load_outputs("y", "total", run_folder=pm_folder, mask_errors=True)
    assert np.ma.getmaskarray(y_masked).tolist() == [False, True, False]
    assert total_masked is None
    masked_all = pio.load_all_outputs(pm_folder, mask_errors=True)
    assert masked_all["total"] is None and np.ma.getmaskarray(masked_all["z"])[1].all()
    # the presentation loaders keep masking failed elements (NaN / null)
    ds = pio.load_xarray_dataset(run_folder=pm_folder)
    assert ds["y"].dtype == np.float64 and np.isnan(ds["y"].values[1])
    assert ds["total"].values[()] is None
    df = pio.load_dataframe(run_folder=pm_folder)
    assert df["z"].isna().tolist() == [False, False, True, True, False, False]
    assert pio.load_dataframe(run_folder=pm_folder, backend="polars")["z"].null_count() == 2


def test_failed_internal_axes_element_fills_its_cells() -> None:
    """pipefunc cannot store a failed element of an output with internal axes (its run raises); pipemap
    stores the snapshot and both load_outputs and the ResultDict show it in every internal cell."""
    from pipemap.runner import run_map

    import pipemap.io as pio

    @pf(output_name="y", mapspec="x[i] -> y[i, k]", internal_shape=(2,))
    def f(x: int) -> list[int]:
        if x == 2:
            msg = "no"
            raise ValueError(msg)
        return [x, -x]

    import tempfile

    for storage in ("file_array", "dict"):
        folder = tempfile.mkdtemp()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = run_map(
                PfPipeline([f]), {"x": [1, 2, 3]}, run_folder=folder, parallel=False, error_handling="continue",
                storage=storage,
            )
        y = pio.load_outputs("y", run_folder=folder)
        assert not np.ma.getmaskarray(y).any()
        assert [type(v).__name__ for v in y[1]] == ["ErrorSnapshot"] * 2
        assert [int(v) for v in y[[0, 2]].ravel()] == [1, -1, 3, -3]
        assert [type(v).__name__ for v in result["y"].output[1]] == ["ErrorSnapshot"] * 2
        assert np.ma.getmaskarray(pio.load_outputs("y", run_folder=folder, mask_errors=True))[1].all()


# --- item 7: array-like inputs (pandas, polars) are coordinates and columns ----------------------


def _per_day() -> Any:
    @pf(output_name="y", mapspec="day[i] -> y[i]")
    def f(day: Any) -> float:
        return 1.5

    return PfPipeline([f])


def _array_likes() -> dict[str, Any]:
    import pandas as pd
    import polars as pl

    return {
        "DatetimeIndex": pd.date_range("2024-01-01", periods=3),
        "Series": pd.Series([0.5, 1.5, 2.5]),
        "Index": pd.Index([3, 1, 2]),
        "string_Index": pd.Index(["a", "b", "c"], dtype=object),
        "polars_Series": pl.Series([7, 8, 9]),
    }


@pytest.mark.parametrize("kind", list(_array_likes()))
def test_array_like_inputs_are_coordinates(parity: Any, kind: str) -> None:
    import pipefunc.map as pfm

    import pipemap.io as pio

    day = _array_likes()[kind]
    pf_result, pm_result, pf_folder, pm_folder = parity.run_both(_per_day, {"day": day})
    expected = np.asarray(day)
    for what, a, b in [
        ("to_xarray", pf_result.to_xarray(), pm_result.to_xarray()),
        ("load_xarray_dataset", pfm.load_xarray_dataset(run_folder=pf_folder), pio.load_xarray_dataset(run_folder=pm_folder)),
    ]:
        assert list(a.coords) == list(b.coords) == ["day"], what
        assert a["day"].dtype == b["day"].dtype == expected.dtype, what
        assert b["day"].values.tolist() == a["day"].values.tolist() == expected.tolist(), what
        assert b["y"].dims == ("i",)
    for what, a, b in [
        ("to_dataframe", pf_result.to_dataframe(), pm_result.to_dataframe()),
        ("load_dataframe", pfm.load_dataframe(run_folder=pf_folder), pio.load_dataframe(run_folder=pm_folder)),
    ]:
        assert list(a.columns) == list(b.columns) == ["day", "y"], what
        assert a["day"].dtype == b["day"].dtype, what
        assert a["day"].tolist() == b["day"].tolist(), what
    polars = pio.load_dataframe(run_folder=pm_folder, backend="polars")
    assert polars.columns == ["day", "y"] and len(polars) == 3


def _zipped_days() -> Any:
    @pf(output_name="y", mapspec="day[i], weight[i] -> y[i]")
    def f(day: Any, weight: float) -> float:
        return weight

    return PfPipeline([f])


def test_zipped_array_like_inputs(parity: Any) -> None:
    import pandas as pd

    inputs = {"day": pd.date_range("2024-01-01", periods=2), "weight": pd.Series([1.5, 2.5])}
    pf_result, pm_result, _, _ = parity.run_both(_zipped_days, inputs, folder=False)
    a, b = pf_result.to_xarray(), pm_result.to_xarray()
    assert list(a.coords) == list(b.coords) == ["day:weight"]
    ta, tb = a["day:weight"].values.tolist(), b["day:weight"].values.tolist()
    assert ta == tb
    assert [type(v).__name__ for t in ta for v in t] == [type(v).__name__ for t in tb for v in t]
    fa, fb = pf_result.to_dataframe(), pm_result.to_dataframe()
    assert list(fa.columns) == list(fb.columns) == ["y", "day", "weight"]
    assert fa["day"].dtype == fb["day"].dtype and fa["day"].tolist() == fb["day"].tolist()


def test_datetime_index_coordinate_plots_on_time_axis(parity: Any) -> None:
    """The issue's case: a DatetimeIndex input is a datetime64 coordinate, so it is a time axis."""
    import pandas as pd

    import pipemap.io as pio

    days = pd.date_range("2024-03-01", periods=4, freq="D")
    _, pm_result, _, pm_folder = parity.run_both(_per_day, {"day": days})
    for ds in (pm_result.to_xarray(), pio.load_xarray_dataset(run_folder=pm_folder)):
        assert ds["day"].dtype.kind == "M"
        assert ds.sel(day="2024-03-02")["y"].item() == 1.5  # label-based selection on the time axis
        assert ds["day"].to_index().equals(pd.DatetimeIndex(days, name="day"))


# --- item 15: to_xarray(type_cast=...) and return annotations ---------------------------------


def _annotated() -> Any:
    @pf(output_name="a", mapspec="x[i] -> a[i]")
    def fa(x):  # noqa: ANN001, ANN202 - no annotation on purpose
        return x

    @pf(output_name="b", mapspec="x[i] -> b[i]")
    def fb(x: int) -> Any:
        return x

    @pf(output_name="c", mapspec="x[i] -> c[i]")
    def fc(x: int) -> int:
        return x

    @pf(output_name="d", mapspec="x[i] -> d[i, j]", internal_shape=(2,))
    def fd(x: int) -> list[int]:
        return [x, x]

    @pf(output_name="e", mapspec="x[i] -> e[i]")
    def fe(x: int) -> float:
        return x

    @pf(output_name="g", mapspec="x[i] -> g[i]")
    def fg(x: int) -> list:
        return x

    @pf(output_name="h", mapspec="x[i] -> h[i]")
    def fh(x: int) -> object:
        return x

    return PfPipeline([fa, fb, fc, fd, fe, fg, fh])


def test_type_cast_false_keeps_object_arrays(parity: Any) -> None:
    pf_result, pm_result, _, _ = parity.run_both(_annotated, {"x": [1, 2]}, folder=False)
    a, b = pf_result.to_xarray(type_cast=False), pm_result.to_xarray(type_cast=False)
    assert {n: b[n].dtype for n in b.variables} == {n: a[n].dtype for n in a.variables}
    assert all(b[n].dtype == object for n in b.variables)
    parity.assert_datasets(a, b)
    fa, fb = pf_result.to_dataframe(type_cast=False), pm_result.to_dataframe(type_cast=False)
    assert {c: str(fb[c].dtype) for c in fb.columns} == {c: str(fa[c].dtype) for c in fa.columns}
    assert fa.to_dict("list") == fb.to_dict("list")


def test_type_cast_follows_return_annotations(parity: Any) -> None:
    """Numeric annotations cast (int, float); list / Any / object / list[int] keep object arrays, as
    pipefunc; only unannotated outputs and the inputs get inferred numeric dtypes (porting.md)."""
    pf_result, pm_result, _, _ = parity.run_both(_annotated, {"x": [1, 2]}, folder=False)
    a, b = pf_result.to_xarray(), pm_result.to_xarray()
    for name in ("b", "c", "d", "e", "g", "h"):
        assert b[name].dtype == a[name].dtype, name
    assert (b["c"].dtype, b["e"].dtype, b["g"].dtype, b["d"].dtype) == (np.int64, np.float64, object, object)
    for name in ("x", "a"):  # pipemap's numeric dtypes where pipefunc keeps objects
        assert a[name].dtype == object and b[name].dtype == np.int64, name
    parity.assert_datasets(a, b)
    fa, fb = pf_result.to_dataframe(), pm_result.to_dataframe()
    for name in ("b", "c", "d", "e", "g", "h"):
        assert fb[name].dtype == fa[name].dtype, name
    assert fa.to_dict("list") == fb.to_dict("list")


# --- item 16: a single output that is a list or tuple is an ndarray in Datasets and DataFrames ----

_SINGLE_VALUES = {
    "list": [1, 2],
    "list_of_tuples": [(1, 2), (3, 4)],
    "ragged": [[1], [2, 3]],
    "empty": [],
    "tuple": (5, 6),
    "list_of_arrays": [np.zeros(2), np.ones(2)],
    "mixed": [1, [2]],
    "nested_ragged": [(1, [2]), (3, [4, 5])],
    "range": range(3),
    "string": "ab",
    "dict": {"a": 1},
}


def _with_single(value: Any) -> Any:
    def build() -> Any:
        @pf(output_name="y", mapspec="x[i] -> y[i]")
        def f(x: int) -> int:
            return x

        @pf(output_name="s")
        def g(y: Any) -> Any:
            return value

        return PfPipeline([f, g])

    return build


def _cell(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    return value


@pytest.mark.parametrize("kind", list(_SINGLE_VALUES))
def test_single_sequence_output_is_an_array(parity: Any, kind: str) -> None:
    import pipefunc.map as pfm

    import pipemap.io as pio

    pf_result, pm_result, pf_folder, pm_folder = parity.run_both(_with_single(_SINGLE_VALUES[kind]), {"x": [1, 2]})
    datasets = [
        (pf_result.to_xarray(), pm_result.to_xarray()),
        (pfm.load_xarray_dataset(run_folder=pf_folder), pio.load_xarray_dataset(run_folder=pm_folder)),
    ]
    for a, b in datasets:
        va, vb = _cell(a["s"].values), _cell(b["s"].values)
        assert type(va).__name__ == type(vb).__name__, (type(va), type(vb))
        if type(va).__name__ == "DimensionlessArray":
            va, vb = va.arr, vb.arr
        parity.assert_same(va, vb, "s")
        parity.assert_datasets(a, b)
    frames = [
        (pf_result.to_dataframe(), pm_result.to_dataframe()),
        (pfm.load_dataframe(run_folder=pf_folder), pio.load_dataframe(run_folder=pm_folder)),
    ]
    for a, b in frames:
        assert list(a.columns) == list(b.columns)
        for ca, cb in zip(a["s"], b["s"], strict=True):
            parity.assert_same(ca, cb, "s")
    try:
        a = pfm.load_dataframe(run_folder=pf_folder, backend="polars")
    except Exception as exc:  # noqa: BLE001 - pyarrow cannot convert some nested cells
        assert type(exc).__name__ in {"ArrowInvalid", "ArrowTypeError", "ArrowNotImplementedError"}, exc
        return
    b = pio.load_dataframe(run_folder=pm_folder, backend="polars")
    if a.schema["s"] != __import__("polars").Object:
        assert a.schema == b.schema
        assert a.to_dict(as_series=False) == b.to_dict(as_series=False)


# --- item 12: polars LazyFrame parameters ---------------------------------------------------------


def _lazy_pipeline() -> Any:
    @pf(output_name="df")
    def make(n: int) -> pl.DataFrame:
        return pl.DataFrame({"a": list(range(n))})

    @pf(output_name="total")
    def total(df: pl.LazyFrame) -> int:
        return df.select(pl.col("a").sum()).collect().item()

    @pf(output_name="below", mapspec="k[i] -> below[i]")
    def below(df: pl.LazyFrame, k: int) -> int:  # a single DataFrame into a mapped function
        return df.filter(pl.col("a") < k).collect().height

    @pf(output_name="frames", mapspec="k[i] -> frames[i]")
    def frames(k: int) -> pl.DataFrame:
        return pl.DataFrame({"a": list(range(k))})

    @pf(output_name="height", mapspec="frames[i] -> height[i]")
    def height(frames: pl.LazyFrame) -> int:  # mapped DataFrame elements
        return frames.collect().height

    @pf(output_name="eager", mapspec="frames[i] -> eager[i]")
    def eager(frames: pl.DataFrame) -> str:  # not annotated LazyFrame: the DataFrame itself
        return type(frames).__name__

    return PfPipeline([make, total, below, frames, height, eager])


@pytest.mark.parametrize("storage", ["file_array", "dict"])
def test_lazyframe_parameters_get_lazyframes(parity: Any, storage: str) -> None:
    pf_result, pm_result, _, _ = parity.run_both(_lazy_pipeline, {"n": 4, "k": [1, 2, 3]}, storage=storage)
    for name in ("total", "below", "height", "eager"):
        parity.assert_same(pf_result[name].output, pm_result[name].output, name)
    assert pm_result["total"].output == 6
    assert pm_result["height"].output.tolist() == [1, 2, 3]
    assert pm_result["eager"].output.tolist() == ["DataFrame"] * 3


def test_lazyframe_parameters_in_worker_processes(parity: Any) -> None:
    """pipemap's workers (a spawn-based pool: forking after polars started its threads can hang)
    get the decision with the function."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pf_result, _, _, _ = parity.run_both(_lazy_pipeline, {"n": 4, "k": [1, 2, 3]}, folder=False)
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        pm_result = parity.pipemap_run(
            _lazy_pipeline(), {"n": 4, "k": [1, 2, 3]}, parallel=True, executor=pool, chunksizes=1
        )
    for name in ("total", "below", "height", "eager"):
        parity.assert_same(pf_result[name].output, pm_result[name].output, name)


def test_lazyframe_conversion_is_decided_per_function() -> None:
    """Functions without a ``pl.LazyFrame`` annotation get the plain compiled call (nothing per element)."""
    from pipemap.runner import PipeFunc

    def plain(x: int, df: pl.DataFrame) -> int:
        return x

    def lazy(x: int, df: pl.LazyFrame) -> int:
        return df.collect().height + x

    frame = pl.DataFrame({"a": [1, 2]})
    plain_f = PipeFunc(plain, "y", mapspec="x[i] -> y[i]")
    lazy_f = PipeFunc(lazy, "y", mapspec="table[i] -> y[i]", renames={"df": "table"})
    assert plain_f.lazyframe_parameters == frozenset()
    assert lazy_f.lazyframe_parameters == frozenset({"df"})
    assert plain_f.compile_call(["x"], {"df": frame}).__name__ == "<lambda>"
    assert lazy_f.compile_call(["table"], {"x": 1})(frame) == 3
    assert lazy_f.compile_call(["x"], {"table": frame})(1) == 3
    assert lazy_f.call_with_kwargs({"x": 1, "table": frame}) == 3

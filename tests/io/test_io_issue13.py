"""Loader behaviours of issue 13: failed elements as stored (``mask_errors``), array-like inputs,
dtype inference on request, single outputs that are sequences."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pipemap.io import load_all_outputs, load_dataframe, load_errors, load_outputs, load_xarray_dataset
from pipemap.io._arrays import from_array_like, present_values, single_as_array
from pipemap.io._model import build_model
from pipemap.storage import ErrorSnapshot, RunRecord, open_store


def _fail(x: Any) -> Any:
    raise ValueError(x)


def test_failed_elements_load_as_stored_on_every_backend(
    tmp_path: Path, backend: str, write_run: Callable[..., Any]
) -> None:
    folder = tmp_path / "failed"
    write_run(folder, backend, fail_y=[2])
    y, z = load_outputs("y", "z", run_folder=folder)
    assert not np.ma.getmaskarray(y).any() and not np.ma.getmaskarray(z).any()
    assert y[:2].tolist() == [2, 4] and type(y[2]).__name__ == "ErrorSnapshot"
    assert [type(v).__name__ for v in z[2]] == ["PropagatedErrorSnapshot"] * 2
    assert str(y[2].exception) == "x=3 is bad"
    everything = load_all_outputs(folder)
    assert type(everything["y"][2]).__name__ == "ErrorSnapshot"
    masked = load_all_outputs(folder, mask_errors=True)
    assert np.ma.getmaskarray(masked["y"]).tolist() == [False, False, True]
    # the table loaders and load_errors are unchanged
    assert np.isnan(load_xarray_dataset("y", run_folder=folder)["y"].values[2])
    assert load_dataframe("y", run_folder=folder)["y"].isna().tolist() == [False, False, True]
    assert [e.index for e in load_errors("y", run_folder=folder)] == [(2,)]


def test_failed_single_output_loads_as_its_snapshot(make_run: Callable[..., Path]) -> None:
    snapshot = ErrorSnapshot(_fail, ValueError("bad"), kwargs={"x": 1})
    folder = make_run(["x[i] -> y[i]"], {"x": [1]}, {"y": ((1,), (True,), {0: 2}), "t": snapshot})
    assert type(load_outputs("t", run_folder=folder)).__name__ == "ErrorSnapshot"
    assert load_outputs("t", run_folder=folder, mask_errors=True) is None
    assert load_xarray_dataset(run_folder=folder)["t"].values[()] is None


@pytest.mark.parametrize("mask", [(True, False), (False, True)])
def test_failed_element_with_internal_axes_fills_its_cells(make_run: Callable[..., Path], mask: tuple[bool, bool]) -> None:
    snapshot = ErrorSnapshot(_fail, ValueError("bad"), kwargs={"x": 2})
    spec = "x[i] -> g[i, k]" if mask == (True, False) else "x[i] -> g[k, i]"
    shape = (2, 3) if mask == (True, False) else (3, 2)
    folder = make_run([spec], {"x": [1, 2]}, {"g": (shape, mask, {0: [1, 2, 3]})})
    store = open_store(RunRecord.load(folder), "g")
    store._put_many(np.array([1], dtype=np.int64), [snapshot])  # as the runner writes failures
    if store.supports_persist:
        store.persist()
    g = load_outputs("g", run_folder=folder)
    cells = g[1] if mask == (True, False) else g[:, 1]
    good = g[0] if mask == (True, False) else g[:, 0]
    assert [type(v).__name__ for v in cells] == ["ErrorSnapshot"] * 3
    assert [int(v) for v in good] == [1, 2, 3]
    assert not np.ma.getmaskarray(g).any()
    masked = load_outputs("g", run_folder=folder, mask_errors=True)
    assert np.ma.getmaskarray(masked).sum() == 3


def test_array_like_helpers() -> None:
    pd = pytest.importorskip("pandas")
    assert from_array_like(pd.Series([1.5, 2.5])).dtype == np.float64
    assert from_array_like(pd.date_range("2024-01-01", periods=2)).dtype.kind == "M"
    assert from_array_like({"a": 1}) == {"a": 1}
    assert from_array_like((1, 2)) == (1, 2)
    model = build_model(["day[i] -> y[i]"], {"day": pd.Index([3, 4])}, {"y": np.array([1, 2], dtype=object)})
    assert list(model.coords) == ["day"] and model.coords["day"].combined().tolist() == [3, 4]


def test_infer_dtypes_selects_arrays() -> None:
    outputs = {"y": np.array([1, 2], dtype=object), "z": np.array([3, 4], dtype=object)}
    typed = build_model(["x[i] -> y[i]", "x[i] -> z[i]"], {"x": [1, 2]}, outputs)
    assert typed.variables["y"].data.dtype == np.int64 and typed.coords["x"].combined().dtype == np.int64
    none = build_model(["x[i] -> y[i]", "x[i] -> z[i]"], {"x": [1, 2]}, outputs, infer_dtypes=False)
    assert none.variables["y"].data.dtype == object and none.coords["x"].combined().dtype == object
    some = build_model(["x[i] -> y[i]", "x[i] -> z[i]"], {"x": [1, 2]}, outputs, infer_dtypes={"z"})
    assert some.variables["y"].data.dtype == object and some.variables["z"].data.dtype == np.int64
    assert some.coords["x"].combined().dtype == np.int64  # inputs are inferred
    missing = np.ma.MaskedArray(np.array([1, 2], dtype=object), mask=[False, True])
    assert present_values(missing).dtype == object and np.isnan(present_values(missing)[1])


@pytest.mark.parametrize(
    ("value", "shape"),
    [([1, 2], (2,)), ([(1, 2), (3, 4)], (2, 2)), ([[1], [2, 3]], (2,)), ([], (0,)), ((5, 6), (2,)),
     (range(3), (3,)), ([[], []], (2, 0)), ([(1, [2]), (3, [4, 5])], (2, 2)), ([np.zeros(2), np.ones(2)], (2,))],
)
def test_single_sequences_become_arrays(value: Any, shape: tuple[int, ...]) -> None:
    arr = single_as_array(value)
    assert isinstance(arr, np.ndarray) and arr.dtype == object and arr.shape == shape
    ds_value = build_model([], {}, {"s": value}).singles["s"]
    assert ds_value.shape == shape


@pytest.mark.parametrize("value", ["ab", {"a": 1}, 3, None])
def test_single_non_sequences_stay(value: Any) -> None:
    assert single_as_array(value) is value

"""Polars column types of pipemap's natively built frames (pipefunc's types via pyarrow)."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipemap.io import dataframe_from_data


def test_integers_with_missing_elements_stay_integers_with_nulls() -> None:
    y = np.ma.MaskedArray(np.array([2, 0, 6], dtype=object), mask=[False, True, False])
    df = dataframe_from_data(["x[i] -> y[i]"], {"x": [1, 2, 3]}, {"y": y}, backend="polars")
    assert df.schema["y"] == pl.Int64
    assert df["y"].to_list() == [2, None, 6]
    assert dataframe_from_data(["x[i] -> y[i]"], {"x": [1, 2, 3]}, {"y": y})["y"].dtype == np.float64  # pandas: NaN


def test_floats_with_missing_elements_stay_floats() -> None:
    y = np.ma.MaskedArray(np.array([2.5, 0, 6.0], dtype=object), mask=[False, True, False])
    df = dataframe_from_data(["x[i] -> y[i]"], {"x": [1, 2, 3]}, {"y": y}, backend="polars")
    assert df.schema["y"] == pl.Float64
    assert df["y"].to_list() == [2.5, None, 6.0]


def test_one_dimensional_array_cells_become_lists() -> None:
    v = np.empty(2, dtype=object)
    v[0], v[1] = np.array([1.0, 2.0]), np.array([3.0])
    df = dataframe_from_data(["x[i] -> v[i]"], {"x": [1, 2]}, {"v": v}, backend="polars")
    assert df.schema["v"] == pl.List(pl.Float64)
    assert df["v"].to_list() == [[1.0, 2.0], [3.0]]


def test_two_dimensional_array_cells_stay_objects() -> None:
    v = np.empty(2, dtype=object)
    v[0], v[1] = np.zeros((2, 2)), np.ones((2, 2))
    df = dataframe_from_data(["x[i] -> v[i]"], {"x": [1, 2]}, {"v": v}, backend="polars")
    assert df.schema["v"] == pl.Object
    assert df["v"][1].shape == (2, 2)

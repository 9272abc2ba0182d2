"""Column order of DataFrames and variable order of Datasets (pipefunc's ``to_dataframe`` order).

Per mapped output its coordinates then itself, then single outputs, then the parts of zipped
``"a:b"`` coordinates; a part that is already a column keeps its place.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipemap.io import dataframe_from_data, xarray_dataset_from_data, xarray_dataset_to_dataframe

_ZIPPED = ["x[a], y[a], z[b] -> r[a, b]"]
_ZIPPED_INPUTS = {"x": [1, 2, 3], "y": [4, 5, 6], "z": [7, 8]}
_ZIPPED_OUTPUTS = {"r": np.arange(6).reshape(3, 2), "t": 15}


@pytest.mark.parametrize("backend", ["pandas", "polars"])
def test_zipped_parts_come_last(backend: str) -> None:
    df = dataframe_from_data(_ZIPPED, _ZIPPED_INPUTS, _ZIPPED_OUTPUTS, backend=backend)
    assert list(df.columns) == ["z", "r", "t", "x", "y"]
    assert list(df["x"]) == [1, 1, 2, 2, 3, 3]
    assert list(df["z"]) == [7, 8, 7, 8, 7, 8]


def test_dataset_variable_order_and_its_dataframe() -> None:
    ds = xarray_dataset_from_data(_ZIPPED, _ZIPPED_INPUTS, _ZIPPED_OUTPUTS)
    assert list(ds.variables) == ["x:y", "z", "r", "t"]
    assert list(ds.coords) == ["x:y", "z"]
    assert list(xarray_dataset_to_dataframe(ds).columns) == ["z", "r", "t", "x", "y"]


def test_a_zipped_part_that_is_already_a_column_keeps_its_place() -> None:
    specs = ["x[i] -> y[i]", "y[i], b[i] -> r[i]"]
    inputs = {"x": [1, 2], "b": [3, 4]}
    outputs = {"y": np.array([1, 2]), "r": np.array([4, 6])}
    ds = xarray_dataset_from_data(specs, inputs, outputs)
    assert list(ds.variables) == ["x", "y", "b:x", "r"]
    df = dataframe_from_data(specs, inputs, outputs)
    assert list(df.columns) == ["x", "y", "r", "b"]
    assert df.to_dict("list") == {"x": [1, 2], "y": [1, 2], "r": [4, 6], "b": [3, 4]}
    assert list(xarray_dataset_to_dataframe(ds).columns) == ["x", "y", "r", "b"]

"""load_xarray_dataset / load_dataframe and the in-memory builders (docs/behaviour.md §6, edge cases §8.69-8.73)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import xarray as xr
from pipemap.io import (
    DimensionlessArray,
    dataframe_from_data,
    load_dataframe,
    load_xarray_dataset,
    xarray_dataset_from_data,
)


def test_example_dataset(example_run: Path) -> None:
    ds = load_xarray_dataset(run_folder=example_run)
    assert dict(ds.sizes) == {"i": 3, "j": 2}
    assert ds["x"].dims == ("i",) and ds["x"].values.tolist() == [1, 2, 3]
    assert ds["w"].dims == ("j",) and ds["w"].values.tolist() == [10, 20]
    assert set(ds.coords) == {"x", "w"}
    assert ds["y"].dims == ("i",) and ds["y"].dtype == np.int64
    assert ds["z"].dims == ("i", "j") and ds["z"].values.tolist() == [[12, 22], [14, 24], [16, 26]]
    assert ds["z"].dtype == np.int64
    assert ds["s"].dims == ("j",)
    assert ds["t"].dims == () and ds["t"].item() == 114


def test_example_dataframe(example_run: Path) -> None:
    df = load_dataframe(run_folder=example_run)
    assert len(df) == 6
    assert sorted(df.columns) == sorted(["x", "y", "w", "z", "s", "t"])
    assert df["x"].tolist() == [1, 1, 2, 2, 3, 3]
    assert df["w"].tolist() == [10, 20] * 3
    assert df["z"].tolist() == [12, 22, 14, 24, 16, 26]
    assert df["s"].tolist() == [42, 72] * 3
    assert df["t"].tolist() == [114] * 6
    assert df["z"].dtype == np.int64
    pdf = load_dataframe(run_folder=example_run, backend="polars")
    assert isinstance(pdf, pl.DataFrame)
    assert pdf["z"].dtype == pl.Int64
    assert pdf["z"].to_list() == df["z"].tolist()
    assert pdf.columns == list(df.columns)


def test_selected_outputs_and_intermediate(example_run: Path) -> None:
    ds = load_xarray_dataset("z", run_folder=example_run)
    assert set(ds.data_vars) == {"z"}
    df = load_dataframe("s", run_folder=example_run)
    assert df.to_dict("list") == {"w": [10, 20], "s": [42, 72]}


def test_partial_and_failed_runs_give_nan(tmp_path: Path, backend: str, write_run: Callable[..., Any]) -> None:
    folder = tmp_path / "failed"
    write_run(folder, backend, fail_y=[0], skip_y=[1])
    ds = load_xarray_dataset(run_folder=folder)
    assert ds["y"].dtype == np.float64
    assert np.isnan(ds["y"].values[:2]).all() and ds["y"].values[2] == 6
    assert np.isnan(ds["z"].values[:2]).all()
    assert ds["t"].item() is None
    df = load_dataframe("z", run_folder=folder, backend="polars")
    assert df["z"].to_list() == [None, None, None, None, 16.0, 26.0]


def test_same_result_on_every_backend(tmp_path: Path, write_run: Callable[..., Any], backend: str) -> None:
    reference = tmp_path / "ref"
    write_run(reference, "file_array", skip_y=[2])
    folder = tmp_path / "other"
    write_run(folder, backend, skip_y=[2])
    xr.testing.assert_identical(load_xarray_dataset(run_folder=folder), load_xarray_dataset(run_folder=reference))
    pd.testing.assert_frame_equal(load_dataframe(run_folder=folder), load_dataframe(run_folder=reference))


def test_zipped_inputs_share_a_coordinate(make_run: Callable[..., Path], backend: str) -> None:
    values = {i * 2 + j: (i + 1) + (i + 4) + z for i in range(3) for j, z in enumerate([7, 8])}
    folder = make_run(
        ["x[i], y[i], z[j] -> r[i, j]"],
        {"x": [1, 2, 3], "y": [4, 5, 6], "z": [7, 8]},
        {"r": ((3, 2), (True, True), values)},
        storage=backend,
    )
    ds = load_xarray_dataset(run_folder=folder)
    assert ds["x:y"].dims == ("i",)
    assert ds["x:y"].values.tolist() == [(1, 4), (2, 5), (3, 6)]
    df = load_dataframe(run_folder=folder)
    assert df["x"].tolist() == [1, 1, 2, 2, 3, 3]
    assert df["y"].tolist() == [4, 4, 5, 5, 6, 6]
    assert df["r"].tolist() == [12, 13, 14, 15, 16, 17]
    assert "x:y" not in df.columns


def test_unhashable_zipped_values(make_run: Callable[..., Path]) -> None:
    folder = make_run(
        ["x[i], y[i] -> r[i]"],
        {"x": [[1], [2]], "y": [{"a": 1}, {"a": 2}]},
        {"r": ((2,), (True,), {0: "first", 1: "second"})},
    )
    ds = load_xarray_dataset(run_folder=folder)
    assert ds["x:y"].values.tolist() == [([1], {"a": 1}), ([2], {"a": 2})]
    df = load_dataframe(run_folder=folder)
    assert df["x"].tolist() == [[1], [2]] and df["y"].tolist() == [{"a": 1}, {"a": 2}]
    assert df["r"].tolist() == ["first", "second"]
    pdf = load_dataframe(run_folder=folder, backend="polars")
    assert pdf["r"].to_list() == ["first", "second"]
    assert pdf["x"].to_list() == [[1], [2]]


def test_multidimensional_input_coordinate(make_run: Callable[..., Path]) -> None:
    x = np.arange(6).reshape(2, 3)
    folder = make_run(
        ["x[i, j] -> y[i, j]"], {"x": x}, {"y": ((2, 3), (True, True), {k: float(k) / 2 for k in range(6)})}
    )
    ds = load_xarray_dataset(run_folder=folder)
    assert ds["x"].dims == ("i", "j")
    assert ds["x"].values.tolist() == x.tolist()
    assert ds["y"].dtype == np.float64
    df = load_dataframe(run_folder=folder)
    assert df["x"].tolist() == list(range(6)) and df["y"].tolist() == [k / 2 for k in range(6)]


def test_generator_output_as_coordinate_and_load_intermediate(make_run: Callable[..., Path]) -> None:
    # `... -> n[k]` (a generator, stored as one value), `n[k] -> m[k]`
    folder = make_run(
        ["... -> n[k]", "n[k] -> m[k]"],
        {},
        {"n": [5, 6], "m": ((2,), (True,), {0: 50, 1: 60})},
        shapes={"n": (2,)},
    )
    ds = load_xarray_dataset(run_folder=folder)
    assert ds["n"].dims == ("k",) and "n" in ds.coords and "n" not in ds.data_vars
    assert ds["m"].values.tolist() == [50, 60]
    df = load_dataframe(run_folder=folder)
    assert df.to_dict("list") == {"n": [5, 6], "m": [50, 60]}
    ds2 = load_xarray_dataset(run_folder=folder, load_intermediate=False)
    assert "n" not in ds2.coords
    df2 = load_dataframe("m", run_folder=folder, load_intermediate=False)
    assert "n" not in df2.columns


def test_two_dimensional_single_output(make_run: Callable[..., Path]) -> None:
    arr = np.arange(6.0).reshape(2, 3)
    folder = make_run([], {"a": 1}, {"mat": arr})
    ds = load_xarray_dataset(run_folder=folder)
    cell = ds["mat"].item()
    assert isinstance(cell, DimensionlessArray)
    np.testing.assert_array_equal(cell.arr, arr)
    df = load_dataframe(run_folder=folder)
    assert len(df) == 1
    assert df["mat"].iloc[0].shape == (2, 3) and df["mat"].iloc[0].dtype == np.float64


class Indexable:
    def __init__(self) -> None:
        self.items = [1, 2, 3]

    def __getitem__(self, k: int) -> int:
        return self.items[k]

    def __len__(self) -> int:
        return 3


def test_indexable_single_output_is_one_cell() -> None:
    obj = Indexable()
    ds = xarray_dataset_from_data([], {}, {"obj": obj})
    assert ds["obj"].item() is obj
    df = dataframe_from_data([], {}, {"obj": obj})
    assert len(df) == 1 and df["obj"].iloc[0] is obj


def test_in_memory_builder_matches_disk(example_run: Path) -> None:
    from pipemap.io import load_all_outputs

    outputs = load_all_outputs(example_run)
    ds = xarray_dataset_from_data(
        ["x[i] -> y[i]", "y[i], w[j] -> z[i, j]", "z[:, j] -> s[j]"], {"x": [1, 2, 3], "w": [10, 20]}, outputs
    )
    xr.testing.assert_identical(ds, load_xarray_dataset(run_folder=example_run))


def test_plain_result_arrays_keep_none() -> None:
    # ResultDict outputs are plain object arrays whose uncomputed cells are None
    y = np.array([2, None, 6], dtype=object)
    ds = xarray_dataset_from_data(["x[i] -> y[i]"], {"x": [1, 2, 3]}, {"y": y})
    assert ds["y"].dtype == object and ds["y"].values.tolist() == [2, None, 6]
    masked = np.ma.MaskedArray(y, mask=[False, True, False])
    assert np.isnan(xarray_dataset_from_data(["x[i] -> y[i]"], {"x": [1, 2, 3]}, {"y": masked})["y"].values[1])


def test_unknown_backend(example_run: Path) -> None:
    with pytest.raises(ValueError, match="Unknown backend 'spark'"):
        load_dataframe(run_folder=example_run, backend="spark")  # type: ignore[arg-type]


@pytest.mark.parametrize("storage", ["shared_memory_dict", "zarr_memory", "zarr_shared_memory"])
def test_memory_storages_persisted(tmp_path: Path, write_run: Callable[..., Any], storage: str) -> None:
    reference = tmp_path / "ref"
    write_run(reference, "file_array", skip_y=[2])
    folder = tmp_path / "other"
    write_run(folder, storage, skip_y=[2])
    xr.testing.assert_identical(load_xarray_dataset(run_folder=folder), load_xarray_dataset(run_folder=reference))

"""load_xarray_dataset over several run folders of one pipeline (issue 14's merge helper)."""

from __future__ import annotations

import numpy as np
import pytest
from pipemap.io import RunFolderConflictError, load_xarray_dataset
from pipemap.runner import Pipeline, pipefunc


@pipefunc(output_name="z", mapspec="x[i], y[j] -> z[i, j]")
def multiply(x: float, y: float) -> float:
    return x * y


@pipefunc(output_name="row", mapspec="z[i, :] -> row[i]")
def row_sum(z: np.ndarray) -> float:
    return float(np.sum(z))


@pipefunc(output_name="col", mapspec="z[:, j] -> col[j]")
def col_sum(z: np.ndarray) -> float:
    return float(np.sum(z))


@pipefunc(output_name="pair", mapspec="a[k], b[k] -> pair[k]")
def add_pair(a: int, b: int) -> int:
    return a + b


GRID = Pipeline([multiply, row_sum])


def _run(pipeline, inputs, folder, storage="file_array"):
    pipeline.map(inputs, run_folder=folder, parallel=False, storage=storage)
    return folder


@pytest.mark.parametrize("storage", ["file_array", "chunked", "zarr_file_array"])
def test_a_grown_axis_spans_both_runs(tmp_path, storage):
    old = _run(GRID, {"x": [1.0, 2.0], "y": [10.0, 20.0]}, tmp_path / "old", storage)
    new = _run(GRID, {"x": [3.0, 4.0], "y": [10.0, 20.0]}, tmp_path / "new", storage)
    ds = load_xarray_dataset(run_folder=[old, new])
    assert ds.sizes["i"] == 4 and ds.sizes["j"] == 2
    assert ds["x"].values.tolist() == [1.0, 2.0, 3.0, 4.0]
    expected = np.outer([1.0, 2.0, 3.0, 4.0], [10.0, 20.0])
    np.testing.assert_array_equal(ds["z"].values, expected)
    np.testing.assert_array_equal(ds["row"].values, expected.sum(axis=1))


def test_refined_points_interleave_in_coordinate_order(tmp_path):
    coarse = _run(GRID, {"x": [0.0, 1.0, 2.0], "y": [1.0]}, tmp_path / "coarse")
    fine = _run(GRID, {"x": [0.5, 1.5], "y": [1.0]}, tmp_path / "fine")
    ds = load_xarray_dataset("z", run_folder=[coarse, fine])
    assert ds["x"].values.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert ds["z"].values[:, 0].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]


def test_overlapping_runs_agree_and_missing_cells_are_nan(tmp_path):
    left = _run(GRID, {"x": [1, 2], "y": [1, 2]}, tmp_path / "left")
    right = _run(GRID, {"x": [2, 3], "y": [2, 3]}, tmp_path / "right")
    ds = load_xarray_dataset("z", run_folder=[left, right])
    assert ds["x"].values.tolist() == [1, 2, 3] and ds["y"].values.tolist() == [1, 2, 3]
    z = ds["z"].values
    assert z.dtype == np.float64  # ints with holes become float with NaN, as for one folder
    assert z[0, 0] == 1 and z[1, 1] == 4 and z[2, 2] == 9
    assert np.isnan(z[0, 2]) and np.isnan(z[2, 0])


def test_a_reduction_over_the_grown_axis_is_refused_naming_output_and_folders(tmp_path):
    small = _run(GRID, {"x": [1.0], "y": [1.0, 2.0]}, tmp_path / "small")
    grown = _run(GRID, {"x": [1.0], "y": [1.0, 2.0, 3.0]}, tmp_path / "grown")
    with pytest.raises(RunFolderConflictError, match=r"Output `row` differs between run folders `.*small` and `.*grown` at i=0"):
        load_xarray_dataset(run_folder=[small, grown])
    ds = load_xarray_dataset("z", run_folder=[small, grown])  # the way on: leave the reduction out
    assert ds["z"].values.tolist() == [[1.0, 2.0, 3.0]]


def test_zipped_inputs_align_by_their_tuples(tmp_path):
    pipeline = Pipeline([add_pair])
    one = _run(pipeline, {"a": [1, 2], "b": [10, 20]}, tmp_path / "one")
    two = _run(pipeline, {"a": [2, 3], "b": [20, 30]}, tmp_path / "two")
    ds = load_xarray_dataset(run_folder=[one, two])
    assert ds["a:b"].values.tolist() == [(1, 10), (2, 20), (3, 30)]
    assert ds["pair"].values.tolist() == [11, 22, 33]
    assert ds["pair"].dtype == np.int64


def test_unsortable_labels_keep_first_seen_order(tmp_path):
    pipeline = Pipeline([multiply])
    one = _run(pipeline, {"x": ["b", "a"], "y": [1]}, tmp_path / "one")
    two = _run(pipeline, {"x": [3], "y": [1]}, tmp_path / "two")
    ds = load_xarray_dataset(run_folder=[one, two])
    assert ds["x"].values.tolist() == ["b", "a", 3]


def test_one_folder_in_a_list_is_that_folder(tmp_path):
    folder = _run(GRID, {"x": [2, 1], "y": [3]}, tmp_path / "run")
    assert load_xarray_dataset(run_folder=[folder]).identical(load_xarray_dataset(run_folder=folder))


def test_different_pipelines_are_refused(tmp_path):
    grid = _run(Pipeline([multiply, col_sum]), {"x": [1], "y": [1]}, tmp_path / "grid")
    other = _run(Pipeline([multiply, row_sum]), {"x": [1], "y": [2]}, tmp_path / "other")
    ds = load_xarray_dataset("z", run_folder=[grid, other])  # the shared output still combines
    assert ds["z"].values.tolist() == [[1, 2]]
    both = load_xarray_dataset(run_folder=[grid, other])
    assert set(both.data_vars) == {"z", "col", "row"}


def test_an_axis_without_coordinate_must_keep_its_length(tmp_path):
    @pipefunc(output_name="parts", mapspec="n[i] -> parts[i, j]")
    def split(n: int) -> list[int]:
        return list(range(n))

    pipeline = Pipeline([split])
    pipeline.map({"n": [2]}, run_folder=tmp_path / "two", parallel=False, internal_shapes={"parts": (2,)})
    pipeline.map({"n": [3]}, run_folder=tmp_path / "three", parallel=False, internal_shapes={"parts": (3,)})
    with pytest.raises(RunFolderConflictError, match=r"axis `j`: it has no input coordinate.*two.*: 2.*three.*: 3"):
        load_xarray_dataset(run_folder=[tmp_path / "two", tmp_path / "three"])


def test_errors_name_a_missing_folder_and_an_empty_list(tmp_path):
    folder = _run(GRID, {"x": [1], "y": [1]}, tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_xarray_dataset(run_folder=[folder, tmp_path / "nowhere"])
    with pytest.raises(ValueError, match="empty list"):
        load_xarray_dataset(run_folder=[])


def test_a_list_of_output_names_is_a_clear_type_error(tmp_path):
    folder = _run(GRID, {"x": [1], "y": [1]}, tmp_path / "run")
    with pytest.raises(TypeError, match=r"separate arguments .* got list \['z'\]"):
        load_xarray_dataset(["z"], run_folder=folder)

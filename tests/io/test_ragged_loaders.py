"""Loading ragged outputs (issue 16): masked arrays padded to the longest row, xarray with NaN and a
per-row length variable, DataFrames with one row per existing element, polars list columns;
also while the run is incomplete, and for every persisting storage."""

from __future__ import annotations

import numpy as np
import pytest
import pipemap.io as pio
from pipemap.runner import Pipeline, pipefunc, run_map

from tests.runner._ragged_pipeline import N, TEXT, pipeline, reference

LENGTHS = [len(t.split()) for t in TEXT]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("ragged")
    run_map(pipeline(), {"text": TEXT, "n": N}, run_folder=path, parallel=False)
    return path


def _rows(padded: np.ma.MaskedArray) -> list[list]:
    return [[v for v, m in zip(row, mask) if not m] for row, mask in zip(padded.data.tolist(), np.ma.getmaskarray(padded).tolist())]


@pytest.mark.parametrize("name", ["words", "upper", "tagged"])
def test_load_outputs_pads_to_the_longest_row_and_masks_the_rest(folder, name) -> None:
    arr = pio.load_outputs(name, run_folder=folder)
    assert isinstance(arr, np.ma.MaskedArray)
    assert arr.shape == (len(TEXT), max(LENGTHS))
    mask = np.ma.getmaskarray(arr)
    assert mask.tolist() == [[p >= n for p in range(max(LENGTHS))] for n in LENGTHS]
    want = reference(TEXT, N)
    flat = want["upper"] if name == "upper" else want["tagged"] if name == "tagged" else [w for r in want["words"] for w in r]
    rows, at = [], 0
    for n in LENGTHS:
        rows.append(flat[at : at + n])
        at += n
    assert _rows(arr) == rows


@pytest.mark.parametrize("storage", ["file_array", "chunked", "zarr_file_array"])
def test_every_persisting_storage(storage, tmp_path) -> None:
    from pipemap.storage import get_storage_class

    try:
        get_storage_class(storage)
    except (ValueError, ImportError) as e:
        pytest.skip(f"storage `{storage}` unavailable: {e}")
    run_map(pipeline(), {"text": TEXT, "n": N}, run_folder=tmp_path, storage=storage, parallel=False)
    assert _rows(pio.load_outputs("upper", run_folder=tmp_path)) == [[w.upper() for w in t.split()] for t in TEXT]
    assert _rows(pio.load_outputs("words", run_folder=tmp_path)) == [t.split() for t in TEXT]
    df = pio.load_dataframe("upper", run_folder=tmp_path)
    assert df["upper"].tolist() == reference(TEXT, N)["upper"]


def test_xarray_pads_with_nan_and_has_the_row_lengths(folder) -> None:
    ds = pio.load_xarray_dataset("upper", "count", run_folder=folder)
    assert ds["upper"].dims == ("i", "j")
    assert ds.sizes["j"] == max(LENGTHS)
    assert ds["upper_length"].values.tolist() == LENGTHS
    assert ds["upper_length"].dims == ("i",)
    values = ds["upper"].values
    assert all(isinstance(v, float) and np.isnan(v) for v in values[1].tolist())
    assert values[0, :2].tolist() == ["A", "BB"]


def test_xarray_numeric_ragged_output_is_float_with_nan(tmp_path) -> None:
    @pipefunc("w", mapspec="t[i] -> w[i, j*]")
    def make(t):
        return list(range(t))

    run_map(Pipeline([make]), {"t": [2, 0, 1]}, run_folder=tmp_path, parallel=False)
    ds = pio.load_xarray_dataset("w", run_folder=tmp_path)
    got = ds["w"].values
    assert np.isnan(got[1]).all() and got[0].tolist() == [0.0, 1.0] and got[2, 0] == 0.0
    assert ds["w_length"].values.tolist() == [2, 0, 1]


def test_dataframe_one_row_per_existing_element(folder) -> None:
    df = pio.load_dataframe("upper", "tagged", run_folder=folder)
    want = reference(TEXT, N)
    assert len(df) == sum(LENGTHS)
    assert df["upper"].tolist() == want["upper"]
    assert df["tagged"].tolist() == want["tagged"]
    assert df["text"].tolist() == [t for t, n in zip(TEXT, LENGTHS) for _ in range(n)]


def test_polars_elements_and_list_columns(folder) -> None:
    pytest.importorskip("polars")
    df = pio.load_dataframe("upper", run_folder=folder, backend="polars")
    assert df["upper"].to_list() == reference(TEXT, N)["upper"]
    lists = pio.load_dataframe("upper", "count", run_folder=folder, backend="polars", ragged="lists")
    assert lists.height == len(TEXT)
    assert str(lists["upper"].dtype).startswith("List")
    assert lists["upper"].to_list() == [[w.upper() for w in t.split()] for t in TEXT]
    assert lists["count"].to_list() == LENGTHS


def test_pandas_list_cells(folder) -> None:
    df = pio.load_dataframe("upper", run_folder=folder, ragged="lists")
    assert [list(v) for v in df["upper"]] == [[w.upper() for w in t.split()] for t in TEXT]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_incomplete_run_and_failed_rows(tmp_path) -> None:
    """A run stopped in its producer loads as masked rows; with error_handling="continue" a failed
    row has no elements (its consumer elements do not exist) and loads masked."""

    @pipefunc("w", mapspec="t[i] -> w[i, j*]")
    def make(t):
        if t == 3:
            raise RuntimeError("boom")
        return list(range(t))

    @pipefunc("v", mapspec="w[i, j*] -> v[i, j*]")
    def visit(w):
        return w + 1

    with pytest.raises(RuntimeError, match="boom"):
        run_map(Pipeline([make, visit]), {"t": [2, 3]}, run_folder=tmp_path / "a", parallel=False)
    for name in ("w", "v"):
        arr = pio.load_outputs(name, run_folder=tmp_path / "a")
        assert arr.shape[0] == 2 and np.ma.getmaskarray(arr).all()
    run_map(Pipeline([make, visit]), {"t": [2, 3, 1]}, run_folder=tmp_path / "b", parallel=False, error_handling="continue")
    assert _rows(pio.load_outputs("w", run_folder=tmp_path / "b", mask_errors=True)) == [[0, 1], [], [0]]
    assert _rows(pio.load_outputs("v", run_folder=tmp_path / "b")) == [[1, 2], [], [1]]
    assert pio.load_dataframe("v", run_folder=tmp_path / "b")["v"].tolist() == [1, 2, 1]


def test_empty_outer_axis(tmp_path) -> None:
    run_map(pipeline(), {"text": [], "n": []}, run_folder=tmp_path, parallel=False)
    assert pio.load_outputs("upper", run_folder=tmp_path).shape == (0, 0)
    assert len(pio.load_dataframe("upper", run_folder=tmp_path)) == 0


def test_integer_elements_stay_integers_in_frames(tmp_path) -> None:
    @pipefunc("w", mapspec="t[i] -> w[i, j*]")
    def make(t):
        return list(range(t))

    run_map(Pipeline([make]), {"t": [2, 0, 3]}, run_folder=tmp_path, parallel=False)
    df = pio.load_dataframe("w", run_folder=tmp_path)
    assert df["w"].dtype.kind == "i" and df["w"].tolist() == [0, 1, 0, 1, 2]
    assert df["t"].tolist() == [2, 2, 3, 3, 3]


def test_result_dict_to_xarray_and_dataframe() -> None:
    r = run_map(pipeline(), {"text": TEXT, "n": N}, parallel=False)
    ds = r.to_xarray()
    assert ds["upper_length"].values.tolist() == LENGTHS
    assert ds["upper"].values[0, :2].tolist() == ["A", "BB"]
    df = r.to_dataframe()
    assert len(df) == sum(LENGTHS)
    assert df["tagged"].tolist() == reference(TEXT, N)["tagged"]


def test_from_data_builders_pad_ragged_outputs() -> None:
    rows = np.empty(3, dtype=object)
    rows[:] = [[1, 2], [], [3]]
    specs = ["t[i] -> w[i, j*]", "w[i, j*] -> v[i, j*]"]
    outputs = {"w": rows, "v": np.array([20, 30, 40])}
    df = pio.dataframe_from_data(specs, {"t": [2, 0, 1]}, outputs)
    assert df[["t", "w", "v"]].to_dict("list") == {"t": [2, 2, 1], "w": [1, 2, 3], "v": [20, 30, 40]}
    ds = pio.xarray_dataset_from_data(specs, {"t": [2, 0, 1]}, outputs)
    assert ds["v_length"].values.tolist() == [2, 0, 1]
    assert np.isnan(ds["v"].values[1]).all() and ds["v"].values[0].tolist() == [20.0, 30.0]

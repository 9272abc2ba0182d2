"""Readers on a folder whose in-place grow stopped before the new run wrote its record: they read
the complete old run kept aside, without changing the folder (the next run_map repairs it)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from pipemap.io.cli import main
from pipemap.io import load_dataframe, load_outputs, load_xarray_dataset
from pipemap.runner import PipeFunc, Pipeline, run_map
from pipemap.storage import RunFolderError, begin_grow, grow_copies


def mul(x: float, y: float) -> float:
    return x * y


def pipeline() -> Pipeline:
    return Pipeline([PipeFunc(mul, "z", mapspec="x[i], y[j] -> z[i, j]")])


@pytest.fixture(params=["file_array", "chunked", "zarr_file_array"])
def stopped_grow(request, tmp_path):
    folder = tmp_path / "run"
    run_map(pipeline(), {"x": [1.0, 2.0], "y": [10.0, 20.0, 30.0]}, run_folder=folder, parallel=False, storage=request.param)
    begin_grow(folder)  # step 1 of a grow done, then the process died before the new record
    assert not (folder / "run_info.json").exists()
    return folder


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_loaders_read_the_old_run_kept_aside_and_change_nothing(stopped_grow):
    before = _listing(stopped_grow)
    expected = np.outer([1.0, 2.0], [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(np.asarray(load_outputs("z", run_folder=stopped_grow), dtype=float), expected)
    ds = load_xarray_dataset(run_folder=stopped_grow)
    np.testing.assert_array_equal(ds["z"].to_numpy().astype(float), expected)
    df = load_dataframe("z", run_folder=stopped_grow)
    assert sorted(df["z"].astype(float)) == sorted(expected.ravel())
    assert _listing(stopped_grow) == before  # a reader never repairs or moves anything
    assert len(grow_copies(stopped_grow)) == 1


def test_status_command_reads_the_old_run(stopped_grow, capsys):
    code = main(["status", str(stopped_grow), "--elements", "--json"])
    out = capsys.readouterr().out
    assert code in (0, 1), out
    assert '"z"' in out and "6" in out, out


def test_the_next_run_repairs_and_then_readers_see_the_folder_itself(stopped_grow):
    run_map(pipeline(), {"x": [1.0, 2.0], "y": [10.0, 20.0, 30.0]}, run_folder=stopped_grow, parallel=False, resume=True)
    assert (stopped_grow / "run_info.json").is_file() and not grow_copies(stopped_grow)
    np.testing.assert_array_equal(np.asarray(load_outputs("z", run_folder=stopped_grow), dtype=float), np.outer([1.0, 2.0], [10.0, 20.0, 30.0]))


def test_a_half_done_move_is_refused_with_a_clear_error(tmp_path):
    folder = tmp_path / "run"
    run_map(pipeline(), {"x": [1.0], "y": [2.0]}, run_folder=folder, parallel=False)
    moving = folder / ".pipemap.grow-moving-1"
    moving.mkdir()
    os.rename(folder / "run_info.json", moving / "run_info.json")  # killed inside step 1
    with pytest.raises(RunFolderError, match="has no `run_info.json`"):
        load_outputs("z", run_folder=folder)

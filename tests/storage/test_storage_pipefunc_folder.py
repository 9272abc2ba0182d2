"""A run folder written by pipefunc 0.93.2 (format version 0) opens with pipemap.storage alone."""

from __future__ import annotations

import warnings

import pytest

pipefunc = pytest.importorskip("pipefunc")

from pipemap.storage import FileArray, FileValue, open_run_folder


def double(x: int) -> int:
    return 2 * x


def add_sub(y: int, w: int) -> tuple[int, int]:
    return y + w, y - w


def total(z1) -> int:
    return int(sum(z1.ravel()))


def test_open_pipefunc_run_folder(tmp_path) -> None:
    f = pipefunc.pipefunc(output_name="y", mapspec="x[i] -> y[i]")(double)
    g = pipefunc.pipefunc(output_name=("z1", "z2"), mapspec="y[i], w[j] -> z1[i, j], z2[i, j]")(add_sub)
    h = pipefunc.pipefunc(output_name="s")(total)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipefunc.Pipeline([f, g, h]).map(
            {"x": [1, 2, 3], "w": [10, 20]}, run_folder=tmp_path, parallel=False,
            storage={("z1", "z2"): "file_array", "": "file_array"},
        )  # fmt: skip
    record, stores = open_run_folder(tmp_path)
    assert record.pipemap_version == pipefunc.__version__  # version-0 folder: pipefunc_version
    assert record.storage == {("z1", "z2"): "file_array", "": "file_array"}
    assert record.inputs == {"x": [1, 2, 3], "w": [10, 20]}
    assert isinstance(stores["y"], FileArray) and stores["y"].to_array().tolist() == [2, 4, 6]
    assert stores["z2"].to_array().tolist() == [[-8, -18], [-6, -16], [-4, -14]]
    assert isinstance(stores["s"], FileValue) and stores["s"].load() == 114


def test_pipefunc_zarr_store_is_readable_and_writable(tmp_path) -> None:
    pytest.importorskip("zarr")
    from pipefunc.map import ZarrFileArray as PFZarr
    from pipemap.storage import ZarrFileArray

    theirs = PFZarr(tmp_path, (3,), (2,), (True, False))
    theirs.dump((0,), ["a", {"b": 1}])
    theirs.dump((2,), [1.5, None])
    ours = ZarrFileArray(tmp_path, (3,), (2,), (True, False))
    assert ours.done_mask().tolist() == [True, False, True]
    assert ours.to_array().tolist() == theirs.to_array().tolist()
    ours.dump((1,), [7, 8])  # written in pipefunc's layout, so pipefunc reads it too
    again = PFZarr(tmp_path, (3,), (2,), (True, False))
    assert again.to_array().tolist() == [["a", {"b": 1}], [7, 8], [1.5, None]]

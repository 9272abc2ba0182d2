"""``error_handling="continue"`` with internal axes: a failed element (an ``ErrorSnapshot`` where
an array of the internal shape was expected) fills every internal cell of its element, so a
reduction over the output propagates the error instead of crashing with ``IndexError``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipemap.io import load_outputs
from pipemap.runner import PipeFunc, Pipeline, run_map
from pipemap.storage import ErrorSnapshot, PropagatedErrorSnapshot


def _spread(x: int) -> list[int]:
    if x == 1:
        raise ValueError("boom")
    return [x, x + 1, x + 2]


def _total(y) -> int:
    return int(sum(y))


PIPELINE = Pipeline(
    [
        PipeFunc(_spread, "y", mapspec="x[i] -> y[i, j]", internal_shape=3),
        PipeFunc(_total, "r", mapspec="y[i, :] -> r[i]"),
    ]
)


@pytest.mark.parametrize("storage", ["dict", "file_array", "chunked", "zarr_file_array"])
def test_reduction_over_a_failed_element_with_internal_axes(tmp_path: Path, storage: str) -> None:
    if storage.startswith("zarr"):
        pytest.importorskip("zarr")
    folder = tmp_path / "run"
    result = run_map(PIPELINE, {"x": [0, 1, 2]}, run_folder=folder, storage=storage, error_handling="continue",
                     parallel=False, show_progress=False)  # fmt: skip
    r = result["r"].output
    assert r[0] == 3 and r[2] == 9
    assert isinstance(r[1], PropagatedErrorSnapshot)
    assert all(isinstance(cell, ErrorSnapshot) for cell in result["y"].output[1])
    y = load_outputs("y", run_folder=folder)
    assert y.shape == (3, 3)
    assert list(y[0]) == [0, 1, 2] and list(y[2]) == [2, 3, 4]
    # the failed element: masked (element-file backends) or its snapshot in each cell (zarr)
    assert all(bool(y.mask[1, j]) or isinstance(y.data[1, j], ErrorSnapshot) for j in range(3))

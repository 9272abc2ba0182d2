"""Awkward return values: stored and loaded faithfully by every backend, or refused clearly."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
from pipemap.runner import PipeFunc, Pipeline, run_map
from pipemap.storage import open_run_folder

pytestmark = pytest.mark.reliability

BACKENDS = ["file_array", "chunked", "zarr_file_array", "dict"]


def _values() -> list:
    return [
        float("nan"),
        None,
        np.float32(1.5),
        np.int64(-7),
        np.bool_(True),
        np.array(3.25),  # 0-d array
        np.array([1.0, np.nan, np.inf]),
        [[1, 2], [3], []],  # ragged
        {"nested": [None, float("nan"), (1, "a")]},
        "",
        (),
        np.ma.masked_array([1, 2], mask=[False, True]),
    ]


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ma.MaskedArray):
        return bool(np.array_equal(a.mask, b.mask) and np.array_equal(a.filled(0), b.filled(0)))
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=True))
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and (a == b or (np.isnan(a) and np.isnan(b)))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _pick(i: int):
    return _values()[i]


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("storage", BACKENDS)
def test_awkward_values_round_trip(tmp_path: Path, storage: str, parallel: bool) -> None:
    n = len(_values())
    p = Pipeline([PipeFunc(_pick, "y", mapspec="i[k] -> y[k]"), PipeFunc(lambda y: list(y), "all_y")])
    r = run_map(p, {"i": list(range(n))}, run_folder=tmp_path, storage=storage, parallel=parallel)
    expected = _values()
    returned = r["y"].output
    for k in range(n):
        assert _same(expected[k], returned[k]), (k, expected[k], returned[k])
    _, stores = open_run_folder(tmp_path)
    assert stores["y"].done_mask().all(), "None/NaN/empty values must count as stored, not missing"
    loaded = stores["y"].get_many(range(n))
    for k in range(n):
        assert _same(expected[k], loaded[k]), (storage, k, expected[k], loaded[k])
    import pipemap.io as pio

    via_io = pio.load_outputs("y", run_folder=tmp_path)
    for k in range(n):
        assert not np.ma.getmaskarray(via_io)[k], f"element {k} ({expected[k]!r}) loads as missing"
        assert _same(expected[k], via_io.data[k]), (k, via_io.data[k])


@pytest.mark.parametrize("storage", ["file_array", "chunked", "zarr_file_array"])
def test_huge_element_round_trips(tmp_path: Path, storage: str) -> None:
    def big(x: int) -> np.ndarray:
        return np.full(50 * 2**20 // 8, float(x))  # 50 MB

    p = Pipeline([PipeFunc(big, "y", mapspec="x[i] -> y[i]")])
    run_map(p, {"x": [1, 2]}, run_folder=tmp_path, storage=storage, parallel=False, return_results=False)
    _, stores = open_run_folder(tmp_path)
    a, b = stores["y"].get_many([0, 1])
    assert a.nbytes == 50 * 2**20 and float(a[-1]) == 1.0 and float(b[0]) == 2.0


class Unpicklable:
    def __init__(self) -> None:
        self.lock = threading.Lock()


@pytest.mark.parametrize("storage", ["file_array", "chunked", "zarr_file_array"])
def test_unpicklable_value_is_refused_clearly(tmp_path: Path, storage: str) -> None:
    def make(x: int):
        return Unpicklable() if x == 2 else x

    p = Pipeline([PipeFunc(make, "y", mapspec="x[i] -> y[i]")])
    with pytest.raises(Exception) as info:  # noqa: PT011 - the type is pickle's; the message matters
        run_map(p, {"x": [0, 1, 2, 3]}, run_folder=tmp_path, storage=storage, parallel=False, chunksizes=1)
    assert isinstance(info.value, TypeError | ValueError | AttributeError), type(info.value)
    assert "pickle" in str(info.value).lower()


def test_unpicklable_value_in_memory_storage_is_kept(tmp_path: Path) -> None:
    p = Pipeline([PipeFunc(lambda x: Unpicklable() if x else x, "y", mapspec="x[i] -> y[i]")])
    r = run_map(p, {"x": [0, 1]}, storage="dict", parallel=False)
    assert isinstance(r["y"].output[1], Unpicklable)


def test_unpicklable_value_error_names_output_and_element(tmp_path: Path) -> None:
    def make(x: int):
        return Unpicklable() if x == 2 else x

    p = Pipeline([PipeFunc(make, "y", mapspec="x[i] -> y[i]")])
    with pytest.raises(TypeError) as info:
        run_map(p, {"x": [0, 1, 2, 3]}, run_folder=tmp_path, parallel=False)
    text = str(info.value) + " ".join(getattr(info.value, "__notes__", []))
    assert "`y`" in text and "make" in text and "2" in text

"""A bulk write that fails half-way (full disk, a path that cannot be written): the error names the
first element that was not stored, on every persisting backend, and the element-by-element retry
does not rewrite the elements the failed bulk write already stored.

Two real failures: a 1 MB tmpfs (skipped where ``mount`` is not permitted) and, everywhere, an
element's destination blocked by a directory (or, for ``chunked``, its chunk folder blocked by a
file) created by the function while the batch runs.
"""

from __future__ import annotations

import errno
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pipemap.runner import PipeFunc, Pipeline, run_map
from pipemap.storage import (
    ChunkedArray,
    CorruptElementWarning,
    FileArray,
    get_storage_class,
    open_run_folder,
    output_folder,
    register_storage,
    storage_registry,
)

pytestmark = pytest.mark.reliability

N = 40
#: every write batch a logged backend received: (storage id, linear indices)
WRITES: list[tuple[str, list[int]]] = []


def _logged(base: type, storage_id: str, **defaults: Any) -> type:
    """A real backend subclass that logs the indices of each bulk write, then writes them."""

    class Logged(base):  # type: ignore[valid-type, misc]
        def __init__(self, folder: Any, shape: Any, internal_shape: Any = None, shape_mask: Any = None, **kw: Any) -> None:
            for k, v in defaults.items():
                kw.setdefault(k, v)
            super().__init__(folder, shape, internal_shape, shape_mask, **kw)

        def _put_many(self, indices: np.ndarray, values: list[Any]) -> None:
            WRITES.append((storage_id, [int(i) for i in indices]))
            super()._put_many(indices, values)

    Logged.storage_id = storage_id
    Logged.__name__ = f"Logged{base.__name__}"
    return Logged


def _register() -> None:
    if "logged_file_array" in storage_registry:
        return
    register_storage(_logged(FileArray, "logged_file_array"), "logged_file_array")
    register_storage(_logged(ChunkedArray, "logged_chunked", chunk_size=4), "logged_chunked")
    register_storage(_logged(get_storage_class("zarr_file_array"), "logged_zarr_file_array"), "logged_zarr_file_array")


def _first_element_path(storage: str, index: int) -> tuple[str, bool]:
    """(path of ``index``'s destination relative to the output folder, is a chunk folder)."""
    with tempfile.TemporaryDirectory() as scratch:
        store = get_storage_class(storage)(scratch, (N,))
        if isinstance(store, ChunkedArray):
            return os.path.relpath(store._chunk_dir(index // store.chunk_size), scratch), True
        if isinstance(store, FileArray):
            return os.path.relpath(store._path(index), scratch), False
        return store._chunk_key((index,)), False


@pytest.mark.parametrize("storage", ["logged_file_array", "logged_chunked", "logged_zarr_file_array"])
def test_blocked_element_is_named_and_the_retry_skips_what_the_bulk_write_stored(tmp_path: Path, storage: str) -> None:
    _register()
    folder = tmp_path / "run"
    bad = 31
    rel, is_chunk_dir = _first_element_path(storage, bad)
    blocker = output_folder(folder, "y") / rel
    first_missing = bad - bad % 4 if is_chunk_dir else bad  # chunked: the whole chunk 28..31 fails

    def fill(x: int) -> int:
        if x == 0:  # while the batch runs: block the destination (a file where a folder must go, or vice versa)
            if is_chunk_dir:
                blocker.parent.mkdir(parents=True, exist_ok=True)
                blocker.write_bytes(b"not a folder")
            else:
                (blocker / "keep").mkdir(parents=True)
        return x * 10

    p = Pipeline([PipeFunc(fill, "y", mapspec="x[i] -> y[i]")])
    WRITES.clear()
    with pytest.raises(OSError) as info:
        run_map(p, {"x": list(range(N))}, run_folder=folder, storage=storage, parallel=False)
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert f"element(s) {first_missing} of `y` (function `fill`)" in notes, notes
    # the bulk write, then element by element from the first element it did not store
    batches = [w for s, w in WRITES if s == storage]
    assert batches[0] == list(range(N)), batches
    assert batches[1:] == [[first_missing]], batches
    if is_chunk_dir:
        blocker.unlink()
    else:
        (blocker / "keep").rmdir()
        blocker.rmdir()
    _, stores = open_run_folder(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptElementWarning)
        stored = np.flatnonzero(stores["y"].done_mask()).tolist()
        assert stored == list(range(first_missing)), stored
        assert stores["y"].get_many(stored) == [10 * i for i in stored]
    r = run_map(p, {"x": list(range(N))}, run_folder=folder, storage=storage, parallel=False, resume=True)
    assert r["y"].output.tolist() == [10 * i for i in range(N)]


@pytest.mark.parametrize("storage", ["file_array", "chunked", "logged_chunked", "zarr_file_array"])
def test_full_disk_names_the_first_element_not_stored(tiny_tmpfs: Path, storage: str) -> None:
    _register()

    def blob(x: int) -> bytes:
        return bytes([x % 256]) * 60_000

    p = Pipeline([PipeFunc(blob, "y", mapspec="x[i] -> y[i]")])
    folder = tiny_tmpfs / "run"
    with pytest.raises(OSError) as info:  # one batch of 40 x 60 kB on a 1 MB disk
        run_map(p, {"x": list(range(N))}, run_folder=folder, storage=storage, parallel=False)
    assert info.value.errno == errno.ENOSPC
    _, stores = open_run_folder(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptElementWarning)
        stored = np.flatnonzero(stores["y"].done_mask()).tolist()
        assert stored == list(range(len(stored))) and 0 < len(stored) < N, stored
        for i, v in zip(stored, stores["y"].get_many(stored)):
            assert v == blob(i)
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert f"element(s) {len(stored)} of `y` (function `blob`)" in notes, (notes, stored)

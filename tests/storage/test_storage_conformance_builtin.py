"""Run the conformance suite on the non-zarr built-in backends."""

from __future__ import annotations

from typing import Any, ClassVar

from pipemap.storage import ChunkedArray, DictArray, FileArray, SharedMemoryDictArray
from pipemap.storage.testing import StorageConformance


class TestFileArray(StorageConformance):
    storage_class = FileArray


class TestDictArray(StorageConformance):
    storage_class = DictArray


class TestSharedMemoryDictArray(StorageConformance):
    storage_class = SharedMemoryDictArray


class TestChunkedArray(StorageConformance):
    storage_class = ChunkedArray


class TestChunkedArraySmallChunks(StorageConformance):
    """Tiny chunks and an aggressive merge threshold exercise multi-chunk batches and merging."""

    storage_class = ChunkedArray
    extra_kwargs: ClassVar[dict[str, Any]] = {"chunk_size": 3, "max_packs": 2}


def test_from_data_on_every_disk_backend(tmp_path) -> None:
    import numpy as np
    from pipemap.storage import get_storage_class

    for storage_id in ("file_array", "chunked", "zarr_file_array", "dict"):
        cls = get_storage_class(storage_id)
        nested = cls.from_data([[1, "a"], [None, 2.5]], tmp_path / storage_id)
        assert nested.shape == (2, 2)
        assert nested.to_array().tolist() == [[1, "a"], [None, 2.5]]
        assert not nested.mask.any()
        from_array = cls.from_data(np.arange(3.0), tmp_path / f"{storage_id}-arr")
        assert type(from_array[1]) is np.float64
        assert cls.from_data(range(2), tmp_path / f"{storage_id}-r").get_many([1]) == [1]


def test_polars_frames_are_stored_as_parquet(tmp_path) -> None:
    pl = __import__("pytest").importorskip("polars")
    arr = FileArray(tmp_path, (2,))
    frame = pl.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    arr.dump((1,), frame)
    assert (tmp_path / "__1__.pickle").read_bytes()[:4] == b"PAR1"
    assert arr[1].equals(frame)
    assert arr.to_array()[1].equals(frame)


def test_zero_dimensional_shape(tmp_path) -> None:
    from pipemap.storage import get_storage_class

    for storage_id in ("file_array", "dict", "chunked", "zarr_file_array"):
        store = get_storage_class(storage_id)(tmp_path / storage_id, ())
        assert store.done_mask().tolist() == [False]
        store.dump((), "v")
        assert store[()] == "v" and store.size == 1 and store.get_many([0]) == ["v"]


def test_splatted_element_types_follow_pipefunc(tmp_path) -> None:
    """FileArray splats through numpy (numpy scalars), DictArray keeps Python objects (as pipefunc)."""
    import numpy as np

    for cls, expected in ((FileArray, np.int64), (ChunkedArray, np.int64), (DictArray, int)):
        store = cls(tmp_path / cls.__name__, (2,), (2,), (True, False))
        store.dump((0,), [1, 2])
        assert type(store.to_array()[0, 1]) is expected, cls
        assert type(store[0, 1]) is np.int64  # element access always goes through numpy

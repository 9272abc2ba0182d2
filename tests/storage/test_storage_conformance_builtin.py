"""Run the conformance suite on the non-zarr built-in backends."""

from __future__ import annotations

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
    extra_kwargs = {"chunk_size": 3, "max_packs": 2}


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

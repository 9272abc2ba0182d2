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

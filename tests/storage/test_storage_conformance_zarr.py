"""Conformance suite on the zarr backends, plus zarr-specific behaviour (docs/behaviour.md §3.2)."""

from __future__ import annotations

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")

import pipemap.storage as ps
from pipemap.storage import get_storage_class
from pipemap.storage._zarr import ZarrFileArray
from pipemap.storage._zarr_memory import ZarrMemoryArray, ZarrSharedMemoryArray
from pipemap.storage.testing import StorageConformance


class TestZarrFileArray(StorageConformance):
    storage_class = ZarrFileArray
    supports_unresolved_shape = False
    supports_unsplatted_internal = False


class TestZarrMemoryArray(StorageConformance):
    storage_class = ZarrMemoryArray
    supports_unresolved_shape = False
    supports_unsplatted_internal = False


class TestZarrSharedMemoryArray(StorageConformance):
    storage_class = ZarrSharedMemoryArray
    supports_unresolved_shape = False
    supports_unsplatted_internal = False


def test_registered_and_exported() -> None:
    assert get_storage_class("zarr_file_array") is ZarrFileArray
    assert ps.ZarrMemoryArray is ZarrMemoryArray
    assert "ZarrSharedMemoryArray" in ps.__all__


def test_store_is_readable_by_zarr_itself(tmp_path) -> None:
    arr = ZarrFileArray(tmp_path, (2, 2), (3,), (True, False, True))
    value = ["a", {"b": 1}, 3.5]
    arr.dump((1, 0), value)
    arr.persist()  # refreshes the mask summary
    raw = zarr.open_array(store=str(tmp_path), path="array", mode="r")
    cell = raw[1, 2, 0]
    assert arr.object_codec.decode(bytes(cell.item() if hasattr(cell, "item") else cell)) == 3.5
    mask = zarr.open_array(store=str(tmp_path), path="mask", mode="r")[...]
    assert mask.tolist() == [[True, True], [False, True]]


def test_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="Either a `store` or `folder` must be provided"):
        ZarrFileArray(None, (2,))
    with pytest.raises(ValueError, match="needs resolved shapes"):
        ZarrFileArray(tmp_path / "q", ("?",))
    ZarrFileArray(tmp_path / "s", (2,))
    with pytest.raises(ValueError, match="Existing array 'array' has unexpected shape"):
        ZarrFileArray(tmp_path / "s", (3,))
    arr = ZarrFileArray(tmp_path / "i", (2,), (3,), (True, False))
    with pytest.raises(ValueError, match="Value has incorrect internal_shape"):
        arr.dump((0,), [1, 2])
    with pytest.raises(NotImplementedError):
        arr.to_array(splat_internal=False)
    assert arr.get_from_index(1) is np.ma.masked
    with pytest.raises(ValueError, match="out of bounds"):
        arr.get_from_index(1_000_000)


def test_corrupt_chunk_reads_as_missing(tmp_path) -> None:
    arr = ZarrFileArray(tmp_path, (3,))
    arr.dump_many([0, 1, 2], ["a", "b", "c"])
    chunk = tmp_path / "array" / "c" / "1"
    chunk.write_bytes(chunk.read_bytes()[:-3])
    with pytest.warns(ps.CorruptElementWarning, match=str(chunk.relative_to(tmp_path)).replace("\\", "/")):
        out = arr.to_array()
    assert np.ma.getmaskarray(out).tolist() == [False, True, False]


def test_foreign_codecs_use_the_zarr_api(tmp_path) -> None:
    """Arrays created with other codecs (e.g. compressed, as pipefunc does) still work."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.create_array(store=str(tmp_path), name="array", shape=(2, 3), chunks=(1, 3),
                          dtype=zarr.dtype.VariableLengthBytes(), fill_value=b"")  # fmt: skip
        zarr.create_array(store=str(tmp_path), name="mask", shape=(2,), chunks=(1,), dtype=bool, fill_value=True)
    arr = ZarrFileArray(tmp_path, (2,), (3,), (True, False))
    assert not arr._fast
    arr.dump_many([1], [[1, "two", 3.0]])
    again = ZarrFileArray(tmp_path, (2,), (3,), (True, False))
    assert again.done_mask().tolist() == [False, True]
    assert again.to_array().tolist() == [[None, None, None], [1, "two", 3.0]]
    assert again[1, 1] == "two"


class JsonCodec:
    """A custom object codec: JSON text instead of cloudpickle."""

    def encode(self, value):
        import json

        return json.dumps(value).encode()

    def decode(self, data):
        import json

        return json.loads(bytes(data))


def test_custom_object_codec(tmp_path) -> None:
    arr = ZarrFileArray(tmp_path, (2,), object_codec=JsonCodec())
    arr.dump_many([0, 1], [{"a": [1, 2]}, "text"])
    assert (tmp_path / "array" / "c" / "1").read_bytes().endswith(b'"text"')  # JSON, not a pickle
    assert ZarrFileArray(tmp_path, (2,), object_codec=JsonCodec()).to_array().tolist() == [{"a": [1, 2]}, "text"]

"""Registry, entry points and per-output storage choice (docs/behaviour.md §3.3)."""

from __future__ import annotations

import numpy as np
import pytest
from pipemap.storage import (
    DictArray,
    FileArray,
    SharedMemoryDictArray,
    get_storage_class,
    register_storage,
    storage_class_for,
    storage_id_for,
    storage_registry,
)


def test_builtin_ids() -> None:
    assert get_storage_class("file_array") is FileArray
    assert get_storage_class("dict") is DictArray
    assert get_storage_class("shared_memory_dict") is SharedMemoryDictArray
    assert get_storage_class("chunked").storage_id == "chunked"
    assert list(storage_registry)[:4] == ["file_array", "dict", "shared_memory_dict", "chunked"]


def test_unknown_id_lists_installed() -> None:
    with pytest.raises(ValueError, match=r"Storage class `invalid` not found, only `file_array, dict, shared_memory_dict") as info:
        get_storage_class("invalid")
    assert "chunked" in str(info.value)


def test_register_replaces_and_validates() -> None:
    class Mine(DictArray):
        storage_id = "test_registry_mine"

    register_storage(Mine)
    assert storage_registry["test_registry_mine"] is Mine

    class Other(DictArray):
        storage_id = "x"

    register_storage(Other, "test_registry_mine")
    assert get_storage_class("test_registry_mine") is Other
    with pytest.raises(TypeError, match="StorageBase subclass"):
        register_storage(int)  # type: ignore[arg-type]


def test_per_output_choice() -> None:
    storage = {("y1", "y2"): "file_array", "": "shared_memory_dict"}
    assert storage_class_for(storage, "y1") is FileArray
    assert storage_class_for(storage, ("y1", "y2")) is FileArray
    assert storage_class_for(storage, "z") is SharedMemoryDictArray
    assert storage_class_for("dict", "anything") is DictArray
    assert storage_id_for({"y1": "dict", "": "file_array"}, ("y1", "y2")) == "dict"


def test_per_output_errors() -> None:
    with pytest.raises(ValueError, match=r"Cannot find storage class for `z`. Either add `storage\[z\] = \.\.\.` or use a default"):
        storage_class_for({("y1", "y2"): "file_array"}, "z")
    with pytest.raises(ValueError, match=r"Storage for `output_name=\('y1', 'y2'\)` is already set."):
        storage_id_for({"y1": "dict", "y2": "file_array"}, ("y1", "y2"))
    with pytest.raises(TypeError, match="must be a str or a dict"):
        storage_id_for(3, "y")  # type: ignore[arg-type]


def test_third_party_backend_runs(tmp_path) -> None:
    """A minimal custom backend only implements the three primitives and the capability."""
    from pipemap.storage import StorageBase
    from pipemap.storage._atomic import MISSING

    class ListStorage(StorageBase):
        storage_id = "test_list_storage"
        requires_serialization = False

        def __init__(self, folder, shape, internal_shape=None, shape_mask=None):
            super().__init__(folder, shape, internal_shape, shape_mask)
            self.items = {}

        def _get_linear(self, index):
            return self.items.get(index, MISSING)

        def _put_many(self, indices, values):
            self.items.update(zip(indices.tolist(), values))

        def done_mask(self):
            mask = np.zeros(self.size, dtype=bool)
            mask[list(self.items)] = True
            return mask

        @property
        def dump_in_subprocess(self):
            return False

    register_storage(ListStorage)
    store = storage_class_for({"": "test_list_storage"}, "y")(tmp_path, (2, 2))
    store.dump((1, 1), "x")
    assert store.to_array()[1, 1] == "x"


def test_without_zarr_the_classes_are_absent() -> None:
    """In an interpreter where zarr cannot be imported, the zarr names are absent and ids explain why."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        sys.modules["zarr"] = None  # makes `import zarr` fail
        import pipemap.storage as ps
        assert "ZarrFileArray" not in ps.__all__
        assert not hasattr(ps, "ZarrFileArray")
        assert "zarr_file_array" not in ps.storage_registry
        try:
            ps.get_storage_class("zarr_memory")
        except ValueError as e:
            print(e)
        store = ps.get_storage_class("file_array")
        print(store.__name__)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Storage class `zarr_memory` not found" in out
    assert "pipemap-storage[zarr]" in out
    assert "FileArray" in out

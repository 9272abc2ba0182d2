"""pipemap.storage: storage backends, their registry, error records and the run-folder format.

Every backend implements :class:`StorageBase` (the seed's members plus bulk ``dump_many``,
``get_many``, ``done_mask``, ``missing_indices``). Built-in ids: ``file_array``, ``dict``,
``shared_memory_dict``, ``chunked`` and, when ``zarr`` is installed, ``zarr_file_array``,
``zarr_memory``, ``zarr_shared_memory``. Writes to disk are atomic; corrupt elements read as
missing with a :class:`CorruptElementWarning`.

>>> import tempfile
>>> from pipemap.storage import get_storage_class
>>> arr = get_storage_class("file_array")(tempfile.mkdtemp(), (2, 2))
>>> arr.dump_many([0, 3], ["a", "d"])
>>> arr.to_array().tolist()
[['a', None], [None, 'd']]
"""

from __future__ import annotations

from typing import Any

from ._atomic import (
    MISSING,
    CorruptElementWarning,
    atomic_write_bytes,
    mark_stored,
    stored_before_failure,
    unpicklable_error,
    unpicklable_part,
)
from ._attempts import ATTEMPTS_DIR, AttemptRecord, clear_attempts, read_attempts, recorded_indices, write_attempts
from ._base import StorageBase
from ._clearing import clear_outputs, clear_run_folder, interrupted_clear, is_bookkeeping_name
from ._copy import copy_elements
from ._dict_array import DictArray
from ._element_keys import KEYS_DIR, keys_path, read_element_counts, read_keys, write_element_counts, write_keys
from ._grow import begin_grow, finish_grow, grow_copies, repair_grow
from ._file_array import FileArray
from ._lock import RunFolderLock, RunFolderLockedError, RunFolderLostError, RunOwnership
from ._registry import (
    get_storage_class,
    register_storage,
    storage_class_for,
    storage_id_for,
    storage_registry,
    zarr_available,
)
from ._pipefunc_abc import install as _install_pipefunc_abc
from ._run_files import PIPEMAP_INFO
from ._json_values import to_jsonable
from ._run_folder_info import FAILURES_FILE, RAISED_FILE, RunFolderInfo
from ._run_record import (
    FORMAT_VERSION,
    RunFolderError,
    RunRecord,
    mapped_outputs,
    output_folder,
)
from ._open_store import open_run_folder, open_store
from ._ragged_lengths import RAGGED_DIR, ragged_lengths_path, read_ragged_lengths, write_ragged_lengths
from ._shapes import leading_shape
from ._shared_memory import SharedMemoryDictArray
from ._snapshots import ErrorInfo, ErrorSnapshot, PropagatedErrorSnapshot
from ._values import DirectValue, FileValue

_install_pipefunc_abc()  # isinstance(store, pipefunc.map.StorageBase), without importing pipefunc

_LAZY = {
    "ChunkedArray": "pipemap.storage._chunked",
    "ZarrFileArray": "pipemap.storage._zarr",
    "ZarrMemoryArray": "pipemap.storage._zarr_memory",
    "ZarrSharedMemoryArray": "pipemap.storage._zarr_memory",
}
_ZARR_NAMES = ("ZarrFileArray", "ZarrMemoryArray", "ZarrSharedMemoryArray")

__all__ = [
    "ATTEMPTS_DIR",
    "FAILURES_FILE",
    "FORMAT_VERSION",
    "KEYS_DIR",
    "MISSING",
    "PIPEMAP_INFO",
    "RAGGED_DIR",
    "RAISED_FILE",
    "ChunkedArray",
    "AttemptRecord",
    "CorruptElementWarning",
    "DictArray",
    "DirectValue",
    "ErrorInfo",
    "ErrorSnapshot",
    "FileArray",
    "FileValue",
    "PropagatedErrorSnapshot",
    "RunFolderError",
    "RunFolderInfo",
    "RunFolderLock",
    "RunFolderLockedError",
    "RunFolderLostError",
    "RunOwnership",
    "RunRecord",
    "SharedMemoryDictArray",
    "StorageBase",
    "atomic_write_bytes",
    "begin_grow",
    "finish_grow",
    "grow_copies",
    "keys_path",
    "read_element_counts",
    "read_keys",
    "repair_grow",
    "write_element_counts",
    "write_keys",
    "clear_attempts",
    "clear_outputs",
    "clear_run_folder",
    "copy_elements",
    "get_storage_class",
    "interrupted_clear",
    "is_bookkeeping_name",
    "leading_shape",
    "mapped_outputs",
    "mark_stored",
    "open_run_folder",
    "open_store",
    "ragged_lengths_path",
    "read_attempts",
    "read_ragged_lengths",
    "recorded_indices",
    "output_folder",
    "register_storage",
    "storage_class_for",
    "storage_id_for",
    "storage_registry",
    "stored_before_failure",
    "to_jsonable",
    "unpicklable_error",
    "unpicklable_part",
    "write_attempts",
    "write_ragged_lengths",
    "zarr_available",
]
if zarr_available():
    __all__ += list(_ZARR_NAMES)


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None or (name in _ZARR_NAMES and not zarr_available()):
        msg = f"module 'pipemap.storage' has no attribute {name!r}"
        if name in _ZARR_NAMES:
            msg += " (zarr is not installed: `pip install 'pipemap-storage[zarr]'`)"
        raise AttributeError(msg)
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""A faster bulk read for ``file_array`` folders (one ``os.open``/``os.read`` per file).

Python's ``open()`` builds a buffered file object per call, which costs more than the read itself
for small element files; raw descriptors are ~2.5x faster. Only the seed's documented layout is
used (``folder / filename_template.format(linear index)``); anything unexpected (another backend,
a file that does not decode) goes back to the storage's own ``get_many``, so corrupt elements are
still reported by the storage (warning, masked).

>>> import tempfile
>>> from pipemap.storage import FileArray
>>> arr = FileArray(tempfile.mkdtemp(), (3,)); arr.dump_many([0, 2], ["a", "c"])
>>> get_many(arr, np.array([0, 2]))
['a', 'c']
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from pipemap.storage import StorageBase

try:  # the storage's element decoder (cloudpickle, or Parquet for polars frames)
    from pipemap.storage._atomic import deserialize as _deserialize
except ImportError:  # pragma: no cover - storage reorganised: use its get_many only
    _deserialize = None

__all__ = ["get_many"]

_PROBE = 987654321
_CHUNK = 1 << 16


def _read_file(name: str, dir_fd: int) -> bytes | None:
    try:
        fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    try:
        data = os.read(fd, _CHUNK)
        if len(data) == _CHUNK:
            parts = [data]
            while True:
                more = os.read(fd, 1 << 20)
                if not more:
                    break
                parts.append(more)
            data = b"".join(parts)
    finally:
        os.close(fd)
    return data


def get_many(store: StorageBase, indices: np.ndarray) -> list[Any]:
    """``store.get_many(indices)``, read directly from the files for ``file_array`` storage."""
    template = getattr(store, "filename_template", None)
    if _deserialize is None or store.storage_id != "file_array" or not isinstance(template, str):
        return store.get_many(indices)
    probe = template.format(_PROBE)
    prefix, found, suffix = probe.partition(str(_PROBE))
    if not found:
        return store.get_many(indices)
    decode = _deserialize
    out: list[Any] = []
    append = out.append
    masked = np.ma.masked
    dir_fd = os.open(store.folder, os.O_RDONLY)  # relative opens skip the path walk
    try:
        for index in indices.tolist():
            data = _read_file(prefix + str(index) + suffix, dir_fd)
            if data is None:
                append(masked)
                continue
            try:
                append(decode(data))
            except Exception:  # noqa: BLE001 - let the storage report the corrupt element
                append(store.get_many([index])[0])
    finally:
        os.close(dir_fd)
    return out

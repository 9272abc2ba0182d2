"""Copying stored elements from one storage into another (``reuse_from``), in bulk.

:func:`copy_elements` reads the elements ``old`` of ``source`` and stores them at ``new`` in
``target``, skipping absent, unreadable (damaged) elements and values of the ``reject`` types
(error snapshots). Between two ``file_array`` folders on one file system the element files are
*hard-linked* (each element file is written once and only ever replaced by a rename, never
changed in place, so sharing its inode is safe), after reading each one to check it decodes:
no value is pickled again. ``move=True`` (the source is a copy about to be deleted: an in-place
grow) renames the files instead, one system call each. Other storages go through ``get_many``
and ``dump_many``.

>>> import tempfile
>>> import numpy as np
>>> from pipemap.storage import FileArray
>>> old = FileArray(tempfile.mkdtemp(), (3,)); old.dump_many([0, 2], ["a", "c"])
>>> new = FileArray(tempfile.mkdtemp(), (4,))
>>> copy_elements(new, old, np.array([1, 2, 3]), np.array([0, 1, 2]), ()).tolist()
[1, 3]
>>> new.to_array().tolist()
[None, 'a', None, 'c']
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._atomic import MISSING, _TMP_MARK, _counter, deserialize, read_files
from ._base import StorageBase
from ._file_array import FileArray

__all__ = ["copy_elements"]

_BATCH = 50_000
_SNAPSHOT_MARK = b"ErrorSnapshot"  # in the pickle of ErrorSnapshot and PropagatedErrorSnapshot


def _usable(value: Any, reject: tuple[type, ...]) -> bool:
    return value is not MISSING and value is not np.ma.masked and not (reject and isinstance(value, reject))


def copy_elements(
    target: StorageBase,
    source: StorageBase,
    new: np.ndarray,
    old: np.ndarray,
    reject: tuple[type, ...],
    *,
    move: bool = False,
) -> np.ndarray:
    """Store ``source[old[k]]`` at ``target[new[k]]``; return the ``new`` indices actually stored.

    Absent, damaged and rejected elements of ``source`` are skipped (see the module docstring).

    Parameters
    ----------
    target : StorageBase
        The storage that receives the elements.
    source : StorageBase
        The storage the elements come from.
    new : numpy.ndarray
        Linear indices into ``target``, one per element.
    old : numpy.ndarray
        Linear indices into ``source``, as many as ``new``.
    reject : tuple of type
        Value types that are not copied (e.g. ``(ErrorSnapshot,)``); ``()``: none.
    move : bool, default False
        ``source`` is about to be deleted: element files may be renamed into ``target`` instead
        of linked, so ``source`` may lose the elements it gave.

    Returns
    -------
    numpy.ndarray
        The ``new`` indices that were stored (int64).

    Examples
    --------
    >>> import tempfile
    >>> source = FileArray(tempfile.mkdtemp(), (2,)); source.dump_many([0, 1], [10, 11])
    >>> target = FileArray(tempfile.mkdtemp(), (2,))
    >>> copy_elements(target, source, np.array([1, 0]), np.array([0, 1]), (), move=True).tolist()
    [1, 0]
    >>> target.to_array().tolist(), source.to_array().tolist()
    ([11, 10], [None, None])
    """
    new = np.asarray(new, dtype=np.int64)
    old = np.asarray(old, dtype=np.int64)
    stored = []
    for start in range(0, len(new), _BATCH):
        part_new, part_old = new[start : start + _BATCH], old[start : start + _BATCH]
        if type(target) is FileArray and type(source) is FileArray and not target.read_only:
            stored.append(_link_files(target, source, part_new, part_old, reject, move))
        else:
            stored.append(_copy_values(target, source, part_new, part_old, reject))
    return np.concatenate(stored) if stored else np.empty(0, dtype=np.int64)


def _usable_positions(values: list[Any], reject: tuple[type, ...]) -> list[int] | None:
    """Positions of the usable values (None: all of them), deciding per value type, not per value."""
    unusable = {
        t for t in set(map(type, values))
        if t is type(MISSING) or t is type(np.ma.masked) or (reject and issubclass(t, reject))
    }
    if not unusable:
        return None
    return [k for k, v in enumerate(values) if type(v) not in unusable]


def _copy_values(target: StorageBase, source: StorageBase, new: np.ndarray, old: np.ndarray, reject: tuple[type, ...]) -> np.ndarray:
    values = source.get_many(old)
    good = _usable_positions(values, reject)
    if good is None:
        lin, vals = new, values
    elif not good:
        return np.empty(0, dtype=np.int64)
    else:
        lin = new[good]
        vals = [values[k] for k in good]
    if target.internal_shape:
        target._put_many(target._check_linear(lin), vals)
    else:
        target.dump_many(lin, vals)
    return lin


def _link_files(
    target: FileArray, source: FileArray, new: np.ndarray, old: np.ndarray, reject: tuple[type, ...], move: bool
) -> np.ndarray:
    names = [f"{source._prefix}{i}{source._suffix}" for i in old.tolist()]
    raw = read_files(str(source.folder), names)
    keep = []
    for k, data in enumerate(raw):
        if data is None:
            continue
        try:
            value = deserialize(data)  # a damaged file is not served
        except Exception:  # noqa: BLE001
            continue
        if _SNAPSHOT_MARK in data and not _usable(value, reject):
            continue
        keep.append(k)
    if not keep:
        return np.empty(0, dtype=np.int64)
    if target._shape_synced != (target.shape, target.internal_shape):
        target._sync_shape_record(write=True)
    src_dir = str(source.folder) + os.sep
    dst_dir = str(target.folder) + os.sep
    mark = f"{_TMP_MARK}{os.getpid()}-"
    done = []
    for k in keep:
        name = f"{target._prefix}{int(new[k])}{target._suffix}"
        if move:
            try:
                os.rename(src_dir + names[k], dst_dir + name)
                done.append(k)
                continue
            except OSError:
                pass  # (another file system: link or write below)
        tmp = f"{dst_dir}.{name}{mark}{next(_counter)}"
        try:
            os.link(src_dir + names[k], tmp)
        except OSError:  # another file system, or links not allowed: write the bytes
            with open(tmp, "xb") as fh:
                fh.write(raw[k])  # type: ignore[arg-type]
        os.replace(tmp, dst_dir + name)
        done.append(k)
    return new[done]

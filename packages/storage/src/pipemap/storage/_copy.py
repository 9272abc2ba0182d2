"""Copying stored elements from one storage into another (``reuse_from``), in bulk.

:func:`copy_elements` reads the elements ``old`` of ``source`` and stores them at ``new`` in
``target``, skipping absent, unreadable (damaged) elements and values of the ``reject`` types
(error snapshots). Between two ``file_array`` folders on one file system the element files are
*hard-linked* (each element file is written once and only ever replaced by a rename, never
changed in place, so sharing its inode is safe), after reading each one to check it decodes:
no value is pickled again. ``move=True`` (the source is a copy about to be deleted: an in-place
grow) renames the files instead, one system call each, or, given ``forget`` (how to drop the
source's keys) and when most elements keep their index, renames the whole element folder
(:func:`~pipemap.storage._grow_swap.swap_in`). Between two ``chunked`` storages, every chunk
whose stored elements are all reused at their own index gets the source's packs hard-linked
(:func:`~pipemap.storage._copy_packs.link_chunks`). Other elements and storages go through
``get_many`` and ``dump_many``.

What is never copied: absent elements, error snapshots (values of the ``reject`` types: every
file holding the class-name mark ``ErrorSnapshot`` is decoded and checked) and damaged files.
From another folder every file is decoded (the value must load here). The files of the folder's
own old run (``move=True``) are the files ``resume=True`` would serve unchecked, written
atomically by pipemap; they are checked without unpickling: a pickle of one frame (every value
under 64 KiB) must start with the protocol header and a frame length equal to the file size and
end with the STOP opcode, which a truncated, torn or overwritten file fails; any other file
(several frames, Parquet) is decoded.

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
from collections.abc import Callable
from typing import Any

import numpy as np

from ._atomic import MISSING, _TMP_MARK, _counter, deserialize, read_files
from ._base import StorageBase
from ._file_array import FileArray
from ._chunked import ChunkedArray
from ._copy_packs import _SNAPSHOT_MARK, _framed, link_chunks
from ._grow_swap import swap_in

__all__ = ["copy_elements"]

_BATCH = 50_000


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
    forget: Callable[[np.ndarray], None] | None = None,
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
        of linked, so ``source`` may lose the elements it gave; its files are checked without
        unpickling (see the module docstring).
    forget : callable, optional
        With ``move=True``: drops the source's keys at the given source indices (the folder swap
        of an in-place grow calls it before files change index; see ``_grow_swap``). Without it
        the files are moved one by one.

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
    if move and forget is not None and type(target) is FileArray and type(source) is FileArray:
        swapped = swap_in(target, source, new, old, lambda raw: _intact_positions(raw, reject, quick=True), forget)
        if swapped is not None:
            return swapped
    stored = []
    if type(target) is ChunkedArray and type(source) is ChunkedArray:
        linked = link_chunks(target, source, new, old, move=move)
        if len(linked):
            stored.append(linked)
            taken = np.zeros(max(int(linked.max()), int(new.max())) + 1, dtype=bool)
            taken[linked] = True
            rest = ~taken[new]
            new, old = new[rest], old[rest]
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


def _intact_positions(raw: list[bytes | None], reject: tuple[type, ...], *, quick: bool) -> list[int]:
    """Positions of the files that may be copied: present, intact, not an error snapshot.

    ``quick``: a one-frame pickle that is whole (:func:`_framed`) is taken without unpickling.

    >>> import pickle
    >>> good, torn = pickle.dumps(1.5, protocol=5), pickle.dumps(2.5, protocol=5)[:-3]
    >>> _intact_positions([good, None, torn, b"\\x80garbage"], (), quick=True)
    [0]
    """
    keep = []
    for k, data in enumerate(raw):
        if data is None:
            continue
        if not (quick and _framed(data)) or _SNAPSHOT_MARK in data:
            try:
                value = deserialize(data)  # a damaged file is not served
            except Exception:  # noqa: BLE001
                continue
            if _SNAPSHOT_MARK in data and not _usable(value, reject):
                continue
        keep.append(k)
    return keep


def _link_files(
    target: FileArray, source: FileArray, new: np.ndarray, old: np.ndarray, reject: tuple[type, ...], move: bool
) -> np.ndarray:
    names = [f"{source._prefix}{i}{source._suffix}" for i in old.tolist()]
    raw = read_files(str(source.folder), names)
    keep = _intact_positions(raw, reject, quick=move)
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

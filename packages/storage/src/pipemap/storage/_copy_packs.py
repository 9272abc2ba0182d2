"""Reusing whole ``chunked`` packs: a chunk whose every stored element is reused at its own index.

``copy_elements`` between two ``chunked`` storages (``reuse_from``, in place or from another
folder) would otherwise unpickle and pickle again every value. :func:`link_chunks` first takes
every chunk of the source that qualifies as a whole: all of its files are packs (no element log),
every index they hold is reused at the same linear index, the target's chunk is empty and the
chunk sizes agree. Its packs are then *hard-linked* into the target's chunk folder under their
own names (packs are immutable: replaced by new files, never changed in place), newest first, so
an interruption leaves a newest-files suffix, which reads the same as all of them for every index
it holds (later files win); from the folder's own old run (``move=True``) the chunk's folder is
renamed instead, one step. Before that, every pack is checked like an element file of the
folder's own run (``_copy``): its header and size agree (``read_indices``), each segment is a
whole one-frame pickle or else unpickles, and a segment holding the ``ErrorSnapshot`` mark sends
the chunk to the element-wise path (which drops the snapshots). Elements of other chunks are
left to the caller.

>>> import tempfile
>>> import numpy as np
>>> from pipemap.storage import ChunkedArray
>>> old = ChunkedArray(tempfile.mkdtemp(), (8,), chunk_size=4); old.dump_many(range(8), list("abcdefgh"))
>>> new = ChunkedArray(tempfile.mkdtemp(), (8,), chunk_size=4)
>>> link_chunks(new, old, np.arange(6), np.arange(6)).tolist()  # chunk 1 holds 6, 7: not all reused
[0, 1, 2, 3]
>>> new.get_many(range(5))
['a', 'b', 'c', 'd', masked]
"""

from __future__ import annotations

import os
import pickle

import numpy as np

from ._atomic import _TMP_MARK, _counter
from ._chunkcompact import PACK_SUFFIX
from ._chunked import ChunkedArray
from ._packfile import PackError, _split

__all__ = ["link_chunks"]

_SNAPSHOT_MARK = b"ErrorSnapshot"  # in the pickle of ErrorSnapshot and PropagatedErrorSnapshot


def link_chunks(target: ChunkedArray, source: ChunkedArray, new: np.ndarray, old: np.ndarray, *, move: bool = False) -> np.ndarray:
    """Link the source's qualifying chunks into ``target`` (see the module docstring).

    Parameters
    ----------
    target, source : ChunkedArray
        The storage receiving the elements and the one they come from.
    new, old : numpy.ndarray
        Linear indices, one pair per element to reuse (``source[old[k]]`` -> ``target[new[k]]``).
    move : bool, default False
        ``source`` is a copy about to be deleted (an in-place grow): a qualifying chunk's folder
        is renamed into ``target`` in one step instead (the copy then lacks that chunk: it
        offers fewer elements, never a wrong one).

    Returns
    -------
    numpy.ndarray
        The linear indices now stored in ``target`` from linked packs (int64, sorted); the
        pairs of other indices are left to the caller.

    Examples
    --------
    >>> import tempfile
    >>> old = ChunkedArray(tempfile.mkdtemp(), (4,), chunk_size=2); old.dump_many(range(4), [1, 2, 3, 4])
    >>> new = ChunkedArray(tempfile.mkdtemp(), (4,), chunk_size=2)
    >>> link_chunks(new, old, np.array([0, 1, 3, 2]), np.array([0, 1, 2, 3])).tolist()  # chunk 1 swaps
    [0, 1]
    """
    empty = np.empty(0, dtype=np.int64)
    if type(target) is not ChunkedArray or type(source) is not ChunkedArray or target.read_only:
        return empty
    if target.chunk_size != source.chunk_size or target.internal_shape or source.internal_shape:
        return empty
    new = np.asarray(new, dtype=np.int64)
    old = np.asarray(old, dtype=np.int64)
    same = old[new == old]
    if not len(same):
        return empty
    reused = np.zeros(max(source.size, int(same.max()) + 1), dtype=bool)
    reused[same] = True
    size = len(reused)
    stored = np.zeros(size, dtype=bool)
    synced = False
    for chunk in np.unique(same // source.chunk_size).tolist():
        names = source._list_packs(chunk)
        if not names or any(not n.endswith(PACK_SUFFIX) for n in names) or target._list_packs(chunk):
            continue
        src_dir = source._chunk_dir(chunk)
        tables = _checked_tables(src_dir + os.sep, names)
        if not tables:
            continue
        indices = np.concatenate(tables)
        if indices.max() >= size or indices.min() < 0 or not reused[indices].all():
            continue
        if not synced:
            target._sync_shape_record(write=True)
            synced = True
        dst_dir = target._chunk_dir(chunk)
        if not (move and _move_dir(src_dir, dst_dir)):
            os.makedirs(dst_dir, exist_ok=True)
            for name in reversed(names):  # newest first: any prefix of the work reads right
                _link(src_dir + os.sep + name, dst_dir + os.sep, name)
        stored[indices] = True
    return np.flatnonzero(stored)


def _move_dir(src: str, dst: str) -> bool:
    """Rename the source's chunk folder onto the target's (missing or empty); False if not possible."""
    try:
        os.rename(src, dst)
    except OSError:
        return False
    return True


def _checked_tables(directory: str, names: list[str]) -> list[np.ndarray] | None:
    """The index tables of the packs, or None if one is damaged or holds an error snapshot."""
    tables = []
    for name in names:
        try:
            with open(directory + name, "rb") as handle:
                blob = handle.read()
            indices, segments = _split(memoryview(blob))
        except (OSError, PackError):
            return None
        for _count, _kind, payload in segments:
            if _SNAPSHOT_MARK in payload:
                return None
            if not _framed(payload):
                try:
                    pickle.loads(payload)
                except Exception:  # noqa: BLE001 - a damaged segment: the chunk is not linked
                    return None
        tables.append(np.asarray(indices, dtype=np.int64))
    return tables


def _framed(data: bytes) -> bool:
    """A pickle of one frame, whole: protocol header, FRAME length = the rest, STOP at the end."""
    n = len(data)
    return n > 11 and data[0] == 0x80 and data[2] == 0x95 and data[-1] == 0x2E and int.from_bytes(data[3:11], "little") + 11 == n


def _link(src: str, dst_dir: str, name: str) -> None:
    tmp = f"{dst_dir}.{name}{_TMP_MARK}{os.getpid()}-{next(_counter)}"
    try:
        os.link(src, tmp)
    except OSError:  # another file system, or links not allowed: copy the bytes
        with open(src, "rb") as fh:
            data = fh.read()
        with open(tmp, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    os.replace(tmp, dst_dir + name)

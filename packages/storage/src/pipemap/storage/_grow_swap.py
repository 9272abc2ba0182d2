"""An in-place grow of a ``file_array`` output: the old element folder becomes the new one in one rename.

Growing a run in place (``_grow.py``) keeps the old run aside in ``.pipemap.grow-old-<n>/``. Its
element files are named by linear index, and growing the *first* axis (or appending elements)
keeps most of those indices, so instead of one rename per element :func:`swap_in` prepares the
old copy's folder ``S`` of an output and then replaces the new run's (still empty) folder ``T``
by it:

1. the files of ``S`` that are not reused (no matching key, damaged, error snapshots) and
   anything else in it (its shape record, temporary files) are deleted;
2. if some reused elements change index, the old copy's keys first get "no key" ``(0, 0)`` at
   every index whose file is about to change (``forget``), then those files are renamed, through
   temporary ``.pipemap-swap-<n>`` names where a target name is still taken (cycles);
3. ``T``'s shape record is deleted (``T`` is then empty) and ``S`` is renamed onto ``T``, which
   then gets the new run's shape record.

A crash at any instant leaves a resumable new run that serves no wrong value: the new run's
record and keys are on disk before step 1; until step 3 ``T`` is empty and ``S`` holds, at every
index the old copy's keys still name, the element of that key (step 1 only deletes, step 2 drops
the keys before it moves anything), so a resume takes from it only matching elements; after
step 3 ``T`` holds exactly the reused elements at their new indices, and the old copy has no
folder for the output left (it offers nothing more).

The swap applies when both storages are plain ``FileArray`` with one file-name template on one
file system, ``T`` holds no element yet and at least half of the reused elements keep their
index; otherwise :func:`swap_in` returns None before changing anything and the caller moves the
files one by one.

>>> import tempfile
>>> import numpy as np
>>> from pipemap.storage import FileArray
>>> old = FileArray(tempfile.mkdtemp() + "/z", (3,)); old.dump_many([0, 1, 2], ["a", "b", "c"])
>>> new = FileArray(tempfile.mkdtemp() + "/z", (5,))
>>> keep = lambda raw: [k for k, data in enumerate(raw) if data is not None]
>>> swap_in(new, old, np.array([0, 1]), np.array([0, 1]), keep, lambda idx: None).tolist()
[0, 1]
>>> new.to_array().tolist(), old.folder.exists()
(['a', 'b', None, None, None], False)
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ._atomic import read_files
from ._clearing import _fsync_dir
from ._file_array import FileArray, indices_in_names
from ._shape_record import SHAPE_RECORD

__all__ = ["swap_in"]

_SWAP_MARK = ".pipemap-swap-"
_BATCH = 10_000


def swap_in(
    target: FileArray,
    source: FileArray,
    new: np.ndarray,
    old: np.ndarray,
    usable: Callable[[list[bytes | None]], list[int]],
    forget: Callable[[np.ndarray], None],
) -> np.ndarray | None:
    """Move the reusable elements ``source[old[k]]`` to ``target[new[k]]`` by renaming ``source``'s
    folder onto ``target``'s (see the module docstring); None when the swap does not apply.

    Parameters
    ----------
    target : FileArray
        The new run's output (its folder must hold no element).
    source : FileArray
        The same output of the old run kept aside; its folder is consumed.
    new, old : numpy.ndarray
        Linear indices, one pair per element to reuse (unique each).
    usable : callable
        Given the bytes of the files ``old`` (None: absent), the positions that may be reused.
    forget : callable
        Called with ``source`` indices whose files are about to change, before they change: it
        must make the old copy's keys say "no key" there.

    Returns
    -------
    numpy.ndarray or None
        The ``new`` indices now stored in ``target``, or None (nothing was changed).

    Examples
    --------
    >>> import tempfile
    >>> old = FileArray(tempfile.mkdtemp() + "/z", (4,)); old.dump_many([0, 1, 2, 3], [10, 11, 12, 13])
    >>> new = FileArray(tempfile.mkdtemp() + "/z", (4,))
    >>> keep = lambda raw: list(range(len(raw)))
    >>> got = swap_in(new, old, np.array([0, 1, 2, 3]), np.array([0, 1, 3, 2]), keep, lambda idx: None)
    >>> sorted(got.tolist()), new.to_array().tolist()
    ([0, 1, 2, 3], [10, 11, 13, 12])
    """
    if not _applies(target, source, new, old):
        return None
    new = np.asarray(new, dtype=np.int64)
    old = np.asarray(old, dtype=np.int64)
    src, dst = str(source.folder), str(target.folder)
    prefix, suffix = source._prefix, source._suffix
    keep: list[int] = []
    for start in range(0, len(old), _BATCH):  # (the bytes of one batch at a time in memory)
        raw = read_files(src, [f"{prefix}{i}{suffix}" for i in old[start : start + _BATCH].tolist()])
        keep.extend(start + k for k in usable(raw))
    new, old = new[keep], old[keep]
    # 1. delete what is not reused, and every other entry (shape record, temporary files)
    names = os.listdir(src)
    others = [SHAPE_RECORD] if SHAPE_RECORD in names else []
    if others:
        names.remove(SHAPE_RECORD)  # (keeps the one-regex fast path of indices_in_names)
    present = indices_in_names(names, prefix, suffix)
    if len(present) < len(names):  # temporary files and other strays go too
        element_names = {f"{prefix}{i}{suffix}" for i in present.tolist()}
        others += [n for n in names if n not in element_names]
    drop = np.setdiff1d(present, old, assume_unique=True)
    _delete(src, [f"{prefix}{i}{suffix}" for i in drop.tolist()] + others)
    # 2. reused elements that change index
    moves = new != old
    if moves.any():
        _rename_all(src, old[moves], new[moves], prefix, suffix, forget)
    # 3. the folder itself
    _fsync_dir(Path(src))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(dst, SHAPE_RECORD))
    try:
        os.rename(src, dst)  # replaces the (now empty) new folder in one step
    except OSError:  # (not empty after all, or another file system): the elements one by one
        _move_each(src, dst)
    _fsync_dir(Path(dst).parent)
    _fsync_dir(Path(src).parent)
    target._shape_synced = None
    target._sync_shape_record(write=True)
    return new


def _applies(target: FileArray, source: FileArray, new: np.ndarray, old: np.ndarray) -> bool:
    if type(target) is not FileArray or type(source) is not FileArray or target.read_only or not len(new):
        return False
    if (source._prefix, source._suffix) != (target._prefix, target._suffix):
        return False
    if 2 * int(np.count_nonzero(np.asarray(new) == np.asarray(old))) < len(new):
        return False  # mostly moved elements: renaming them one by one costs the same
    try:
        if os.stat(source.folder).st_dev != os.stat(target.folder).st_dev:
            return False
        return set(os.listdir(target.folder)) <= {SHAPE_RECORD}
    except OSError:
        return False


def _delete(folder: str, names: list[str]) -> None:
    if not names:
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        for name in names:
            try:
                os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                pass
            except (IsADirectoryError, PermissionError):  # (a directory: not ours to keep)
                shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
    finally:
        os.close(fd)


def _rename_all(folder: str, old: np.ndarray, new: np.ndarray, prefix: str, suffix: str, forget: Callable[[np.ndarray], None]) -> None:
    """Rename ``old[k]`` -> ``new[k]`` inside ``folder``; a target name still taken by another
    element to move goes through a temporary name first."""
    forget(np.union1d(old, new))
    taken = set(old.tolist())
    name = f"{folder}{os.sep}{prefix}{{}}{suffix}".format
    tmp = f"{folder}{os.sep}{_SWAP_MARK}{{}}".format
    later = []
    for o, n in zip(old.tolist(), new.tolist()):
        if n in taken:
            os.rename(name(o), tmp(o))
            later.append((o, n))
    for o, n in zip(old.tolist(), new.tolist()):
        if n not in taken:
            os.rename(name(o), name(n))
    for o, n in later:
        os.rename(tmp(o), name(n))


def _move_each(src: str, dst: str) -> None:
    for entry in os.listdir(src):
        os.replace(os.path.join(src, entry), os.path.join(dst, entry))
    os.rmdir(src)

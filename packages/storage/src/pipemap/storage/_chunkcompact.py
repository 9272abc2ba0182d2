"""Compaction of one ``chunked`` chunk: packs and closed logs become one pack.

The files of a chunk, sorted by name, are in write order (later ones win on a repeated index).
A log whose writer still has it open (its ``flock`` is held) is left alone, and so it splits the
sorted files into runs; each run of two or more files (or holding a log) is merged into one pack
named after the run's last file, so the merged pack keeps the run's place in the order. The pack
is written (and synced) before the run's files are deleted: a process killed during compaction
leaves duplicates at worst, which read the same.

>>> import tempfile, os
>>> from pipemap.storage._chunklog import LogWriter, encode_value
>>> d = tempfile.mkdtemp(); w = LogWriter(d); w.append(0, 1, encode_value("a")); w.close()
>>> compact_chunk(os.path.join(d, "c0")), [n[-5:] for n in os.listdir(os.path.join(d, "c0"))]
(True, ['.pack'])
"""

from __future__ import annotations

import fcntl
import itertools
import os
import numpy as np

from ._atomic import atomic_write_bytes
from ._chunklog import LOG_SUFFIX, parse_log
from ._packfile import PackError, Segment, _split, encode_pack, encode_segment

__all__ = ["PACK_SUFFIX", "chunk_files", "compact_chunk"]

PACK_SUFFIX = ".pack"
_counter = itertools.count()


def chunk_files(names: list[str]) -> list[str]:
    """The pack and log files among ``names`` (a directory listing), sorted = write order."""
    return sorted(n for n in names if (n.endswith(PACK_SUFFIX) or n.endswith(LOG_SUFFIX)) and not n.startswith("."))


def _lock_closed_log(path: str) -> int | None:
    """An fd holding the log's flock when no writer has it open, else None."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _read(fd_or_path: int | str) -> bytes:
    if isinstance(fd_or_path, int):
        return os.pread(fd_or_path, os.fstat(fd_or_path).st_size, 0)
    with open(fd_or_path, "rb") as handle:
        return handle.read()


def _merge_run(directory: str, run: list[str], fds: dict[str, int]) -> bool:
    indices: list[np.ndarray] = []
    segments: list[Segment] = []
    for name in run:
        try:
            blob = _read(fds.get(name, directory + name))
        except FileNotFoundError:
            return False  # a concurrent merge got there first
        if name.endswith(LOG_SUFFIX):
            try:
                log_indices, values = parse_log(blob, strict=True)
            except Exception:  # noqa: BLE001 - a value this process cannot unpickle: keep the log
                return False
            if log_indices:
                indices.append(np.asarray(log_indices, dtype=np.int64))
                segments.append(encode_segment(values))
            continue
        try:
            pack_indices, pack_segments = _split(memoryview(blob))
        except PackError:
            return False  # leave corrupt files alone; readers warn about them
        indices.append(pack_indices)
        segments.extend(pack_segments)
    if indices:  # (only empty logs: nothing to keep)
        merged = encode_pack(np.concatenate(indices), segments)
        stem = run[-1].rsplit(".", 1)[0]
        atomic_write_bytes(f"{directory}{stem}-m{os.getpid()}-{next(_counter)}{PACK_SUFFIX}", merged)
    for name in run:
        try:
            os.unlink(directory + name)
        except FileNotFoundError:
            pass
    return True


def compact_chunk(chunk_dir: str, names: list[str] | None = None, *, min_files: int = 2) -> bool:
    """Merge the files of ``chunk_dir`` (``names``: a consistent listing) around open logs.

    Returns whether anything was merged. Runs shorter than ``min_files`` without a log stay.
    """
    directory = chunk_dir + os.sep
    if names is None:
        try:
            names = chunk_files(os.listdir(chunk_dir))
        except FileNotFoundError:
            return False
    fds: dict[str, int] = {}
    try:
        runs: list[list[str]] = [[]]
        for name in names:
            if name.endswith(LOG_SUFFIX):
                fd = _lock_closed_log(directory + name)
                if fd is None:  # open in a writer (or gone): it stays, and splits the runs
                    runs.append([])
                    continue
                fds[name] = fd
            runs[-1].append(name)
        merged = False
        for run in runs:
            if len(run) >= min_files or any(n.endswith(LOG_SUFFIX) for n in run):
                merged = _merge_run(directory, run, fds) or merged
        return merged
    finally:
        for fd in fds.values():
            os.close(fd)

"""Incremental scans of one mapped output's storage folder: which elements are stored, and when.

A scanner keeps the done mask between refreshes and re-reads only what changed:

* ``file_array`` (:class:`FileArrayScan`): the output folder is flat, one file per element, and
  adding a file changes the folder's mtime. An unchanged mtime (older than :data:`RACY_SECONDS`,
  so a file added in the same clock tick is not missed) means nothing to list; otherwise one
  ``os.listdir`` (no per-file ``stat``) gives the new mask. A flat folder gives no finer signal, so
  while a run writes, a big folder is listed at most once per :data:`LISTING_PAUSE` times the
  duration of its last listing. Write times come from ``stat`` of the
  newly seen files only (a random sample of at most :data:`STAT_SAMPLE` of them, weighted).
* ``chunked`` (:class:`ChunkedScan`): one directory per chunk of 1024 elements; a chunk directory
  whose mtime did not change is skipped, a changed one is listed and only its new pack files are
  read (their 24-byte header and index table, FORMAT.md). The write time of a pack is in its name.
* other storages (:class:`MaskScan`): the storage's own ``done_mask()`` at every refresh, no times.

Nothing is unpickled. Damaged files (a pack whose header disagrees with its size, an unreadable
folder) are reported in ``damaged`` and their elements count as missing.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> scan = FileArrayScan(folder, 4)
>>> _ = (folder / "__2__.pickle").write_bytes(b"x")
>>> scan.refresh(), scan.mask.tolist()
(True, [False, False, True, False])
"""

from __future__ import annotations

import os
import random
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["LISTING_PAUSE", "ChunkedScan", "FileArrayScan", "MaskScan", "RACY_SECONDS", "STAT_SAMPLE", "Scan"]

#: a directory modified less than this long ago is listed again even if its mtime did not change
RACY_SECONDS = 2.0
#: after listing a folder for t seconds, the next listing waits LISTING_PAUSE * t (10^6 files: ~1 s
#: to list (estimated), so one listing per ~5 s while a run writes into it; small folders: every refresh)
LISTING_PAUSE = 4.0
#: at most this many newly seen element files are ``stat``-ed per refresh for their write times
STAT_SAMPLE = 2000
_PACK_HEADER = struct.Struct("<8sQQ")
_PACK_MAGIC = b"PMPACK01"
_CHUNK_DIR = re.compile(r"c(\d+)")


@dataclass
class Scan:
    """Base: the done mask of ``size`` elements and the write events seen so far."""

    size: int
    mask: np.ndarray = field(init=False)
    #: (unix time, number of elements) per write event newly seen by a refresh
    events: list[tuple[float, float]] = field(default_factory=list)
    #: human-readable descriptions of damaged files, by path
    damaged: dict[str, str] = field(default_factory=dict)
    #: list / read operations done by the last refresh (what "reads only what changed" means)
    last_reads: int = 0
    has_times: bool = True
    #: linear indices first seen by the last refresh
    new: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.mask = np.zeros(self.size, dtype=bool)
        self.new = np.empty(0, dtype=np.int64)

    def refresh(self) -> bool:  # pragma: no cover - abstract
        """Re-read what changed; True when the mask changed."""
        raise NotImplementedError

    def _record(self, times: list[float], weight: float) -> None:
        self.events.extend((t, weight) for t in times)


def _racy(mtime_ns: int) -> bool:
    return time.time() - mtime_ns / 1e9 < RACY_SECONDS


class FileArrayScan(Scan):
    """Scan of a ``file_array`` folder (``__<n>__.pickle`` files); see the module docstring."""

    def __init__(self, folder: str | Path, size: int, prefix: str = "__", suffix: str = "__.pickle") -> None:
        super().__init__(size)
        self.folder = str(folder)
        self.prefix, self.suffix = prefix, suffix
        self._mtime_ns: int | None = None
        self._next_listing = 0.0

    def refresh(self) -> bool:
        """List the folder again only when its mtime changed (or is too recent to trust), and
        not sooner than ``LISTING_PAUSE`` times the last listing's duration after it."""
        self.last_reads = 0
        self.new = np.empty(0, dtype=np.int64)
        try:
            mtime_ns = os.stat(self.folder).st_mtime_ns
        except FileNotFoundError:
            return False  # the output has not started yet
        except OSError as exc:
            self.damaged[self.folder] = f"cannot read the folder ({exc})"
            return False
        if mtime_ns == self._mtime_ns and not _racy(mtime_ns):
            return False
        if time.monotonic() < self._next_listing:
            return False  # a big folder listed moments ago: keep the listings to <= 1/(1 + LISTING_PAUSE) of the time
        started = time.monotonic()
        try:
            names = os.listdir(self.folder)
        except OSError as exc:
            self.damaged[self.folder] = f"cannot list the folder ({exc})"
            return False
        self.damaged.pop(self.folder, None)
        self.last_reads = 1
        self._mtime_ns = mtime_ns
        indices = _indices(names, self.prefix, self.suffix)
        self._next_listing = time.monotonic() + LISTING_PAUSE * (time.monotonic() - started)
        mask = np.zeros(self.size, dtype=bool)
        mask[indices[(indices >= 0) & (indices < self.size)]] = True
        new = np.flatnonzero(mask & ~self.mask)
        changed = bool(new.size) or not np.array_equal(mask, self.mask)
        self.mask, self.new = mask, new
        if new.size:
            sample = new if new.size <= STAT_SAMPLE else np.array(random.sample(new.tolist(), STAT_SAMPLE))
            times = []
            for index in sample.tolist():
                try:
                    times.append(os.stat(f"{self.folder}{os.sep}{self.prefix}{index}{self.suffix}").st_mtime)
                except OSError:
                    continue
            self.last_reads += len(sample)
            if times:
                self._record(times, new.size / len(times))
        return changed


def _indices(names: list[str], prefix: str, suffix: str) -> np.ndarray:
    """Linear indices in element file names (other names ignored), parsed in one numpy call."""
    start, stop = len(prefix), -len(suffix)
    digits = [n[start:stop] for n in names if n.startswith(prefix) and n.endswith(suffix)]
    if not digits:
        return np.empty(0, dtype=np.int64)
    joined = " ".join(digits)
    if joined.replace(" ", "").isdigit():  # only digits: numpy's C parser (sep mode) reads them all
        return np.fromstring(joined, dtype=np.int64, sep=" ")
    return np.array([d for d in digits if d.isdigit()], dtype=np.int64)


class ChunkedScan(Scan):
    """Scan of a ``chunked`` folder (``c<k>/<time_ns>-<pid>-<n>.pack``); see the module docstring."""

    def __init__(self, folder: str | Path, size: int) -> None:
        super().__init__(size)
        self.folder = str(folder)
        self._top_mtime_ns: int | None = None
        self._chunks: dict[int, int | None] = {}  # chunk -> mtime_ns when last listed
        self._packs: set[str] = set()  # pack paths already read
        self._new: list[np.ndarray] = []

    def refresh(self) -> bool:
        """Stat every chunk directory; list and read only the changed ones."""
        self.last_reads = 0
        self._new = []
        self.new = np.empty(0, dtype=np.int64)
        try:
            top = os.stat(self.folder).st_mtime_ns
        except FileNotFoundError:
            return False
        if top != self._top_mtime_ns or _racy(top):
            try:
                names = os.listdir(self.folder)
            except OSError as exc:
                self.damaged[self.folder] = f"cannot list the folder ({exc})"
                return False
            self.last_reads += 1
            self._top_mtime_ns = top
            for name in names:
                match = _CHUNK_DIR.fullmatch(name)
                if match:
                    self._chunks.setdefault(int(match.group(1)), None)
        changed = False
        for chunk, seen in list(self._chunks.items()):
            directory = f"{self.folder}{os.sep}c{chunk}"
            try:
                mtime = os.stat(directory).st_mtime_ns
            except OSError:
                continue
            if mtime == seen and not _racy(mtime):
                continue
            changed |= self._read_chunk(directory)
            self._chunks[chunk] = mtime
        if self._new:  # distinct indices, without a hash-based unique over up to 10^6 of them
            fresh = np.zeros(self.size, dtype=bool)
            fresh[np.concatenate(self._new)] = True
            self.new = np.flatnonzero(fresh)
        return changed

    def _read_chunk(self, directory: str) -> bool:
        previous: list[str] | None = None
        for _ in range(20):  # two equal listings: no concurrent merge tore it (as the storage does)
            try:
                packs = sorted(n for n in os.listdir(directory) if n.endswith(".pack") and not n.startswith("."))
            except OSError:
                return False
            self.last_reads += 1
            if packs == previous:
                break
            previous = packs
        changed = False
        for name in previous or []:
            path = directory + os.sep + name
            if path in self._packs:
                continue
            try:
                indices = read_pack_indices(path)
            except FileNotFoundError:
                continue  # merged away meanwhile: its elements are in the merged pack
            except (OSError, ValueError) as exc:
                self.damaged[path] = str(exc)
                continue
            self.last_reads += 1
            self._packs.add(path)
            self.damaged.pop(path, None)
            indices = indices[(indices >= 0) & (indices < self.size)]
            new = indices[~self.mask[indices]]
            if new.size:
                self.mask[new] = True
                self._new.append(new)
                changed = True
                stamp = name.split("-", 1)[0]
                if stamp.isdigit():  # distinct new indices (a merged pack may repeat one)
                    ordered = np.sort(new)
                    self._record([int(stamp) / 1e9], float(1 + np.count_nonzero(ordered[1:] != ordered[:-1])))
        return changed


def read_pack_indices(path: str) -> np.ndarray:
    """The index table of a ``chunked`` pack file (FORMAT.md), checked against the file's size.

    ``ValueError`` names what is wrong with a damaged pack.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(_PACK_HEADER.size)
        if len(head) < _PACK_HEADER.size:
            msg = f"damaged pack: {size} bytes, shorter than its header"
            raise ValueError(msg)
        magic, n, nseg = _PACK_HEADER.unpack(head)
        if magic != _PACK_MAGIC:
            msg = f"damaged pack: starts with {magic!r}, not {_PACK_MAGIC!r}"
            raise ValueError(msg)
        if _PACK_HEADER.size + 8 * (n + 3 * nseg) > size:
            msg = f"damaged pack: header announces {n} elements but the file has only {size} bytes"
            raise ValueError(msg)
        table = handle.read(8 * (n + 3 * nseg))
    lengths = np.frombuffer(table, dtype="<i8", count=nseg, offset=8 * (n + 2 * nseg))
    expected = _PACK_HEADER.size + len(table) + int(lengths.sum())
    if expected != size:
        msg = f"damaged pack: header says {expected} bytes, the file has {size}"
        raise ValueError(msg)
    return np.frombuffer(table, dtype="<i8", count=n).astype(np.int64)


class MaskScan(Scan):
    """Any other storage: its own ``done_mask()`` at each refresh (no write times)."""

    def __init__(self, size: int, done_mask: Callable[[], np.ndarray]) -> None:
        super().__init__(size)
        self._done_mask = done_mask
        self.has_times = False

    def refresh(self) -> bool:
        """Ask the storage for its mask."""
        self.last_reads = 1
        try:
            mask = np.asarray(self._done_mask(), dtype=bool).reshape(-1)
        except Exception as exc:  # noqa: BLE001 - a damaged storage is shown, never crashes the server
            self.damaged["storage"] = f"{type(exc).__name__}: {exc}"
            return False
        self.damaged.pop("storage", None)
        if mask.size != self.size:
            self.damaged["storage"] = f"mask of {mask.size} elements, expected {self.size}"
            return False
        changed = not np.array_equal(mask, self.mask)
        self.new = np.flatnonzero(mask & ~self.mask)
        self.mask = mask
        return changed

"""`ChunkedArray`: elements packed per chunk of linear indices (``storage_id="chunked"``).

Layout of ``folder``::

    chunked.json                {"format": "pipemap-chunked", "version": 1, "chunk_size": 1024}
    c<k>/<time>-<pid>-<n>.pack  one immutable pack per write batch for chunk k (linear indices
                                k*chunk_size ... (k+1)*chunk_size - 1), see ``_packfile``
    c<k>/<time>-<pid>-<n>.log   an append-only log of single ``dump`` calls, one per chunk,
                                storage object and process, see ``_chunklog``

Each bulk write (``dump_many``) writes one pack per touched chunk with an atomic rename, so a
process killed at any instant leaves every element absent or complete, and concurrent writers
(worker processes) never overwrite each other's files. A single ``dump`` appends a checksummed
record to its chunk's log (buffered; written at least every 0.2 s, synced by ``persist``);
readers ignore a torn tail. The mask is the union of the packs' index tables (cached per
immutable file) and the logs' records. When a chunk holds more than ``max_packs`` files they are
merged into one pack (``_chunkcompact``: pack segments are concatenated without unpickling, logs
that no writer holds open are folded in); the merge writes the new pack before deleting the files
it merged, so concurrent merges at worst leave duplicates. Later files win on overlap.

>>> import tempfile
>>> from pipemap.storage import ChunkedArray
>>> arr = ChunkedArray(tempfile.mkdtemp(), (100_000,))
>>> arr.dump_many(range(100_000), list(range(100_000)))
>>> int(arr.done_mask().sum()), arr[99_999]
(100000, 99999)
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import (
    atomic_write_bytes,
    ensure_folder,
    folder_for_reading,
    list_output_folder,
    mark_stored,
    vanished_folder_error,
)
from ._base import StorageBase, _is_element_key
from ._shape_record import ShapeRecorded
from ._chunkread import ChunkReads
from ._chunkcompact import PACK_SUFFIX, chunk_files, compact_chunk
from ._chunklog import LOG_SUFFIX, LogWriter, encode_value
from ._packfile import encode_pack, encode_segment
from ._shapes import ShapeTuple, shape_is_resolved

__all__ = ["ChunkedArray"]

META = "chunked.json"
_counter = itertools.count()


def _pack_name() -> str:
    return f"{time.time_ns():020d}-{os.getpid():08d}-{next(_counter):08d}{PACK_SUFFIX}"


class ChunkedArray(ChunkReads, ShapeRecorded, StorageBase):
    """A few packed files per chunk of elements plus an index table per pack (``storage_id="chunked"``).

    Elements are grouped in chunks of ``chunk_size`` consecutive linear indices; each batch of writes
    to a chunk appends one pack file, and a manifest replaced atomically says which packs are valid,
    so a million elements make a few hundred files and a crash leaves every element absent or
    complete. Packs are ``fsync``ed. A single ``dump`` appends a checksummed record to a log of
    its chunk and process instead (flushed at least every 0.2 s, and by ``persist``/``close``/
    ``flush``); readers merge packs and logs, and compaction folds closed logs into packs.

    Parameters
    ----------
    folder : str or Path
        The output's folder (in a run: ``<run_folder>/outputs/<name>``).
    shape : tuple
        The external shape: one size per external axis, ``"?"`` where not known yet.
    internal_shape : tuple, optional
        The sizes of the internal axes every element spans (default ``()``: none).
    shape_mask : sequence of bool, optional
        Which axes of the full shape are external (True) or internal (False); required with an
        ``internal_shape``, default all True.
    chunk_size : int, default 1024
        Elements per chunk (an existing folder keeps its own).
    max_packs : int, default 8
        Packs per chunk before they are merged into one.
    read_only : bool, default False
        Open without creating or changing anything (readers).

    Examples
    --------
    >>> import tempfile
    >>> arr = ChunkedArray(tempfile.mkdtemp(), (3, 4), chunk_size=5)
    >>> arr.dump((2, 3), "last"); arr.get_from_index(11)
    'last'
    """

    storage_id = "chunked"
    requires_serialization = True
    _read_only_kwarg = True
    folder: Path

    def __init__(
        self,
        folder: str | Path,
        shape: ShapeTuple,
        internal_shape: ShapeTuple | None = None,
        shape_mask: Sequence[bool] | None = None,
        *,
        chunk_size: int = 1024,
        max_packs: int = 8,
        read_only: bool = False,
    ) -> None:
        super().__init__(folder, shape, internal_shape, shape_mask)
        if int(chunk_size) < 1 or int(max_packs) < 2:
            msg = f"chunk_size must be >= 1 and max_packs >= 2, got {chunk_size} and {max_packs}"
            raise ValueError(msg)
        self.read_only = bool(read_only)
        self.folder = folder_for_reading(folder, self._describe()) if read_only else ensure_folder(folder)
        self.max_packs = int(max_packs)
        self.chunk_size = self._init_meta(int(chunk_size))
        self._reset_caches()
        self._sync_shape_record(write=False)  # elements of another shape: RunFolderError

    def _init_meta(self, chunk_size: int) -> int:
        path = self.folder / META
        try:
            meta = json.loads(path.read_text())
        except FileNotFoundError:
            if self.read_only:  # a reader writes nothing (an output not started yet holds nothing)
                return chunk_size
            meta = {"format": "pipemap-chunked", "version": 1, "chunk_size": chunk_size}
            atomic_write_bytes(path, json.dumps(meta).encode())
            return chunk_size
        except (ValueError, RecursionError) as exc:
            detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            msg = f"{self._describe()}: `{path}` is not valid JSON ({detail})"
            raise ValueError(msg) from None
        size = meta.get("chunk_size") if isinstance(meta, dict) else None
        if (
            not isinstance(meta, dict)
            or meta.get("format") != "pipemap-chunked"
            or meta.get("version") != 1
            or not isinstance(size, int)
            or size < 1
        ):
            shown = repr(meta) if len(repr(meta)) <= 120 else repr(meta)[:117] + "..."
            msg = f"{self._describe()}: `{path}` describes an unknown format {shown}"
            raise ValueError(msg)
        return size

    def _reset_caches(self) -> None:
        self._index_cache: dict[str, np.ndarray] = {}
        self._log_index_cache: dict[str, tuple[int, np.ndarray]] = {}
        self._chunk_cache: OrderedDict[int, tuple[tuple[Any, ...], dict[int, Any]]] = OrderedDict()
        self._known_dirs: set[int] = set()
        self._lock = threading.Lock()  # guards the caches when threads share this object
        self._writer: LogWriter | None = None  # the element logs of single dumps, opened on first use
        self._fast_key: tuple[Any, ...] = ()  # (shape, sizes, strides) for dump's element keys

    def __getstate__(self) -> dict[str, Any]:
        self._flush_own()  # whoever unpickles this sees the elements dumped so far
        state = self.__dict__.copy()
        for name in ("_index_cache", "_log_index_cache", "_chunk_cache", "_known_dirs", "_lock", "_writer", "_fast_key"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset_caches()

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", chunk_size={self.chunk_size})"

    @property
    def dump_in_subprocess(self) -> bool:
        """True: every write batch is its own file, so workers write directly and concurrently."""
        return True

    # ------------------------------------------------------------------ files
    def _chunk_dir(self, chunk: int) -> str:
        return f"{self.folder}{os.sep}c{chunk}"

    def _list_packs(self, chunk: int) -> list[str]:
        """The chunk's pack and log files, from a listing no concurrent merge tore.

        A directory listing taken while a merge adds its new pack and deletes the old files may
        miss both; an entry present during a whole listing is always seen, so two identical
        consecutive listings are a consistent snapshot.
        """
        directory = self._chunk_dir(chunk)
        previous: list[str] | None = None
        for _ in range(50):
            try:
                names = os.listdir(directory)
            except FileNotFoundError:
                return []
            files = chunk_files(names)
            if files == previous:
                return files
            previous = files
        return previous or []

    def _chunks_on_disk(self) -> list[int]:
        chunks = []
        for name in list_output_folder(self.folder, self.read_only):
            if name[:1] == "c" and name[1:].isdigit():
                chunks.append(int(name[1:]))
        return chunks

    # ------------------------------------------------------------------ single writes: the log
    def dump(self, key: Any, value: Any) -> None:
        """Store ``value`` at external ``key``; an element key appends one record to this chunk's
        log (buffered, see ``flush``), slices write packs like ``dump_many``.

        >>> import tempfile
        >>> arr = ChunkedArray(tempfile.mkdtemp(), (2, 3)); arr.dump((1, 2), "x"); arr[1, 2]
        'x'
        """
        linear = self._element_linear(key)
        if linear < 0:  # numpy ints, negative ints, slices, bad keys: the validated path
            if self.read_only:
                self._refuse_read_only()
            normalized = self._normalize_key(key, for_dump=True)
            if not _is_element_key(normalized):
                super().dump(key, value)  # slices write packs
                return
            linear = sum(k * s for k, s in zip(normalized, self.strides))
        if self.internal_shape:
            self._check_value(value, key)
        if self._shape_synced != (self.shape, self.internal_shape):
            self._sync_shape_record(write=True)
        writer = self._writer
        if writer is None:
            writer = self._writer = LogWriter(str(self.folder))
        try:
            writer.append(linear // self.chunk_size, linear, encode_value(value))
        except FileNotFoundError:  # opening the chunk's log: the output folder was deleted
            raise vanished_folder_error(self.folder) from None

    def _element_linear(self, key: Any) -> int:
        """The linear index of an in-bounds element key of ints (non-negative), else -1."""
        fast = self._fast_key
        if not fast or fast[0] is not self.shape:
            if not shape_is_resolved(self.shape):
                return -1
            sizes = tuple(int(s) for s in self.shape)
            self._fast_key = fast = (self.shape, sizes, self.strides)
        sizes, strides = fast[1], fast[2]
        if type(key) is int:
            if len(sizes) == 1 and 0 <= key < sizes[0]:
                return key
            return -1
        if type(key) is not tuple or len(key) != len(sizes):
            return -1
        linear = 0
        for k, size, stride in zip(key, sizes, strides):
            if type(k) is not int or not 0 <= k < size:
                return -1
            linear += k * stride
        return linear

    def flush(self, *, sync: bool = False) -> None:
        """Write this object's buffered log records (``sync``: also ``fsync`` them).

        Done anyway by ``dump_many``, ``persist``, ``close``, pickling, reads through this object
        and, at least every 0.2 s, a background thread.
        """
        if self._writer is not None:
            self._writer.flush(sync=sync)

    def persist(self) -> None:
        """Make every element dumped through this object durable (written and ``fsync``ed)."""
        self.flush(sync=True)

    def finish_run(self) -> None:
        """At the end of a run: the logs are written and synced (see :meth:`persist`)."""
        self.flush(sync=True)

    def close(self) -> None:
        """Flush, sync and close this object's logs (a later ``dump`` opens new ones); closed
        logs can be compacted into packs."""
        writer = self._writer
        if writer is not None:
            chunks = list(writer.fds)
            writer.close()
            for chunk in chunks:  # many closed logs (many writers over time): merge them now
                self._maybe_compact(chunk)

    # ------------------------------------------------------------------ bulk writes: packs
    def _put_many(self, indices: np.ndarray, values: list[Any]) -> None:
        if self._shape_synced != (self.shape, self.internal_shape):
            self._sync_shape_record(write=True)
        chunks = indices // self.chunk_size
        if len(chunks) > 1 and np.any(chunks[1:] < chunks[:-1]):
            order = np.argsort(chunks, kind="stable")
            indices, chunks = indices[order], chunks[order]
            values = [values[i] for i in order.tolist()]
        bounds = np.flatnonzero(np.diff(chunks)) + 1
        starts = [0, *bounds.tolist()]
        stops = [*bounds.tolist(), len(indices)]
        blobs = []
        for start, stop in zip(starts, stops):  # serialize all first: a failure writes nothing
            segment = encode_segment(values[start:stop])
            blobs.append((int(chunks[start]), encode_pack(indices[start:stop], [segment])))
        writer = self._writer
        if writer is not None and writer.fds:  # the batch's end for the log; a pack must sort after
            writer.flush()  # the logs of its chunks, so those are closed (the next dump opens new ones)
            writer.close([c for c, _ in blobs])
        for k, (chunk, blob) in enumerate(blobs):
            directory = self._chunk_dir(chunk)
            try:
                if chunk not in self._known_dirs:
                    self._make_chunk_dir(directory)
                    self._known_dirs.add(chunk)
                try:
                    atomic_write_bytes(directory + os.sep + _pack_name(), blob)
                except FileNotFoundError:  # the chunk directory was removed behind our back: recreate it
                    self._make_chunk_dir(directory)
                    atomic_write_bytes(directory + os.sep + _pack_name(), blob)
            except BaseException as exc:  # the packs of the chunks before are complete
                mark_stored(exc, indices[: starts[k]])
                raise
            self._maybe_compact(chunk)

    def _make_chunk_dir(self, directory: str) -> None:
        """Create one chunk directory inside the output folder, never the folder itself."""
        try:
            os.mkdir(directory)
        except FileExistsError:
            pass
        except FileNotFoundError:  # the output folder was deleted (mid-run): fail, do not re-create it
            raise vanished_folder_error(self.folder) from None

    def _maybe_compact(self, chunk: int) -> None:
        names = self._list_packs(chunk)
        if len(names) > self.max_packs:
            try:
                compact_chunk(self._chunk_dir(chunk), names)
            except OSError:  # e.g. a full disk: the files stay as they are, a later write merges them
                pass

    def compact(self) -> None:
        """Merge the packs and closed logs of every chunk into one pack per chunk (this object's
        own logs are closed first; logs other writers hold open stay as they are).

        >>> import tempfile, os
        >>> arr = ChunkedArray(tempfile.mkdtemp(), (4,)); arr.dump(1, "a"); arr.dump(2, "b"); arr.compact()
        >>> os.listdir(arr.folder / "c0")[0].endswith(".pack"), arr.get_many(range(4))
        (True, [masked, 'a', 'b', masked])
        """
        if self.read_only:
            self._refuse_read_only()
        self.close()
        for chunk in self._chunks_on_disk():
            names = self._list_packs(chunk)
            if len(names) > 1 or any(n.endswith(LOG_SUFFIX) for n in names):
                compact_chunk(self._chunk_dir(chunk), names)

"""`ChunkedArray`: elements packed per chunk of linear indices (``storage_id="chunked"``).

Layout of ``folder``::

    chunked.json                {"format": "pipemap-chunked", "version": 1, "chunk_size": 1024}
    c<k>/<time>-<pid>-<n>.pack  one immutable pack per write batch for chunk k (linear indices
                                k*chunk_size ... (k+1)*chunk_size - 1), see ``_packfile``

Each write batch writes one pack per touched chunk with an atomic rename, so a process killed at
any instant leaves every element absent or complete, and concurrent writers (worker processes)
never overwrite each other's files. The mask is the union of the packs' index tables (cached per
immutable file). When a chunk holds more than ``max_packs`` packs they are merged into one
(concatenating raw segments, without unpickling); the merge writes the new pack before deleting
the ones it merged, so concurrent merges at worst leave duplicates. Later packs win on overlap.

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
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import (
    MISSING,
    CorruptElementWarning,
    atomic_write_bytes,
    ensure_folder,
    folder_for_reading,
    list_output_folder,
    mark_stored,
    vanished_folder_error,
)
from ._base import StorageBase
from ._shape_record import ShapeRecorded
from ._packfile import (
    PackError,
    decode_pack,
    encode_pack,
    encode_segment,
    merge_packs,
    read_indices,
)
from ._shapes import ShapeTuple

__all__ = ["ChunkedArray"]

META = "chunked.json"
PACK_SUFFIX = ".pack"
_counter = itertools.count()
_CACHE_CHUNKS = 32


def _pack_name() -> str:
    return f"{time.time_ns():020d}-{os.getpid():08d}-{next(_counter):08d}{PACK_SUFFIX}"


class ChunkedArray(ShapeRecorded, StorageBase):
    """A few packed files per chunk of elements plus an index table per pack (``storage_id="chunked"``).

    Elements are grouped in chunks of ``chunk_size`` consecutive linear indices; each batch of writes
    to a chunk appends one pack file, and a manifest replaced atomically says which packs are valid,
    so a million elements make a few hundred files and a crash leaves every element absent or
    complete. Packs are ``fsync``ed.

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
        self._chunk_cache: OrderedDict[int, tuple[tuple[str, ...], dict[int, Any]]] = OrderedDict()
        self._known_dirs: set[int] = set()
        self._lock = threading.Lock()  # guards the caches when threads share this object

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_index_cache", "_chunk_cache", "_known_dirs", "_lock"):
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
        """The chunk's pack files, from a listing no concurrent merge tore.

        A directory listing taken while a merge adds its new pack and deletes the old ones may
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
            packs = sorted(n for n in names if n.endswith(PACK_SUFFIX) and not n.startswith("."))
            if packs == previous:
                return packs
            previous = packs
        return previous or []

    def _chunks_on_disk(self) -> list[int]:
        chunks = []
        for name in list_output_folder(self.folder, self.read_only):
            if name[:1] == "c" and name[1:].isdigit():
                chunks.append(int(name[1:]))
        return chunks

    def _warn_corrupt(self, path: str, exc: Exception) -> None:
        warnings.warn(
            f"{self._describe()}: pack file `{path}` is corrupt or truncated ({type(exc).__name__}: {exc});"
            " its elements are treated as missing.",
            CorruptElementWarning,
            stacklevel=4,
        )

    # ------------------------------------------------------------------ writes
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
                self._compact_chunk(chunk, names)
            except OSError:  # e.g. a full disk: the packs stay as they are, a later write merges them
                pass

    def _compact_chunk(self, chunk: int, names: list[str]) -> None:
        directory = self._chunk_dir(chunk) + os.sep
        blobs = []
        for name in names:
            try:
                with open(directory + name, "rb") as handle:
                    blobs.append(handle.read())
            except FileNotFoundError:
                return  # a concurrent merge got there first
        try:
            merged = merge_packs(blobs)
        except PackError:
            return  # leave corrupt files alone; readers warn about them
        last = names[-1]
        merged_name = f"{last[:-len(PACK_SUFFIX)]}-m{os.getpid()}-{next(_counter)}{PACK_SUFFIX}"
        atomic_write_bytes(directory + merged_name, merged)
        for name in names:
            try:
                os.unlink(directory + name)
            except FileNotFoundError:
                pass

    def compact(self) -> None:
        """Merge the packs of every chunk into one file per chunk."""
        if self.read_only:
            self._refuse_read_only()
        for chunk in self._chunks_on_disk():
            names = self._list_packs(chunk)
            if len(names) > 1:
                self._compact_chunk(chunk, names)

    # ------------------------------------------------------------------ reads
    def _pack_indices(self, path: str) -> np.ndarray | None:
        cached = self._index_cache.get(path)
        if cached is not None:
            return cached
        try:
            indices = read_indices(path)
        except FileNotFoundError:
            raise
        except (PackError, OSError) as exc:
            self._warn_corrupt(path, exc)
            return None
        self._index_cache[path] = indices
        return indices

    def done_mask(self) -> np.ndarray:
        """True where some pack holds the element (index tables only; values are not read).

        >>> import tempfile
        >>> a = ChunkedArray(tempfile.mkdtemp(), (4,)); a.dump_many([1, 3], "ab"); a.done_mask().tolist()
        [False, True, False, True]
        """
        self._sync_shape_record(write=False)
        size = self.size
        mask = np.zeros(size, dtype=bool)
        live: set[str] = set()
        for chunk in self._chunks_on_disk():
            for _attempt in range(5):
                directory = self._chunk_dir(chunk) + os.sep
                paths = [directory + n for n in self._list_packs(chunk)]
                try:
                    tables = [self._pack_indices(p) for p in paths]
                    break
                except FileNotFoundError:  # merged away while listing: list again
                    continue
            else:  # pragma: no cover - pathological churn
                tables = []
            for path, table in zip(paths, tables):
                live.add(path)
                if table is not None:
                    mask[table[table < size]] = True
        with self._lock:
            for stale in set(self._index_cache) - live:
                self._index_cache.pop(stale, None)
        return mask

    def _load_chunk(self, chunk: int) -> dict[int, Any]:
        for _attempt in range(5):
            names = tuple(self._list_packs(chunk))
            with self._lock:
                cached = self._chunk_cache.get(chunk)
                if cached is not None and cached[0] == names:
                    self._chunk_cache.move_to_end(chunk)
                    return cached[1]
            try:
                content = self._read_packs(chunk, names)
            except FileNotFoundError:
                continue
            with self._lock:
                self._chunk_cache[chunk] = (names, content)
                while len(self._chunk_cache) > _CACHE_CHUNKS:
                    self._chunk_cache.popitem(last=False)
            return content
        return {}  # pragma: no cover - pathological churn

    def _read_packs(self, chunk: int, names: tuple[str, ...]) -> dict[int, Any]:
        directory = self._chunk_dir(chunk) + os.sep
        content: dict[int, Any] = {}
        for name in names:
            path = directory + name
            with open(path, "rb") as handle:
                blob = handle.read()
            try:
                indices, values = decode_pack(blob)
            except Exception as exc:  # noqa: BLE001 - any decoding failure: treat as missing
                self._warn_corrupt(path, exc)
                continue
            content.update(zip(indices.tolist(), values))
        return content

    def _get_linear(self, index: int) -> Any:
        return self._load_chunk(index // self.chunk_size).get(index, MISSING)

    def _has_linear(self, index: int) -> bool:
        return self._get_linear(index) is not MISSING

    def _get_many(self, indices: np.ndarray) -> list[Any]:
        chunk_size = self.chunk_size
        out: list[Any] = [MISSING] * len(indices)
        idx_list = indices.tolist()
        chunk_of = (indices // chunk_size).tolist()
        by_chunk: dict[int, list[int]] = {}
        for position, chunk in enumerate(chunk_of):
            by_chunk.setdefault(chunk, []).append(position)
        for chunk, positions in by_chunk.items():
            content = self._load_chunk(chunk)
            get = content.get
            for position in positions:
                out[position] = get(idx_list[position], MISSING)
        return out

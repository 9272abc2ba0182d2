"""The read side of `ChunkedArray`: the mask and the values, merged from packs and logs.

Files of a chunk are applied in name order (= write order), later ones winning on a repeated
index; a log is read up to the size seen when the chunk was listed, and only its intact records
count (``_chunklog``). Decoded chunks are cached per object, keyed by the chunk's file names and
its logs' sizes.

>>> import tempfile
>>> from pipemap.storage import ChunkedArray
>>> a = ChunkedArray(tempfile.mkdtemp(), (3,)); a.dump(0, "log"); a.dump_many([1], ["pack"])
>>> ChunkedArray(a.folder, (3,)).get_many(range(3)), a.done_mask().tolist()
(['log', 'pack', masked], [True, True, False])
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._atomic import MISSING, CorruptElementWarning
from ._chunklog import LOG_SUFFIX, LogWriter, parse_indices, parse_log
from ._packfile import PackError, decode_pack, read_indices

__all__ = ["ChunkReads"]

_CACHE_CHUNKS = 32


class ChunkReads:
    """Mixin of `ChunkedArray`'s reads (see the module doc)."""

    folder: Path
    chunk_size: int
    _index_cache: dict[str, np.ndarray]
    _log_index_cache: dict[str, tuple[int, np.ndarray]]
    _chunk_cache: OrderedDict[int, tuple[tuple[Any, ...], dict[int, Any]]]
    _lock: threading.Lock
    _writer: LogWriter | None

    if TYPE_CHECKING:  # provided by ChunkedArray and its bases (stubs here would shadow them)

        def _chunk_dir(self, chunk: int) -> str: ...
        def _list_packs(self, chunk: int) -> list[str]: ...
        def _chunks_on_disk(self) -> list[int]: ...
        def _describe(self) -> str: ...
        def _sync_shape_record(self, *, write: bool) -> None: ...
        @property
        def size(self) -> int: ...

    def _flush_own(self) -> None:
        writer = self._writer
        if writer is not None and writer.dirty:
            writer.flush()

    def _warn_corrupt(self, path: str, exc: Exception) -> None:
        warnings.warn(
            f"{self._describe()}: pack file `{path}` is corrupt or truncated ({type(exc).__name__}: {exc});"
            " its elements are treated as missing.",
            CorruptElementWarning,
            stacklevel=4,
        )

    # ------------------------------------------------------------------ reads
    def _pack_indices(self, path: str) -> np.ndarray | None:
        if path.endswith(LOG_SUFFIX):  # growing: cached with the size it was read at
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                known = self._log_index_cache.get(path)
                if known is not None and known[0] == size:
                    return known[1]
                indices = np.asarray(parse_indices(handle.read(size)), dtype=np.int64)
            self._log_index_cache[path] = (size, indices)
            return indices
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
        """True where some pack or log holds the element (indices only; values are not read).

        >>> import tempfile
        >>> from pipemap.storage import ChunkedArray
        >>> a = ChunkedArray(tempfile.mkdtemp(), (4,)); a.dump_many([1, 3], "ab"); a.done_mask().tolist()
        [False, True, False, True]
        """
        self._sync_shape_record(write=False)
        self._flush_own()
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
                if table is not None and len(table):
                    mask[table[table < size]] = True
        with self._lock:
            for cache in (self._index_cache, self._log_index_cache):
                for stale in set(cache) - live:
                    cache.pop(stale, None)
        return mask

    def _chunk_state(self, chunk: int) -> tuple[Any, ...]:
        """The chunk's files, with the sizes of its logs (which grow): equal states, equal content."""
        names = self._list_packs(chunk)
        if not any(n.endswith(LOG_SUFFIX) for n in names):
            return tuple(names)
        directory = self._chunk_dir(chunk) + os.sep
        state: list[Any] = []
        for name in names:
            if name.endswith(LOG_SUFFIX):  # (compacted meanwhile: FileNotFoundError, the caller lists again)
                state.append((name, os.stat(directory + name).st_size))
                continue
            state.append(name)
        return tuple(state)

    def _load_chunk(self, chunk: int) -> dict[int, Any]:
        self._flush_own()
        for _attempt in range(5):
            try:
                state = self._chunk_state(chunk)
            except FileNotFoundError:
                continue
            with self._lock:
                cached = self._chunk_cache.get(chunk)
                if cached is not None and cached[0] == state:
                    self._chunk_cache.move_to_end(chunk)
                    return cached[1]
            try:
                content = self._read_packs(chunk, state)
            except FileNotFoundError:
                continue
            with self._lock:
                self._chunk_cache[chunk] = (state, content)
                while len(self._chunk_cache) > _CACHE_CHUNKS:
                    self._chunk_cache.popitem(last=False)
            return content
        return {}  # pragma: no cover - pathological churn

    def _read_packs(self, chunk: int, state: tuple[Any, ...]) -> dict[int, Any]:
        directory = self._chunk_dir(chunk) + os.sep
        content: dict[int, Any] = {}
        for entry in state:
            if isinstance(entry, tuple):  # a log, read up to the size its state recorded
                path = directory + entry[0]
                with open(path, "rb") as handle:
                    blob = handle.read(entry[1])
                indices, values = parse_log(blob)
                content.update(zip(indices, values))
                continue
            path = directory + entry
            with open(path, "rb") as handle:
                blob = handle.read()
            try:
                pack_indices, values = decode_pack(blob)
            except Exception as exc:  # noqa: BLE001 - any decoding failure: treat as missing
                self._warn_corrupt(path, exc)
                continue
            content.update(zip(pack_indices.tolist(), values))
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

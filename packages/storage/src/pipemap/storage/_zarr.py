"""Zarr v3 backends: `ZarrFileArray`, `ZarrMemoryArray`, `ZarrSharedMemoryArray` (needs ``zarr``).

Layout in the store: ``array`` (full shape, variable-length bytes, one chunk per element: chunk
size 1 on external axes and the whole extent on internal axes, no compressor) holding one
encoded object per cell, and ``mask`` (external shape, bool, fill True). Both are ordinary zarr
arrays readable by zarr itself.

Element chunks are encoded here (the ``vlen-bytes`` layout) and written straight to the store in
bulk: for a ``LocalStore`` as files with an atomic rename, for other stores with one batch of
``Store.set`` calls. Arrays created with other codecs (e.g. by pipefunc) are read and written through the
zarr array API instead.

>>> import tempfile
>>> from pipemap.storage import ZarrFileArray
>>> arr = ZarrFileArray(tempfile.mkdtemp(), (2, 2))
>>> arr.dump_many([0, 3], [{"a": 1}, "d"])
>>> arr.to_array().tolist()
[[{'a': 1}, None], [None, 'd']]
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.buffer.cpu import Buffer
from zarr.core.metadata import ArrayV3Metadata
from zarr.core.sync import sync
from zarr.dtype import VariableLengthBytes
from zarr.storage import LocalStore

from ._atomic import (
    MISSING,
    CorruptElementWarning,
    atomic_write_bytes,
    folder_for_reading,
    mark_stored,
    quarantine,
    vanished_folder_error,
)
from ._base import StorageBase
from ._shapes import ShapeTuple, merge_by_mask, prod
from ._snapshots import ErrorSnapshot, PropagatedErrorSnapshot
from ._vlen import CloudPickleCodec, decode_vlen, encode_vlen

__all__ = ["CloudPickleCodec", "ZarrFileArray", "copy_store"]



async def _gather(coros: list[Any]) -> list[Any]:
    return list(await asyncio.gather(*coros))


def copy_store(source: Store, destination: Store) -> None:
    async def copy() -> None:
        prototype = default_buffer_prototype()
        keys = [key async for key in source.list()]
        buffers = await asyncio.gather(*(source.get(k, prototype=prototype) for k in keys))
        await asyncio.gather(*(destination.set(k, b) for k, b in zip(keys, buffers) if b is not None))

    sync(copy())


def _open_or_create(store: Store, name: str, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: Any, fill: Any) -> zarr.Array:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # VariableLengthBytes is flagged as an unstable spec
        try:
            array = zarr.open_array(store=store, path=name, mode="r+")
        except (FileNotFoundError, KeyError, ValueError, zarr.errors.ArrayNotFoundError, zarr.errors.NodeTypeValidationError):
            try:
                array = zarr.create_array(
                    store=store, name=name, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill,
                    compressors=None, overwrite=False,
                )  # fmt: skip
            except zarr.errors.ContainsArrayError:  # another process created it meanwhile
                array = zarr.open_array(store=store, path=name, mode="r+")
    if array.shape != shape:
        msg = f"Existing array '{name}' has unexpected shape {array.shape}, expected {shape}."
        raise ValueError(msg)
    return array


def _open_existing(store: Store, name: str, shape: tuple[int, ...], owner: str) -> Any:
    """Open array ``name`` read-only (nothing is written); None if it does not exist."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # VariableLengthBytes is flagged as an unstable spec
            array = zarr.open_array(store=store, path=name, mode="r")
    except (FileNotFoundError, KeyError, zarr.errors.ArrayNotFoundError):
        return None
    except RecursionError:
        raise ValueError(f"{owner}: the zarr metadata of `{name}` is nested too deeply; the folder is damaged") from None
    if array.shape != shape:
        raise ValueError(f"{owner}: existing array '{name}' has shape {array.shape}, expected {shape}")
    return array


class ZarrFileArray(StorageBase):
    """Array interface to a zarr v3 store on disk (``storage_id="zarr_file_array"``).

    Shapes must be resolved at construction. ``to_array`` always splats internal axes.

    Parameters
    ----------
    folder : str or Path or None
        The output's folder (in a run: ``<run_folder>/outputs/<name>``); used when no ``store`` is given.
    shape : tuple
        The external shape: one size per external axis, ``"?"`` where not known yet (all sizes must be known).
    internal_shape : tuple, optional
        The sizes of the internal axes every element spans (default ``()``: none).
    shape_mask : sequence of bool, optional
        Which axes of the full shape are external (True) or internal (False); required with an
        ``internal_shape``, default all True.
    store : zarr Store, str or Path, optional
        Where the zarr arrays live (default ``LocalStore(folder)``).
    object_codec : optional
        ``encode``/``decode`` of one object (default: cloudpickle).
    read_only : bool, default False
        Open without creating or changing anything (readers).

    Examples
    --------
    >>> import tempfile
    >>> arr = ZarrFileArray(tempfile.mkdtemp(), (2,), (3,), (True, False))
    >>> arr.dump((1,), [1, 2, 3]); arr[1, 2]
    3
    """

    storage_id = "zarr_file_array"
    requires_serialization = True
    _read_only_kwarg = True
    _mask_read_only = False

    def __init__(
        self,
        folder: str | Path | None,
        shape: ShapeTuple,
        internal_shape: ShapeTuple | None = None,
        shape_mask: Sequence[bool] | None = None,
        *,
        store: Store | str | Path | None = None,
        object_codec: Any = None,
        read_only: bool = False,
    ) -> None:
        super().__init__(folder, shape, internal_shape, shape_mask)
        self.read_only = bool(read_only)
        if not self.full_shape_is_resolved():
            msg = (
                f"{type(self).__name__} needs resolved shapes at construction, got shape {self.shape} and"
                f" internal_shape {self.internal_shape}; use another storage for outputs of unknown size"
            )
            raise ValueError(msg)
        self.store = self._make_store(store)
        self.object_codec = object_codec if object_codec is not None else CloudPickleCodec()
        self._before_open()
        self._open()

    # ------------------------------------------------------------------ setup
    def _make_store(self, store: Store | str | Path | None) -> Store:
        if isinstance(store, Store):
            return store
        if store is None and self.folder is None:
            msg = "Either a `store` or `folder` must be provided"
            raise ValueError(msg)
        root = Path(store if store is not None else self.folder).absolute()  # type: ignore[arg-type]
        if self.read_only:  # a reader creates nothing: a missing folder holds nothing yet
            return LocalStore(str(folder_for_reading(root, self._describe())), read_only=True)
        root.mkdir(parents=True, exist_ok=True)
        return LocalStore(str(root))

    def _before_open(self) -> None:
        """Hook for memory variants (load a persisted copy first)."""

    def _open(self) -> None:
        shape, internal, smask = self.resolved_shape, self.resolved_internal_shape, self.shape_mask
        full = merge_by_mask(smask, shape, internal)
        chunks = merge_by_mask(smask, (1,) * len(shape), tuple(max(1, s) for s in internal))
        if self.read_only:  # a reader: open what exists, write nothing (no array reads as empty)
            self.array = _open_existing(self.store, "array", full, self._describe())
        else:
            self.array = _open_or_create(self.store, "array", full, chunks, VariableLengthBytes(), b"")
        metadata = self.array.metadata if self.array is not None else None
        codecs = metadata.codecs if isinstance(metadata, ArrayV3Metadata) else ()  # a v2 array: foreign layout
        names = [type(c).__name__ for c in codecs]
        self._fast = self.array is None or names == ["VLenBytesCodec"]
        # fast layout: the mask is one chunk, a summary refreshed by persist(); foreign layouts
        # (e.g. pipefunc's) keep a chunk per element, written with each element
        mask_chunks = tuple(max(1, s) for s in shape) if self._fast else (1,) * len(shape)
        if self.read_only:
            self._mask = _open_existing(self.store, "mask", shape, self._describe())
            if self._mask is None and not self._fast:
                raise ValueError(f"{self._describe()}: the `mask` array is missing; the folder is damaged")
        else:
            self._mask = _open_or_create(self.store, "mask", shape, mask_chunks, bool, True)
        self._root = Path(self.store.root) if isinstance(self.store, LocalStore) else None
        self._made_dirs: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("array", "_mask", "_made_dirs", "_manager", "_mask_read_only"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if not isinstance(self.store, LocalStore) or self.read_only:
            self._open()
            return
        # a worker's copy: open through a read-only view, as zarr would silently re-create a
        # folder deleted mid-run (the fast layout's writes bypass zarr)
        writable, self.store, self.read_only = self.store, self.store.with_read_only(True), True
        try:
            self._open()
        finally:
            self.store, self.read_only = writable, False
        if self.array is None:
            raise vanished_folder_error(self.store.root)
        self._mask_read_only = True
        if not self._fast:  # a foreign layout is written through zarr
            self._open()
            self._mask_read_only = False

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", store={self.store!r}, object_codec={self.object_codec!r})"

    @property
    def dump_in_subprocess(self) -> bool:
        """True: one chunk per element, so workers write their own chunks."""
        return True

    # ------------------------------------------------------------------ keys
    def _chunk_key(self, ext: tuple[int, ...], array: str = "array") -> str:
        if array == "mask":
            coords = ext
        else:
            coords = merge_by_mask(self.shape_mask, ext, (0,) * len(self.internal_shape))
        if not coords:
            return f"{array}/c"
        return f"{array}/c/" + "/".join(map(str, coords))

    def _ext_keys(self, indices: np.ndarray) -> list[tuple[int, ...]]:
        shape = self.resolved_shape
        if not shape:
            return [()] * len(indices)
        return list(zip(*[c.tolist() for c in np.unravel_index(indices, shape)]))

    def _check_value(self, value: Any, key: Any) -> Any:
        try:
            return super()._check_value(value, key)
        except ValueError as exc:
            msg = f"Value has incorrect internal_shape: {exc}"
            raise ValueError(msg) from None

    # ------------------------------------------------------------------ encoding
    def _encode_element(self, value: Any) -> bytes:
        encode = self.object_codec.encode
        internal = self.resolved_internal_shape
        if not internal:
            return encode_vlen([encode(value)])
        if isinstance(value, (ErrorSnapshot, PropagatedErrorSnapshot)):  # a failed element: in every cell
            return encode_vlen([encode(value)] * prod(internal))
        if isinstance(value, np.ndarray) and value.dtype != object:
            value = value.astype(object)  # like pipefunc: cells of typed sub-arrays are stored as Python objects
        cells = []
        for inner in np.ndindex(*internal):
            cell = value
            for i in inner:
                cell = cell[i]
            cells.append(encode(cell))
        return encode_vlen(cells)

    def _decode_element(self, data: bytes, where: str) -> Any:
        try:
            items = decode_vlen(data)
            decode = self.object_codec.decode
            internal = self.resolved_internal_shape
            if not internal:
                if len(items) != 1:
                    msg = f"expected 1 item, found {len(items)}"
                    raise ValueError(msg)
                return decode(items[0])
            if len(items) != prod(internal):
                msg = f"expected {prod(internal)} items, found {len(items)}"
                raise ValueError(msg)
            out = np.empty(len(items), dtype=object)
            for n, item in enumerate(items):
                out[n] = decode(item)
            return out.reshape(internal)
        except Exception as exc:  # noqa: BLE001 - corrupt chunk: treat as missing
            moved = None
            if self._root is not None and where.startswith("array/c"):  # a chunk file of ours
                moved = quarantine(str(self._root) + os.sep + where.replace("/", os.sep))
            aside = f" It was moved aside to `{moved}`; a resume recomputes it." if moved else ""
            warnings.warn(
                f"{self._describe()}: zarr chunk `{where}` is corrupt or truncated ({type(exc).__name__}: {exc});"
                f" treating it as missing.{aside}",
                CorruptElementWarning,
                stacklevel=4,
            )
            return MISSING

    # ------------------------------------------------------------------ raw chunk I/O
    def _write_chunks(self, items: list[tuple[str, bytes]]) -> None:
        if self._root is not None:
            root = str(self._root) + os.sep
            made = self._made_dirs
            done = 0
            try:
                for key, data in items:
                    path = root + key
                    parent = path.rpartition("/")[0]
                    if parent not in made:
                        self._make_chunk_dirs(key)
                        made.add(parent)
                    try:  # one file per element: fsync each would cost ~0.3 ms per element
                        atomic_write_bytes(path, data, durable=False)
                    except FileNotFoundError:  # directory removed behind our back: recreate it
                        self._make_chunk_dirs(key)
                        atomic_write_bytes(path, data, durable=False)
                    done += 1
            except BaseException as exc:
                exc.pipemap_files_written = done  # type: ignore[attr-defined] # the first `done` are complete
                raise
            return
        store = self.store
        sync(_gather([store.set(key, Buffer.from_bytes(data)) for key, data in items]))

    def _make_chunk_dirs(self, key: str) -> None:
        """Create chunk ``key``'s directories below ``array/``, never the store (deleted mid-run)."""
        root = str(self._root)
        parts = key.split("/")[:-1]
        path = root + os.sep + parts[0]
        for part in parts[1:]:
            path += os.sep + part
            try:
                os.mkdir(path)
            except FileExistsError:
                continue
            except FileNotFoundError:
                raise vanished_folder_error(root) from None

    def _check_root(self) -> None:
        """Raise if the store's folder is gone (before zarr would silently re-create it)."""
        if self._root is not None and not os.path.isfile(os.path.join(self._root, "array", "zarr.json")):
            raise vanished_folder_error(self._root)

    def _read_chunks(self, keys: list[str]) -> list[bytes | None]:
        if self._root is not None:
            root = str(self._root) + os.sep
            out: list[bytes | None] = []
            for key in keys:
                try:
                    with open(root + key, "rb") as handle:
                        out.append(handle.read())
                except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                    out.append(None)
            return out
        prototype = default_buffer_prototype()
        buffers = sync(_gather([self.store.get(key, prototype=prototype) for key in keys]))
        return [None if b is None else b.to_bytes() for b in buffers]

    # ------------------------------------------------------------------ primitives
    def _put_many(self, indices: np.ndarray, values: list[Any]) -> None:
        ext_keys = self._ext_keys(indices)
        if not self._fast:
            self._put_many_slow(ext_keys, values)
            return
        data = [(self._chunk_key(ext), self._encode_element(v)) for ext, v in zip(ext_keys, values)]
        try:
            self._write_chunks(data)  # an element exists once its chunk exists
        except BaseException as exc:  # local files are written in order: say which made it
            written = getattr(exc, "pipemap_files_written", None)
            if written is not None:
                mark_stored(exc, indices[:written])
            raise

    def _put_many_slow(self, ext_keys: list[tuple[int, ...]], values: list[Any]) -> None:
        internal = self.resolved_internal_shape
        for ext, value in zip(ext_keys, values):
            target = merge_by_mask(self.shape_mask, ext, (slice(None),) * len(internal))
            items = decode_vlen(self._encode_element(value))
            block = np.empty(len(items), dtype=object)
            block[:] = items
            self.array[target] = block.reshape(internal) if internal else block[0]
            self._mask[ext] = False

    def _get_many(self, indices: np.ndarray) -> list[Any]:
        ext_keys = self._ext_keys(indices)
        if not self._fast:
            return [self._get_slow(ext) for ext in ext_keys]
        keys = [self._chunk_key(ext) for ext in ext_keys]
        raw = self._read_chunks(keys)
        return [MISSING if data is None else self._decode_element(data, key) for key, data in zip(keys, raw)]

    def _get_slow(self, ext: tuple[int, ...]) -> Any:
        if self._mask[ext]:
            return MISSING
        internal = self.resolved_internal_shape
        target = merge_by_mask(self.shape_mask, ext, (slice(None),) * len(internal))
        block = np.asarray(self.array[target], dtype=object)
        items = [bytes(x) for x in block.ravel()]
        return self._decode_element(encode_vlen(items), f"array{list(ext)}")

    def _get_linear(self, index: int) -> Any:
        return self._get_many(np.array([index], dtype=np.int64))[0]

    def _missing_from_index(self, index: int) -> Any:
        return np.ma.masked

    def done_mask(self) -> np.ndarray:
        """True where the element's data chunk exists (one listing of the chunk keys)."""
        size = self.size
        mask = np.zeros(size, dtype=bool)
        if not self._fast:
            return ~np.asarray(self._mask[...], dtype=bool).reshape(size)
        coords = self._list_chunk_coords()
        if coords:
            full = np.asarray(coords, dtype=np.int64).reshape(len(coords), -1)
            ext_cols = [a for a, m in enumerate(self.shape_mask) if m]
            if full.shape[1] != len(self.shape_mask):
                return ~np.asarray(self._mask[...], dtype=bool).reshape(size)
            ext = full[:, ext_cols]
            shape = self.resolved_shape
            ok = np.all((ext >= 0) & (ext < np.asarray(shape, dtype=np.int64)), axis=1) if shape else np.ones(len(ext), bool)
            linear = np.ravel_multi_index(tuple(ext[ok].T), shape) if shape else np.zeros(int(ok.sum()), np.int64)
            mask[linear] = True
        return mask

    def _list_chunk_coords(self) -> list[tuple[int, ...]]:
        ndim = len(self.shape_mask)
        if ndim == 0:
            return [()] if self._read_chunks(["array/c"])[0] is not None else []
        if self._root is not None:
            base = str(self._root / "array" / "c")
            coords: list[tuple[int, ...]] = []
            self._walk(base, (), ndim, coords)
            return coords

        async def collect() -> list[str]:
            return [key async for key in self.store.list_prefix("array/c/")]

        out = []
        for key in sync(collect()):
            parts = key[len("array/c/") :].split("/")
            if len(parts) == ndim and all(p.isdigit() for p in parts):
                out.append(tuple(int(p) for p in parts))
        return out

    def _walk(self, path: str, prefix: tuple[int, ...], remaining: int, out: list[tuple[int, ...]]) -> None:
        try:
            names = os.listdir(path)
        except (FileNotFoundError, NotADirectoryError):
            return
        digits = [n for n in names if n.isdigit()]
        if remaining == 1:
            out.extend((*prefix, int(n)) for n in digits)
            return
        for name in digits:
            self._walk(path + os.sep + name, (*prefix, int(name)), remaining - 1, out)

    def refresh_mask(self) -> None:
        """Rewrite the ``mask`` array from the data chunks present (one chunk write)."""
        if self._fast:
            self._check_root()
            if self._mask_read_only:  # opened by __setstate__
                self._mask = zarr.open_array(store=self.store, path="mask", mode="r+")
                self._mask_read_only = False
            missing = ~self.done_mask()
            self._mask[...] = missing.reshape(self.resolved_shape) if self.shape else bool(missing[0])

    def persist(self) -> None:
        """Bring the ``mask`` summary array up to date (data chunks are always on disk)."""
        self.refresh_mask()

    def finish_run(self) -> None:
        """On disk: refresh the ``mask`` summary, which pipefunc reads as the truth (FORMAT.md)."""
        if not self.supports_persist:  # memory variants refresh it in persist()
            self.refresh_mask()

    def to_array(self, *, splat_internal: bool | None = None) -> np.ma.MaskedArray:
        """All elements as an object masked array; internal axes are always splatted.

        ``splat_internal=False`` with internal axes raises ``NotImplementedError``.
        """
        if splat_internal is False and self.internal_shape:
            msg = "splat_internal must be True"
            raise NotImplementedError(msg)
        return super().to_array(splat_internal=splat_internal)

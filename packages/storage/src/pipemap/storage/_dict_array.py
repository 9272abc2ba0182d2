"""`DictArray`: elements in a dict keyed by external index tuples (``storage_id="dict"``).

``persist()`` writes ``dict_array.cloudpickle`` into ``folder`` (atomically); a new instance on
the same folder loads it (memory-storage resume).

>>> from pipemap.storage import DictArray
>>> arr = DictArray(None, (2, 3))
>>> arr.dump((0, 0), "a"); arr.dump((1, 2), "b")
>>> arr[0, 1] is np.ma.masked, int(arr.to_array().count())
(True, 2)
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import MISSING, atomic_write_bytes, deserialize, ensure_own_folder, serialize, unpicklable_error, unpicklable_part
from ._base import StorageBase
from ._shapes import ShapeTuple, c_strides, shape_is_resolved

__all__ = ["DICT_FILENAME", "DictArray"]

DICT_FILENAME = "dict_array.cloudpickle"


class DictArray(StorageBase):
    """A dict-backed array living in the main process's memory (``storage_id="dict"``).

    Slices return a plain object ``ndarray`` whose missing cells hold ``np.ma.masked`` (with
    internal axes, missing cells read as ``None``: pipefunc's behaviour, kept for compatibility).
    With a ``folder``, ``persist()`` writes ``dict_array.cloudpickle`` there and a new instance on
    that folder loads it (memory-storage resume).

    Parameters
    ----------
    folder : str or Path or None
        The output's folder (in a run: ``<run_folder>/outputs/<name>``); None: nothing is persisted.
    shape : tuple
        The external shape: one size per external axis, ``"?"`` where not known yet.
    internal_shape : tuple, optional
        The sizes of the internal axes every element spans (default ``()``: none).
    shape_mask : sequence of bool, optional
        Which axes of the full shape are external (True) or internal (False); required with an
        ``internal_shape``, default all True.
    mapping : mutable mapping, optional
        The mapping to hold the elements, keyed by external index tuples (default: a dense list
        indexed by linear index, which needs less memory).

    Examples
    --------
    >>> arr = DictArray(None, (3,)); arr.dump((1,), 5); arr[:].tolist()
    [masked, 5, masked]
    """

    storage_id = "dict"
    requires_serialization = False
    splat_keeps_numpy_scalars = False  # pipefunc's DictArray splats through numpy assignment

    def __init__(
        self,
        folder: str | Path | None,
        shape: ShapeTuple,
        internal_shape: ShapeTuple | None = None,
        shape_mask: Sequence[bool] | None = None,
        *,
        mapping: MutableMapping[tuple[int, ...], Any] | None = None,
    ) -> None:
        super().__init__(folder, shape, internal_shape, shape_mask)
        # Without a caller-given mapping, elements live in a dense list indexed by linear index
        # (8 bytes per slot instead of a tuple key and a dict entry: ~130 bytes per element).
        self._dense = mapping is None
        self._values: list[Any] = []
        #: elements loaded from ``folder`` before the external shape was known (resolved on first use)
        self._pending: dict[tuple[int, ...], Any] | None = None
        self._dict: MutableMapping[tuple[int, ...], Any] = {} if mapping is None else mapping
        self.load()

    @property
    def dump_in_subprocess(self) -> bool:
        """False: the dict lives in the main process; workers return values instead."""
        return False

    @property
    def supports_persist(self) -> bool:
        """True when a ``folder`` is set: ``persist()`` writes ``dict_array.cloudpickle``."""
        return self.folder is not None

    # ------------------------------------------------------------------ primitives
    def _key(self, index: int) -> tuple[int, ...]:
        return tuple((index // s) % n for s, n in zip(self.strides, self.resolved_shape))

    def _keys(self, indices: np.ndarray) -> list[tuple[int, ...]]:
        shape = self.resolved_shape
        if not shape:
            return [()] * len(indices)
        if len(shape) == 1:
            return [(i,) for i in indices.tolist()]
        columns = [c.tolist() for c in np.unravel_index(indices, shape)]
        return list(zip(*columns))

    def _dense_slots(self) -> list[Any]:
        """The dense slot list, sized to the (now resolved) shape on first use."""
        size = self.size
        if len(self._values) != size:
            if any(v is not MISSING for v in self._values):
                msg = f"{type(self).__name__}: the shape changed to {self.shape} after elements were stored."
                raise ValueError(msg)
            self._values = [MISSING] * size
            if self._pending is not None:  # a persisted run whose shape was unknown when it was loaded
                pending, self._pending = self._pending, None
                self._load_dense(pending)
        return self._values

    def _get_linear(self, index: int) -> Any:
        if self._dense:
            return self._dense_slots()[index]
        return self._dict.get(self._key(index), MISSING)

    def _get_many(self, indices: np.ndarray) -> list[Any]:
        if self._dense:
            slots = self._dense_slots()
            return [slots[i] for i in indices.tolist()]
        get = self._dict.get
        return [get(k, MISSING) for k in self._keys(indices)]

    def _put_many(self, indices: np.ndarray, values: list[Any]) -> None:
        if self._dense:
            slots = self._dense_slots()
            for i, value in zip(indices.tolist(), values):
                slots[i] = value
            return
        self._dict.update(zip(self._keys(indices), values))

    @property
    def mapping(self) -> dict[tuple[int, ...], Any]:
        """The stored elements as {external index tuple: value} (a copy in dense mode).

        >>> a = DictArray(None, (2, 2)); a.dump((1, 0), "v"); a.mapping
        {(1, 0): 'v'}
        """
        if not self._dense:
            return dict(self._dict)
        done = np.flatnonzero(self.done_mask())
        return dict(zip(self._keys(done), (self._values[i] for i in done.tolist())))

    def done_mask(self) -> np.ndarray:
        """True where a key is present.

        >>> a = DictArray(None, (2, 2)); a.dump((1, 0), 0); a.done_mask().tolist()
        [False, False, True, False]
        """
        if self._dense:
            slots = self._dense_slots()
            return np.fromiter((v is not MISSING for v in slots), dtype=bool, count=len(slots))
        shape = self.resolved_shape
        mask = np.zeros(self.size, dtype=bool)
        keys = list(self._dict.keys())
        if keys:
            if shape:
                multi = np.asarray(keys, dtype=np.int64).reshape(len(keys), len(shape))
                mask[multi @ np.asarray(c_strides(shape), dtype=np.int64)] = True
            else:
                mask[0] = True
        return mask

    def _missing_cell(self) -> Any:
        return None if self.internal_shape else np.ma.masked

    def _wrap_slice(self, data: np.ndarray, mask: np.ndarray) -> Any:
        return data

    # ------------------------------------------------------------------ persistence
    def _path(self) -> Path:
        assert self.folder is not None
        return self.folder / DICT_FILENAME

    def persist(self) -> None:
        """Write the content to ``folder/dict_array.cloudpickle`` atomically (no-op without folder).

        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> a = DictArray(folder, (2,)); a.dump((1,), "x"); a.persist()
        >>> DictArray(folder, (2,))[1]
        'x'
        """
        if self.folder is None:
            return
        mapping = self.mapping
        try:
            data = serialize(mapping)
        except Exception as exc:  # noqa: BLE001 - re-raised naming the element (found only now)
            key = next((k for k in mapping if unpicklable_part([mapping[k]]) is not None), None)
            where = f"the element at {key} (linear index {self._linear_of(key)})" if key is not None else "an element"
            raise unpicklable_error(exc, f"{self._describe()}: {where}", None) from exc
        ensure_own_folder(self.folder)  # never re-creates a run folder deleted mid-run
        atomic_write_bytes(self._path(), data)

    def _linear_of(self, key: tuple[int, ...]) -> int:
        return int(sum(k * s for k, s in zip(key, self.strides)))

    def load(self) -> None:
        """Load ``folder/dict_array.cloudpickle`` into the mapping if it exists."""
        if self.folder is None:
            return
        path = self._path()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        try:
            loaded = deserialize(data)
        except Exception as exc:
            msg = f"{type(self).__name__}: could not load `{path}` ({type(exc).__name__}: {exc})"
            raise ValueError(msg) from exc
        if self._dense:
            self._values, self._pending = [], None
            if loaded and not shape_is_resolved(self.shape):
                self._pending = dict(loaded)  # placed once the run resolves the shape (resume)
            elif loaded:
                self._load_dense(loaded)
            return
        self._dict.clear()
        self._dict.update(loaded)

    def _load_dense(self, loaded: dict[tuple[int, ...], Any]) -> None:
        keys = list(loaded)
        shape = self.resolved_shape
        multi = np.asarray(keys, dtype=np.int64).reshape(len(keys), len(shape))
        if (multi >= np.asarray(shape, dtype=np.int64)).any():
            msg = f"{self._describe()}: `{self._path()}` holds elements outside the shape {shape}; the run folder is damaged"
            raise ValueError(msg)
        self._put_many(multi @ np.asarray(c_strides(shape), dtype=np.int64), list(loaded.values()))

"""`StorageBase`: the contract every backend implements (docs/behaviour.md §3.1) plus bulk members.

A backend implements three small primitives and inherits correct generic versions of everything
else (it may override any member it can do faster):

* ``_get_linear(n)`` -> the stored object at linear index ``n`` or :data:`MISSING`;
* ``_put_many(indices, values)`` -> store already validated ``values`` at int64 ``indices``;
* ``done_mask()`` -> boolean array of length ``size``, True where an element is stored.

Shapes are plain attributes that the engine may overwrite when a ``"?"`` gets resolved, so every
derived value (``size``, ``strides``, ``full_shape`` ...) is computed from the current attributes.

>>> from pipemap.storage import DictArray
>>> arr = DictArray(None, (2, 3))
>>> arr.dump((1, 2), "x")
>>> arr.to_array()[1, 2], arr.mask_linear().count(False)
('x', 1)
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeGuard

import numpy as np

from ._atomic import MISSING
from ._splat import sliced_cells, splat_elements
from ._shapes import (
    ShapeTuple,
    as_linear_indices,
    c_strides,
    leading_shape,
    merge_by_mask,
    prod,
    ranges_of,
    shape_is_resolved,
)

__all__ = ["StorageBase", "as_linear_indices"]

Key = int | slice | tuple[int | slice, ...]
"""An index: one int or slice per axis (a bare int or slice for one axis)."""


def _is_element_key(key: tuple[int | slice, ...]) -> TypeGuard[tuple[int, ...]]:
    """Whether a normalized key selects one element (no slices)."""
    return all(not isinstance(k, slice) for k in key)


class StorageBase(abc.ABC):
    """Base class of pipemap storages: an N-d array of Python objects, element by element.

    ``Cls(folder, shape, internal_shape=None, shape_mask=None, **extra)``. A backend implements
    ``_get_linear``, ``_put_many``, ``done_mask`` and ``dump_in_subprocess``; keys, slices, masks,
    bulk members and the checks come from here (see the how-to "Add a storage backend").

    Capabilities (class attributes / properties): ``storage_id``, ``requires_serialization``,
    ``dump_in_subprocess`` (a worker's writes are visible to the parent), ``supports_persist``
    (``persist()`` does something).

    Parameters
    ----------
    folder : str or Path or None
        The output's folder (in a run: ``<run_folder>/outputs/<name>``); None for memory storages without one.
    shape : tuple
        The external shape: one size per external axis, ``"?"`` where not known yet.
    internal_shape : tuple, optional
        The sizes of the internal axes every element spans (default ``()``: none).
    shape_mask : sequence of bool, optional
        Which axes of the full shape are external (True) or internal (False); required with an
        ``internal_shape``, default all True.

    Examples
    --------
    >>> from pipemap.storage import FileArray
    >>> import tempfile
    >>> arr = FileArray(tempfile.mkdtemp(), (2,), (3,), (True, False))
    >>> arr.full_shape
    (2, 3)
    """

    storage_id: ClassVar[str]
    requires_serialization: ClassVar[bool]
    #: when splatting, array-valued elements give numpy scalars (pipefunc's FileArray) rather than
    #: Python objects (pipefunc's DictArray)
    splat_keeps_numpy_scalars: ClassVar[bool] = True
    #: opened by :meth:`open_read_only`: writes raise ``PermissionError``
    read_only: bool = False
    #: the constructor takes ``read_only=True`` (nothing created or changed in ``folder``)
    _read_only_kwarg: ClassVar[bool] = False
    folder: Path | None
    shape: ShapeTuple
    internal_shape: ShapeTuple
    shape_mask: tuple[bool, ...]

    def __init__(
        self,
        folder: str | Path | None,
        shape: ShapeTuple,
        internal_shape: ShapeTuple | None = None,
        shape_mask: Sequence[bool] | None = None,
    ) -> None:
        shape = tuple(shape)
        internal_shape = tuple(internal_shape) if internal_shape is not None else ()
        if internal_shape and shape_mask is None:
            msg = "shape_mask must be provided if internal_shape is provided"
            raise ValueError(msg)
        if shape_mask is not None:
            shape_mask = tuple(bool(m) for m in shape_mask)
            if len(shape_mask) != len(shape) + len(internal_shape):
                msg = "shape_mask must have the same length as shape + internal_shape"
                raise ValueError(msg)
            if sum(shape_mask) != len(shape):
                msg = (
                    f"shape_mask {shape_mask} must have exactly len(shape)={len(shape)} True"
                    f" entries (one per external axis of shape {shape})"
                )
                raise ValueError(msg)
        for size in shape + internal_shape:
            if not (size == "?" or (isinstance(size, (int, np.integer)) and size >= 0)):
                msg = f"Invalid size {size!r} in shape {shape} / internal_shape {internal_shape}: expected a non-negative int or '?'"
                raise ValueError(msg)
        self.folder = Path(folder) if folder is not None else None
        self.shape = tuple(int(s) if s != "?" else s for s in shape)
        self.internal_shape = tuple(int(s) if s != "?" else s for s in internal_shape)
        self.shape_mask = shape_mask if shape_mask is not None else (True,) * len(shape)

    @classmethod
    def open_read_only(
        cls,
        folder: str | Path | None,
        shape: ShapeTuple,
        internal_shape: ShapeTuple | None = None,
        shape_mask: Sequence[bool] | None = None,
    ) -> StorageBase:
        """Open ``folder`` for readers: nothing is created or changed there (a missing folder
        reads as empty, writes raise ``PermissionError``). Other backends than the built-in
        ones fall back to the constructor (override this if yours writes on construction).
        """
        if cls._read_only_kwarg:
            return cls(folder, shape, internal_shape, shape_mask, read_only=True)  # type: ignore[call-arg]
        return cls(folder, shape, internal_shape, shape_mask)

    def _refuse_read_only(self) -> None:
        msg = f"{self._describe()} was opened read-only (by a reader); nothing was written"
        raise PermissionError(msg)

    @classmethod
    def from_data(cls, data: Any, folder: str | Path | None, **kwargs: Any) -> StorageBase:
        """Create a storage of shape ``np.shape(data)`` in ``folder`` holding every element of ``data``.

        Lists keep their Python objects; ndarrays give numpy scalars. Useful to pass large inputs
        by reference (on-disk backends pickle as a folder, not as data).

        >>> import tempfile
        >>> from pipemap.storage import FileArray
        >>> FileArray.from_data([[1, 2], [3, 4]], tempfile.mkdtemp()).to_array().tolist()
        [[1, 2], [3, 4]]
        """
        if isinstance(data, np.ndarray):
            shape: tuple[int, ...] = data.shape
            flat = list(data.ravel())
        else:
            shape = tuple(np.shape(data)) if not isinstance(data, range) else (len(data),)
            if len(shape) == 1:
                flat = list(data)
            else:
                holder = np.empty(shape, dtype=object)
                holder[...] = data
                flat = list(holder.ravel())
        store = cls(folder, shape, **kwargs)
        store.dump_many(range(len(flat)), flat)
        return store

    # ------------------------------------------------------------------ primitives
    @abc.abstractmethod
    def _get_linear(self, index: int) -> Any:
        """Return the element at linear ``index`` or ``MISSING`` (index already validated)."""

    @abc.abstractmethod
    def _put_many(self, indices: np.ndarray, values: list[Any]) -> None:
        """Store ``values[k]`` at ``indices[k]`` (validated); each element atomically."""

    @abc.abstractmethod
    def done_mask(self) -> np.ndarray:
        """Return a bool array of length ``size``: True where an element is stored.

        >>> from pipemap.storage import DictArray
        >>> a = DictArray(None, (3,)); a.dump((1,), 0); a.done_mask().tolist()
        [False, True, False]
        """

    def _get_many(self, indices: np.ndarray) -> list[Any]:
        """Return the elements at ``indices`` with ``MISSING`` for absent ones (override for speed)."""
        get = self._get_linear
        return [get(int(i)) for i in indices]

    def _has_linear(self, index: int) -> bool:
        return self._get_linear(index) is not MISSING

    # ------------------------------------------------------------------ capabilities
    @property
    @abc.abstractmethod
    def dump_in_subprocess(self) -> bool:
        """Whether writes made in a worker process are visible to the main process."""

    @property
    def supports_persist(self) -> bool:
        """Whether :meth:`persist` writes memory content to ``folder`` (False: no-op)."""
        return False

    def persist(self) -> None:
        """Save memory content to ``folder`` (no-op for on-disk backends)."""

    def finish_run(self) -> None:  # noqa: B027 - an optional hook
        """Called once when a run that wrote this storage ends (also after a failure): bring
        on-disk summaries up to date for other readers, e.g. pipefunc (no-op by default)."""

    # ------------------------------------------------------------------ derived shapes
    @property
    def resolved_shape(self) -> tuple[int, ...]:
        """The external shape, checked to hold no ``"?"``."""
        if not shape_is_resolved(self.shape):
            msg = f"{self._describe()}: shape {self.shape} is not resolved yet (contains '?')"
            raise ValueError(msg)
        return self.shape

    @property
    def resolved_internal_shape(self) -> tuple[int, ...]:
        """The internal shape, checked to hold no ``"?"``."""
        if not shape_is_resolved(self.internal_shape):
            msg = f"{self._describe()}: internal_shape {self.internal_shape} is not resolved yet (contains '?')"
            raise ValueError(msg)
        return self.internal_shape

    @property
    def size(self) -> int:
        """Number of elements (product of the external shape)."""
        return prod(self.resolved_shape)

    @property
    def rank(self) -> int:
        """Number of external axes."""
        return len(self.shape)

    @property
    def strides(self) -> tuple[int, ...]:
        """C strides (in elements) of the external shape."""
        return c_strides(self.resolved_shape)

    @property
    def full_shape(self) -> tuple[Any, ...]:
        """External and internal sizes merged by ``shape_mask``."""
        return merge_by_mask(self.shape_mask, self.shape, self.internal_shape)

    def full_shape_is_resolved(self) -> bool:
        """Whether no ``"?"`` is left in shape or internal shape."""
        return shape_is_resolved(self.shape) and shape_is_resolved(self.internal_shape)

    # ------------------------------------------------------------------ keys
    def _describe(self) -> str:
        return f"{type(self).__name__} at `{self.folder}`" if self.folder is not None else f"{type(self).__name__} (in memory)"

    def _context(self, key: Any) -> str:
        return (
            f"({self._describe()}, key {key!r}, shape {self.shape}, internal_shape {self.internal_shape},"
            f" shape_mask {self.shape_mask})"
        )

    def _normalize_key(self, key: Any, *, for_dump: bool = False) -> tuple[int | slice, ...]:
        original = key
        if not isinstance(key, tuple):
            key = (key,)
        if for_dump:
            sizes: tuple[int, ...] = self.resolved_shape
        else:
            sizes = merge_by_mask(self.shape_mask, self.resolved_shape, self.resolved_internal_shape)
        if len(key) != len(sizes):
            msg = (
                f"Too many indices for array: array is {len(sizes)}-dimensional, but {len(key)} were indexed"
                f" {self._context(original)}"
            )
            raise IndexError(msg)
        normalized: list[int | slice] = []
        for axis, (k, size) in enumerate(zip(key, sizes)):
            if isinstance(k, slice):
                normalized.append(k)
                continue
            if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
                msg = f"Index {k!r} for axis {axis} must be an int or a slice {self._context(original)}"
                raise TypeError(msg)
            kk = int(k) + size if k < 0 else int(k)
            if not 0 <= kk < size:
                msg = f"Index {k} is out of bounds for axis {axis} with size {size} {self._context(original)}"
                raise IndexError(msg)
            normalized.append(kk)
        return tuple(normalized)

    def _check_value(self, value: Any, key: Any) -> Any:
        """Check that ``value`` spans the internal shape (if any); return it unchanged."""
        internal = self.internal_shape
        if not internal or not shape_is_resolved(internal):
            return value
        got = leading_shape(value, len(internal))
        if got != tuple(internal):
            msg = (
                f"Value of shape {got if got is not None else type(value).__name__} does not match the"
                f" internal_shape {internal} {self._context(key)}; nothing was written"
            )
            raise ValueError(msg)
        return value

    # ------------------------------------------------------------------ writes
    def dump(self, key: Key, value: Any) -> None:
        """Store ``value`` at external ``key`` (ints, negative ints or slices; slices repeat the value).

        >>> from pipemap.storage import DictArray
        >>> a = DictArray(None, (2, 3)); a.dump((-1, slice(None)), 7); a.mask_linear()
        [True, True, True, False, False, False]
        """
        if self.read_only:
            self._refuse_read_only()
        normalized = self._normalize_key(key, for_dump=True)
        self._check_value(value, key)
        strides = self.strides
        if _is_element_key(normalized):
            linear = sum(k * s for k, s in zip(normalized, strides))
            self._put_many(np.array([linear], dtype=np.int64), [value])
            return
        ranges = ranges_of(normalized, self.resolved_shape)
        linears = [sum(i * s for i, s in zip(idx, strides)) for idx in itertools.product(*ranges)]
        self._put_many(np.asarray(linears, dtype=np.int64), [value] * len(linears))

    def dump_many(self, linear_indices: Iterable[int] | np.ndarray, values: Sequence[Any]) -> None:
        """Store ``values[k]`` at linear index ``linear_indices[k]`` (bulk; each element atomic).

        All keys and values are validated before anything is written.

        >>> from pipemap.storage import DictArray
        >>> a = DictArray(None, (4,)); a.dump_many(range(2), ["a", "b"]); a.get_many([0, 1, 2])
        ['a', 'b', masked]
        """
        if self.read_only:
            self._refuse_read_only()
        indices = self._check_linear(linear_indices)
        values = list(values)
        if len(values) != len(indices):
            msg = f"dump_many got {len(indices)} indices but {len(values)} values {self._context(None)}"
            raise ValueError(msg)
        if self.internal_shape:
            for index, value in zip(indices, values):
                self._check_value(value, int(index))
        if len(indices):
            self._put_many(indices, values)

    def _check_linear(self, linear_indices: Iterable[int] | np.ndarray) -> np.ndarray:
        if isinstance(linear_indices, range):
            indices = np.arange(linear_indices.start, linear_indices.stop, linear_indices.step, dtype=np.int64)
        else:
            indices = np.asarray(linear_indices)
            if indices.dtype != np.int64:
                if indices.size and not np.issubdtype(indices.dtype, np.integer):
                    msg = f"Linear indices must be integers, got dtype {indices.dtype} {self._context(None)}"
                    raise TypeError(msg)
                indices = indices.astype(np.int64)
        if indices.ndim != 1:
            msg = f"Linear indices must be 1-D, got shape {indices.shape} {self._context(None)}"
            raise ValueError(msg)
        if indices.size:
            size = self.size
            lo, hi = int(indices.min()), int(indices.max())
            if lo < 0 or hi >= size:
                bad = lo if lo < 0 else hi
                msg = f"Linear index {bad} is out of bounds for size {size} {self._context(bad)}; nothing was written/read"
                raise IndexError(msg)
        return indices

    # ------------------------------------------------------------------ reads
    def get_many(self, linear_indices: Iterable[int] | np.ndarray) -> list[Any]:
        """Return the stored objects at ``linear_indices``; ``np.ma.masked`` where missing.

        >>> from pipemap.storage import DictArray
        >>> a = DictArray(None, (2,)); a.dump((0,), 5); a.get_many([1, 0])
        [masked, 5]
        """
        indices = self._check_linear(linear_indices)
        masked = np.ma.masked
        return [masked if v is MISSING else v for v in self._get_many(indices)]

    def missing_indices(self) -> np.ndarray:
        """Return the int64 linear indices not stored yet.

        >>> from pipemap.storage import DictArray
        >>> a = DictArray(None, (3,)); a.dump((1,), 0); a.missing_indices().tolist()
        [0, 2]
        """
        return np.flatnonzero(~self.done_mask()).astype(np.int64)

    def has_index(self, index: int) -> bool:
        """Whether an element is stored at linear ``index``."""
        index = int(index)
        if not 0 <= index < self.size:
            return False
        return self._has_linear(index)

    def get_from_index(self, index: int) -> Any:
        """Return the element at linear ``index`` (missing: backend-specific error, see docs/behaviour.md §3.2)."""
        index = int(index)
        if not 0 <= index < self.size:
            msg = f"Index {index} is out of bounds for {self._describe()} of size {self.size}"
            raise ValueError(msg)
        value = self._get_linear(index)
        if value is MISSING:
            return self._missing_from_index(index)
        return value

    def _missing_from_index(self, index: int) -> Any:
        msg = f"No element stored at linear index {index} in {self._describe()}"
        raise KeyError(msg)

    def _missing_cell(self) -> Any:
        """The value ``__getitem__`` returns for an absent element."""
        return np.ma.masked

    def _wrap_slice(self, data: np.ndarray, mask: np.ndarray) -> Any:
        """Package a sliced read (default: a masked array)."""
        return np.ma.MaskedArray(data, mask=mask, dtype=object)

    def __getitem__(self, key: Key) -> Any:
        """Index with one entry per full axis; ints give an element, slices an array.

        >>> from pipemap.storage import DictArray
        >>> a = DictArray(None, (2,)); a.dump((0,), "v"); a[0], a[1] is np.ma.masked
        ('v', True)
        """
        normalized = self._normalize_key(key)
        mask = self.shape_mask
        if _is_element_key(normalized):
            external = [k for k, m in zip(normalized, mask) if m]
            internal = tuple(k for k, m in zip(normalized, mask) if not m)
            linear = sum(k * s for k, s in zip(external, self.strides))
            value = self._get_linear(linear)
            if value is MISSING:
                return self._missing_cell()
            if internal:
                return np.asarray(value)[internal]
            return value
        return self._get_sliced(normalized)

    def _get_sliced(self, normalized: tuple[int | slice, ...]) -> Any:
        data, mask = sliced_cells(self, normalized)
        return self._wrap_slice(data, mask)

    def to_array(self, *, splat_internal: bool | None = None) -> np.ma.MaskedArray:
        """Return every element as an object masked array (missing elements masked).

        ``splat_internal=None`` splats iff there are internal axes; splatted arrays have the full shape.

        >>> from pipemap.storage import DictArray
        >>> a = DictArray(None, (2,), (2,), (True, False)); a.dump((0,), [1, 2])
        >>> a.to_array().tolist()
        [[1, 2], [None, None]]
        """
        internal = self.resolved_internal_shape
        if splat_internal is None:
            splat_internal = bool(internal)
        if splat_internal and not internal:
            msg = "internal_shape must be provided if splat_internal is True"
            raise ValueError(msg)
        shape = self.resolved_shape
        size = prod(shape)
        values = self._get_many(np.arange(size, dtype=np.int64))
        if not splat_internal:
            data = np.empty(size, dtype=object)
            mask = np.zeros(size, dtype=bool)
            for n, value in enumerate(values):
                if value is MISSING:
                    mask[n] = True
                else:
                    data[n] = value
            return np.ma.MaskedArray(data.reshape(shape), mask=mask.reshape(shape), dtype=object)
        return self._splat(values, shape, internal)

    def _splat(self, values: list[Any], shape: tuple[int, ...], internal: tuple[int, ...]) -> np.ma.MaskedArray:
        return splat_elements(values, shape, internal, self.shape_mask, self.splat_keeps_numpy_scalars)

    @property
    def mask(self) -> np.ma.MaskedArray:
        """Boolean masked array over the external shape; True (and masked) where missing."""
        missing = ~self.done_mask()
        missing = missing.reshape(self.resolved_shape)
        return np.ma.MaskedArray(missing, mask=missing, dtype=bool)

    def mask_linear(self) -> list[bool]:
        """List of booleans over linear indices; True where missing."""
        return (~self.done_mask()).tolist()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(folder={str(self.folder) if self.folder else None!r}, shape={self.shape},"
            f" internal_shape={self.internal_shape}, shape_mask={self.shape_mask})"
        )

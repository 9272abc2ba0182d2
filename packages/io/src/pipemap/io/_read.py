"""Bulk reads of one storage: one mask query, one ``get_many`` for the stored elements.

Failed elements (``ErrorSnapshot`` / ``PropagatedErrorSnapshot``) are reported apart, and either
masked like missing ones (the default, for presentation) or kept in the array as stored
(``keep_errors=True``, what ``load_outputs`` returns, as pipefunc's ``to_array``).

>>> from pipemap.storage import DictArray
>>> arr = DictArray(None, (3,)); arr.dump_many([0, 2], ["a", "c"])
>>> read_storage(arr).array.tolist()
['a', None, 'c']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pipemap.storage import ErrorSnapshot, PropagatedErrorSnapshot, StorageBase

from ._arrays import object_array, splat_internal

__all__ = ["ERROR_TYPES", "StorageRead", "is_error", "read_storage"]

ERROR_TYPES: tuple[type, ...] = (ErrorSnapshot, PropagatedErrorSnapshot)
_MASKED_TYPE = type(np.ma.masked)
_ERROR_NAMES = frozenset({"ErrorSnapshot", "PropagatedErrorSnapshot"})


def is_error(value: Any) -> bool:
    """Whether ``value`` is a stored failure record.

    >>> is_error(3)
    False
    """
    return isinstance(value, ERROR_TYPES) or type(value).__name__ in _ERROR_NAMES


@dataclass
class StorageRead:
    """The outcome of reading a whole storage."""

    #: object masked array of the full shape (internal axes splatted); missing masked, failed
    #: masked too unless read with ``keep_errors`` (then they hold their records)
    array: np.ma.MaskedArray
    #: linear (external) indices of failed elements, and their records
    failed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    errors: list[Any] = field(default_factory=list)
    n_done: int = 0


def read_storage(store: StorageBase, *, splat: bool = True, keep_errors: bool = False) -> StorageRead:
    """Read every element of ``store`` in bulk; see :class:`StorageRead`.

    ``keep_errors``: failed elements stay in the array, unmasked (with internal axes, every cell
    of a failed element holds its record, as in the runner's ``ResultDict``).

    >>> from pipemap.storage import DictArray, ErrorSnapshot
    >>> arr = DictArray(None, (2,)); arr.dump_many([0, 1], [1, ErrorSnapshot.__new__(ErrorSnapshot)])
    >>> read_storage(arr).array.mask.tolist(), read_storage(arr, keep_errors=True).array.mask.tolist()
    ([False, True], [False, False])
    """
    external = tuple(int(s) for s in store.resolved_shape)
    internal = tuple(int(s) for s in store.resolved_internal_shape) if store.internal_shape else ()
    size = int(np.prod(external, dtype=np.int64))
    done = np.asarray(store.done_mask(), dtype=bool)
    present = np.flatnonzero(done).astype(np.int64)
    values = store.get_many(present) if present.size else []
    types = list(map(type, values))
    # failure records: ours, or pipefunc's (folders written by pipefunc), recognised by class name
    error_types = {t for t in set(types) if t in ERROR_TYPES or t.__name__ in _ERROR_NAMES}
    bad_types = {_MASKED_TYPE, *error_types}
    errors: list[Any] = []
    if bad_types.intersection(types):
        flags = np.fromiter((t in bad_types for t in types), dtype=bool, count=len(types))
        failed_flags = np.fromiter((t in error_types for t in types), dtype=bool, count=len(types))
        failed = present[failed_flags]
        errors = [values[k] for k in np.flatnonzero(failed_flags)]
        keep = ~flags
        good_idx = present[keep]
        good_values = [v for v, k in zip(values, keep) if k]
    else:
        failed = np.empty(0, dtype=np.int64)
        good_idx = present
        good_values = values
    missing = np.ones(size, dtype=bool)
    missing[good_idx] = False
    if internal and splat:
        numpy_scalars = getattr(store, "splat_keeps_numpy_scalars", True)
        array = splat_internal(good_values, good_idx, external, internal, store.shape_mask, numpy_scalars=numpy_scalars)
    else:
        data = np.empty(size, dtype=object)
        if len(good_values) == size:
            data = object_array(good_values, (size,))
        elif good_values:
            data[good_idx] = object_array(good_values, (len(good_values),))
        array = np.ma.MaskedArray(data.reshape(external), mask=missing.reshape(external))
    if keep_errors and errors:
        _put_errors(array, failed, errors, external, store.shape_mask if internal and splat else None)
    return StorageRead(array=array, failed=failed, errors=errors, n_done=len(good_values))


def _put_errors(
    array: np.ma.MaskedArray,
    failed: np.ndarray,
    errors: list[Any],
    external: tuple[int, ...],
    shape_mask: Any,
) -> None:
    """Write failure records into ``array`` (in place, unmasked) at their external elements."""
    data = np.ma.getdata(array)
    mask = np.ma.getmaskarray(array)
    for linear, record in zip(failed.tolist(), errors):
        ext = list(np.unravel_index(linear, external))
        if shape_mask is None:
            index: tuple[Any, ...] = tuple(int(i) for i in ext)
            data[index] = record
        else:  # every internal cell of the element holds the record
            index = tuple(int(ext.pop(0)) if is_external else slice(None) for is_external in shape_mask)
            cells = data[index]
            for cell in np.ndindex(cells.shape):
                cells[cell] = record
        mask[index] = False
    array.mask = mask

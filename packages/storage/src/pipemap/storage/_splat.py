"""Elements that span internal axes, over the full (external + internal) shape: spread into an
array (:func:`splat_elements`) or read cell by cell through a slicing key (:func:`sliced_cells`).

>>> splat_elements([[1, 2], [3, 4]], (2,), (2,), (True, False), keep_scalars=False).tolist()
[[1, 2], [3, 4]]
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from ._atomic import MISSING
from ._shapes import merge_by_mask, prod, ranges_of

if TYPE_CHECKING:
    from ._base import StorageBase


def splat_elements(
    values: list[Any],
    shape: tuple[int, ...],
    internal: tuple[int, ...],
    shape_mask: tuple[bool, ...],
    keep_scalars: bool,
) -> np.ma.MaskedArray:
    """An object masked array of the full shape from one value per external index (``MISSING``
    elements stay masked); ``keep_scalars`` keeps numpy scalars of array-valued elements."""
    smask = shape_mask
    full = merge_by_mask(smask, shape, internal)
    data = np.empty(full, dtype=object)
    mask = np.ones(full, dtype=bool)
    inner_slices = (slice(None),) * len(internal)
    inner_indices = list(itertools.product(*map(range, internal)))
    for ext_index, value in zip(itertools.product(*map(range, shape)), values):
        if value is MISSING:
            continue
        arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
        if keep_scalars and arr.dtype != object and arr.shape == internal:
            boxed = np.empty(arr.shape, dtype=object)
            boxed.reshape(-1)[:] = list(arr.reshape(-1))  # numpy scalars stay numpy scalars
            arr = boxed
        if arr.shape == internal:
            target = merge_by_mask(smask, ext_index, inner_slices)
            data[target] = arr
            mask[target] = False
        else:
            for inner in inner_indices:
                target = merge_by_mask(smask, ext_index, inner)
                data[target] = arr[inner] if arr.ndim else value  # a 0-d value (an error snapshot) fills every cell
                mask[target] = False
    return np.ma.MaskedArray(data, mask=mask, dtype=object)


def sliced_cells(storage: StorageBase, normalized: tuple[int | slice, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The cells (object array) and missing mask that ``storage[key]`` selects, for a normalized
    key with slices; elements are fetched once each, and an element with internal axes is
    indexed along them (a 0-d value, e.g. an error snapshot, stands in every internal cell)."""
    full = merge_by_mask(storage.shape_mask, storage.resolved_shape, storage.resolved_internal_shape)
    ranges = ranges_of(normalized, full)
    smask = storage.shape_mask
    strides = storage.strides
    ext_ranges = [r for r, m in zip(ranges, smask) if m]
    ext_linears = sorted({sum(i * s for i, s in zip(idx, strides)) for idx in itertools.product(*ext_ranges)})
    fetched = dict(zip(ext_linears, storage._get_many(np.asarray(ext_linears, dtype=np.int64))))
    as_arrays: dict[int, np.ndarray] = {}
    count = prod([len(r) for r in ranges])
    data = np.empty(count, dtype=object)
    out_mask = np.zeros(count, dtype=bool)
    has_internal = not all(smask)
    for n, idx in enumerate(itertools.product(*ranges)):
        ext = [i for i, m in zip(idx, smask) if m]
        linear = sum(i * s for i, s in zip(ext, strides))
        value = fetched[linear]
        if value is MISSING:
            data[n] = storage._missing_cell()
            out_mask[n] = True
            continue
        if has_internal:
            arr = as_arrays.get(linear)
            if arr is None:
                arr = as_arrays[linear] = np.asarray(value)
            if arr.ndim:  # a 0-d value (an error snapshot) stands in every internal cell
                value = arr[tuple(i for i, m in zip(idx, smask) if not m)]
        data[n] = value
    new_shape = tuple(len(r) for r, k in zip(ranges, normalized) if isinstance(k, slice))
    return data.reshape(new_shape), out_mask.reshape(new_shape)

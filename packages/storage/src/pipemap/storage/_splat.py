"""Spreading elements that span internal axes over the full (external + internal) shape.

>>> splat_elements([[1, 2], [3, 4]], (2,), (2,), (True, False), keep_scalars=False).tolist()
[[1, 2], [3, 4]]
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ._atomic import MISSING
from ._shapes import merge_by_mask


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

"""Small shape helpers (C strides, masks, resolution checks) used by every backend.

>>> c_strides((3, 4, 5))
(20, 5, 1)
>>> merge_by_mask((True, False, True), (2, 3), (7,))
(2, 7, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

UNKNOWN = "?"

ShapeTuple = tuple[Any, ...]


def prod(values: Sequence[int]) -> int:
    """Return the product of ``values`` (1 for an empty sequence).

    >>> prod((2, 3))
    6
    """
    result = 1
    for value in values:
        result *= value
    return result


def c_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """Return the C-order strides (in elements) of ``shape``.

    >>> c_strides((2, 3))
    (3, 1)
    """
    strides = [1] * len(shape)
    acc = 1
    for axis in range(len(shape) - 1, -1, -1):
        strides[axis] = acc
        acc *= shape[axis]
    return tuple(strides)


def shape_is_resolved(shape: Sequence[Any]) -> bool:
    """Return whether ``shape`` holds only integers (no ``"?"``).

    >>> shape_is_resolved((2, "?"))
    False
    """
    return all(isinstance(size, int) for size in shape)


def merge_by_mask(mask: Sequence[bool], external: Sequence[Any], internal: Sequence[Any]) -> tuple[Any, ...]:
    """Interleave ``external`` (True positions) and ``internal`` (False positions) by ``mask``.

    >>> merge_by_mask((False, True), ("a",), ("b",))
    ('b', 'a')
    """
    result = []
    ext = iter(external)
    inner = iter(internal)
    for is_external in mask:
        result.append(next(ext) if is_external else next(inner))
    return tuple(result)


def unravel(index: int, shape: Sequence[int], strides: Sequence[int] | None = None) -> tuple[int, ...]:
    """Return the C-order multi-index of linear ``index`` in ``shape``.

    >>> unravel(33, (3, 4, 5))
    (1, 2, 3)
    """
    strides = c_strides(shape) if strides is None else strides
    return tuple((index // stride) % size for stride, size in zip(strides, shape, strict=True))


def ranges_of(key: Sequence[int | slice], sizes: Sequence[int]) -> list[range]:
    """The index range each key entry selects (an int selects one index).

    >>> ranges_of((1, slice(None, None, -1)), (3, 2))
    [range(1, 2), range(1, -1, -1)]
    """
    return [range(*k.indices(size)) if isinstance(k, slice) else range(k, k + 1) for k, size in zip(key, sizes)]


def leading_shape(value: Any, ndim: int) -> tuple[int, ...] | None:
    """Sizes of the first ``ndim`` axes of ``value``.

    An array's shape, else the lengths of nested sequences along their first items.

    Parameters
    ----------
    value : Any
        An element's value.
    ndim : int
        How many leading axes to measure.

    Returns
    -------
    tuple of int or None
        The sizes, or None when ``value`` has no length at all.

    Examples
    --------
    >>> leading_shape([[1, 2, 3], [4, 5, 6]], 2), leading_shape(np.zeros((4, 5, 6)), 2), leading_shape(7, 1)
    ((2, 3), (4, 5), None)
    """
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and not hasattr(value, "done_mask"):  # not a storage
        return shape[:ndim] if len(shape) >= ndim else shape
    sizes: list[int] = []
    obj = value
    for _ in range(ndim):
        try:
            n = len(obj)
        except TypeError:
            return tuple(sizes) if sizes else None
        sizes.append(n)
        if n == 0:
            break
        try:
            obj = obj[0]
        except (TypeError, KeyError, IndexError):
            break
    return tuple(sizes)


def as_linear_indices(key_indices: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Convert an (n, rank) array of multi-indices to int64 linear indices (C order).

    >>> as_linear_indices(np.array([[1, 2, 3]]), (3, 4, 5)).tolist()
    [33]
    """
    strides = np.asarray(c_strides(shape), dtype=np.int64)
    return np.asarray(key_indices, dtype=np.int64) @ strides

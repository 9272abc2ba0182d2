"""Small shape helpers (C strides, masks, resolution checks) used by every backend.

>>> c_strides((3, 4, 5))
(20, 5, 1)
>>> merge_by_mask((True, False, True), (2, 3), (7,))
(2, 7, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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

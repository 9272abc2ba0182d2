"""The shape of a value a function returned (worker side, and for non-mapped functions).

>>> value_internal_shape([[1, 2, 3], [4, 5, 6]], 1)
(2,)
>>> full_shape_from_value([[1, 2], [3, 4], [5, 6]], (False, False), ("?", "?"))
(3, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pipemap.mapspec import shape_is_resolved

ShapeTuple = tuple[Any, ...]

__all__ = ["full_shape_from_value", "value_internal_shape"]


def full_shape_from_value(value: Any, mask: tuple[bool, ...], current: ShapeTuple, name: str = "output") -> ShapeTuple:
    """A non-mapped function returned ``value`` for an output whose full shape is ``current``
    (all axes internal, mask all False): the leading entries of ``np.shape(value)`` fill it."""
    n = len(mask)
    vshape = _value_shape(value)
    if len(vshape) < n:
        msg = f"Internal shape for '{name}' is too short."
        raise ValueError(msg)
    new = tuple(vshape[:n])
    return tuple(current[:n]) if shape_is_resolved(current) else new  # a resolved shape stays as it is


def _value_shape(value: Any) -> tuple[int, ...]:
    shape = getattr(value, "shape", None)
    if shape is not None and not callable(shape):
        try:
            return tuple(int(s) for s in shape)
        except (TypeError, ValueError):
            pass
    try:
        return tuple(np.shape(value))
    except Exception:  # noqa: BLE001 - ragged or exotic values
        try:
            return (len(value),)
        except TypeError:
            return ()


def value_internal_shape(value: Any, n_internal: int) -> tuple[int, ...]:
    """``np.shape(value)[:n_internal]`` without building an array for lists of lists twice."""
    return _value_shape(value)[:n_internal]

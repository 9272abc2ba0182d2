"""Array helpers shared by the loaders: object arrays, splatting, numeric typing.

>>> import numpy as np
>>> arr = object_array([1, 2, 3], (3,))
>>> arr.dtype, typed_values(np.ma.MaskedArray(arr, mask=[False, True, False])).tolist()
(dtype('O'), [1.0, nan, 3.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "NUMERIC_TYPES",
    "as_object_array",
    "from_array_like",
    "infer_shape",
    "object_array",
    "present_values",
    "single_as_array",
    "splat_internal",
    "typed_values",
]

#: Element types that may go into a typed numpy array (bool is handled apart).
NUMERIC_TYPES: frozenset[type] = frozenset(
    {int, float, complex}
    | {t for t in np.sctypeDict.values() if isinstance(t, type) and issubclass(t, np.number)}
)
_BOOL_TYPES = frozenset({bool, np.bool_})


def object_array(values: Sequence[Any], shape: tuple[int, ...]) -> np.ndarray:
    """Pack a flat sequence of Python objects into an object array of ``shape`` (no nesting).

    >>> object_array([[1, 2], (3,)], (2,))[0]
    [1, 2]
    """
    data = np.fromiter(values, dtype=object, count=len(values))
    return data.reshape(shape)


def infer_shape(x: Any) -> tuple[int, ...]:
    """The regular nested shape of lists/tuples/arrays (stops where lengths disagree).

    >>> infer_shape([[1, 2], [3, 4], [5, 6]]), infer_shape([[1], [2, 3]]), infer_shape(5)
    ((3, 2), (2,), ())
    """
    if isinstance(x, np.ndarray):
        return x.shape
    if not isinstance(x, (list, tuple, range)):
        return ()
    if len(x) == 0:
        return (0,)
    inner = [infer_shape(item) for item in x]
    first = inner[0]
    if all(s == first for s in inner):
        return (len(x), *first)
    return (len(x),)


def from_array_like(x: Any) -> Any:
    """Array-likes that are not lists, tuples, ranges or ndarrays become ndarrays of their own dtype.

    pandas ``Series`` / ``Index`` / ``DatetimeIndex`` / ``Categorical``, polars ``Series``, xarray
    ``DataArray``...: anything with ``__array__`` (as xarray converts a coordinate given as such an
    object, so a ``DatetimeIndex`` stays ``datetime64``). Anything else is returned unchanged.

    >>> import pandas as pd
    >>> from_array_like(pd.date_range("2024-01-01", periods=2)).dtype.kind, from_array_like([1, 2])
    ('M', [1, 2])
    """
    if isinstance(x, (np.ndarray, list, tuple, range)) or not hasattr(x, "__array__"):
        return x
    try:
        return np.asarray(x)
    except (TypeError, ValueError):  # not convertible: left out like other non-array values
        return x


def _nested_shape(x: Any) -> tuple[int, ...]:
    """pipefunc's rule for the shape of a nested list/tuple (ndarrays inside count as leaves)."""
    if isinstance(x, np.ndarray):
        return x.shape
    if isinstance(x, range):
        x = list(x)
    if not isinstance(x, (list, tuple)):
        return ()
    if not x:
        return (0,)
    if not all(isinstance(item, (list, tuple)) for item in x):
        return (len(x),)
    width = len(x[0])
    if any(len(item) != width for item in x):
        return (len(x),)
    if width == 0:
        return (len(x), 0)
    inner = [_nested_shape(item) for item in x]
    if any(shape != inner[0] for shape in inner):
        return (len(x), width)
    return (len(x), *inner[0])


def single_as_array(x: Any) -> Any:
    """A single output as pipefunc presents it: lists, tuples and ranges become object arrays.

    The shape follows the regular nesting of lists and tuples (a list of pairs is 2-D); values that
    are no sequences (and ndarrays) are returned unchanged.

    >>> single_as_array([(1, 2), (3, 4)]).shape, single_as_array([[1], [2, 3]]).shape, single_as_array("ab")
    ((2, 2), (2,), 'ab')
    """
    if isinstance(x, np.ndarray):
        return x
    shape = _nested_shape(x)
    if not shape:
        return x
    out = np.empty(shape, dtype=object)
    try:
        out[...] = list(x) if isinstance(x, range) else x
    except (ValueError, TypeError):  # cells numpy cannot take as a whole: one by one
        for index in np.ndindex(*shape):
            cell: Any = x
            for k in index:
                cell = cell[k]
            out[index] = cell
    return out


def as_object_array(x: Any, ndim: int | None = None) -> Any:
    """Turn lists and arrays into arrays whose first ``ndim`` axes are the mapped axes.

    Lists become object arrays of their regular nested shape; arrays with more than ``ndim``
    dimensions are re-wrapped as object arrays over the leading ``ndim`` axes (each cell holds a
    sub-array). Anything else (scalars, custom objects) is returned unchanged.

    >>> as_object_array([[1, 2], [3, 4]], 1)[0]
    [1, 2]
    >>> as_object_array(np.zeros((2, 3)), 1).shape
    (2,)
    """
    if isinstance(x, np.ma.MaskedArray):
        arr: np.ndarray = x
    elif isinstance(x, np.ndarray):
        arr = x
    elif isinstance(x, (list, tuple, range)):
        shape = infer_shape(x)
        if ndim is not None:
            shape = shape[:ndim]
        arr = np.empty(shape, dtype=object)
        _fill(arr, x, shape)
        return arr
    else:
        return x
    if ndim is None or arr.ndim <= ndim:
        return arr
    lead = arr.shape[:ndim]
    out = np.empty(lead, dtype=object)
    flat = arr.reshape((-1, *arr.shape[ndim:]))
    for k in range(flat.shape[0]):
        out.flat[k] = flat[k]
    if isinstance(arr, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(arr).reshape(flat.shape).all(axis=tuple(range(1, flat.ndim)))
        return np.ma.MaskedArray(out, mask=mask.reshape(lead))
    return out


def _fill(out: np.ndarray, x: Any, shape: tuple[int, ...]) -> None:
    if len(shape) == 1:
        out[...] = object_array(list(x), shape) if shape[0] else out
        return
    for k, item in enumerate(x):
        _fill(out[k], item, shape[1:])


def splat_internal(
    values: Sequence[Any],
    present: np.ndarray,
    external: tuple[int, ...],
    internal: tuple[int, ...],
    shape_mask: Sequence[bool],
    *,
    numpy_scalars: bool = True,
) -> np.ma.MaskedArray:
    """Spread stored sub-arrays over the full shape, element types as pipefunc's ``to_array``.

    ``values[k]`` is the sub-array (internal shape) of external linear index ``present[k]``;
    other external elements are missing. ``shape_mask`` says which full axes are external (True).
    Each sub-array passes through ``numpy.asarray``: with ``numpy_scalars`` (pipefunc's FileArray)
    its cells are numpy scalars, without (pipefunc's DictArray) they become Python objects where the
    sub-array has the internal shape exactly. Cells of object sub-arrays stay what they are.

    >>> out = splat_internal([[1, 2]], np.array([0]), (2,), (2,), (True, False))
    >>> out.mask.tolist(), type(out[0, 0]).__name__
    ([[False, False], [True, True]], 'int64')
    >>> type(splat_internal([[1, 2]], np.array([0]), (1,), (2,), (True, False), numpy_scalars=False)[0, 0])
    <class 'int'>
    """
    size = int(np.prod(external, dtype=np.int64))
    data = np.empty((size, *internal), dtype=object)
    mask = np.ones((size, *internal), dtype=bool)
    arrays = [_as_array(v, len(internal)) for v in values]
    stacked = _stack_same(arrays, internal, numpy_scalars=numpy_scalars)
    if stacked is not None:
        data[present] = stacked
        mask[present] = False
    else:
        n_int = len(internal)
        cells = list(np.ndindex(*internal))
        for k, arr in zip(present.tolist(), arrays):
            if arr.shape == internal:
                data[k] = _boxed(arr) if numpy_scalars and arr.dtype != object else arr
            elif arr.shape[:n_int] == internal:  # deeper than the internal axes: cells are sub-arrays
                for cell in cells:
                    data[(k, *cell)] = arr[cell]
            else:  # not the declared internal shape: keep what fits, element by element
                sub = as_object_array(arr.tolist() if arr.dtype == object else arr, n_int)
                for cell in cells:
                    try:
                        data[(k, *cell)] = sub[cell]
                    except IndexError:
                        continue
            mask[k] = False
    data = data.reshape(external + internal)
    mask = mask.reshape(external + internal)
    # external-first layout -> the output's axis order given by shape_mask
    ext_pos = [i for i, m in enumerate(shape_mask) if m]
    int_pos = [i for i, m in enumerate(shape_mask) if not m]
    order = ext_pos + int_pos  # order[k] = full axis of layout axis k
    if order != list(range(len(order))):
        perm = [order.index(axis) for axis in range(len(order))]
        data = data.transpose(perm)
        mask = mask.transpose(perm)
    return np.ma.MaskedArray(data, mask=mask)


def _as_array(value: Any, n_internal: int) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except ValueError:  # ragged nesting: an object array over the internal axes
        return np.asarray(as_object_array(value, n_internal))


def _boxed(arr: np.ndarray) -> np.ndarray:
    """An object array holding the numpy scalars of a typed array (not Python objects)."""
    out = np.empty(arr.shape, dtype=object)
    out.reshape(-1)[:] = list(arr.reshape(-1))
    return out


def _stack_same(arrays: list[np.ndarray], internal: tuple[int, ...], *, numpy_scalars: bool) -> np.ndarray | None:
    """All sub-arrays as one object block, if they share the internal shape and one dtype (fast path)."""
    if not arrays:
        return None
    dtype = arrays[0].dtype
    for arr in arrays:
        if arr.shape != internal or arr.dtype != dtype:
            return None
    block = np.stack(arrays)
    if dtype == object:
        return block
    if numpy_scalars:
        return _boxed(block)
    return block.astype(object)


def present_values(arr: Any) -> np.ndarray:
    """The array as it is (no dtype inference), NaN in place of missing elements.

    >>> present_values(np.ma.MaskedArray(np.array([1, 2], dtype=object), mask=[0, 1])).tolist()
    [1, nan]
    >>> present_values(np.array([1, 2], dtype=object)).dtype
    dtype('O')
    """
    if not isinstance(arr, np.ma.MaskedArray) or not np.ma.getmaskarray(arr).any():
        return np.asarray(np.ma.getdata(arr))
    if arr.dtype != object:
        return typed_values(arr)
    data = np.ma.getdata(arr).copy()
    data[np.ma.getmaskarray(arr)] = np.nan
    return data


def typed_values(arr: Any) -> np.ndarray:
    """Numeric typing for presentation (xarray, DataFrames).

    If every present element is a number, return a typed array: int/bool stay int/bool when nothing
    is missing, and become float64 with NaN for missing elements otherwise. Else return an object
    array with NaN for missing elements. Plain (unmasked) arrays are typed the same way.

    >>> typed_values(np.array([1, 2], dtype=object)).dtype
    dtype('int64')
    >>> typed_values(np.ma.MaskedArray(np.array(["a", "b"], dtype=object), mask=[0, 1])).tolist()
    ['a', nan]
    """
    if isinstance(arr, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(arr)
        data = np.ma.getdata(arr)
    else:
        data = np.asarray(arr)
        mask = None
    if data.dtype != object:
        if mask is not None and mask.any():
            if data.dtype.kind in "iub":
                data = data.astype(np.float64)
            elif data.dtype.kind not in "fc":
                data = data.astype(object)
            data = data.copy()
            data[mask] = np.nan
        return data
    missing = mask if mask is not None and bool(mask.any()) else None  # the mask, if any cell is missing
    has_missing = missing is not None
    present = data[~missing] if missing is not None else data.ravel()
    types = set(map(type, present))
    typed: np.ndarray | None = None
    if present.size and types <= NUMERIC_TYPES | _BOOL_TYPES:
        if types <= _BOOL_TYPES:
            if not has_missing:
                typed = data.astype(bool)
        else:
            try:
                candidate = np.array(present.tolist())
            except (OverflowError, ValueError):  # huge Python ints
                candidate = None
            if candidate is not None and candidate.dtype.kind in "iufcb":
                if missing is None:
                    typed = candidate.reshape(data.shape)
                else:
                    kind = np.result_type(candidate.dtype, np.float64)
                    typed = np.full(data.shape, np.nan, dtype=kind)
                    typed[~missing] = candidate
    if typed is not None:
        return typed
    if has_missing:
        data = data.copy()
        data[mask] = np.nan
    return data

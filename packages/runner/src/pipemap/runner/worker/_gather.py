"""Gathering a chunk's inputs in bulk: the values of every mapped input for a batch of elements.

The mapspec's :class:`~pipemap.mapspec.IndexPlan` turns linear output indices into selector rows
(one index per input axis, -1 for ``:``); the fast paths read lists, ranges, arrays and storages
in one step (``get_many``), anything else goes element by element through ``__getitem__``.

>>> import numpy as np
>>> _gather([10, 20, 30], np.array([[2], [0]]), [0, 1], None)
[30, 10]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pipemap.mapspec import IndexPlan

if TYPE_CHECKING:
    from pipemap.storage import StorageBase

    from pipemap.runner.worker._chunk import FunctionTask, Linear


def _gather(value: Any, sel: np.ndarray, linear: Linear, strides: np.ndarray | None) -> list[Any]:
    """The elements of ``value`` picked by selector rows ``sel`` (n, rank); -1 means ``:``."""
    rank = sel.shape[1]
    has_slice = bool((sel < 0).any()) if sel.size else False
    if not has_slice:
        if isinstance(value, list | range) and rank == 1:
            col = sel[:, 0]
            if isinstance(linear, range) and len(col) and col[0] == linear.start and col[-1] == linear.stop - 1 and len(col) == len(linear):
                return list(value[linear.start : linear.stop])
            return list(map(value.__getitem__, col.tolist()))
        if isinstance(value, np.ndarray) and value.ndim == rank:
            return list(value[tuple(sel.T)])
        if hasattr(value, "get_many") and not value.internal_shape and rank == len(value.shape):
            lin = sel @ np.asarray(value.strides, dtype=np.int64)
            return value.get_many(lin)
    elif hasattr(value, "_wrap_slice") and not value.internal_shape and rank == len(value.shape) and len(sel):
        return _gather_storage_slices(value, sel)
    return _gather_slow(value, sel)


def _gather_storage_slices(storage: StorageBase, sel: np.ndarray) -> list[Any]:
    """``storage[i, :]``-style reads for a whole batch with one ``get_many``; each element is
    packaged by the storage's own slice hook, exactly as ``storage[key]`` would return it."""
    shape = tuple(int(d) for d in storage.shape)
    strides = np.asarray(storage.strides, dtype=np.int64)
    colon = [a for a in range(sel.shape[1]) if sel[0, a] < 0]
    fixed = [a for a in range(sel.shape[1]) if sel[0, a] >= 0]
    base = sel[:, fixed] @ strides[fixed] if fixed else np.zeros(len(sel), dtype=np.int64)
    sizes = [shape[a] for a in colon]
    grids = np.meshgrid(*[np.arange(n, dtype=np.int64) for n in sizes], indexing="ij")
    offsets = sum((g.reshape(-1) * strides[a] for g, a in zip(grids, colon)), np.zeros(1, dtype=np.int64))
    lin = (base[:, None] + offsets[None, :]).reshape(-1)
    got = storage.get_many(lin)
    masked = np.ma.masked
    data = np.fromiter(got, dtype=object, count=len(got))  # sequences stay whole elements
    missing = np.fromiter((v is masked for v in got), dtype=bool, count=len(got))
    data = data.reshape(len(sel), *sizes)
    missing = missing.reshape(len(sel), *sizes)
    wrap = storage._wrap_slice
    return [wrap(data[k].copy(), missing[k].copy()) for k in range(len(sel))]


def _gather_slow(value: Any, sel: np.ndarray) -> list[Any]:
    full = slice(None)
    out = []
    getitem = value.__getitem__
    for row in sel.tolist():
        key = tuple(full if k < 0 else k for k in row)
        out.append(getitem(key[0]) if len(key) == 1 else getitem(key))
    return out


class Positional:
    """A pandas ``Series``/``DataFrame`` read by position (``.iloc``): mapspec indices are positions.

    A filtered Series (``df[df.D > 0.15]["D"]``) keeps its labels, so ``series[0]`` would look up
    the label 0; pipemap maps over it by position instead.

    >>> import pandas as pd
    >>> Positional(pd.Series([10, 20, 30], index=[4, 7, 9]))[1]
    np.int64(20)
    """

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __getitem__(self, key: Any) -> Any:
        return self.obj.iloc[key]

    def __getstate__(self) -> Any:
        return self.obj

    def __setstate__(self, state: Any) -> None:
        self.obj = state

    @property
    def shape(self) -> tuple[int, ...]:
        """The wrapped object's shape."""
        return tuple(self.obj.shape)


def by_position(value: Any) -> Any:
    """``value`` wrapped in `Positional` if it is a pandas object with labels (has ``.iloc``)."""
    return Positional(value) if hasattr(type(value), "iloc") else value


def gather_inputs(task: FunctionTask, plan: IndexPlan, linear: Linear) -> tuple[list[str], list[list[Any]]]:
    """Per mapped input (renamed name) of ``task`` (a ``FunctionTask``), the list of its values for
    each element of ``linear``."""
    selectors = plan.input_selectors(linear)
    names = []
    columns = []
    for name, value in task.mapped.items():
        names.append(name)
        columns.append(_gather(value, selectors[name], linear, None))
    return names, columns

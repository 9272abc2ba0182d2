"""Read-only views that let functions over ragged axes run as plain flat maps (docs/concepts/ragged.md).

A ragged producer's output is stored per row (one sequence per outer index), an element-wise
consumer's output flat (one value per existing element). The worker's gather reads any object
with ``shape``, ``strides``, ``internal_shape`` and ``get_many(linear)`` in bulk, so:

- :class:`FlatView` shows a per-row storage as its flat elements (row after row),
- :class:`ExpandView` shows an outer-indexed input (``x[i]``) once per element of its row,
- :class:`RowsView` shows a ragged array (per-row or flat) as one 1-D numpy array per row.

Each chunk reads the rows it touches once; the index math is the compiled kernels' (``RaggedLayout``).

>>> from pipemap.mapspec import RaggedLayout
>>> from pipemap.storage import DictArray
>>> rows = DictArray(None, (3,))
>>> rows.dump_many(range(3), [["a", "b"], [], ["c"]])
>>> layout = RaggedLayout([2, 0, 1])
>>> FlatView(rows, layout).get_many(range(3))
['a', 'b', 'c']
>>> ExpandView([10, 20, 30], ("i",), ("i",), layout).get_many([0, 1, 2])
[10, 10, 30]
>>> [r.tolist() for r in RowsView(rows, layout, per_row=True).get_many([0, 1])]
[['a', 'b'], []]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pipemap.mapspec import RaggedLayout

__all__ = ["ExpandView", "FlatView", "RowsView", "as_row", "row_error"]


def row_error(value: Any) -> str | None:
    """Why ``value`` cannot be a row of a ragged axis (None: it can).

    >>> row_error([1, 2]), row_error(3)
    (None, 'an int (not a sequence)')
    """
    if isinstance(value, str | bytes | dict):
        return f"a {type(value).__name__} (a row must be a list, tuple or 1-D array, not text or a mapping)"
    if isinstance(value, np.ndarray):
        return None if value.ndim == 1 else f"an ndarray of shape {value.shape} (a row must be 1-D)"
    try:
        len(value)
        value[0:0]
    except Exception:  # noqa: BLE001 - anything without len() and slicing is not a row
        name = type(value).__name__
        article = "an" if name[:1].lower() in "aeiou" else "a"
        return f"{article} {name} (not a sequence)"
    return None


def as_row(values: Sequence[Any]) -> np.ndarray:
    """A row as a 1-D numpy array: a numeric/str dtype when the values are scalars, else object.

    >>> as_row([1, 2]).dtype.kind, as_row([(1, 2), (3, 4)]).shape
    ('i', (2,))
    """
    if isinstance(values, np.ndarray) and values.ndim == 1:
        return values
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):
        arr = None
    if arr is not None and arr.ndim == 1 and arr.dtype != object:
        return arr
    out = np.empty(len(values), dtype=object)
    for k, v in enumerate(values):
        out[k] = v
    return out


class _View:
    """What the gather needs: a 1-D (or outer) shape, C strides, no internal axes."""

    shape: tuple[int, ...]
    internal_shape: tuple[int, ...] = ()

    @property
    def strides(self) -> tuple[int, ...]:
        strides = []
        step = 1
        for n in reversed(self.shape):
            strides.append(step)
            step *= int(n)
        return tuple(reversed(strides))

    def get_many(self, linear: Any) -> list[Any]:
        raise NotImplementedError

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):
            key = int(np.ravel_multi_index(tuple(int(k) for k in key), self.shape)) if key else 0
        return self.get_many([int(key)])[0]

    def __len__(self) -> int:
        return int(self.shape[0]) if self.shape else 1


def _read_rows(rows: Any, numbers: np.ndarray) -> list[Any]:
    """Rows ``numbers`` (C order of the outer grid) of a per-row storage, list or array."""
    if hasattr(rows, "get_many"):
        return list(rows.get_many(numbers))
    flat = rows.reshape(-1) if isinstance(rows, np.ndarray) else rows
    return [flat[k] for k in numbers.tolist()]


class FlatView(_View):
    """The elements of a per-row ragged storage, flat: element ``n`` is ``rows[row][position]``."""

    def __init__(self, rows: Any, layout: RaggedLayout) -> None:
        self.rows = rows
        self.layout = layout
        self.shape = (layout.size,)

    def get_many(self, linear: Any) -> list[Any]:
        row_of, position = self.layout.locate(np.asarray(linear, dtype=np.int64))
        n = len(row_of)
        if not n:
            return []
        steps = np.diff(row_of)
        if steps.size and bool((steps < 0).any()):  # unsorted elements: one by one
            unique, inverse = np.unique(row_of, return_inverse=True)
            got = _read_rows(self.rows, unique)
            return [got[k][p] for k, p in zip(inverse.tolist(), position.tolist())]
        # sorted (every chunk): one read per row, one slice per run of consecutive positions
        starts = np.concatenate(([0], np.flatnonzero(steps) + 1))
        ends = np.append(starts[1:], n)
        got = _read_rows(self.rows, row_of[starts])
        out: list[Any] = []
        first, last = position[starts].tolist(), position[ends - 1].tolist()
        for row, a, b, p0, p1 in zip(got, starts.tolist(), ends.tolist(), first, last):
            if p1 - p0 + 1 == b - a:
                out.extend(row[p0 : p1 + 1])
            else:
                out.extend(row[p] for p in position[a:b].tolist())
        return out


class ExpandView(_View):
    """An input indexed by outer axes (``x[i]`` next to ``words[i, j*]``), once per element.

    ``axes`` are the input's axes in its own order; ``outer_axes`` those of the ragged array.
    """

    def __init__(self, value: Any, axes: tuple[str, ...], outer_axes: tuple[str, ...], layout: RaggedLayout) -> None:
        self.value = value
        self.pick = [outer_axes.index(a) for a in axes]
        self.layout = layout
        self.shape = (layout.size,)

    def _at(self, keys: np.ndarray) -> list[Any]:
        value = self.value
        if hasattr(value, "get_many") and not value.internal_shape:
            lin = keys @ np.asarray(value.strides, dtype=np.int64) if keys.shape[1] else np.zeros(len(keys), dtype=np.int64)
            return list(value.get_many(lin))
        if isinstance(value, np.ndarray) and value.ndim == keys.shape[1]:
            return list(value[tuple(keys.T)])
        if keys.shape[1] == 1:
            return [value[k] for k in keys[:, 0].tolist()]
        return [value[tuple(k)] for k in keys.tolist()]

    def get_many(self, linear: Any) -> list[Any]:
        row_of, _ = self.layout.locate(np.asarray(linear, dtype=np.int64))
        if not len(row_of):
            return []
        unique, inverse = np.unique(row_of, return_inverse=True)
        keys = self.layout.outer_keys(unique)[:, self.pick]
        got = self._at(keys)
        return [got[k] for k in inverse.tolist()]


class RowsView(_View):
    """A ragged array as one 1-D numpy array per row (for reductions ``words[i, :]``): from a
    per-row storage (``per_row=True``) or from a flat one, shaped like the outer grid."""

    def __init__(self, source: Any, layout: RaggedLayout, *, per_row: bool) -> None:
        self.source = source
        self.layout = layout
        self.per_row = per_row
        self.shape = tuple(int(n) for n in layout.outer_shape)

    def get_many(self, linear: Any) -> list[Any]:
        numbers = np.asarray(linear, dtype=np.int64).reshape(-1)
        if self.per_row:
            return [_keep_errors(row) for row in _read_rows(self.source, numbers)]
        offsets = self.layout.offsets
        starts, stops = offsets[numbers], offsets[numbers + 1]
        lengths = stops - starts
        if not lengths.sum():
            return [as_row([]) for _ in numbers.tolist()]
        flat = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in zip(starts.tolist(), stops.tolist())])
        values = list(self.source.get_many(flat)) if hasattr(self.source, "get_many") else [self.source[k] for k in flat.tolist()]
        out = []
        at = 0
        for n in lengths.tolist():
            out.append(as_row(values[at : at + n]))
            at += n
        return out


def _keep_errors(row: Any) -> Any:
    """A stored row as an array; anything that is not a row (an error snapshot) passes through."""
    return as_row(row) if row_error(row) is None else row

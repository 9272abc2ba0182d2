"""Index math of ragged axes: rows of different lengths over an outer grid, elements kept flat.

An output such as ``words[i, j*]`` has, for every outer index ``i``, a row of its own length.
Its elements live flat, row after row (as in Arrow list arrays): :class:`RaggedLayout` holds the
row lengths (shaped like the outer grid) and their offsets, and translates between flat element
indices and (outer index, position in row) in bulk through the compiled kernels.

>>> layout = RaggedLayout([[2, 0], [1, 3]])
>>> layout.size, layout.max_length
(6, 3)
>>> rows, positions = layout.locate([0, 2, 5])
>>> layout.outer_keys(rows).tolist(), positions.tolist()
([[0, 0], [1, 0], [1, 1]], [0, 0, 2])
>>> layout.flat_index([(1, 1)], [2]).tolist()
[5]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from pipemap.mapspec import _kernels
from pipemap.mapspec._errors import ShapeError

__all__ = ["RaggedLayout"]

IntArray = npt.NDArray[np.int64]


def _as_int64(values: Any, what: str) -> IntArray:
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros(array.shape, dtype=np.int64)
    if array.dtype.kind not in "iu":
        msg = f"{what} must be integers, got dtype {array.dtype}"
        raise TypeError(msg)
    if array.dtype.kind == "u" and array.size and int(array.max()) > np.iinfo(np.int64).max:
        msg = f"{what} exceed the int64 range"
        raise ValueError(msg)
    return np.ascontiguousarray(array, dtype=np.int64)


class RaggedLayout:
    """Row lengths over an outer grid and where each row's elements start in the flat run.

    Rows are numbered in C order of the outer grid.

    Parameters
    ----------
    lengths
        Non-negative integer row lengths, an array of the outer grid's shape (a scalar is a grid
        of one row). A negative length raises ``ValueError`` naming its row.

    Examples
    --------
    >>> RaggedLayout([3, 0, 2]).offsets.tolist()
    [0, 3, 3, 5]
    """

    __slots__ = ("lengths", "offsets", "outer_shape", "size")

    def __init__(self, lengths: Any) -> None:
        array = _as_int64(lengths, "Row lengths")
        self.outer_shape: tuple[int, ...] = array.shape
        flat = array.reshape(-1)
        offsets = np.empty(flat.size + 1, dtype=np.int64)
        try:
            total = _kernels.ragged_offsets(flat, offsets)
        except ValueError as exc:
            bad = np.flatnonzero(flat < 0)
            if bad.size:
                key = np.unravel_index(int(bad[0]), self.outer_shape) if self.outer_shape else ()
                msg = f"Row {tuple(int(k) for k in key)} has a negative length ({int(flat[bad[0]])})"
                raise ValueError(msg) from None
            raise ValueError(str(exc)) from None
        flat.setflags(write=False)
        offsets.setflags(write=False)
        self.lengths: IntArray = flat.reshape(self.outer_shape)
        self.offsets: IntArray = offsets
        self.size: int = int(total)

    @classmethod
    def from_rows(cls, rows: Any) -> RaggedLayout:
        """The layout of an object array (or nested list) whose cells are the rows (sequences).

        >>> RaggedLayout.from_rows([["a", "b"], [], ["c"]]).lengths.tolist()
        [2, 0, 1]
        """
        cells = rows if isinstance(rows, np.ndarray) and rows.dtype == object else None
        if cells is None:
            cells = np.empty(len(rows), dtype=object)
            cells[:] = list(rows)
        lengths = np.empty(cells.shape, dtype=np.int64)
        for index, row in np.ndenumerate(cells):
            try:
                lengths[index] = len(row)
            except TypeError:
                msg = f"Row {index} is a {type(row).__name__}, not a sequence: a ragged axis needs one sequence per row"
                raise TypeError(msg) from None
        return cls(lengths)

    def __repr__(self) -> str:
        return f"RaggedLayout(rows={self.n_rows}, outer_shape={self.outer_shape}, size={self.size})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RaggedLayout):
            return NotImplemented
        return self.outer_shape == other.outer_shape and bool(np.array_equal(self.lengths, other.lengths))

    __hash__ = None  # type: ignore[assignment]

    @property
    def n_rows(self) -> int:
        """How many rows (the outer grid's size)."""
        return int(self.lengths.size)

    @property
    def max_length(self) -> int:
        """The longest row's length (0 without rows): the padded width when loading."""
        return int(self.lengths.max()) if self.lengths.size else 0

    def row_slice(self, row: int) -> slice:
        """The flat elements of row number ``row`` (C order of the outer grid).

        >>> RaggedLayout([3, 0, 2]).row_slice(2)
        slice(3, 5, None)
        """
        if not 0 <= row < self.n_rows:
            msg = f"Row {row} is out of range for {self.n_rows} rows"
            raise IndexError(msg)
        return slice(int(self.offsets[row]), int(self.offsets[row + 1]))

    def locate(self, flat: Any) -> tuple[IntArray, IntArray]:
        """Row numbers and positions in row of the flat element indices ``flat``.

        >>> [a.tolist() for a in RaggedLayout([3, 0, 2]).locate([4, 0])]
        [[2, 0], [1, 0]]
        """
        indices = _as_int64(flat, "Flat indices").reshape(-1)
        rows = np.empty(indices.size, dtype=np.int64)
        positions = np.empty(indices.size, dtype=np.int64)
        _kernels.ragged_locate(self.offsets, indices, rows, positions)
        return rows, positions

    def expand(self, start: int = 0, stop: int | None = None) -> tuple[IntArray, IntArray]:
        """Row number and position of every element of rows ``start <= row < stop``.

        >>> [a.tolist() for a in RaggedLayout([2, 0, 1]).expand()]
        [[0, 0, 2], [0, 1, 0]]
        """
        stop = self.n_rows if stop is None else stop
        if not 0 <= start <= stop <= self.n_rows:
            msg = f"Row range [{start}, {stop}) is out of range for {self.n_rows} rows"
            raise IndexError(msg)
        n = int(self.offsets[stop] - self.offsets[start])
        rows = np.empty(n, dtype=np.int64)
        positions = np.empty(n, dtype=np.int64)
        _kernels.ragged_expand(self.offsets, start, stop, rows, positions)
        return rows, positions

    def rows_of(self, start: int, stop: int) -> tuple[int, int]:
        """The rows ``[first, last)`` that the flat elements ``start <= n < stop`` touch (for chunking).

        >>> RaggedLayout([2, 0, 3]).rows_of(1, 3)
        (0, 3)
        """
        if not 0 <= start <= stop <= self.size:
            msg = f"Flat range [{start}, {stop}) is out of range for {self.size} elements"
            raise IndexError(msg)
        if start == stop:
            return 0, 0
        first = int(np.searchsorted(self.offsets, start, side="right")) - 1
        last = int(np.searchsorted(self.offsets, stop - 1, side="right"))
        return first, last

    def outer_keys(self, rows: Any) -> IntArray:
        """The outer multi-index (one row of ``len(outer_shape)`` ints) of each row number."""
        numbers = _as_int64(rows, "Row numbers").reshape(-1)
        out = np.empty((numbers.size, len(self.outer_shape)), dtype=np.int64)
        if numbers.size and self.outer_shape:  # (no rows: the kernel's shape needs sizes > 0)
            _kernels.unravel_array(numbers, np.asarray(self.outer_shape, dtype=np.int64), out)
        return out

    def row_numbers(self, outer_keys: Any) -> IntArray:
        """The row number (C order) of each outer multi-index."""
        keys = _as_int64(outer_keys, "Outer indices").reshape(-1, len(self.outer_shape))
        for axis, size in enumerate(self.outer_shape):
            bad = np.flatnonzero((keys[:, axis] < 0) | (keys[:, axis] >= size))
            if bad.size:
                msg = f"Outer index {tuple(keys[bad[0]].tolist())} is out of range for the outer shape {self.outer_shape}"
                raise IndexError(msg)
        if not self.outer_shape:
            return np.zeros(keys.shape[0], dtype=np.int64)
        return np.asarray(np.ravel_multi_index(tuple(keys.T), self.outer_shape), dtype=np.int64)

    def flat_index(self, outer_keys: Any, positions: Any) -> IntArray:
        """The flat index of each (outer multi-index, position in row); IndexError names a bad pair."""
        rows = self.row_numbers(outer_keys)
        pos = _as_int64(positions, "Positions").reshape(-1)
        out = np.empty(rows.size, dtype=np.int64)
        _kernels.ragged_flat(self.offsets, rows, pos, out)
        return out

    def padded_positions(self) -> IntArray:
        """For each flat element, its linear index in the padded array ``(*outer_shape, max_length)``.

        >>> RaggedLayout([2, 0, 1]).padded_positions().tolist()
        [0, 1, 4]
        """
        rows, positions = self.expand()
        return rows * self.max_length + positions

    def check_same_rows(self, other: RaggedLayout, names: Sequence[str]) -> None:
        """Raise ``ShapeError`` naming the first row whose length differs (zipped ragged arrays).

        >>> RaggedLayout([1, 2]).check_same_rows(RaggedLayout([1, 3]), ["a", "b"])
        Traceback (most recent call last):
        ...
        pipemap.mapspec._errors.ShapeError: Ragged arrays `a` and `b` are zipped over one ragged axis but row (1,) has length 2 in `a` and 3 in `b`
        """
        first, second = names
        if self.outer_shape != other.outer_shape:
            msg = f"Ragged arrays `{first}` and `{second}` have outer shapes {self.outer_shape} and {other.outer_shape}"
            raise ShapeError(msg)
        differs = np.flatnonzero(self.lengths.reshape(-1) != other.lengths.reshape(-1))
        if differs.size:
            row = int(differs[0])
            key = tuple(int(k) for k in self.outer_keys([row])[0])
            msg = (
                f"Ragged arrays `{first}` and `{second}` are zipped over one ragged axis but row {key}"
                f" has length {int(self.lengths.reshape(-1)[row])} in `{first}` and"
                f" {int(other.lengths.reshape(-1)[row])} in `{second}`"
            )
            raise ShapeError(msg)

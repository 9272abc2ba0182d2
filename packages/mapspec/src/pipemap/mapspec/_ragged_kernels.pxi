# Ragged-axis kernels of pipemap.mapspec._kernels (included by _kernels.pyx, which provides the
# cimports). A ragged output keeps its elements flat, row after row; ``offsets`` (n_rows + 1
# entries, offsets[0] == 0, non-decreasing) says where each row starts. These kernels translate
# between flat element indices and (row, position in row), in bulk, without Python objects per
# element. pipemap.mapspec.ragged is the validating Python layer.

from libc.stdint cimport INT64_MAX

@cython.boundscheck(False)
@cython.wraparound(False)
def ragged_offsets(const int64_t[::1] lengths not None, int64_t[::1] out not None):
    """Row offsets of ``lengths`` into ``out`` (``len(lengths) + 1`` entries); returns the total.

    Raises ``ValueError`` naming the first negative length, or when the total overflows int64.

    >>> import numpy as np
    >>> out = np.empty(4, np.int64)
    >>> ragged_offsets(np.array([2, 0, 3]), out), out.tolist()
    (5, [0, 2, 2, 5])
    """
    cdef Py_ssize_t n = lengths.shape[0], k, bad = -1
    cdef int64_t total = 0, length
    cdef bint overflow = False
    if out.shape[0] != n + 1:
        raise ValueError(f"Output buffer `out` has {out.shape[0]} entries, expected {n + 1}")
    with nogil:
        out[0] = 0
        for k in range(n):
            length = lengths[k]
            if length < 0:
                bad = k
                break
            if total > INT64_MAX - length:
                overflow = True
                break
            total += length
            out[k + 1] = total
    if bad >= 0:
        raise ValueError(f"Row {bad} has a negative length ({lengths[bad]})")
    if overflow:
        raise ValueError("The row lengths add up to more than 2**63 - 1 elements")
    return total


cdef inline Py_ssize_t _row_of(const int64_t* offsets, Py_ssize_t n_rows, int64_t flat) noexcept nogil:
    """The row holding ``flat`` (0 <= flat < offsets[n_rows]): the last row starting at or before it."""
    cdef Py_ssize_t lo = 0, hi = n_rows, mid
    while hi - lo > 1:  # invariant: offsets[lo] <= flat < offsets[hi]
        mid = lo + (hi - lo) // 2
        if offsets[mid] <= flat:
            lo = mid
        else:
            hi = mid
    return lo


@cython.boundscheck(False)
@cython.wraparound(False)
def ragged_locate(
    const int64_t[::1] offsets not None,
    const int64_t[::1] flat not None,
    int64_t[::1] rows_out not None,
    int64_t[::1] positions_out not None,
):
    """Row and position in row of each flat index (binary search per index; sorted runs are cheap).

    >>> import numpy as np
    >>> rows, pos = np.empty(3, np.int64), np.empty(3, np.int64)
    >>> ragged_locate(np.array([0, 2, 2, 5]), np.array([4, 0, 1]), rows, pos)
    >>> rows.tolist(), pos.tolist()
    ([2, 0, 0], [2, 0, 1])
    """
    cdef Py_ssize_t n = flat.shape[0], n_rows = offsets.shape[0] - 1, k, row, bad = -1
    cdef int64_t total, f
    if n_rows < 0:
        raise ValueError("`offsets` must have at least one entry (0 rows: [0])")
    if rows_out.shape[0] != n or positions_out.shape[0] != n:
        raise ValueError(
            f"Output buffers have {rows_out.shape[0]} and {positions_out.shape[0]} entries, expected {n}"
        )
    total = offsets[n_rows]
    if n == 0:
        return
    with nogil:
        row = 0
        for k in range(n):
            f = flat[k]
            if f < 0 or f >= total:
                bad = k
                break
            # the previous row is a good first guess for sorted indices
            if not (offsets[row] <= f < offsets[row + 1]):
                if row + 2 <= n_rows and offsets[row + 1] <= f < offsets[row + 2]:
                    row += 1
                else:
                    row = _row_of(&offsets[0], n_rows, f)
            rows_out[k] = row
            positions_out[k] = f - offsets[row]
    if bad >= 0:
        raise IndexError(f"Flat index {flat[bad]} (at position {bad}) is out of range for {total} elements")


@cython.boundscheck(False)
@cython.wraparound(False)
def ragged_expand(
    const int64_t[::1] offsets not None,
    Py_ssize_t start,
    Py_ssize_t stop,
    int64_t[::1] rows_out not None,
    int64_t[::1] positions_out not None,
):
    """Row and position of every element of rows ``start <= row < stop``, row after row.

    The buffers hold ``offsets[stop] - offsets[start]`` entries.

    >>> import numpy as np
    >>> rows, pos = np.empty(3, np.int64), np.empty(3, np.int64)
    >>> ragged_expand(np.array([0, 2, 2, 5]), 1, 3, rows, pos)
    >>> rows.tolist(), pos.tolist()
    ([2, 2, 2], [0, 1, 2])
    """
    cdef Py_ssize_t n_rows = offsets.shape[0] - 1, row, k = 0, bad = -1
    cdef int64_t p, length
    if not (0 <= start <= stop <= n_rows):
        raise IndexError(f"Row range [{start}, {stop}) is out of range for {max(n_rows, 0)} rows")
    cdef int64_t n = offsets[stop] - offsets[start]
    if rows_out.shape[0] != n or positions_out.shape[0] != n:
        raise ValueError(
            f"Output buffers have {rows_out.shape[0]} and {positions_out.shape[0]} entries, expected {n}"
        )
    with nogil:
        for row in range(start, stop):
            length = offsets[row + 1] - offsets[row]
            if length < 0 or k + length > n:  # offsets not non-decreasing: never write past `out`
                bad = row
                break
            for p in range(length):
                rows_out[k] = row
                positions_out[k] = p
                k += 1
    if bad >= 0:
        raise ValueError(f"`offsets` decreases at row {bad}: not the offsets of row lengths")


@cython.boundscheck(False)
@cython.wraparound(False)
def ragged_flat(
    const int64_t[::1] offsets not None,
    const int64_t[::1] rows not None,
    const int64_t[::1] positions not None,
    int64_t[::1] out not None,
):
    """Flat index of each (row, position in row); ``IndexError`` names the first pair outside a row.

    >>> import numpy as np
    >>> out = np.empty(2, np.int64)
    >>> ragged_flat(np.array([0, 2, 2, 5]), np.array([2, 0]), np.array([1, 1]), out)
    >>> out.tolist()
    [3, 1]
    """
    cdef Py_ssize_t n = rows.shape[0], n_rows = offsets.shape[0] - 1, k, bad = -1
    cdef int64_t row, p
    if positions.shape[0] != n or out.shape[0] != n:
        raise ValueError(
            f"`rows`, `positions` and `out` have {n}, {positions.shape[0]} and {out.shape[0]} entries;"
            " they must be equal"
        )
    with nogil:
        for k in range(n):
            row = rows[k]
            p = positions[k]
            if row < 0 or row >= n_rows or p < 0 or p >= offsets[row + 1] - offsets[row]:
                bad = k
                break
            out[k] = offsets[row] + p
    if bad >= 0:
        row = rows[bad]
        length = offsets[row + 1] - offsets[row] if 0 <= row < n_rows else None
        where = f"row {row} of length {length}" if length is not None else f"row {row} of {n_rows} rows"
        raise IndexError(f"Position {positions[bad]} (pair {bad}) is outside {where}")

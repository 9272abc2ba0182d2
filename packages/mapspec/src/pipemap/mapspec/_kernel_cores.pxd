# cython: language_level=3
"""The ``nogil`` cores of the index kernels, inlined into ``_kernels``.

Callers validate everything first (``_kernel_checks.pxd``): positive dimensions whose product
fits in int64, ``0 <= start <= stop <= size``, output buffers of the right shape. The array
core still checks each linear index (one compare per element) and reports the first bad one.
"""

cimport cython
from libc.stdint cimport int64_t, uint32_t, uint64_t

cdef enum:
    MAX_AXES = 64  # same limit as numpy's maximum number of dimensions
    SCRATCH = 4096  # int64 cells of the kernels' scratch block (32 KiB, stays in L1/L2)
    RELEASE_GIL_AT = 256  # batches at least this long run without the GIL


# --------------------------------------------------------------------------------------
# nogil cores (inputs validated by the callers, see _kernel_checks.pxd)
# --------------------------------------------------------------------------------------

@cython.cdivision(True)
@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline void _unravel_one(
    int64_t n, const int64_t* dims, Py_ssize_t nd, int64_t* idx
) noexcept nogil:
    """C-order multi-index of ``n`` (0 <= n < prod(dims)); one division per axis but the first."""
    cdef Py_ssize_t k
    cdef uint64_t r = <uint64_t>n, q, d
    for k in range(nd - 1, 0, -1):
        d = <uint64_t>dims[k]
        q = r // d
        idx[k] = <int64_t>(r - q * d)
        r = q
    if nd > 0:
        idx[0] = <int64_t>r


@cython.cdivision(True)
@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline void _unravel_one32(
    uint32_t n, const uint32_t* dims, Py_ssize_t nd, int64_t* idx
) noexcept nogil:
    """As _unravel_one when the size fits in 32 bits (32-bit division is much cheaper)."""
    cdef Py_ssize_t k
    cdef uint32_t r = n, q, d
    for k in range(nd - 1, 0, -1):
        d = dims[k]
        q = r // d
        idx[k] = <int64_t>(r - q * d)
        r = q
    if nd > 0:
        idx[0] = <int64_t>r


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline void _scatter(
    Py_ssize_t c0,
    Py_ssize_t cn,
    const int64_t* tmp,
    Py_ssize_t rows,
    Py_ssize_t nd,
    int64_t* keys,
    const int64_t* src,
    const Py_ssize_t* offsets,
    Py_ssize_t n_inputs,
    int64_t** sels,
) noexcept nogil:
    """Copy rows ``c0 .. c0 + cn`` from the column-major scratch block to keys and selectors.

    Column ``a`` of the scratch (``tmp + a * rows``) holds the index along external axis ``a``;
    column ``nd`` is all -1. ``src`` holds the axis maps with -1 replaced by ``nd``, so a ``:``
    slot copies the sentinel without a branch. ``sels[k]`` is the C-ordered ``(n, rank_k)``
    buffer of input k. Column by column, so each inner loop is one contiguous-to-strided copy.
    """
    cdef Py_ssize_t k, j, m, r, off
    cdef int64_t* out
    cdef const int64_t* column
    if keys != NULL:
        out = keys + c0 * nd
        for j in range(nd):
            column = tmp + j * rows
            for m in range(cn):
                out[m * nd + j] = column[m]
    if sels != NULL:
        for k in range(n_inputs):
            off = offsets[k]
            r = offsets[k + 1] - off
            out = sels[k] + c0 * r
            for j in range(r):
                column = tmp + src[off + j] * rows
                for m in range(cn):
                    out[m * r + j] = column[m]


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef inline Py_ssize_t _scratch_rows(Py_ssize_t nd, Py_ssize_t n, int64_t* tmp) noexcept nogil:
    """Rows per chunk for ``nd`` axes; fills (up to ``n`` rows of) the sentinel column with -1."""
    cdef Py_ssize_t m, rows = SCRATCH // (nd + 1)
    for m in range(min(rows, n)):
        tmp[nd * rows + m] = -1
    return rows


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef inline void _fill_range_core(
    int64_t start,
    Py_ssize_t n,
    const int64_t* dims,
    Py_ssize_t nd,
    int64_t* keys,
    const int64_t* src,
    const Py_ssize_t* offsets,
    Py_ssize_t n_inputs,
    int64_t** sels,
) noexcept nogil:
    """Keys/selectors of ``start .. start + n`` (validated), without any division per element.

    Along axis ``a`` the index stays constant for ``stride[a]`` consecutive linear indices,
    then steps by one modulo ``dims[a]``; each scratch column follows that run pattern.
    """
    cdef int64_t tmp[SCRATCH]
    cdef int64_t stride[MAX_AXES]
    cdef int64_t value[MAX_AXES]
    cdef int64_t left[MAX_AXES]
    cdef int64_t v, count, step, d
    cdef int64_t* column
    cdef Py_ssize_t a, c0, cn, m, rows
    if n <= 0:
        return
    rows = _scratch_rows(nd, n, tmp)
    step = 1
    for a in range(nd - 1, -1, -1):
        stride[a] = step
        value[a] = (start // step) % dims[a]
        left[a] = step - start % step  # indices left before the next step along axis a
        step *= dims[a]  # cannot overflow past prod(dims) <= INT64_MAX
    c0 = 0
    while c0 < n:
        cn = min(rows, n - c0)
        for a in range(nd):
            column = tmp + a * rows
            v = value[a]
            count = left[a]
            step = stride[a]
            d = dims[a]
            for m in range(cn):
                column[m] = v
                count -= 1
                if count == 0:
                    count = step
                    v += 1
                    if v == d:
                        v = 0
            value[a] = v
            left[a] = count
        _scatter(c0, cn, tmp, rows, nd, keys, src, offsets, n_inputs, sels)
        c0 += cn


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline Py_ssize_t _fill_array_core(
    const int64_t* linear,
    Py_ssize_t n,
    const int64_t* dims,
    Py_ssize_t nd,
    int64_t size,
    int64_t* keys,
    const int64_t* src,
    const Py_ssize_t* offsets,
    Py_ssize_t n_inputs,
    int64_t** sels,
) noexcept nogil:
    """As _fill_range_core for an array; returns -1, or the position of the first bad index."""
    cdef int64_t tmp[SCRATCH]
    cdef int64_t idx[MAX_AXES]
    cdef uint32_t dims32[MAX_AXES]
    cdef Py_ssize_t c0, cn, m, a, rows
    cdef bint narrow = size <= <int64_t>0xFFFFFFFF
    cdef int64_t v
    if n <= 0:
        return -1
    rows = _scratch_rows(nd, n, tmp)
    for a in range(nd):
        dims32[a] = <uint32_t>dims[a] if narrow else 0
    c0 = 0
    while c0 < n:
        cn = min(rows, n - c0)
        for m in range(cn):
            v = linear[c0 + m]
            if v < 0 or v >= size:
                return c0 + m
            if narrow:  # 32-bit division is much cheaper
                _unravel_one32(<uint32_t>v, dims32, nd, idx)
            else:
                _unravel_one(v, dims, nd, idx)
            for a in range(nd):
                tmp[a * rows + m] = idx[a]
        _scatter(c0, cn, tmp, rows, nd, keys, src, offsets, n_inputs, sels)
        c0 += cn
    return -1


cdef inline Py_ssize_t _fill_core(
    int64_t start,
    const int64_t* linear,
    Py_ssize_t n,
    const int64_t* dims,
    Py_ssize_t nd,
    int64_t size,
    int64_t* keys,
    const int64_t* src,
    const Py_ssize_t* offsets,
    Py_ssize_t n_inputs,
    int64_t** sels,
) noexcept nogil:
    """The range core from ``start`` when ``linear`` is NULL, else the array core (-1 or bad)."""
    if linear == NULL:
        _fill_range_core(start, n, dims, nd, keys, src, offsets, n_inputs, sels)
        return -1
    return _fill_array_core(linear, n, dims, nd, size, keys, src, offsets, n_inputs, sels)

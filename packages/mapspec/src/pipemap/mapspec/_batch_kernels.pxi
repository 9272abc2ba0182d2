# Module-level batch kernels of pipemap.mapspec._kernels (included by _kernels.pyx, which
# provides the cimports): C-order unravelling and per-input selection over int64 buffers.

# --------------------------------------------------------------------------------------
# Module-level batch kernels
# --------------------------------------------------------------------------------------

def unravel_range(
    int64_t start, int64_t stop, const int64_t[::1] shape not None, int64_t[:, ::1] out not None
):
    """C-order multi-indices of ``start <= n < stop`` into ``out`` (``(stop - start, len(shape))``).

    >>> import numpy as np
    >>> out = np.empty((3, 2), np.int64)
    >>> unravel_range(2, 5, np.array([2, 3]), out)
    >>> out.tolist()
    [[0, 2], [1, 0], [1, 1]]
    """
    cdef int64_t dims[MAX_AXES]
    cdef Py_ssize_t nd = shape.shape[0]
    cdef Py_ssize_t n
    cdef int64_t size
    cdef int64_t* kp = NULL
    if nd > MAX_AXES:
        raise ValueError(f"At most {MAX_AXES} axes are supported, got {nd}")
    size = _read_shape_buffer(shape, nd, "", dims)
    _check_range(start, stop, size, "")
    n = stop - start
    _check_out(out.shape[0], out.shape[1], n, nd, "out", "")
    if n > 0 and nd > 0:
        kp = &out[0, 0]
    with nogil:
        _fill_range_core(start, n, dims, nd, kp, NULL, NULL, 0, NULL)


def unravel_array(
    const int64_t[::1] linear not None,
    const int64_t[::1] shape not None,
    int64_t[:, ::1] out not None,
):
    """C-order multi-indices of each entry of ``linear`` into ``out`` (``(n, len(shape))``).

    >>> import numpy as np
    >>> out = np.empty((2, 2), np.int64)
    >>> unravel_array(np.array([5, 1]), np.array([2, 3]), out)
    >>> out.tolist()
    [[1, 2], [0, 1]]
    """
    cdef int64_t dims[MAX_AXES]
    cdef Py_ssize_t nd = shape.shape[0]
    cdef Py_ssize_t n = linear.shape[0], bad
    cdef int64_t size
    cdef int64_t* kp = NULL
    cdef const int64_t* lp = NULL
    if nd > MAX_AXES:
        raise ValueError(f"At most {MAX_AXES} axes are supported, got {nd}")
    size = _read_shape_buffer(shape, nd, "", dims)
    _check_out(out.shape[0], out.shape[1], n, nd, "out", "")
    if n > 0:
        lp = &linear[0]
        if nd > 0:
            kp = &out[0, 0]
    with nogil:
        bad = _fill_array_core(lp, n, dims, nd, size, kp, NULL, NULL, 0, NULL)
    if bad >= 0:
        _raise_bad_linear(linear, bad, size, "")


def select_range(
    int64_t start,
    int64_t stop,
    const int64_t[::1] shape not None,
    const int64_t[::1] axis_map not None,
    int64_t[:, ::1] out not None,
):
    """One input's selectors for ``start <= n < stop`` into ``out`` (``(n, len(axis_map))``).

    ``axis_map[j]`` is the external position of the input's axis ``j``, or -1 for ``:``; the
    selector holds the index along that axis, or -1 for ``:``.

    >>> import numpy as np
    >>> out = np.empty((2, 2), np.int64)
    >>> select_range(4, 6, np.array([2, 3]), np.array([1, -1]), out)
    >>> out.tolist()
    [[1, -1], [2, -1]]
    """
    cdef int64_t dims[MAX_AXES]
    cdef int64_t src[MAX_AXES]
    cdef Py_ssize_t offsets[2]
    cdef Py_ssize_t nd = shape.shape[0]
    cdef Py_ssize_t n, r = axis_map.shape[0]
    cdef int64_t size
    cdef int64_t* sp = NULL
    if nd > MAX_AXES:
        raise ValueError(f"At most {MAX_AXES} axes are supported, got {nd}")
    size = _read_shape_buffer(shape, nd, "", dims)
    _prepare_axis_map(axis_map, nd, src, offsets)
    _check_range(start, stop, size, "")
    n = stop - start
    _check_out(out.shape[0], out.shape[1], n, r, "out", "")
    if n > 0 and r > 0:
        sp = &out[0, 0]
    with nogil:
        _fill_range_core(start, n, dims, nd, NULL, src, offsets, 1, &sp)


def select_array(
    const int64_t[::1] linear not None,
    const int64_t[::1] shape not None,
    const int64_t[::1] axis_map not None,
    int64_t[:, ::1] out not None,
):
    """As :func:`select_range` for an array of linear indices (each checked: IndexError).

    >>> import numpy as np
    >>> out = np.empty((2, 2), np.int64)
    >>> select_array(np.array([5, 0]), np.array([2, 3]), np.array([-1, 0]), out)
    >>> out.tolist()
    [[-1, 1], [-1, 0]]
    """
    cdef int64_t dims[MAX_AXES]
    cdef int64_t src[MAX_AXES]
    cdef Py_ssize_t offsets[2]
    cdef Py_ssize_t nd = shape.shape[0]
    cdef Py_ssize_t n = linear.shape[0], bad, r = axis_map.shape[0]
    cdef int64_t size
    cdef int64_t* sp = NULL
    cdef const int64_t* lp = NULL
    if nd > MAX_AXES:
        raise ValueError(f"At most {MAX_AXES} axes are supported, got {nd}")
    size = _read_shape_buffer(shape, nd, "", dims)
    _prepare_axis_map(axis_map, nd, src, offsets)
    _check_out(out.shape[0], out.shape[1], n, r, "out", "")
    if n > 0:
        lp = &linear[0]
        if r > 0:
            sp = &out[0, 0]
    with nogil:
        bad = _fill_array_core(lp, n, dims, nd, size, NULL, src, offsets, 1, &sp)
    if bad >= 0:
        _raise_bad_linear(linear, bad, size, "")

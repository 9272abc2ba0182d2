# cython: language_level=3
"""Validation helpers of the index kernels (Python level, O(rank)), inlined into ``_kernels``.

They turn shapes, linear indices and buffers into C values, raising ``ValueError``,
``IndexError`` or ``TypeError`` naming the spec and the culprit; the ``nogil`` cores in
``_kernel_cores.pxd`` then run unchecked.
"""

from cpython.buffer cimport (
    PyBUF_C_CONTIGUOUS,
    PyBUF_FORMAT,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.number cimport PyNumber_Index
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_GET_ITEM
from libc.stdint cimport INT64_MAX, int64_t

from pipemap.mapspec._kernel_cores cimport MAX_AXES

cdef extern from "Python.h":
    bint PyLong_CheckExact(object o)
    bint PyBool_Check(object o)
    bint PyTuple_CheckExact(object o)
    long long PyLong_AsLongLongAndOverflow(object o, int* overflow) except? -1
    # Raw forms without Cython's reference counting, for building keys by hand.
    PyObject* _PyLong_FromLongLong "PyLong_FromLongLong"(long long v)
    void _PyTuple_SET_ITEM "PyTuple_SET_ITEM"(PyObject* t, Py_ssize_t i, PyObject* o)
    void _Py_INCREF "Py_INCREF"(PyObject* o)
    void _Py_DECREF "Py_DECREF"(PyObject* o)


# --------------------------------------------------------------------------------------
# Validation helpers (Python level, O(rank))
# --------------------------------------------------------------------------------------

cdef inline str _where(str spec_text):
    return f" (mapspec `{spec_text}`)" if spec_text else ""


cdef inline int _read_dim(
    object d, object shape, Py_ssize_t k, str spec_text, int64_t* out
) except -1:
    """Convert one dimension of ``shape`` to a positive C integer, else ValueError."""
    cdef int64_t v = 0
    cdef int overflow = 0
    cdef bint ok = False
    if PyLong_CheckExact(d):
        v = PyLong_AsLongLongAndOverflow(d, &overflow)
        ok = overflow == 0 and v > 0
    elif not PyBool_Check(d):
        try:
            d_int = PyNumber_Index(d)
        except TypeError:
            d_int = None
        if d_int is not None and 0 < d_int <= INT64_MAX:
            v = d_int
            ok = True
    if not ok:
        raise ValueError(
            f"Invalid dimension {d!r} at position {k} of shape {shape}{_where(spec_text)}: "
            "every dimension must be a positive int"
        )
    out[0] = v
    return 0


cdef inline int64_t _read_shape(
    object shape, Py_ssize_t n_expected, str spec_text, int64_t* dims
) except -1:
    """Validate ``shape`` (a sequence of ``n_expected`` positive ints) into ``dims``.

    Returns the number of elements (the product), raising ValueError on overflow.
    """
    cdef tuple t
    cdef Py_ssize_t k, n
    cdef int64_t size = 1
    if PyTuple_CheckExact(shape):
        t = <tuple>shape
    else:
        try:
            t = tuple(shape)
        except TypeError:
            raise ValueError(
                f"Expected a shape of length {n_expected}, got {shape!r}{_where(spec_text)}"
            ) from None
    n = len(t)
    if n != n_expected:
        raise ValueError(f"Expected a shape of length {n_expected}, got {shape}{_where(spec_text)}")
    for k in range(n):
        _read_dim(<object>PyTuple_GET_ITEM(t, k), shape, k, spec_text, &dims[k])
        if size > INT64_MAX // dims[k]:
            raise ValueError(
                f"Shape {shape}{_where(spec_text)} has more than 2**63 - 1 elements"
            )
        size *= dims[k]
    return size


cdef inline int64_t _read_shape_buffer(
    const int64_t[::1] shape, Py_ssize_t n_expected, str spec_text, int64_t* dims
) except -1:
    """Like _read_shape for an int64 buffer (the batched kernels' form)."""
    cdef Py_ssize_t k
    cdef int64_t size = 1
    if shape.shape[0] != n_expected:
        raise ValueError(
            f"Expected a shape of length {n_expected}, got {tuple(shape)}{_where(spec_text)}"
        )
    for k in range(n_expected):
        if shape[k] <= 0:
            raise ValueError(
                f"Invalid dimension {shape[k]} at position {k} of shape {tuple(shape)}"
                f"{_where(spec_text)}: every dimension must be a positive int"
            )
        if size > INT64_MAX // shape[k]:
            raise ValueError(
                f"Shape {tuple(shape)}{_where(spec_text)} has more than 2**63 - 1 elements"
            )
        dims[k] = shape[k]
        size *= shape[k]
    return size


cdef inline int64_t _read_linear(
    object linear_index, object shape, int64_t size, str spec_text
) except -1:
    """Validate one linear index: an int with 0 <= n < size."""
    cdef object n
    cdef int64_t v
    cdef int overflow = 0
    if PyLong_CheckExact(linear_index):
        v = PyLong_AsLongLongAndOverflow(linear_index, &overflow)
        if overflow == 0 and 0 <= v < size:
            return v
        n = linear_index
    elif PyBool_Check(linear_index):
        raise TypeError(f"Linear index must be an int, got {linear_index!r}{_where(spec_text)}")
    else:
        try:
            n = PyNumber_Index(linear_index)
        except TypeError:
            raise TypeError(
                f"Linear index must be an int, got {linear_index!r}{_where(spec_text)}"
            ) from None
    if not (0 <= n < size):
        raise IndexError(
            f"Linear index {linear_index} is out of range for shape {shape} "
            f"of size {size}{_where(spec_text)}"
        )
    return <int64_t>n


cdef inline int _check_range(int64_t start, int64_t stop, int64_t size, str spec_text) except -1:
    if start < 0 or stop < start or stop > size:
        raise IndexError(
            f"Linear index range [{start}, {stop}) is out of range for size {size}"
            f"{_where(spec_text)}"
        )
    return 0


cdef inline int _check_out(
    Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t n, Py_ssize_t width, str what, str spec_text
) except -1:
    if rows != n or cols != width:
        raise ValueError(
            f"Output buffer `{what}` has shape ({rows}, {cols}), expected ({n}, {width})"
            f"{_where(spec_text)}"
        )
    return 0


cdef inline int _acquire_int64(
    object obj,
    Py_buffer* view,
    bint writable,
    int ndim,
    Py_ssize_t rows,
    Py_ssize_t cols,
    str what,
    Py_ssize_t item,
    str spec_text,
) except -1:
    """Get a C-contiguous int64 buffer of ``ndim`` dims and shape (rows[, cols]), else ValueError.

    ``rows < 0`` accepts any length. On error nothing stays acquired.
    """
    cdef int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (PyBUF_WRITABLE if writable else 0)
    cdef bytes fmt
    cdef bint ok
    cdef int k
    cdef str name = what if item < 0 else f"{what}[{item}]"
    try:
        PyObject_GetBuffer(obj, view, flags)
    except (BufferError, TypeError, ValueError) as exc:
        raise ValueError(
            f"`{name}` must be a{' writable' if writable else ''} C-contiguous int64 buffer, "
            f"got {type(obj).__name__} ({exc}){_where(spec_text)}"
        ) from None
    fmt = view.format if view.format != NULL else b"B"
    if fmt[:1] in (b"@", b"="):
        fmt = fmt[1:]
    ok = view.itemsize == 8 and (fmt == b"q" or (fmt == b"l" and sizeof(long) == 8))
    ok = ok and view.ndim == ndim
    if ok and rows >= 0:
        ok = view.shape[0] == rows and (ndim == 1 or view.shape[1] == cols)
    if not ok:
        got = []
        for k in range(view.ndim):
            got.append(view.shape[k])
        got = tuple(got)
        PyBuffer_Release(view)
        want = f"({rows}, {cols})" if ndim == 2 else ("(n,)" if rows < 0 else f"({rows},)")
        raise ValueError(
            f"`{name}` must be an int64 buffer of shape {want}, got format "
            f"{fmt.decode(errors='replace')!r} and shape {got}{_where(spec_text)}"
        )
    return 0


cdef inline int _raise_bad_linear(
    object linear, Py_ssize_t pos, int64_t size, str spec_text
) except -1:
    raise IndexError(
        f"Linear index {linear[pos]} (at position {pos}) is out of range for size {size}"
        f"{_where(spec_text)}"
    )


cdef inline int _prepare_axis_map(
    const int64_t[::1] axis_map, Py_ssize_t nd, int64_t* src, Py_ssize_t* offsets
) except -1:
    cdef Py_ssize_t j, r = axis_map.shape[0]
    if r > MAX_AXES:
        raise ValueError(f"At most {MAX_AXES} axes are supported, got an axis map of length {r}")
    for j in range(r):
        if not -1 <= axis_map[j] < nd:
            raise ValueError(
                f"Axis map {tuple(axis_map)} has entry {axis_map[j]}, expected -1 or a position "
                f"in [0, {nd})"
            )
        src[j] = nd if axis_map[j] < 0 else axis_map[j]
    offsets[0] = 0
    offsets[1] = r
    return 0

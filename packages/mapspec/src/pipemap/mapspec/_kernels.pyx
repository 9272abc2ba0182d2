# cython: language_level=3
# cython: freethreading_compatible=True
"""Private compiled index kernels of pipemap.mapspec.

The index math of a mapspec (SPEC.md 1.4 and 1.6): a linear index ``n`` over the external
shape maps, in C order, to the output multi-index; every input takes, per axis, the entry of
the output multi-index for that axis, or ``slice(None)`` (``-1`` in the batched buffers) for a
``:`` slot.

Two layers live here:

* :class:`CompiledSpec`, the compiled form of one mapspec. Its scalar ``input_keys`` and
  ``output_key`` validate their arguments and compute with C integers; its ``fill_range`` and
  ``fill_array`` fill caller-provided int64 buffers for many linear indices at once.
* Module-level batch kernels (``unravel_range``, ``unravel_array``, ``select_range``,
  ``select_array``) over caller-provided int64 buffers.

Every entry point checks what it needs in O(rank) before the ``nogil`` loop (dimensions
positive, buffer shapes, range bounds); array kernels also check each linear index inside the
loop (one compare per element) and raise ``IndexError`` for the first one out of range, so no
input can crash the process. :mod:`pipemap.mapspec.index_plan` is the friendly Python layer.

>>> spec = CompiledSpec("x[i, j], y[j, :, k] -> z[i, j, k]", ("x", "y"), ((0, 1), (1, -1, 2)), 3)
>>> spec.input_keys((5, 2, 3), 23)
{'x': (3, 1), 'y': (1, slice(None, None, None), 2)}
>>> spec.output_key((5, 2, 3), 23)
(3, 1, 2)
"""

cimport cython
from cpython.buffer cimport (
    PyBUF_C_CONTIGUOUS,
    PyBUF_FORMAT,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_New
from libc.stdint cimport INT64_MAX, int64_t, uint32_t, uint64_t

from operator import index as _as_index

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

cdef enum:
    MAX_AXES = 64  # same limit as numpy's maximum number of dimensions
    SCRATCH = 4096  # int64 cells of the kernels' scratch block (32 KiB, stays in L1/L2)

cdef object _SLICE_ALL = slice(None)


# --------------------------------------------------------------------------------------
# Validation helpers (Python level, O(rank))
# --------------------------------------------------------------------------------------

cdef inline str _where(str spec_text):
    return f" (mapspec `{spec_text}`)" if spec_text else ""


cdef int _read_dim(object d, object shape, Py_ssize_t k, str spec_text, int64_t* out) except -1:
    """Convert one dimension of ``shape`` to a positive C integer, else ValueError."""
    cdef int64_t v = 0
    cdef int overflow = 0
    cdef bint ok = False
    if PyLong_CheckExact(d):
        v = PyLong_AsLongLongAndOverflow(d, &overflow)
        ok = overflow == 0 and v > 0
    elif not PyBool_Check(d):
        try:
            d_int = _as_index(d)
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


cdef int64_t _read_shape(
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


cdef int64_t _read_shape_buffer(
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
            raise ValueError(f"Shape {tuple(shape)}{_where(spec_text)} has more than 2**63 - 1 elements")
        dims[k] = shape[k]
        size *= shape[k]
    return size


cdef int64_t _read_linear(object linear_index, object shape, int64_t size, str spec_text) except -1:
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
            n = _as_index(linear_index)
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


cdef int _check_range(int64_t start, int64_t stop, int64_t size, str spec_text) except -1:
    if start < 0 or stop < start or stop > size:
        raise IndexError(
            f"Linear index range [{start}, {stop}) is out of range for size {size}"
            f"{_where(spec_text)}"
        )
    return 0


cdef int _check_out(
    Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t n, Py_ssize_t width, str what, str spec_text
) except -1:
    if rows != n or cols != width:
        raise ValueError(
            f"Output buffer `{what}` has shape ({rows}, {cols}), expected ({n}, {width})"
            f"{_where(spec_text)}"
        )
    return 0


cdef int _acquire_int64(
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
        got = tuple(view.shape[k] for k in range(view.ndim))
        PyBuffer_Release(view)
        want = f"({rows}, {cols})" if ndim == 2 else ("(n,)" if rows < 0 else f"({rows},)")
        raise ValueError(
            f"`{name}` must be an int64 buffer of shape {want}, got format "
            f"{fmt.decode(errors='replace')!r} and shape {got}{_where(spec_text)}"
        )
    return 0


# --------------------------------------------------------------------------------------
# nogil cores (inputs validated by the callers above)
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
    """Rows per chunk for ``nd`` axes; fills the sentinel column ``nd`` with -1 (``n`` rows at most)."""
    cdef Py_ssize_t m, rows = SCRATCH // (nd + 1)
    for m in range(min(rows, n)):
        tmp[nd * rows + m] = -1
    return rows


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef void _fill_range_core(
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
cdef Py_ssize_t _fill_array_core(
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


cdef int _raise_bad_linear(object linear, Py_ssize_t pos, int64_t size, str spec_text) except -1:
    raise IndexError(
        f"Linear index {linear[pos]} (at position {pos}) is out of range for size {size}"
        f"{_where(spec_text)}"
    )


# --------------------------------------------------------------------------------------
# The compiled form of one mapspec
# --------------------------------------------------------------------------------------

cdef class CompiledSpec:
    """The compiled index math of one mapspec.

    ``axis_maps[k][j]`` is the position, in the external shape, of axis ``j`` of input ``k``,
    or -1 for a ``:`` slot; ``n_external`` is the number of external axes.

    >>> c = CompiledSpec("x[i], y[j] -> z[i, j]", ("x", "y"), ((0,), (1,)), 2)
    >>> c.input_keys((3, 4), 5)
    {'x': (1,), 'y': (1,)}
    >>> c.output_key((3, 4), 5)
    (1, 1)
    """

    cdef readonly str spec_text
    cdef readonly tuple input_names
    cdef readonly tuple axis_maps
    cdef readonly Py_ssize_t n_external
    cdef readonly Py_ssize_t total_rank
    cdef Py_ssize_t n_inputs
    cdef Py_ssize_t* offsets   # n_inputs + 1 entries: prefix sums of the input ranks
    cdef int64_t* maps         # total_rank entries, -1 for ':'
    cdef int64_t* src          # same, with -1 replaced by n_external (branch-free gather)
    cdef object slice_all

    def __cinit__(self, *args, **kwargs):
        self.offsets = NULL
        self.maps = NULL
        self.src = NULL

    def __init__(self, str spec_text, tuple input_names, tuple axis_maps, int n_external):
        cdef Py_ssize_t k, j, pos, total = 0
        cdef tuple amap
        if not 0 <= n_external <= MAX_AXES:
            raise ValueError(
                f"n_external must be in [0, {MAX_AXES}], got {n_external}{_where(spec_text)}"
            )
        if len(input_names) != len(axis_maps):
            raise ValueError(
                f"Got {len(input_names)} input names but {len(axis_maps)} axis maps"
                f"{_where(spec_text)}"
            )
        for k in range(len(input_names)):
            if not isinstance(input_names[k], str):
                raise ValueError(f"Input name {input_names[k]!r} is not a str{_where(spec_text)}")
            if not isinstance(axis_maps[k], tuple):
                raise ValueError(
                    f"Axis map {axis_maps[k]!r} of input {input_names[k]!r} is not a tuple"
                    f"{_where(spec_text)}"
                )
            for pos in axis_maps[k]:
                if not -1 <= pos < n_external:
                    raise ValueError(
                        f"Axis map {axis_maps[k]!r} of input {input_names[k]!r} has entry {pos}, "
                        f"expected -1 or a position in [0, {n_external}){_where(spec_text)}"
                    )
            total += len(<tuple>axis_maps[k])
        self.spec_text = spec_text
        self.input_names = input_names
        self.axis_maps = axis_maps
        self.n_external = n_external
        self.n_inputs = len(input_names)
        self.total_rank = total
        self.slice_all = _SLICE_ALL
        PyMem_Free(self.offsets)
        PyMem_Free(self.maps)
        PyMem_Free(self.src)
        self.offsets = <Py_ssize_t*>PyMem_Malloc((self.n_inputs + 1) * sizeof(Py_ssize_t))
        self.maps = <int64_t*>PyMem_Malloc((total + 1) * sizeof(int64_t))
        self.src = <int64_t*>PyMem_Malloc((total + 1) * sizeof(int64_t))
        if self.offsets == NULL or self.maps == NULL or self.src == NULL:
            raise MemoryError()
        total = 0
        for k in range(self.n_inputs):
            self.offsets[k] = total
            amap = <tuple>axis_maps[k]
            for j in range(len(amap)):
                pos = amap[j]
                self.maps[total] = pos
                self.src[total] = n_external if pos < 0 else pos
                total += 1
        self.offsets[self.n_inputs] = total

    def __dealloc__(self):
        PyMem_Free(self.offsets)
        PyMem_Free(self.maps)
        PyMem_Free(self.src)

    def __reduce__(self):
        return (CompiledSpec, (self.spec_text, self.input_names, self.axis_maps, self.n_external))

    def __repr__(self):
        return (
            f"CompiledSpec({self.spec_text!r}, {self.input_names!r}, {self.axis_maps!r}, "
            f"{self.n_external})"
        )

    def size_of(self, shape):
        """Validate an external ``shape`` (ValueError) and return its number of elements.

        >>> CompiledSpec("x[i], y[j] -> z[i, j]", ("x", "y"), ((0,), (1,)), 2).size_of((3, 4))
        12
        """
        cdef int64_t dims[MAX_AXES]
        return _read_shape(shape, self.n_external, self.spec_text, dims)

    def rank(self, Py_ssize_t k):
        """Rank of input ``k``.

        >>> CompiledSpec("x[i, :] -> y[i]", ("x",), ((0, -1),), 1).rank(0)
        2
        """
        if not 0 <= k < self.n_inputs:
            raise IndexError(f"Input position {k} out of range{_where(self.spec_text)}")
        return self.offsets[k + 1] - self.offsets[k]

    def offset(self, Py_ssize_t k):
        """Column offset of input ``k`` in the concatenated selectors (prefix sum of ranks).

        >>> CompiledSpec("x[i], y[i, :] -> z[i]", ("x", "y"), ((0,), (0, -1)), 1).offset(1)
        1
        """
        if not 0 <= k <= self.n_inputs:
            raise IndexError(f"Input position {k} out of range{_where(self.spec_text)}")
        return self.offsets[k]

    @cython.boundscheck(False)
    @cython.wraparound(False)
    def output_key(self, shape, linear_index):
        """Output multi-index of ``linear_index`` over the external ``shape`` (C order).

        >>> CompiledSpec("x[i, j] -> y[i, j]", ("x",), ((0, 1),), 2).output_key((3, 4), 7)
        (1, 3)
        """
        cdef int64_t dims[MAX_AXES]
        cdef int64_t idx[MAX_AXES + 1]
        cdef PyObject* item
        cdef Py_ssize_t k, nd = self.n_external
        cdef int64_t size = _read_shape(shape, nd, self.spec_text, dims)
        cdef int64_t n = _read_linear(linear_index, shape, size, self.spec_text)
        cdef tuple key
        if nd == 1 and PyLong_CheckExact(linear_index):
            return (linear_index,)  # 1-D: the key is the (validated) index itself
        _unravel_one(n, dims, nd, idx)
        key = PyTuple_New(nd)
        for k in range(nd):
            item = _PyLong_FromLongLong(idx[k])
            if item == NULL:
                raise MemoryError()
            _PyTuple_SET_ITEM(<PyObject*>key, k, item)  # steals the new reference
        return key

    @cython.boundscheck(False)
    @cython.wraparound(False)
    def input_keys(self, shape, linear_index):
        """``{input name: key}`` for ``linear_index``: an int per named axis, ``slice(None)`` per ``:``.

        >>> c = CompiledSpec("x[i, j], y[j, :, k] -> z[i, j, k]", ("x", "y"), ((0, 1), (1, -1, 2)), 3)
        >>> c.input_keys((5, 2, 3), 23)
        {'x': (3, 1), 'y': (1, slice(None, None, None), 2)}
        """
        cdef int64_t dims[MAX_AXES]
        cdef int64_t idx[MAX_AXES + 1]
        # vals[k]: a new reference to the int for external axis k; vals[nd]: slice(None), borrowed.
        cdef PyObject* vals[MAX_AXES + 1]
        cdef PyObject* item
        cdef Py_ssize_t k, j, r, off, made = 0, nd = self.n_external
        cdef int64_t size = _read_shape(shape, nd, self.spec_text, dims)
        cdef int64_t n = _read_linear(linear_index, shape, size, self.spec_text)
        cdef tuple key
        cdef dict result
        if nd == 1 and PyLong_CheckExact(linear_index):
            vals[0] = <PyObject*>linear_index  # 1-D: the key is the (validated) index itself
            _Py_INCREF(vals[0])
            made = 1
        else:
            _unravel_one(n, dims, nd, idx)
            for k in range(nd):
                item = _PyLong_FromLongLong(idx[k])
                if item == NULL:
                    break
                vals[k] = item
                made += 1
        vals[nd] = <PyObject*>self.slice_all
        try:
            if made < nd:
                raise MemoryError()
            result = {}
            for k in range(self.n_inputs):
                off = self.offsets[k]
                r = self.offsets[k + 1] - off
                key = PyTuple_New(r)
                for j in range(r):
                    item = vals[self.src[off + j]]
                    _Py_INCREF(item)
                    _PyTuple_SET_ITEM(<PyObject*>key, j, item)
                result[<object>PyTuple_GET_ITEM(self.input_names, k)] = key
            return result
        finally:
            for k in range(made):
                _Py_DECREF(vals[k])

    def fill_range(self, int64_t start, int64_t stop, shape, keys_out, selectors_out):
        """Fill output keys and every input's selectors for linear indices ``start <= n < stop``.

        ``shape`` is the external shape (validated as in :meth:`output_key`). ``keys_out`` is
        None or an int64 C-contiguous ``(n, n_external)`` buffer; ``selectors_out`` is None or a
        sequence with one int64 C-contiguous ``(n, rank_k)`` buffer per input. Selectors hold
        the index along each axis, -1 for a ``:`` slot.

        >>> import numpy as np
        >>> c = CompiledSpec("x[i], y[j, :] -> z[i, j]", ("x", "y"), ((0,), (1, -1)), 2)
        >>> keys, x, y = np.empty((2, 2), np.int64), np.empty((2, 1), np.int64), np.empty((2, 2), np.int64)
        >>> c.fill_range(2, 4, (2, 3), keys, (x, y))
        >>> keys.tolist(), x.tolist(), y.tolist()
        ([[0, 2], [1, 0]], [[0], [1]], [[2, -1], [0, -1]])
        """
        cdef int64_t dims[MAX_AXES]
        cdef Py_ssize_t nd = self.n_external
        cdef int64_t size = _read_shape(shape, nd, self.spec_text, dims)
        _check_range(start, stop, size, self.spec_text)
        self._fill(start, stop - start, NULL, None, dims, size, keys_out, selectors_out)

    def fill_array(self, linear, shape, keys_out, selectors_out):
        """As :meth:`fill_range` for a 1-D int64 C-contiguous buffer of linear indices.

        Each index is checked inside the loop: one out of range raises ``IndexError``.

        >>> import numpy as np
        >>> c = CompiledSpec("x[i], y[j, :] -> z[i, j]", ("x", "y"), ((0,), (1, -1)), 2)
        >>> x, y = np.empty((2, 1), np.int64), np.empty((2, 2), np.int64)
        >>> c.fill_array(np.array([5, 0]), (2, 3), None, [x, y])
        >>> x.tolist(), y.tolist()
        ([[1], [0]], [[2, -1], [0, -1]])
        """
        cdef int64_t dims[MAX_AXES]
        cdef Py_ssize_t nd = self.n_external
        cdef int64_t size = _read_shape(shape, nd, self.spec_text, dims)
        cdef Py_buffer lview
        _acquire_int64(linear, &lview, False, 1, -1, 0, "linear", -1, self.spec_text)
        try:
            self._fill(0, lview.shape[0], <const int64_t*>lview.buf, linear, dims, size,
                       keys_out, selectors_out)
        finally:
            PyBuffer_Release(&lview)

    cdef int _fill(
        self,
        int64_t start,
        Py_ssize_t n,
        const int64_t* linear,
        object linear_obj,
        const int64_t* dims,
        int64_t size,
        object keys_out,
        object selectors_out,
    ) except -1:
        """Acquire the output buffers, run the range (linear NULL) or array core, release."""
        cdef Py_ssize_t k, acquired = 0, bad = -1, nd = self.n_external
        cdef Py_ssize_t n_in = self.n_inputs
        cdef Py_buffer kview
        cdef bint have_keys = False
        cdef Py_buffer* views = NULL
        cdef int64_t** sels = NULL
        cdef int64_t* kp = NULL
        try:
            if keys_out is not None:
                _acquire_int64(keys_out, &kview, True, 2, n, nd, "keys_out", -1, self.spec_text)
                have_keys = True
                kp = <int64_t*>kview.buf
            if selectors_out is not None:
                if not isinstance(selectors_out, (tuple, list)) or len(selectors_out) != n_in:
                    raise ValueError(
                        f"selectors_out must be a tuple or list of {n_in} buffers (one per "
                        f"input), got {type(selectors_out).__name__}{_where(self.spec_text)}"
                    )
                views = <Py_buffer*>PyMem_Malloc((n_in + 1) * sizeof(Py_buffer))
                sels = <int64_t**>PyMem_Malloc((n_in + 1) * sizeof(int64_t*))
                if views == NULL or sels == NULL:
                    raise MemoryError()
                for k in range(n_in):
                    _acquire_int64(selectors_out[k], &views[k], True, 2, n,
                                   self.offsets[k + 1] - self.offsets[k], "selectors_out", k,
                                   self.spec_text)
                    acquired += 1
                    sels[k] = <int64_t*>views[k].buf
            with nogil:
                if linear == NULL:
                    _fill_range_core(start, n, dims, nd, kp, self.src, self.offsets, n_in, sels)
                else:
                    bad = _fill_array_core(linear, n, dims, nd, size, kp, self.src, self.offsets,
                                           n_in, sels)
            if bad >= 0:
                _raise_bad_linear(linear_obj, bad, size, self.spec_text)
        finally:
            if have_keys:
                PyBuffer_Release(&kview)
            for k in range(acquired):
                PyBuffer_Release(&views[k])
            PyMem_Free(views)
            PyMem_Free(sels)
        return 0


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
    """C-order multi-indices of each entry of ``linear`` into ``out`` (``(len(linear), len(shape))``).

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


cdef int _prepare_axis_map(
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

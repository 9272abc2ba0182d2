# cython: language_level=3
# cython: freethreading_compatible=True
"""Private compiled index kernels of pipemap.mapspec.

The index math of a mapspec (docs/behaviour.md §1.4 and §1.6): a linear index ``n`` over the external
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
from cpython.buffer cimport PyBuffer_Release
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_New
from libc.stdint cimport int64_t

from pipemap.mapspec._kernel_checks cimport (
    PyLong_CheckExact,
    _acquire_int64,
    _check_out,
    _check_range,
    _prepare_axis_map,
    _Py_DECREF,
    _Py_INCREF,
    _PyLong_FromLongLong,
    _PyTuple_SET_ITEM,
    _raise_bad_linear,
    _read_linear,
    _read_shape,
    _read_shape_buffer,
    _where,
)
from pipemap.mapspec._kernel_cores cimport (
    MAX_AXES,
    RELEASE_GIL_AT,
    _fill_array_core,
    _fill_core,
    _fill_range_core,
    _unravel_one,
)

cdef object _SLICE_ALL = slice(None)


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
    cdef int64_t* src          # total_rank entries: the axis maps, n_external for ':'
                               # (the sentinel column of the scratch block: no branch)
    cdef object slice_all

    def __cinit__(self, *args, **kwargs):
        self.offsets = NULL
        self.src = NULL

    def __init__(self, str spec_text, tuple input_names, tuple axis_maps, int n_external):
        cdef Py_ssize_t k, j, pos, total = 0
        cdef tuple amap
        if self.offsets != NULL:  # the nogil kernels read these arrays: never swap them
            raise TypeError("CompiledSpec objects are immutable; create a new one")
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
            for entry in <tuple>axis_maps[k]:
                if type(entry) is not int or not -1 <= entry < n_external:
                    raise ValueError(
                        f"Axis map {axis_maps[k]!r} of input {input_names[k]!r} has entry "
                        f"{entry!r}, expected -1 or a position in [0, {n_external})"
                        f"{_where(spec_text)}"
                    )
            total += len(<tuple>axis_maps[k])
        self.spec_text = spec_text
        self.input_names = input_names
        self.axis_maps = axis_maps
        self.n_external = n_external
        self.n_inputs = len(input_names)
        self.total_rank = total
        self.slice_all = _SLICE_ALL
        self.offsets = <Py_ssize_t*>PyMem_Malloc((self.n_inputs + 1) * sizeof(Py_ssize_t))
        self.src = <int64_t*>PyMem_Malloc((total + 1) * sizeof(int64_t))
        if self.offsets == NULL or self.src == NULL:
            raise MemoryError()
        total = 0
        for k in range(self.n_inputs):
            self.offsets[k] = total
            amap = <tuple>axis_maps[k]
            for j in range(len(amap)):
                pos = amap[j]
                self.src[total] = n_external if pos < 0 else pos
                total += 1
        self.offsets[self.n_inputs] = total

    def __dealloc__(self):
        PyMem_Free(self.offsets)
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
        """``{input name: key}`` for ``linear_index``: ints, ``slice(None)`` for ``:`` slots.

        >>> maps = ((0, 1), (1, -1, 2))
        >>> c = CompiledSpec("x[i, j], y[j, :, k] -> z[i, j, k]", ("x", "y"), maps, 3)
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
        >>> keys, x, y = (np.empty(s, np.int64) for s in [(2, 2), (2, 1), (2, 2)])
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
            if n >= RELEASE_GIL_AT:
                with nogil:
                    bad = _fill_core(start, linear, n, dims, nd, size, kp, self.src,
                                     self.offsets, n_in, sels)
            else:  # releasing the GIL costs more than computing a tiny batch
                bad = _fill_core(start, linear, n, dims, nd, size, kp, self.src, self.offsets,
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


# The module-level batch kernels (unravel_range/_array, select_range/_array): textually
# included, so they stay functions of this module and share its cimports.
include "_batch_kernels.pxi"

# The ragged-axis kernels (ragged_offsets, ragged_locate, ragged_expand, ragged_flat).
include "_ragged_kernels.pxi"

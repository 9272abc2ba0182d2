"""The compiled index kernels (`pipemap.mapspec._kernels`) against the pure-Python reference."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipemap.mapspec._kernels import (
    CompiledSpec,
    select_array,
    select_range,
    unravel_array,
    unravel_range,
)
from pipemap.mapspec._reference import (
    reference_input_keys,
    reference_output_key,
    reference_strides,
)

pytestmark = pytest.mark.timeout(120)

SEED_TEXT = "x[i, j], y[j, :, k] -> z[i, j, k]"
INT64_MAX = 2**63 - 1


def seed_spec() -> CompiledSpec:
    return CompiledSpec(SEED_TEXT, ("x", "y"), ((0, 1), (1, -1, 2)), 3)


@st.composite
def shapes(draw: st.DrawFn, min_dims: int = 0, max_dims: int = 4) -> tuple[int, ...]:
    """Small dims mostly, sometimes huge ones (exercising the 64-bit division path)."""
    nd = draw(st.integers(min_dims, max_dims))
    dim = st.one_of(st.integers(1, 7), st.integers(1, 2**40))
    shape: list[int] = []
    for _ in range(nd):  # keep the size representable in int64
        budget = INT64_MAX // math.prod(shape)
        shape.append(min(draw(dim), budget))
    return tuple(shape)


@st.composite
def compiled_cases(draw: st.DrawFn) -> tuple[CompiledSpec, tuple, tuple, tuple[int, ...], int]:
    """A random CompiledSpec, its names and axis maps, a shape and a linear index."""
    shape = draw(shapes())
    nd = len(shape)
    n_inputs = draw(st.integers(0, 3))
    axis_maps = tuple(
        tuple(draw(st.lists(st.integers(-1, nd - 1), min_size=0, max_size=4)))
        for _ in range(n_inputs)
    )
    names = tuple(f"x{k}" for k in range(n_inputs))
    linear = draw(st.integers(0, math.prod(shape) - 1))
    compiled = CompiledSpec("random spec", names, axis_maps, nd)
    return compiled, names, axis_maps, shape, linear


# -- scalar API --------------------------------------------------------------------------------


def test_seed_examples() -> None:
    spec = seed_spec()
    assert spec.output_key((5, 2, 3), 23) == (3, 1, 2)
    assert spec.input_keys((5, 2, 3), 23) == {"x": (3, 1), "y": (1, slice(None), 2)}


def test_reference_seed_examples_and_strides() -> None:
    assert reference_strides((3, 4, 5)) == (20, 5, 1)
    assert reference_output_key((5, 2, 3), 23) == (3, 1, 2)
    keys = reference_input_keys(((0, 1), (1, -1, 2)), ("x", "y"), (5, 2, 3), 23)
    assert keys == {"x": (3, 1), "y": (1, slice(None), 2)}


@settings(max_examples=300, deadline=None)
@given(compiled_cases())
def test_scalar_kernels_match_reference(case: tuple) -> None:
    compiled, names, axis_maps, shape, linear = case
    assert compiled.output_key(shape, linear) == reference_output_key(shape, linear)
    assert compiled.input_keys(shape, linear) == reference_input_keys(
        axis_maps, names, shape, linear
    )


def test_returned_values_are_plain_python_objects() -> None:
    keys = seed_spec().input_keys((5, 2, 3), 23)
    assert list(keys) == ["x", "y"]
    assert all(type(v) is int for v in keys["x"])
    assert keys["y"][1] == slice(None)
    assert all(type(v) is int for v in seed_spec().output_key((5, 2, 3), 23))


def test_one_dimensional_and_zero_dimensional_shapes() -> None:
    one = CompiledSpec("x[i] -> y[i]", ("x",), ((0,),), 1)
    assert one.output_key((10,), 7) == (7,)
    assert one.input_keys((10,), 7) == {"x": (7,)}
    # No external axes: a single element, every slot of every input is ':'.
    none = CompiledSpec("x[:] -> y[i]", ("x",), ((-1,),), 0)
    assert none.output_key((), 0) == ()
    assert none.input_keys((), 0) == {"x": (slice(None),)}
    # No inputs (a generator spec).
    gen = CompiledSpec("... -> y[i]", (), (), 0)
    assert gen.input_keys((), 0) == {}


def test_accepts_sequences_and_numpy_integers() -> None:
    spec = seed_spec()
    assert spec.output_key([5, 2, 3], 23) == (3, 1, 2)
    assert spec.output_key(np.array([5, 2, 3]), np.int64(23)) == (3, 1, 2)
    assert spec.input_keys((np.int32(5), 2, np.uint8(3)), np.uint64(23))["x"] == (3, 1)


def test_largest_representable_shape() -> None:
    spec = CompiledSpec("a[i], b[j] -> c[i, j]", ("a", "b"), ((0,), (1,)), 2)
    shape = (2**31 - 1, 2**32 + 1)  # size just below 2**63
    last = math.prod(shape) - 1
    assert spec.output_key(shape, last) == reference_output_key(shape, last)
    assert spec.input_keys(shape, last) == {"a": (shape[0] - 1,), "b": (shape[1] - 1,)}


def test_pickle_roundtrip() -> None:
    spec = pickle.loads(pickle.dumps(seed_spec()))
    assert spec.input_keys((5, 2, 3), 23) == {"x": (3, 1), "y": (1, slice(None), 2)}
    assert spec.spec_text == SEED_TEXT
    assert repr(spec).startswith("CompiledSpec('x[i, j]")


def test_immutable_after_construction() -> None:
    spec = seed_spec()
    with pytest.raises(TypeError, match="immutable"):
        spec.__init__("other", ("x",), ((0,),), 1)
    assert spec.input_keys((5, 2, 3), 23) == {"x": (3, 1), "y": (1, slice(None), 2)}


def test_introspection() -> None:
    spec = seed_spec()
    assert spec.n_external == 3
    assert spec.total_rank == 5
    assert [spec.rank(k) for k in range(2)] == [2, 3]
    assert [spec.offset(k) for k in range(3)] == [0, 2, 5]
    assert spec.size_of((5, 2, 3)) == 30
    with pytest.raises(IndexError):
        spec.rank(2)
    with pytest.raises(IndexError):
        spec.offset(3)


# -- scalar API: bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 2), (5, 2, 3, 1), (), 5, None])
def test_wrong_shape_length_names_spec(shape: object) -> None:
    with pytest.raises(ValueError, match="Expected a shape of length 3") as info:
        seed_spec().input_keys(shape, 0)
    assert SEED_TEXT in str(info.value)
    with pytest.raises(ValueError, match="Expected a shape of length 3"):
        seed_spec().output_key(shape, 0)


@pytest.mark.parametrize("bad", [0, -1, "?", 2.0, True, None, 2**63, np.float64(3)])
def test_invalid_dimension_names_spec_and_dim(bad: object) -> None:
    shape = (5, bad, 3)
    for method in (seed_spec().input_keys, seed_spec().output_key):
        with pytest.raises(ValueError, match="every dimension must be a positive int") as info:
            method(shape, 0)
        assert SEED_TEXT in str(info.value)
        assert repr(bad) in str(info.value)
        assert "position 1" in str(info.value)


def test_shape_overflowing_int64() -> None:
    with pytest.raises(ValueError, match="more than 2\\*\\*63 - 1 elements"):
        seed_spec().output_key((2**32, 2**32, 2), 0)


@pytest.mark.parametrize("linear", [30, 31, -1, 2**70, -(2**70), np.int64(30)])
def test_linear_index_out_of_range(linear: int) -> None:
    for method in (seed_spec().input_keys, seed_spec().output_key):
        with pytest.raises(IndexError) as info:
            method((5, 2, 3), linear)
        message = str(info.value)
        assert SEED_TEXT in message
        assert str(int(linear)) in message
        assert "size 30" in message


@pytest.mark.parametrize("linear", [1.0, "3", None, True, np.float64(2)])
def test_linear_index_not_an_int(linear: object) -> None:
    with pytest.raises(TypeError, match="Linear index must be an int") as info:
        seed_spec().input_keys((5, 2, 3), linear)
    assert SEED_TEXT in str(info.value)


@pytest.mark.parametrize(
    ("names", "maps", "n_external", "match"),
    [
        (("x",), ((0, 3),), 3, "has entry 3"),
        (("x",), ((-2,),), 3, "has entry -2"),
        (("x",), (("0",),), 3, "has entry '0'"),
        (("x",), ((2**70,),), 3, "has entry 1180591620717411303424"),
        (("x", "y"), ((0,),), 3, "2 input names but 1 axis maps"),
        ((1,), ((0,),), 3, "is not a str"),
        (("x",), ([0],), 3, "is not a tuple"),
        (("x",), ((0,),), 65, "n_external must be in"),
        (("x",), ((0,),), -1, "n_external must be in"),
    ],
)
def test_constructor_validation(names: tuple, maps: tuple, n_external: int, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        CompiledSpec("some spec", names, maps, n_external)
    assert "some spec" in str(info.value)


_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=3),
    st.lists(st.integers(-3, 2**64), max_size=4).map(tuple),
    st.lists(st.one_of(st.integers(-3, 9), st.text(max_size=1), st.none()), max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(shape=_junk, linear=_junk)
def test_arbitrary_input_raises_only_clean_errors(shape: object, linear: object) -> None:
    spec = seed_spec()
    for method in (spec.input_keys, spec.output_key):
        try:
            result = method(shape, linear)
        except (ValueError, IndexError, TypeError) as exc:
            assert SEED_TEXT in str(exc)
        else:
            shape_t, n = tuple(shape), int(linear)  # type: ignore[arg-type]
            reference = reference_output_key(shape_t, n)
            keys = reference_input_keys(((0, 1), (1, -1, 2)), ("x", "y"), shape_t, n)
            assert result in (reference, keys)


# -- batched kernels ---------------------------------------------------------------------------


def _reference_selectors(axis_map: tuple[int, ...], shape: tuple, linear: list[int]) -> list:
    keys = [reference_output_key(shape, n) for n in linear]
    return [[-1 if pos < 0 else key[pos] for pos in axis_map] for key in keys]


@st.composite
def batch_cases(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...], list[int], int, int]:
    shape = draw(shapes())
    size = math.prod(shape)
    axis_map = tuple(draw(st.lists(st.integers(-1, len(shape) - 1), max_size=4)))
    linear = draw(st.lists(st.integers(0, size - 1), max_size=40))
    start = draw(st.integers(0, size))
    stop = draw(st.integers(start, min(size, start + 60)))
    return shape, axis_map, linear, start, stop


@settings(max_examples=200, deadline=None)
@given(batch_cases())
def test_batch_kernels_match_reference(case: tuple) -> None:
    shape, axis_map, linear, start, stop = case
    nd = len(shape)
    shape_buf = np.array(shape, dtype=np.int64)
    amap = np.array(axis_map, dtype=np.int64)
    lin = np.array(linear, dtype=np.int64)
    rng = list(range(start, stop))

    out = np.full((len(linear), nd), -7, dtype=np.int64)
    unravel_array(lin, shape_buf, out)
    assert out.tolist() == [list(reference_output_key(shape, n)) for n in linear]

    out = np.full((len(rng), nd), -7, dtype=np.int64)
    unravel_range(start, stop, shape_buf, out)
    assert out.tolist() == [list(reference_output_key(shape, n)) for n in rng]

    sel = np.full((len(linear), len(axis_map)), -7, dtype=np.int64)
    select_array(lin, shape_buf, amap, sel)
    assert sel.tolist() == _reference_selectors(axis_map, shape, linear)

    sel = np.full((len(rng), len(axis_map)), -7, dtype=np.int64)
    select_range(start, stop, shape_buf, amap, sel)
    assert sel.tolist() == _reference_selectors(axis_map, shape, rng)


def test_unravel_matches_numpy_on_a_full_grid() -> None:
    shape = (4, 1, 3, 5)
    size = math.prod(shape)
    out = np.empty((size, 4), dtype=np.int64)
    unravel_range(0, size, np.array(shape), out)
    assert np.array_equal(out, np.stack(np.unravel_index(np.arange(size), shape), axis=1))
    perm = np.random.default_rng(1).permutation(size)
    out2 = np.empty((size, 4), dtype=np.int64)
    unravel_array(perm, np.array(shape), out2)
    assert np.array_equal(out2, out[perm])


@settings(max_examples=150, deadline=None)
@given(compiled_cases(), st.data())
def test_fill_range_and_fill_array_layout(case: tuple, data: st.DataObject) -> None:
    compiled, names, axis_maps, shape, _ = case
    size = math.prod(shape)
    start = data.draw(st.integers(0, size))
    stop = data.draw(st.integers(start, min(size, start + 30)))
    linear = data.draw(st.lists(st.integers(0, size - 1), max_size=30))
    for indices, fill in (
        (list(range(start, stop)), lambda k, s: compiled.fill_range(start, stop, shape, k, s)),
        (linear, lambda k, s: compiled.fill_array(np.array(linear, np.int64), shape, k, s)),
    ):
        n = len(indices)
        keys = np.full((n, len(shape)), -7, dtype=np.int64)
        selectors = [np.full((n, len(amap)), -7, dtype=np.int64) for amap in axis_maps]
        fill(keys, selectors)
        assert keys.tolist() == [list(reference_output_key(shape, i)) for i in indices]
        for amap, block in zip(axis_maps, selectors, strict=True):
            assert block.tolist() == _reference_selectors(amap, shape, indices)
        fill(None, None)  # both buffers are optional


# -- batched kernels: bad input ----------------------------------------------------------------


def test_batch_dimension_errors() -> None:
    out = np.empty((1, 2), dtype=np.int64)
    for shape in ([3, 0], [-1, 3]):
        with pytest.raises(ValueError, match="every dimension must be a positive int"):
            unravel_range(0, 1, np.array(shape), out)
        with pytest.raises(ValueError, match="every dimension must be a positive int"):
            unravel_array(np.array([0]), np.array(shape), out)
        with pytest.raises(ValueError, match="every dimension must be a positive int"):
            select_array(np.array([0]), np.array(shape), np.array([0, 1]), out)
    with pytest.raises(ValueError, match="more than 2\\*\\*63 - 1"):
        unravel_range(0, 1, np.array([2**62, 4]), out)
    with pytest.raises(ValueError, match="At most 64 axes"):
        unravel_range(0, 1, np.ones(65, dtype=np.int64), out)


def test_batch_range_and_index_errors() -> None:
    shape = np.array([2, 3])
    out = np.empty((2, 2), dtype=np.int64)
    for start, stop in ((5, 7), (-1, 1), (3, 2)):
        with pytest.raises(IndexError, match="out of range for size 6"):
            unravel_range(start, stop, shape, out)
        with pytest.raises(IndexError, match="out of range for size 6"):
            select_range(start, stop, shape, np.array([0, 1]), out)
    for bad in ([0, 6], [-1, 0]):
        with pytest.raises(IndexError, match=f"Linear index {bad[-1] if bad[-1] else -1}"):
            unravel_array(np.array(bad), shape, out)
        with pytest.raises(IndexError, match="at position"):
            select_array(np.array(bad), shape, np.array([1, -1]), out)
    spec = CompiledSpec("a[i], b[j] -> c[i, j]", ("a", "b"), ((0,), (1,)), 2)
    with pytest.raises(IndexError, match="a\\[i\\], b\\[j\\] -> c\\[i, j\\]"):
        spec.fill_array(np.array([0, 6]), (2, 3), None, None)
    with pytest.raises(IndexError, match="out of range for size 6"):
        spec.fill_range(0, 7, (2, 3), None, None)


def test_batch_buffer_errors() -> None:
    shape = np.array([2, 3])
    with pytest.raises(ValueError, match="`out` has shape \\(2, 3\\), expected \\(2, 2\\)"):
        unravel_range(0, 2, shape, np.empty((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="expected \\(1, 2\\)"):
        select_array(np.array([0]), shape, np.array([0, 1]), np.empty((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="has entry 2"):
        select_range(0, 1, shape, np.array([2]), np.empty((1, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="Buffer dtype mismatch"):
        unravel_range(0, 2, shape, np.empty((2, 2), dtype=np.int32))
    with pytest.raises(ValueError, match="ndarray is not C-contiguous"):
        unravel_range(0, 2, shape, np.empty((2, 4), dtype=np.int64)[:, ::2])
    with pytest.raises(TypeError):
        unravel_range(0, 2, None, np.empty((2, 2), dtype=np.int64))
    spec = CompiledSpec("a[i], b[j] -> c[i, j]", ("a", "b"), ((0,), (1,)), 2)
    x, y = np.empty((2, 1), np.int64), np.empty((2, 1), np.int64)
    with pytest.raises(ValueError, match="tuple or list of 2 buffers"):
        spec.fill_range(0, 2, (2, 3), None, (x,))
    with pytest.raises(ValueError, match="tuple or list of 2 buffers"):
        spec.fill_range(0, 2, (2, 3), None, np.empty((2, 2), np.int64))
    message = r"`selectors_out\[1\]` must be an int64 buffer of shape \(2, 1\), got format 'i'"
    with pytest.raises(ValueError, match=message):
        spec.fill_range(0, 2, (2, 3), None, (x, y.astype(np.int32)))
    message = r"`keys_out` must be an int64 buffer of shape \(2, 2\), got format '[lq]' and shape"
    with pytest.raises(ValueError, match=message):
        spec.fill_range(0, 2, (2, 3), np.empty((3, 2), np.int64), None)
    with pytest.raises(ValueError, match="`keys_out` must be a writable C-contiguous int64 buffer"):
        spec.fill_range(0, 2, (2, 3), np.empty((2, 4), np.int64)[:, ::2], None)
    with pytest.raises(ValueError, match="`keys_out` must be a writable C-contiguous int64 buffer"):
        spec.fill_range(0, 2, (2, 3), b"0123456789abcdef", None)
    with pytest.raises(ValueError, match="`linear` must be a C-contiguous int64 buffer, got list"):
        spec.fill_array([0, 1], (2, 3), None, None)
    with pytest.raises(ValueError, match="`linear` must be an int64 buffer of shape \\(n,\\)"):
        spec.fill_array(np.zeros((1, 1), np.int64), (2, 3), None, None)
    readonly = np.zeros((2, 1), np.int64)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        spec.fill_range(0, 2, (2, 3), None, (x, readonly))
    # Nothing stays acquired after an error: the buffers can still be resized.
    x.resize((3, 1), refcheck=False)
    with pytest.raises(ValueError, match="Expected a shape of length 2, got \\(2,\\)"):
        spec.fill_range(0, 2, (2,), None, None)
    with pytest.raises(ValueError, match="Invalid dimension 0 at position 1"):
        spec.fill_array(np.array([0]), (2, 0), None, None)


@pytest.mark.parametrize(
    "shape", [(), (7001,), (3, 2500), (4, 1, 3, 5, 7, 11), (2,) * 12, (2**33, 3)]
)
def test_batches_spanning_many_scratch_chunks(shape: tuple[int, ...]) -> None:
    """Thousands of indices (several internal chunks), starting mid-grid, against numpy."""
    nd = len(shape)
    size = math.prod(shape)
    start = min(size - 1, 1234)
    stop = min(size, start + 6000)
    if nd:
        expected = np.stack(np.unravel_index(np.arange(start, stop), shape), axis=1)
    else:
        expected = np.zeros((stop - start, 0), np.int64)
    axis_maps = (tuple(range(nd)), (-1, *reversed(range(nd))), (-1,))
    compiled = CompiledSpec("chunks", ("a", "b", "c"), axis_maps, nd)
    keys = np.empty((stop - start, nd), np.int64)
    selectors = [np.empty((stop - start, len(m)), np.int64) for m in axis_maps]
    compiled.fill_range(start, stop, shape, keys, selectors)
    assert np.array_equal(keys, expected)
    assert np.array_equal(selectors[0], expected)
    assert np.array_equal(selectors[1][:, 1:], expected[:, ::-1])
    assert (selectors[1][:, 0] == -1).all() and (selectors[2] == -1).all()

    perm = np.random.default_rng(2).permutation(stop - start)
    linear = np.arange(start, stop, dtype=np.int64)[perm]
    keys2 = np.empty_like(keys)
    selectors2 = [np.empty_like(s) for s in selectors]
    compiled.fill_array(linear, shape, keys2, selectors2)
    assert np.array_equal(keys2, expected[perm])
    for got, want in zip(selectors2, selectors, strict=True):
        assert np.array_equal(got, want[perm])


def test_docstring_examples_run() -> None:
    """Every docstring example of every pipemap.mapspec module runs and gives what it shows."""
    import doctest
    import importlib
    import pkgutil

    import pipemap.mapspec

    names = sorted(m.name for m in pkgutil.walk_packages(pipemap.mapspec.__path__, "pipemap.mapspec."))
    assert {"pipemap.mapspec._kernels", "pipemap.mapspec.ragged", "pipemap.mapspec._mapspec"} <= set(names)
    for name in names:
        module = importlib.import_module(name)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, name

"""IndexPlan (the batched index math) against the pure-Python reference."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipemap.mapspec import MapSpec
from pipemap.mapspec._reference import reference_input_keys, reference_output_key
from pipemap.mapspec.index_plan import IndexPlan, axis_maps_for, compile_spec

pytestmark = pytest.mark.timeout(120)

SEED_TEXT = "x[i, j], y[j, :, k] -> z[i, j, k]"


@dataclass(frozen=True)
class FakeArray:
    """The two attributes IndexPlan reads from an ArraySpec."""

    name: str
    axes: tuple[str | None, ...]


@dataclass(frozen=True)
class FakeSpec:
    """The attributes IndexPlan reads from a MapSpec, independent of the parser."""

    inputs: tuple[FakeArray, ...]
    external_indices: tuple[str, ...]
    text: str = "fake spec"

    def __str__(self) -> str:
        return self.text


@st.composite
def plans(draw: st.DrawFn) -> tuple[FakeSpec, tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """A random spec (as axis names), a resolved external shape and the expected axis maps."""
    nd = draw(st.integers(0, 4))
    axes = tuple(f"a{k}" for k in range(nd))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=nd, max_size=nd)))
    n_inputs = draw(st.integers(0, 3))
    maps = tuple(
        tuple(draw(st.lists(st.integers(-1, nd - 1), min_size=1, max_size=4)))
        for _ in range(n_inputs)
    )
    inputs = tuple(
        FakeArray(f"x{k}", tuple(None if p < 0 else axes[p] for p in amap))
        for k, amap in enumerate(maps)
    )
    return FakeSpec(inputs, axes), shape, maps


def _expected_selectors(maps: tuple, names: tuple, shape: tuple, linear: list[int]) -> dict:
    expected: dict[str, list] = {name: [] for name in names}
    for n in linear:
        keys = reference_input_keys(maps, names, shape, n)
        for name in names:
            expected[name].append([-1 if isinstance(v, slice) else v for v in keys[name]])
    return expected


@settings(max_examples=200, deadline=None)
@given(plans(), st.data())
def test_plan_matches_reference(case: tuple, data: st.DataObject) -> None:
    spec, shape, maps = case
    names = tuple(a.name for a in spec.inputs)
    size = math.prod(shape)
    plan = IndexPlan(spec, shape)
    assert plan.size == size
    assert plan.shape == shape
    assert plan.n_external == len(shape)
    assert axis_maps_for(spec) == maps

    start = data.draw(st.integers(0, size))
    stop = data.draw(st.integers(start, size))
    step = data.draw(st.integers(1, 3))
    picked = data.draw(st.lists(st.integers(0, size - 1), max_size=20))
    for linear, as_list in (
        (range(start, stop), list(range(start, stop))),
        (range(start, stop, step), list(range(start, stop, step))),
        (range(stop - 1, start - 1, -1), list(range(stop - 1, start - 1, -1))),
        (np.array(picked, dtype=np.int64), picked),
        (np.array(picked, dtype=np.uint16), picked),
        (picked, picked),
    ):
        keys = plan.output_keys(linear)
        assert keys.dtype == np.int64
        assert keys.shape == (len(as_list), len(shape))
        assert keys.tolist() == [list(reference_output_key(shape, n)) for n in as_list]

        expected = _expected_selectors(maps, names, shape, as_list)
        selectors = plan.input_selectors(linear)
        assert list(selectors) == list(names)
        for name, amap in zip(names, maps, strict=True):
            assert selectors[name].dtype == np.int64
            assert selectors[name].shape == (len(as_list), len(amap))
            assert selectors[name].flags.c_contiguous
            assert selectors[name].tolist() == expected[name]

        keys2, selectors2 = plan.keys_and_selectors(linear)
        assert np.array_equal(keys2, keys)
        assert {k: v.tolist() for k, v in selectors2.items()} == expected

        assert plan.input_keys_many(linear) == [
            reference_input_keys(maps, names, shape, n) for n in as_list
        ]


def test_seed_spec_through_mapspec() -> None:
    spec = MapSpec.from_string(SEED_TEXT)
    plan = IndexPlan(spec, (5, 2, 3))
    assert plan.output_keys([23]).tolist() == [[3, 1, 2]]
    selectors = plan.input_selectors(range(23, 25))
    assert selectors["x"].tolist() == [[3, 1], [4, 0]]
    assert selectors["y"].tolist() == [[1, -1, 2], [0, -1, 0]]
    assert plan.input_keys_many([23]) == [spec.input_keys((5, 2, 3), 23)]
    assert compile_spec(spec).input_keys((5, 2, 3), 23) == spec.input_keys((5, 2, 3), 23)


@pytest.mark.parametrize(
    "text",
    [
        "x[i] -> y[i]",
        "x[i], y[j] -> z[i, j]",
        "a[i], b[i], c[j] -> r[i, j]",
        "x[i, :] -> y[i]",
        "x[:, k] -> y[i, k]",
        "a[j] -> b[i, j, k, l]",
        "y[i, :, k], c[k] -> z[k, i]",
    ],
)
def test_mapspec_scalar_api_agrees_with_plan(text: str) -> None:
    spec = MapSpec.from_string(text)
    shape = tuple(range(2, 2 + len(spec.external_indices)))
    plan = IndexPlan(spec, shape)
    keys, selectors = plan.keys_and_selectors(range(plan.size))
    for n in range(plan.size):
        assert spec.output_key(shape, n) == tuple(keys[n].tolist())
        scalar = spec.input_keys(shape, n)
        for name, sel in selectors.items():
            assert scalar[name] == tuple(slice(None) if v < 0 else v for v in sel[n].tolist())


def test_generator_spec_has_no_selectors() -> None:
    spec = MapSpec.from_string("... -> x[i]")
    plan = IndexPlan(spec, ())
    assert plan.size == 1
    assert plan.input_selectors(range(1)) == {}
    assert plan.output_keys(range(1)).shape == (1, 0)


def test_empty_inputs() -> None:
    plan = IndexPlan(MapSpec.from_string(SEED_TEXT), (5, 2, 3))
    assert plan.output_keys([]).shape == (0, 3)
    assert plan.output_keys(range(7, 7)).shape == (0, 3)
    assert plan.output_keys(range(100, 50)).shape == (0, 3)  # empty: not out of range
    assert plan.input_selectors(np.array([], dtype=np.float64))["y"].shape == (0, 3)
    assert plan.input_keys_many(range(0)) == []


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((5, 2), "Expected a shape of length 3, got \\(5, 2\\)"),
        ((5, 0, 3), "Invalid dimension 0 at position 1"),
        ((5, "?", 3), "Invalid dimension '\\?' at position 1"),
        ((5, 2, -3), "Invalid dimension -3 at position 2"),
        (None, "Expected a shape of length 3"),
    ],
)
def test_bad_shape(shape: object, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        IndexPlan(MapSpec.from_string(SEED_TEXT), shape)
    assert SEED_TEXT in str(info.value)


@pytest.mark.parametrize(
    ("linear", "culprit"),
    [
        (range(25, 31), "30"),
        (range(-1, 3), "-1"),
        ([0, 30], "30"),
        (np.array([3, -2]), "-2"),
        (np.array([2**64 - 1], dtype=np.uint64), str(2**64 - 1)),
        (range(0, 40, 7), "35"),
    ],
)
def test_out_of_range_linear(linear: object, culprit: str) -> None:
    plan = IndexPlan(MapSpec.from_string(SEED_TEXT), (5, 2, 3))
    for method in (plan.output_keys, plan.input_selectors, plan.input_keys_many):
        with pytest.raises(IndexError) as info:
            method(linear)
        message = str(info.value)
        assert SEED_TEXT in message
        assert f"Linear index {culprit}" in message
        assert "size 30" in message


def test_bad_linear_types() -> None:
    plan = IndexPlan(MapSpec.from_string(SEED_TEXT), (5, 2, 3))
    with pytest.raises(ValueError, match="must be 1-D, got an array of shape \\(2, 2\\)"):
        plan.output_keys(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="must be integers, got dtype float64"):
        plan.output_keys(np.array([1.0]))
    with pytest.raises(TypeError, match="must be integers, got dtype bool"):
        plan.input_selectors([True, False])
    with pytest.raises(ValueError, match="must be 1-D"):
        plan.input_selectors(3)
    with pytest.raises(ValueError, match="must be a range or a 1-D integer array, got list"):
        plan.output_keys([[0], [1, 2]])


def test_axis_not_external() -> None:
    spec = FakeSpec((FakeArray("x", ("i", "q")),), ("i",), "x[i, q] -> y[i]")
    with pytest.raises(ValueError, match="Axis 'q' of input 'x' is not an external axis") as info:
        axis_maps_for(spec)
    assert "x[i, q] -> y[i]" in str(info.value)


def _dedupe_named(axes: list[str]) -> list[str]:
    seen: set[str] = set()
    kept = []
    for axis in axes:
        if axis == ":" or axis not in seen:
            kept.append(axis)
            seen.add(axis)
    return kept


@st.composite
def mapspec_texts(draw: st.DrawFn) -> tuple[str, tuple[str, ...], tuple[tuple[int, ...], ...]]:
    """A valid mapspec string, its external axes and the expected axis maps of its inputs."""
    n_ext = draw(st.integers(1, 4))
    external = [f"e{k}" for k in range(n_ext)]
    internal = [f"n{k}" for k in range(draw(st.integers(0, 2)))]
    output_axes = draw(st.permutations(external + internal))
    ext_order = tuple(a for a in output_axes if a in external)  # external_indices order
    slot = st.one_of(st.sampled_from(external), st.just(":"))
    inputs = [draw(st.lists(slot, min_size=1, max_size=4)) for _ in range(draw(st.integers(1, 3)))]
    for axis in external:  # every external axis must appear in some input
        if not any(axis in axes for axes in inputs):
            inputs[draw(st.integers(0, len(inputs) - 1))].append(axis)
    inputs = [_dedupe_named(axes) for axes in inputs]  # a named axis once per array
    text = ", ".join(f"x{k}[{', '.join(axes)}]" for k, axes in enumerate(inputs))
    text += f" -> out[{', '.join(output_axes)}]"
    maps = tuple(
        tuple(-1 if a == ":" else ext_order.index(a) for a in axes) for axes in inputs
    )
    return text, ext_order, maps


@settings(max_examples=150, deadline=None)
@given(mapspec_texts(), st.data())
def test_parsed_mapspecs_match_reference(case: tuple, data: st.DataObject) -> None:
    text, ext_order, maps = case
    spec = MapSpec.from_string(text)
    assert spec.external_indices == ext_order
    assert axis_maps_for(spec) == maps
    nd = len(ext_order)
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=nd, max_size=nd)))
    size = math.prod(shape)
    names = spec.input_names
    n = data.draw(st.integers(0, size - 1))
    assert spec.output_key(shape, n) == reference_output_key(shape, n)
    assert spec.input_keys(shape, n) == reference_input_keys(maps, names, shape, n)
    plan = IndexPlan(spec, shape)
    keys, selectors = plan.keys_and_selectors(range(size))
    assert keys.tolist() == [list(reference_output_key(shape, m)) for m in range(size)]
    assert {k: v.tolist() for k, v in selectors.items()} == _expected_selectors(
        maps, names, shape, list(range(size))
    )


def test_threads_share_a_plan() -> None:
    """The kernels release the GIL; concurrent calls on one plan give identical results."""
    from concurrent.futures import ThreadPoolExecutor

    plan = IndexPlan(MapSpec.from_string(SEED_TEXT), (40, 50, 60))
    linear = np.random.default_rng(3).permutation(plan.size)
    expected = plan.input_selectors(linear)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: plan.input_selectors(linear), range(8)))
    for result in results:
        for name, array in expected.items():
            assert np.array_equal(result[name], array)


_junk_linear = st.one_of(
    st.none(),
    st.integers(-5, 40),
    st.text(max_size=3),
    st.lists(st.one_of(st.integers(-(2**70), 2**70), st.floats(), st.none(), st.text(max_size=1))),
    st.lists(st.lists(st.integers(0, 29), max_size=2), max_size=3),
    st.builds(range, st.integers(-40, 40), st.integers(-40, 40), st.integers(1, 5)),
    st.lists(st.integers(-3, 40)).map(lambda v: np.array(v, dtype=np.int64)),
)


@settings(max_examples=200, deadline=None)
@given(_junk_linear)
def test_arbitrary_linear_raises_only_clean_errors(linear: object) -> None:
    plan = IndexPlan(MapSpec.from_string(SEED_TEXT), (5, 2, 3))
    methods = (plan.output_keys, plan.input_selectors, plan.keys_and_selectors, plan.input_keys_many)
    for method in methods:
        try:
            method(linear)
        except (ValueError, TypeError, IndexError) as exc:
            assert SEED_TEXT in str(exc)

"""Shapes, masks, unknown sizes and pipeline-level helpers (docs/behaviour.md §1.5, §1.7, §8.6-8.9)."""

from __future__ import annotations

import numpy as np
import pytest

from pipemap.mapspec import (
    MapSpec,
    array_shape,
    axis_sizes,
    external_shape_from_mask,
    internal_shape_from_mask,
    mapspec_axes,
    mapspec_dimensions,
    merge_shape,
    shape_is_resolved,
    shape_strides,
    trace_dependencies,
    validate_consistent_axes,
)


def ms(text: str) -> MapSpec:
    return MapSpec.from_string(text)


def test_shape_with_internal_axes_anywhere() -> None:
    assert ms("a[j] -> b[i, j, k, l]").shape({"a": (2,)}, {"b": (3, 4, 5)}) == (
        (3, 2, 4, 5),
        (False, True, False, False),
    )
    assert ms("... -> b[j]").shape({}, {"b": (3,)}) == ((3,), (False,))


def test_shape_mixed_external_internal() -> None:
    shape = ms("x[i, j], y[j, k] -> z[i, j, k, l]").shape({"x": (2, 3), "y": (3, 4)}, {"z": (5,)})
    assert shape == ((2, 3, 4, 5), (True, True, True, False))


def test_unknown_sizes() -> None:
    spec = ms("x[i], y[j] -> z[i, j]")
    assert spec.shape({"x": ("?",), "y": (2,)}) == (("?", 2), (True, True))
    assert ms("a[i] -> b[i, j]").shape({"a": (2,)}) == ((2, "?"), (True, False))


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="Dimension mismatch for arrays `a, b` along `j` axis"):
        ms("a[i, j], b[j, k] -> c[i, j, k]").shape({"a": (2, 3), "b": (4, 4)})
    with pytest.raises(ValueError, match="Internal shape for 'b' is too short"):
        ms("a[i, j] -> b[i, j, k]").shape({"a": (2, 3)}, {"b": ()})
    with pytest.raises(TypeError, match="must be a tuple of integers or '\\?'"):
        ms("a[i] -> b[i, j]").shape({"a": (2,)}, {"b": (1.5,)})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="Got extra array"):
        ms("a[i] -> b[i]").shape({"a": (2,), "q": (3,)})
    with pytest.raises(ValueError, match="Inputs expected by this map were not provided"):
        ms("a[i], c[i] -> b[i]").shape({"a": (2,)})
    with pytest.raises(ValueError, match="Internal shape of `zz` is not accepted by this map"):
        ms("a[i] -> b[i]").shape({"a": (2,)}, {"zz": (1,)})
    with pytest.raises(ValueError, match="Expecting array of rank 2"):
        ms("x[i, j] -> y[i, j]").shape({"x": (3,)})


def test_shape_helpers() -> None:
    assert shape_strides((3, 4, 5)) == (20, 5, 1)
    assert shape_is_resolved((1, 2)) and not shape_is_resolved((1, "?"))
    assert external_shape_from_mask((3, 2, 4), (False, True, False)) == (2,)
    assert internal_shape_from_mask((3, 2, 4), (False, True, False)) == (3, 4)
    assert merge_shape((2,), (3, 4), (False, True, False)) == (3, 2, 4)


def test_array_shape() -> None:
    assert array_shape(np.zeros((2, 3))) == (2, 3)
    assert array_shape([[1, 2], [3, 4]]) == (2,)
    assert array_shape(range(3)) == (3,)
    with pytest.raises(TypeError, match="No array shape defined for `x`"):
        array_shape((1, 2))


def test_validate_consistent_axes() -> None:
    with pytest.raises(ValueError, match="same name at the same index"):
        validate_consistent_axes([ms("a[i], b[i] -> f[i]"), ms("f[k], g[k] -> h[k]")])
    with pytest.raises(ValueError, match="same length"):
        validate_consistent_axes([ms("a[i] -> f[i]"), ms("a[i, j] -> g[i, j]")])
    validate_consistent_axes([ms("a[i, :] -> f[i]"), ms("a[:, j] -> g[j]"), ms("a[i, j] -> h[i, j]")])


def test_mapspec_axes_and_dimensions() -> None:
    specs = [ms("a[i, :] -> b[i]"), ms("a[:, j] -> c[j]")]
    assert mapspec_axes(specs) == {"a": ("i", "j"), "b": ("i",), "c": ("j",)}
    assert mapspec_dimensions(specs) == {"a": 2, "b": 1, "c": 1}


def test_trace_dependencies() -> None:
    specs = [ms("a[i], b[j] -> x[i, j]"), ms("x[i, j], c[k] -> y[i, j, k]"), ms("y[i, :, k] -> z[k, i]")]
    deps = trace_dependencies(specs)
    assert deps["z"] == {"a": ("i",), "c": ("k",)}
    assert deps["x"] == {"a": ("i",), "b": ("j",)}
    assert trace_dependencies([ms("... -> x[i]"), ms("x[i] -> y[i]")]) == {"y": {"x": ("i",)}}


def test_axis_sizes_checks_zipped_lengths() -> None:
    assert axis_sizes([ms("x[a], y[a], z[b] -> r[a, b]")], {"x": (3,), "y": (3,), "z": (2,)}) == {
        "a": 3,
        "b": 2,
    }
    with pytest.raises(ValueError, match="axis `a`: `x` has length 3 but `y` has length 4"):
        axis_sizes([ms("x[a], y[a] -> r[a]")], {"x": (3,), "y": (4,)})


def test_trace_dependencies_orders_sources_by_axis_then_name() -> None:
    # pipefunc's order: axes by first appearance, names sorted within an axis (zipped "b:x")
    deps = trace_dependencies([ms("x[i], b[i] -> c[i]"), ms("c[i], a[j], z[i] -> d[i, j]")])
    assert list(deps["c"]) == ["b", "x"]
    assert list(deps["d"]) == ["b", "x", "z", "a"]

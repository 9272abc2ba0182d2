"""Element keys (engine/_element_keys.py): equal exactly where the value's determinants are equal.

Keys are compared between two runs' records built from different inputs; no run is needed.
"""

from __future__ import annotations

import numpy as np
import pytest
from pipemap.runner import PipeFunc, Pipeline
from pipemap.runner.engine._element_keys import KeyBook
from pipemap.runner.engine._key_hash import combine, fold, from_text, positions_of_numeric
from pipemap.runner.engine._run_info import RunInfo


def mul(x, y):
    return x * y


def total(z):
    return sum(z)


def spread(x):
    return [x, x + 1, x + 2]


def book(pipeline: Pipeline, inputs: dict, internal: dict | None = None) -> KeyBook:
    return KeyBook(pipeline, RunInfo.create(None, pipeline, inputs, internal, storage=None))


def grid_pipeline() -> Pipeline:
    return Pipeline(
        [
            PipeFunc(mul, "z", mapspec="x[i], y[j] -> z[i, j]"),
            PipeFunc(total, "row", mapspec="z[i, :] -> row[i]"),
            PipeFunc(total, "col", mapspec="z[:, j] -> col[j]"),
        ]
    )


def same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b).all(axis=-1)


def test_growing_an_axis_keeps_the_old_keys_and_reductions_follow_their_inputs():
    p = grid_pipeline()
    small = book(p, {"x": np.arange(3.0), "y": np.arange(4.0)})
    grown = book(p, {"x": np.arange(5.0), "y": np.arange(4.0)})
    assert same(small.full_keys("z"), grown.full_keys("z")[:3]).all()
    assert not same(grown.full_keys("z")[3:], grown.full_keys("z")[:2]).any()
    # a reduction over the unchanged axis (j) reuses its rows; the one over the grown axis changes
    assert same(small.full_keys("row"), grown.full_keys("row")[:3]).all()
    assert not same(small.full_keys("col"), grown.full_keys("col")).any()


def test_refining_and_reordering_match_by_value_not_by_position():
    p = grid_pipeline()
    coarse = book(p, {"x": np.array([0.0, 1.0, 2.0]), "y": np.arange(2.0)})
    fine = book(p, {"x": np.array([0.0, 0.5, 1.0, 1.5, 2.0]), "y": np.arange(2.0)})
    old, new = coarse.full_keys("z"), fine.full_keys("z")
    assert same(old, new[[0, 2, 4]]).all()
    assert not same(new[[1, 3]][:, None], old[None]).any()
    shuffled = book(p, {"x": np.array([2.0, 0.0, 1.0]), "y": np.arange(2.0)})
    assert same(shuffled.full_keys("z"), old[[2, 0, 1]]).all()


def test_a_list_of_numbers_keys_like_the_numpy_array():
    p = grid_pipeline()
    as_list = book(p, {"x": [1.0, 2.0], "y": [3, 4]})
    as_array = book(p, {"x": np.array([1.0, 2.0]), "y": np.array([3, 4])})
    assert same(as_list.full_keys("z"), as_array.full_keys("z")).all()


def test_changed_constant_default_and_bound_values_change_every_key():
    def scaled(x, c, d=1):
        return x * c * d

    base = Pipeline([PipeFunc(scaled, "y", mapspec="x[i] -> y[i]")])
    keys = book(base, {"x": np.arange(3), "c": 2}).full_keys("y")
    assert not same(keys, book(base, {"x": np.arange(3), "c": 3}).full_keys("y")).any()
    with_default = Pipeline([PipeFunc(scaled, "y", mapspec="x[i] -> y[i]", defaults={"d": 5})])
    assert not same(keys, book(with_default, {"x": np.arange(3), "c": 2}).full_keys("y")).any()
    bound = Pipeline([PipeFunc(scaled, "y", mapspec="x[i] -> y[i]", bound={"c": 2})])
    bound3 = Pipeline([PipeFunc(scaled, "y", mapspec="x[i] -> y[i]", bound={"c": 3})])
    assert not same(book(bound, {"x": np.arange(3)}).full_keys("y"), book(bound3, {"x": np.arange(3)}).full_keys("y")).any()


def test_an_edited_function_changes_its_keys_and_those_downstream():
    def first(x):
        return x + 1

    def first_edited(x):
        return x + 2

    def second(y):
        return y * 2

    def make(f):
        return Pipeline([PipeFunc(f, "y", mapspec="x[i] -> y[i]"), PipeFunc(second, "w", mapspec="y[i] -> w[i]")])

    a, b = book(make(first), {"x": np.arange(4)}), book(make(first_edited), {"x": np.arange(4)})
    assert not same(a.full_keys("y"), b.full_keys("y")).any()
    assert not same(a.full_keys("w"), b.full_keys("w")).any()


def test_internal_axes_key_the_call_and_the_index():
    p = Pipeline([PipeFunc(spread, "w", mapspec="x[i] -> w[i, k]", internal_shape=3)])
    a = book(p, {"x": np.arange(2)}).full_keys("w")
    b = book(p, {"x": np.arange(4)}).full_keys("w")
    assert a.shape == (2, 3, 2)
    assert same(a, b[:2]).all()
    assert not same(a[:, 0], a[:, 1]).any()


def test_unhashable_inputs_get_no_key_and_are_named():
    class Opaque:
        pass

    p = Pipeline([PipeFunc(mul, "z", mapspec="x[i], y[j] -> z[i, j]")])
    b = book(p, {"x": [1, Opaque(), 3], "y": np.arange(2)})
    keys = b.full_keys("z")
    assert not keys[1].any()  # the row of the unhashable value: (0, 0)
    assert keys[[0, 2]].any(axis=-1).all()
    assert "input `x`" in b.unstable


def test_a_constant_that_cannot_be_hashed_makes_the_whole_function_unkeyed():
    class Opaque:
        pass

    def use(x, c):
        return x

    p = Pipeline([PipeFunc(use, "y", mapspec="x[i] -> y[i]")])
    b = book(p, {"x": np.arange(3), "c": Opaque()})
    assert not b.full_keys("y").any()
    assert "input `c`" in b.unstable


def test_parameter_names_are_part_of_the_key():
    def sub(a, b):
        return a - b

    p1 = Pipeline([PipeFunc(sub, "d", mapspec="a[i], b[i] -> d[i]")])
    one = book(p1, {"a": np.array([1, 2]), "b": np.array([3, 4])}).full_keys("d")
    swapped = book(p1, {"a": np.array([3, 4]), "b": np.array([1, 2])}).full_keys("d")
    assert not same(one, swapped).any()


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.complex64])
def test_numeric_position_keys_depend_on_the_dtype_and_each_value(dtype):
    values = np.arange(6).astype(dtype)
    keys = positions_of_numeric(values, 1)
    assert len({tuple(k) for k in keys}) == 6
    assert not same(keys, positions_of_numeric(values.astype(np.complex128 if values.dtype.kind == "c" else np.float32), 1)).any()


def test_fold_is_order_sensitive_and_sees_every_key():
    keys = positions_of_numeric(np.arange(5.0), 1)
    base = fold(keys, 0)
    assert not same(base, fold(keys[::-1], 0))
    changed = keys.copy()
    changed[3] = combine(changed[3], from_text("x"))
    assert not same(base, fold(changed, 0))
    assert not same(base, fold(keys[:4], 0))

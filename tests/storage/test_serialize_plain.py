"""``serialize`` takes the standard pickler where it writes exactly the bytes cloudpickle writes,
and cloudpickle (pickling by value) where it would not."""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import pathlib
import pickle
import subprocess
import sys

import cloudpickle
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pipemap.storage._serialize import _PLAIN_TYPES, deserialize, serialize


def _cloud(value):
    return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


scalars = st.one_of(
    st.integers(), st.floats(allow_nan=True), st.complex_numbers(), st.booleans(), st.text(), st.binary(), st.none(),
    st.integers(-(2**63), 2**63 - 1).map(np.int64), st.floats(width=32).map(np.float32), st.floats().map(np.float64),
    st.integers(0, 255).map(np.uint8), st.booleans().map(np.bool_),
)
arrays = hnp.arrays(
    dtype=st.one_of(hnp.integer_dtypes(endianness="="), hnp.floating_dtypes(endianness="?"), hnp.complex_number_dtypes(), hnp.boolean_dtypes()),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
)


@given(scalars)
def test_scalars_encode_as_cloudpickle_does(value):
    assert type(value) in _PLAIN_TYPES
    assert serialize(value) == _cloud(value)
    back = deserialize(serialize(value))
    assert type(back) is type(value) and (back == value or value != value)


@given(arrays, st.booleans())
def test_numeric_arrays_encode_as_cloudpickle_does(arr, fortran):
    if fortran:
        arr = np.asfortranarray(arr)
    view = arr[::2] if arr.ndim else arr  # non-contiguous views too
    for value in (arr, view):
        assert serialize(value) == _cloud(value)
        back = deserialize(serialize(value))
        assert back.dtype.newbyteorder("=") == value.dtype.newbyteorder("=") and back.shape == value.shape
        np.testing.assert_array_equal(back, value)


class Point:  # defined in a test module: cloudpickle may pickle it by value, never the shortcut
    def __init__(self, x):
        self.x = x


@given(st.one_of(st.lists(scalars, max_size=70), st.lists(scalars, max_size=8).map(tuple), st.dictionaries(scalars.filter(lambda v: v == v), scalars, max_size=70)))
def test_small_containers_of_scalars_encode_as_cloudpickle_does(value):
    assert serialize(value) == _cloud(value)


@pytest.mark.parametrize(
    "value",
    [np.array([Point(1)], dtype=object), np.zeros(2, dtype=[("a", "f8")]), Point(2), [Point(3)], {"a": Point(4)}, [[1]], lambda: 1],
    ids=["object-array", "structured", "instance", "list-of-instances", "dict-of-instances", "nested-list", "lambda"],
)
def test_other_values_go_through_cloudpickle(value):
    assert serialize(value) == _cloud(value)


@pytest.mark.parametrize(
    "value",
    [
        fractions.Fraction(1, 3), datetime.date(2026, 12, 6), decimal.Decimal("1.5"), collections.OrderedDict(a=1),
        pathlib.PurePosixPath("/a/b"), np.dtype("f8"), {"a": [1, 2, {"b": 3.0}]}, [np.float64(1)] * 100,
        slice(1, 2), range(3), frozenset({1, 2}), np.arange(3).astype(object), Point(5),
    ],
    ids=lambda v: type(v).__name__,
)
def test_importable_objects_take_the_standard_pickler_with_cloudpickles_bytes(value):
    assert serialize(value) == _cloud(value)


def test_objects_of_main_are_pickled_by_value_and_load_in_another_process(monkeypatch):
    main = sys.modules["__main__"]
    cls = type("MainThing", (), {"__module__": "__main__", "__qualname__": "MainThing"})
    monkeypatch.setattr(main, "MainThing", cls, raising=False)
    thing = cls()
    thing.x = 7
    assert b"__main__" in pickle.dumps(thing)  # the standard pickler would only refer to it
    data = serialize(thing)
    code = "import pickle, sys; print(pickle.loads(sys.stdin.buffer.read()).x)"
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, check=True)
    assert out.stdout.strip() == b"7"

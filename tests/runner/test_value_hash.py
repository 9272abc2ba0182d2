"""`stable_digest`: equal content gives equal digests, any difference in type or content gives a
different one, the digest is the same in another process, and values without a stable content
raise `UnstableValueError` naming their type."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import os
import pathlib
import subprocess
import sys
import threading
import uuid
import zoneinfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipemap.runner.model._value_hash import UnstableValueError, stable_digest


class Color(enum.Enum):
    RED = 1
    BLUE = 2


@dataclasses.dataclass
class Point:
    x: float
    y: float


Pair = collections.namedtuple("Pair", "a b")


def _values() -> dict[str, object]:
    """One value of every supported kind (built fresh on each call, so identity never helps)."""
    return {
        "none": None,
        "true": True,
        "int": 1,
        "big": 10**5000,
        "float": 1.0,
        "nan": float("nan"),
        "complex": 1 + 2j,
        "str": "1",
        "bytes": b"1",
        "bytearray": bytearray(b"1"),
        "tuple": (1, "a"),
        "list": [1, "a"],
        "dict": {"a": 1, "b": [2, 3]},
        "set": {1, 2, 3},
        "frozenset": frozenset({"x", "y"}),
        "ordered": collections.OrderedDict(a=1, b=2),
        "default": collections.defaultdict(list, a=[1]),
        "deque": collections.deque([1, 2]),
        "range": range(2, 10, 3),
        "slice": slice(1, None),
        "ellipsis": ...,
        "np_int": np.int64(1),
        "np_float32": np.float32(1.0),
        "np_dt": np.datetime64("2020-01-01", "D"),
        "array": np.arange(6.0).reshape(2, 3),
        "array_i4": np.arange(6, dtype="int32"),
        "array_str": np.array(["a", "bc"]),
        "array_obj": np.array([1, "a", None], dtype=object),
        "array_rec": np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
        "masked": np.ma.masked_array([1, 2, 3], mask=[0, 1, 0]),
        "dtype": np.dtype("float32"),
        "np_type": np.float32,
        "enum": Color.RED,
        "dataclass": Point(1.0, 2.0),
        "namedtuple": Pair(1, 2),
        "path": pathlib.PurePosixPath("/a/b"),
        "date": datetime.date(2020, 1, 2),
        "datetime": datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=zoneinfo.ZoneInfo("Europe/Amsterdam")),
        "naive": datetime.datetime(2020, 1, 2, 3, 4, 5),
        "time": datetime.time(1, 2),
        "timedelta": datetime.timedelta(days=1, seconds=3),
        "decimal": decimal.Decimal("1.10"),
        "fraction": fractions.Fraction(1, 3),
        "uuid": uuid.UUID(int=12345),
        "series": pd.Series([1.0, 2.0], index=["a", "b"], name="s"),
        "nullable": pd.Series([1, None], dtype="Int64"),
        "frame": pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
        "index": pd.Index([3, 1, 2], name="i"),
        "timestamp": pd.Timestamp("2020-01-01 12:00", tz="UTC"),
    }


def test_equal_content_gives_equal_digests() -> None:
    first, second = _values(), _values()
    for name in first:
        assert stable_digest(first[name]) == stable_digest(second[name]), name
        assert len(stable_digest(first[name])) == 16


def test_every_kind_differs_from_every_other() -> None:
    digests = {name: stable_digest(v) for name, v in _values().items()}
    by_digest: dict[bytes, list[str]] = collections.defaultdict(list)
    for name, d in digests.items():
        by_digest[d].append(name)
    assert [names for names in by_digest.values() if len(names) > 1] == []


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1.0),
        (1, True),
        (0, False),
        (1, np.int64(1)),
        (1.0, np.float64(1.0)),
        ("1", b"1"),
        ([1], (1,)),
        ({1}, frozenset({1})),
        ({1: 2}, [(1, 2)]),
        (("ab", "c"), ("a", "bc")),
        ([[1], 2], [1, [2]]),
        ((), None),
        ("", b""),
        ([1, 2], [2, 1]),
        (collections.OrderedDict(a=1, b=2), collections.OrderedDict(b=2, a=1)),
        (np.arange(6).reshape(2, 3), np.arange(6).reshape(3, 2)),
        (np.arange(3), np.arange(3).astype("int32")),
        (np.zeros(3), np.zeros(3, dtype=">f8")),
        (np.array([1, 2]), np.array([1, 3])),
        (np.ma.masked_array([1, 2], mask=[0, 1]), np.ma.masked_array([1, 2], mask=[1, 0])),
        (np.ma.masked_array([1, 2], mask=[0, 0]), np.array([1, 2])),
        (Point(1.0, 2.0), Point(2.0, 1.0)),
        (Point(1.0, 2.0), (1.0, 2.0)),
        (Pair(1, 2), (1, 2)),
        (Color.RED, 1),
        (Color.RED, Color.BLUE),
        (decimal.Decimal("1.1"), decimal.Decimal("1.10")),
        (pathlib.PurePosixPath("a"), "a"),
        (pathlib.PurePosixPath("a"), pathlib.PureWindowsPath("a")),
        (datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC), datetime.datetime(2020, 1, 1)),
        (datetime.date(2020, 1, 1), datetime.datetime(2020, 1, 1)),
        (pd.Series([1, 2], name="a"), pd.Series([1, 2], name="b")),
        (pd.Series([1, 2]), pd.Series([1, 2], index=[1, 0])),
        (pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [1]})),
        (pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [1.0]})),
        (np.float32, np.float64),
        (float("nan"), -float("nan")),
    ],
)
def test_different_values_give_different_digests(a: object, b: object) -> None:
    assert stable_digest(a) != stable_digest(b)


def test_unordered_containers_ignore_order() -> None:
    assert stable_digest({"a": 1, "b": 2}) == stable_digest({"b": 2, "a": 1})
    assert stable_digest({3, 1, 2}) == stable_digest({2, 3, 1})
    assert stable_digest(frozenset(["x", "yy", "zzz"])) == stable_digest(frozenset(["zzz", "x", "yy"]))


def test_array_layout_does_not_matter_only_content() -> None:
    a = np.arange(12.0).reshape(3, 4)
    assert stable_digest(a.T) == stable_digest(np.ascontiguousarray(a.T))
    assert stable_digest(a[:, ::2]) == stable_digest(a[:, ::2].copy())
    assert stable_digest(np.asfortranarray(a)) == stable_digest(a)


def test_object_arrays_hash_element_by_element() -> None:
    a = np.array([[1, 2], [3, 4]], dtype=object)
    b = np.empty((2, 2), dtype=object)
    b[:] = [[1, 2], [3, 4]]
    assert stable_digest(a) == stable_digest(b)
    b[1, 1] = 5
    assert stable_digest(a) != stable_digest(b)
    with pytest.raises(UnstableValueError, match="`_thread.lock`"):
        stable_digest(np.array([threading.Lock(), 1], dtype=object))


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (object(), "object"),
        (lambda: 0, "function"),
        ([1, {"a": threading.Lock()}], "_thread.lock"),
        (np.random.default_rng(0), "numpy.random._generator.Generator"),
        (iter([1]), "list_iterator"),
    ],
)
def test_values_without_stable_content_are_refused_by_type(value: object, type_name: str) -> None:
    with pytest.raises(UnstableValueError, match=f"a value of type `{type_name}` has no stable digest"):
        stable_digest(value)


def test_local_classes_are_refused_and_recursive_containers_too() -> None:
    class Local:
        pass

    with pytest.raises(UnstableValueError, match="local to a function"):
        stable_digest(Local)
    loop: list[object] = [1]
    loop.append(loop)
    with pytest.raises(UnstableValueError, match="contains itself"):
        stable_digest(loop)
    shared = [1]
    assert stable_digest([shared, shared]) == stable_digest([[1], [1]])  # shared is not recursive


def test_a_changed_mutable_value_changes_its_digest() -> None:
    value = {"a": [1, 2]}
    before = stable_digest(value)
    value["a"].append(3)
    assert stable_digest(value) != before


_SCRIPT = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location({name!r}, {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules[{name!r}] = module  # the same module name as here (it is part of a class's digest)
spec.loader.exec_module(module)
from pipemap.runner.model._value_hash import stable_digest
for name, value in module._values().items():
    print(name, stable_digest(value).hex())
"""


def test_digests_are_the_same_in_another_process_with_another_hash_seed() -> None:
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(name=__name__, path=__file__)], env=env, capture_output=True, text=True, check=True
    ).stdout
    theirs = dict(line.split() for line in out.splitlines())
    ours = {name: stable_digest(v).hex() for name, v in _values().items()}
    assert theirs == ours


_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary()
_nested = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    | st.frozensets(st.integers(), max_size=4),
    max_leaves=12,
)


def _canon(v: object) -> object:
    """Type and content, with dicts and sets in a fixed order (what the digest should see)."""
    if isinstance(v, dict):
        return ("dict", sorted((repr(_canon(k)), repr(_canon(x))) for k, x in v.items()))
    if isinstance(v, frozenset):
        return ("frozenset", sorted(repr(_canon(x)) for x in v))
    if isinstance(v, list | tuple):
        return (type(v).__name__, [_canon(x) for x in v])
    return (type(v).__name__, repr(v))


@given(_nested, _nested)
def test_digests_agree_with_equality_of_plain_values(a: object, b: object) -> None:
    assert (stable_digest(a) == stable_digest(b)) == (_canon(a) == _canon(b))
    assert stable_digest(a) == stable_digest(_rebuilt(a))


def _rebuilt(v: object) -> object:
    """An equal copy built in another order (dicts reversed)."""
    if isinstance(v, dict):
        return {k: _rebuilt(v[k]) for k in reversed(list(v))}
    if isinstance(v, list):
        return [_rebuilt(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_rebuilt(x) for x in v)
    return v


def test_long_numeric_lists_take_a_packed_path_that_keeps_types_apart() -> None:
    floats, ints = [float(i) for i in range(100)], list(range(100))
    assert stable_digest(floats) == stable_digest([float(i) for i in range(100)])
    assert stable_digest(floats) != stable_digest(ints)
    assert stable_digest(ints) != stable_digest(tuple(ints)) and stable_digest(ints) != stable_digest(np.arange(100))
    assert stable_digest([*ints[:-1], True]) != stable_digest(ints)  # a bool among ints
    assert stable_digest([*ints, 2**70]) == stable_digest([*range(100), 2**70])  # beyond 64 bits: element-wise
    assert stable_digest([*ints, 2**70]) != stable_digest([*ints, 2**70 + 1])
    changed = list(floats)
    changed[50] = 50.5
    assert stable_digest(changed) != stable_digest(floats)

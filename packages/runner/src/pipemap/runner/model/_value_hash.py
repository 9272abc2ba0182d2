"""`stable_digest(value)`: a 16-byte content digest that is the same in every process and session.

Used to tell whether a value (a constant input, a bound value, a default, a closure cell, one
element of a mapped input) is the same as in an earlier run. Only values whose content can be
read exactly are accepted: Python scalars, str/bytes, numpy scalars and arrays (dtype, shape and
C-order bytes; object arrays element by element), tuples/lists/dicts/sets (dicts and sets
order-insensitive), dataclasses, enums, paths, datetime/decimal/fractions/uuid, classes by
qualified name and pandas Series/DataFrame/Index. The type's qualified name is part of every
digest, so ``1``, ``1.0`` and ``True`` differ. Anything else raises `UnstableValueError`
naming the type: there is no fallback to ``id()``, ``hash()`` (randomised per process) or a
``repr`` with an address, so a value is never wrongly taken for an old one.

>>> stable_digest([1, {"a": 2.0}]) == stable_digest([1, {"a": 2.0}])
True
>>> len(stable_digest(None)), stable_digest(1) == stable_digest(1.0), stable_digest({1, 2}) == stable_digest({2, 1})
(16, False, True)
>>> stable_digest(object())
Traceback (most recent call last):
...
pipemap.runner.model._value_hash.UnstableValueError: a value of type `object` has no stable digest (its content cannot be read exactly)
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import pathlib
import struct
import sys
import uuid
from collections.abc import Callable
from hashlib import blake2b
from typing import Any

__all__ = ["DIGEST_SIZE", "UnstableValueError", "stable_digest", "type_name"]

DIGEST_SIZE = 16
_PERSON = b"pipemap-value-1"  # changes when the encoding changes: old digests then never match


class UnstableValueError(TypeError):
    """A value whose content cannot be hashed stably across processes (the message names its type).

    >>> str(UnstableValueError(lambda: 0))
    'a value of type `function` has no stable digest (its content cannot be read exactly)'
    """

    def __init__(self, value: object, why: str = "its content cannot be read exactly") -> None:
        self.type_name = type_name(type(value))
        super().__init__(f"a value of type `{self.type_name}` has no stable digest ({why})")

    def within(self, where: str) -> UnstableValueError:
        """The same error with ``where`` (e.g. "closure variable `s`") before its message.

        >>> str(UnstableValueError(object()).within("bound value `b`"))
        'bound value `b`: a value of type `object` has no stable digest (its content cannot be read exactly)'
        """
        new = UnstableValueError.__new__(UnstableValueError)
        Exception.__init__(new, f"{where}: {self}")
        new.type_name = self.type_name
        return new


def type_name(tp: type) -> str:
    """``module.qualname`` of a type (builtins without the module).

    >>> type_name(int), type_name(pathlib.PurePosixPath)
    ('int', 'pathlib.PurePosixPath')
    """
    module = getattr(tp, "__module__", None)
    qual = getattr(tp, "__qualname__", tp.__name__)
    return qual if module in (None, "builtins") else f"{module}.{qual}"


def stable_digest(value: object) -> bytes:
    """The 16-byte blake2b digest of ``value``'s type and content; raises `UnstableValueError`.

    >>> import numpy as np
    >>> stable_digest(np.arange(3)) == stable_digest(np.array([0, 1, 2]))
    True
    >>> stable_digest(np.arange(3)) == stable_digest(np.arange(3).astype("int32"))
    False
    """
    h = blake2b(digest_size=DIGEST_SIZE, person=_PERSON)
    _feed(h, value, set())
    return h.digest()


# -- encoding ----------------------------------------------------------------------------------
# Every value writes its type tag then a self-delimiting payload (lengths before variable parts),
# so no two different values (of any types) write the same byte stream.

_Hasher = Any  # hashlib's blake2b object
_Feeder = Callable[[_Hasher, Any, set[int]], None]


def _tag(h: _Hasher, name: str) -> None:
    h.update(name.encode() + b"\x00")


def _blob(h: _Hasher, data: bytes | memoryview) -> None:
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


def _int_bytes(v: int) -> bytes:
    return v.to_bytes(v.bit_length() // 8 + 1, "little", signed=True)


def _str(h: _Hasher, v: str) -> None:
    _blob(h, v.encode("utf-8", "surrogatepass"))


def _sub_digest(value: object, active: set[int]) -> bytes:
    sub = blake2b(digest_size=DIGEST_SIZE, person=_PERSON)
    _feed(sub, value, active)
    return sub.digest()


def _enter(value: object, active: set[int]) -> int:
    key = id(value)
    if key in active:
        raise UnstableValueError(value, "it contains itself")
    active.add(key)
    return key


def _sequence(h: _Hasher, items: Any, active: set[int], owner: object) -> None:
    h.update(len(items).to_bytes(8, "little"))
    if len(items) > 8 and _packed(h, items):
        return
    key = _enter(owner, active)
    try:
        for item in items:
            _feed(h, item, active)
    finally:
        active.discard(key)


def _packed(h: _Hasher, items: Any) -> bool:
    """A long sequence of only floats (or only ints that fit 64 bits) in one packed write: a
    marker byte no type tag starts with, then the values. Equal sequences always take the same
    path (it depends on their content only), so digests stay consistent."""
    kinds = set(map(type, items))
    if kinds == {float}:
        h.update(b"\xffF")
        h.update(struct.pack(f"<{len(items)}d", *items))
        return True
    if kinds == {int}:
        try:
            packed = struct.pack(f"<{len(items)}q", *items)
        except struct.error:  # an int beyond 64 bits: element by element
            return False
        h.update(b"\xffI")
        h.update(packed)
        return True
    return False


def _unordered(h: _Hasher, digests: list[bytes]) -> None:
    digests.sort()
    h.update(len(digests).to_bytes(8, "little"))
    h.update(b"".join(digests))


def _pairs(h: _Hasher, d: dict[Any, Any], active: set[int], ordered: bool) -> None:
    key = _enter(d, active)
    try:
        digests = [_sub_digest((k, v), active) for k, v in d.items()]
    finally:
        active.discard(key)
    if ordered:
        h.update(len(digests).to_bytes(8, "little"))
        h.update(b"".join(digests))
    else:
        _unordered(h, digests)


def _set(h: _Hasher, s: set[Any] | frozenset[Any], active: set[int]) -> None:
    key = _enter(s, active)
    try:
        digests = [_sub_digest(x, active) for x in s]
    finally:
        active.discard(key)
    _unordered(h, digests)


def _tzinfo(h: _Hasher, tz: datetime.tzinfo | None) -> None:
    text = "" if tz is None else repr(tz)
    if " at 0x" in text:
        raise UnstableValueError(tz, "its repr shows an address")
    _str(h, text)


def _clock(h: _Hasher, v: datetime.datetime | datetime.time) -> None:
    _str(h, f"{v.isoformat()}|{v.fold}")
    _tzinfo(h, v.tzinfo)


_EXACT: dict[type, _Feeder] = {
    type(None): lambda h, v, a: None,
    type(Ellipsis): lambda h, v, a: None,
    bool: lambda h, v, a: h.update(b"\x01" if v else b"\x00"),
    int: lambda h, v, a: _blob(h, _int_bytes(v)),
    float: lambda h, v, a: h.update(struct.pack("<d", v)),
    complex: lambda h, v, a: h.update(struct.pack("<dd", v.real, v.imag)),
    str: lambda h, v, a: _str(h, v),
    bytes: lambda h, v, a: _blob(h, v),
    bytearray: lambda h, v, a: _blob(h, bytes(v)),
    tuple: lambda h, v, a: _sequence(h, v, a, v),
    list: lambda h, v, a: _sequence(h, v, a, v),
    collections.deque: lambda h, v, a: _sequence(h, list(v), a, v),
    dict: lambda h, v, a: _pairs(h, v, a, ordered=False),
    collections.OrderedDict: lambda h, v, a: _pairs(h, v, a, ordered=True),
    set: _set,
    frozenset: _set,
    range: lambda h, v, a: _feed(h, (v.start, v.stop, v.step), a),
    slice: lambda h, v, a: _feed(h, (v.start, v.stop, v.step), a),
    decimal.Decimal: lambda h, v, a: _str(h, str(v)),
    fractions.Fraction: lambda h, v, a: _feed(h, (v.numerator, v.denominator), a),
    uuid.UUID: lambda h, v, a: h.update(v.bytes),
    datetime.date: lambda h, v, a: _str(h, v.isoformat()),
    datetime.datetime: lambda h, v, a: _clock(h, v),
    datetime.time: lambda h, v, a: _clock(h, v),
    datetime.timedelta: lambda h, v, a: _feed(h, (v.days, v.seconds, v.microseconds), a),
    datetime.timezone: lambda h, v, a: _tzinfo(h, v),
}


def _feed(h: _Hasher, value: object, active: set[int]) -> None:
    tp = type(value)
    exact = _EXACT.get(tp)
    if exact is not None:
        _tag(h, tp.__qualname__)
        exact(h, value, active)
        return
    _tag(h, type_name(tp))
    if _feed_library(h, value, active):
        return
    if isinstance(value, enum.Enum):
        _str(h, str(value._name_))
        _feed(h, value._value_, active)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        key = _enter(value, active)
        try:
            fields = dataclasses.fields(value)
            h.update(len(fields).to_bytes(8, "little"))
            for field in fields:
                _str(h, field.name)
                _feed(h, getattr(value, field.name), active)
        finally:
            active.discard(key)
    elif isinstance(value, pathlib.PurePath):
        _str(h, str(value))
    elif isinstance(value, tuple) and hasattr(tp, "_fields"):  # a namedtuple
        _feed(h, tuple(tp._fields), active)
        _sequence(h, value, active, value)
    elif isinstance(value, collections.defaultdict):
        _feed(h, value.default_factory, active)
        _pairs(h, value, active, ordered=False)
    elif isinstance(value, type):
        _feed_class(h, value)
    else:
        raise UnstableValueError(value)


def _feed_class(h: _Hasher, cls: type) -> None:
    """A class as a value (``dtype=np.float32``): by its importable qualified name."""
    name = type_name(cls)
    if "<locals>" in name or "<lambda>" in name:
        raise UnstableValueError(cls, f"the class `{name}` is local to a function")
    _str(h, name)


def _feed_library(h: _Hasher, value: object, active: set[int]) -> bool:
    """numpy and pandas values (only when those libraries are loaded); False for anything else."""
    numpy = sys.modules.get("numpy")
    if numpy is None:
        return False
    if isinstance(value, numpy.ndarray):
        _feed_array(h, value, active, numpy)
        return True
    if isinstance(value, numpy.generic):
        if value.dtype.hasobject:
            raise UnstableValueError(value, "it holds Python objects by address")
        _dtype(h, value.dtype)
        _blob(h, value.tobytes())
        return True
    if isinstance(value, numpy.dtype):
        _dtype(h, value)
        return True
    pandas = sys.modules.get("pandas")
    return pandas is not None and _feed_pandas(h, value, active, pandas, numpy)


def _dtype(h: _Hasher, dtype: Any) -> None:
    _str(h, str(dtype.descr) if dtype.fields is not None or dtype.subdtype is not None else dtype.str)


def _feed_array(h: _Hasher, arr: Any, active: set[int], numpy: Any) -> None:
    mask = numpy.ma.getmaskarray(arr) if isinstance(arr, numpy.ma.MaskedArray) else None
    data = numpy.asarray(arr)
    _dtype(h, data.dtype)
    _feed(h, data.shape, active)
    if data.dtype.hasobject:
        if data.dtype.fields is not None:
            raise UnstableValueError(arr, "a structured array with object fields")
        _sequence(h, list(data.flat), active, arr)
    else:
        flat = numpy.ascontiguousarray(data).reshape(-1)
        h.update(flat.view(numpy.uint8) if flat.dtype.itemsize else b"")
    if mask is not None:
        h.update(numpy.packbits(mask.reshape(-1)).tobytes())


def _feed_pandas(h: _Hasher, value: object, active: set[int], pandas: Any, numpy: Any) -> bool:
    if value is pandas.NA or value is pandas.NaT:
        return True
    if isinstance(value, pandas.Timestamp | pandas.Timedelta):
        _feed(h, (int(value.value), str(value.unit)), active)
        if isinstance(value, pandas.Timestamp):
            _str(h, str(value.tz))
        return True
    if isinstance(value, pandas.Index):
        _feed(h, value.name, active)
        _column(h, value, active, numpy)
        return True
    if isinstance(value, pandas.Series):
        _feed(h, value.name, active)
        _feed(h, value.index, active)
        _column(h, value, active, numpy)
        return True
    if isinstance(value, pandas.DataFrame):
        _feed(h, value.columns, active)
        _feed(h, value.index, active)
        for i in range(value.shape[1]):
            _column(h, value.iloc[:, i], active, numpy)
        return True
    return False


def _column(h: _Hasher, values: Any, active: set[int], numpy: Any) -> None:
    """A pandas Series' or Index's dtype and values (extension dtypes element by element)."""
    _str(h, str(values.dtype))
    native = isinstance(values.dtype, numpy.dtype)
    _feed_array(h, values.to_numpy() if native else values.to_numpy(dtype=object), active, numpy)

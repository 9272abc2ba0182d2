"""Encoding of one stored element, and naming what cannot be pickled.

Elements are cloudpickled, except polars DataFrames, which are written as Parquet. When pickling
fails, :func:`unpicklable_error` names the first part of the value (list or tuple element, dict
key, object-array cell) that is at fault.

>>> deserialize(serialize({"a": [1, 2]}))
{'a': [1, 2]}
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import cloudpickle
import numpy as np

PARQUET_MAGIC = b"PAR1"


def _is_polars_frame(value: Any) -> bool:
    cls = type(value)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("polars")


#: types whose values cloudpickle encodes exactly as the standard pickler does (nothing of them
#: is pickled by value): no need to look for ``__main__`` references in their bytes
_PLAIN_TYPES = frozenset(
    {int, float, complex, bool, str, bytes, type(None)}
    | {np.dtype(code).type for code in "?bhilqBHILQefdgFDG"}
)
#: array dtypes whose arrays pickle without anything by value (not object or structured arrays)
_PLAIN_KINDS = frozenset("biufc")


#: containers whose items are checked (one level deep, up to this many items) for the shortcut
_PLAIN_CONTAINER_ITEMS = 64


def _plain(value: Any) -> bool:
    """Whether cloudpickle would encode ``value`` exactly as the standard pickler: a value of a
    plain type, a numeric array, or a small list/tuple/dict of plain values (keys too).

    >>> _plain(3.0), _plain({"i": 1, "x": 2.0}), _plain([[1]]), _plain(np.array([None]))
    (True, True, False, False)
    """
    cls = type(value)
    if cls in _PLAIN_TYPES:
        return True
    if cls is np.ndarray:
        return value.dtype.kind in _PLAIN_KINDS and value.dtype.fields is None
    if cls is dict:
        return len(value) <= _PLAIN_CONTAINER_ITEMS and all(type(k) in _PLAIN_TYPES and type(v) in _PLAIN_TYPES for k, v in value.items())
    if cls is list or cls is tuple:
        return len(value) <= _PLAIN_CONTAINER_ITEMS and all(type(v) in _PLAIN_TYPES for v in value)
    return False


_BY_VALUE_MODULES = getattr(getattr(cloudpickle, "cloudpickle", None), "_PICKLE_BY_VALUE_MODULES", None)


def pickle_like_cloudpickle(value: Any) -> bytes:
    """``cloudpickle.dumps(value)``, through the standard pickler whenever that writes the same
    bytes: it does for everything it pickles by reference from an importable module; what it
    refuses (lambdas, local classes) or writes as a ``__main__`` reference goes to cloudpickle,
    which pickles those by value, as does everything once a module is registered for pickling by
    value. The standard pickler is 3-7x faster.

    >>> pickle.loads(pickle_like_cloudpickle([1, "a"])), pickle.loads(pickle_like_cloudpickle(lambda: 3))()
    ([1, 'a'], 3)
    """
    if _plain(value):
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    if not _BY_VALUE_MODULES:
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - lambdas, local classes, ...: cloudpickle below
            pass
        else:
            if b"__main__" not in data:
                return data
    return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def serialize(value: Any) -> bytes:
    """Encode one element: as cloudpickle does (:func:`pickle_like_cloudpickle`), or Parquet for
    polars DataFrames.

    >>> deserialize(serialize([1, 2]))
    [1, 2]
    >>> serialize(np.float64(1.5)) == cloudpickle.dumps(np.float64(1.5), protocol=pickle.HIGHEST_PROTOCOL)
    True
    """
    if _is_polars_frame(value):
        buffer = io.BytesIO()
        value.write_parquet(buffer)
        return buffer.getvalue()
    return pickle_like_cloudpickle(value)


def serialize_named(value: Any, what: str) -> bytes:
    """:func:`serialize`, and when that fails a new exception naming ``what`` and the first part
    of ``value`` (list/tuple/array element, dict key) that cannot be pickled, chained to the
    original one (located only after the failure: no cost when it succeeds).

    >>> import threading
    >>> serialize_named({"a": 1, "b": threading.Lock()}, "input `x`")
    Traceback (most recent call last):
    ...
    TypeError: input `x` (at key 'b') cannot be pickled: cannot pickle '_thread.lock' object
    """
    try:
        return serialize(value)
    except Exception as exc:
        raise unpicklable_error(exc, what, value) from exc


def unpicklable_part(value: Any, dumps: Any = serialize) -> str | None:
    """The first part of a container ``value`` that ``dumps`` refuses.

    Parameters
    ----------
    value : Any
        A value that failed to pickle.
    dumps : callable, optional
        The pickler (default: the storages' serializer).

    Returns
    -------
    str or None
        ``"element 3"``, ``"element (1, 2)"`` or ``"key 'b'"``; None when ``value`` is no
        container or every part pickles.

    Examples
    --------
    >>> import threading
    >>> unpicklable_part([1, threading.Lock()]), unpicklable_part({"a": 1}), unpicklable_part(3)
    ('element 1', None, None)
    """
    if isinstance(value, dict):
        parts: Any = ((f"key {k!r}", v) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        parts = ((f"element {k}", v) for k, v in enumerate(value))
    elif isinstance(value, np.ndarray) and value.dtype == object:
        parts = ((f"element {k if value.ndim != 1 else k[0]}", value[k]) for k in np.ndindex(*value.shape))
    else:
        return None
    for where, part in parts:
        try:
            dumps(part)
        except Exception:  # noqa: BLE001 - only after a failure: find the culprit
            return where
    return None


def unpicklable_error(exc: BaseException, what: str, value: Any, dumps: Any = serialize) -> BaseException:
    """A new exception saying that ``what`` (and which part of ``value``) cannot be pickled.

    Parameters
    ----------
    exc : BaseException
        The pickling error; the new exception has its type (``TypeError`` if that cannot be built).
    what : str
        What was pickled, e.g. "Output `y`".
    value : Any
        The value that failed (its first unpicklable part is named, see :func:`unpicklable_part`).
    dumps : callable, optional
        The pickler to find that part with (default: the storages' serializer).

    Examples
    --------
    >>> unpicklable_error(TypeError("no"), "Output `y`", {"b": lambda: 0}, dumps=__import__("pickle").dumps)
    TypeError("Output `y` (at key 'b') cannot be pickled: no")
    """
    where = unpicklable_part(value, dumps)
    if where is not None:
        where = where.replace("element ", "at element ", 1).replace("key ", "at key ", 1)
    msg = f"{what}{f' ({where})' if where else ''} cannot be pickled: {exc}"
    try:
        new = type(exc)(msg)
    except Exception:  # noqa: BLE001 - an exception type with another signature
        new = TypeError(msg)
    if not isinstance(new, type(exc)) or str(new) != msg:
        new = TypeError(msg)
    return new


def deserialize(data: bytes) -> Any:
    """Decode bytes written by :func:`serialize` (raises on corrupt data).

    >>> deserialize(serialize("x"))
    'x'
    """
    if data[:4] == PARQUET_MAGIC:
        import polars as pl

        return pl.read_parquet(io.BytesIO(data))
    return pickle.loads(data)

"""Digests of the things an element key is made of: constant values and functions.

``value_digest(value)`` gives 16 bytes that depend only on the value (raises
:class:`UnstableValueError` when there is no stable way to hash it); ``function_digest(f)``
gives the digest of a pipeline function (its code, output names, and everything it is called
with besides its inputs) or None with the reason it cannot be trusted.

This is a private stand-in until the fingerprints of ``runner/model/_value_hash.py`` and
``runner/model/_fingerprint.py`` (branch ``resume-safety``) are merged; it hashes a fixed set
of value types and plain Python functions only, so anything else is "not reusable".

>>> value_digest((1, "a", 2.5)) == value_digest((1, "a", 2.5))
True
>>> value_digest(object())
Traceback (most recent call last):
...
pipemap.runner.engine._key_digests.UnstableValueError: no stable digest for a value of type `object`
"""

from __future__ import annotations

import hashlib
import types
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pipemap.runner.model._pipefunc import PipeFunc

__all__ = ["UnstableValueError", "function_digest", "value_digest"]


class UnstableValueError(TypeError):
    """A value has no digest that is the same in every process and run."""


def _feed(h: Any, value: Any, depth: int = 0) -> None:
    if depth > 50:
        msg = "no stable digest for a value nested deeper than 50 levels"
        raise UnstableValueError(msg)
    t = type(value)
    if value is None or t is bool:
        h.update(f"{t.__name__}:{value!r};".encode())
    elif t is int or t is float or t is complex:
        h.update(f"{t.__name__}:{value!r};".encode())
    elif t is str:
        data = value.encode("utf-8", "surrogatepass")
        h.update(f"str:{len(data)}:".encode() + data)
    elif t is bytes:
        h.update(f"bytes:{len(value)}:".encode() + value)
    elif isinstance(value, np.generic) and value.dtype.kind in "biufcSUMm":
        h.update(f"np:{value.dtype.str}:".encode() + value.tobytes())
    elif t is np.ndarray and value.dtype.kind in "biufcSUMm":
        arr = np.ascontiguousarray(value)
        h.update(f"nd:{arr.dtype.str}:{arr.shape}:".encode() + arr.tobytes())
    elif t is np.ndarray and value.dtype.kind == "O":
        h.update(f"ndo:{value.shape}:".encode())
        for item in value.ravel():
            _feed(h, item, depth + 1)
    elif t in (list, tuple, range):
        h.update(f"{t.__name__}:{len(value)}:".encode())
        for item in value:
            _feed(h, item, depth + 1)
    elif t is dict:
        h.update(f"dict:{len(value)}:".encode())
        try:
            items = sorted(value.items(), key=lambda kv: repr(kv[0]))
        except Exception as exc:  # noqa: BLE001
            raise UnstableValueError(str(exc)) from None
        for k, v in items:
            _feed(h, k, depth + 1)
            _feed(h, v, depth + 1)
    else:
        msg = f"no stable digest for a value of type `{t.__qualname__}`"
        raise UnstableValueError(msg)


def value_digest(value: Any) -> bytes:
    """16 bytes identifying ``value`` (raises :class:`UnstableValueError` for unknown types)."""
    h = hashlib.blake2b(digest_size=16)
    _feed(h, value)
    return h.digest()


def _feed_code(h: Any, code: types.CodeType, depth: int = 0) -> None:
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    h.update(repr(code.co_varnames).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType) and depth < 20:
            _feed_code(h, const, depth + 1)
        else:
            h.update(repr(const).encode())


def _callable_digest(func: Any) -> tuple[bytes | None, str]:
    h = hashlib.blake2b(digest_size=16)
    inner = func
    while isinstance(inner, types.MethodType):
        inner = inner.__func__
    code = getattr(inner, "__code__", None)
    if not isinstance(code, types.CodeType):
        return None, f"`{getattr(func, '__name__', type(func).__name__)}` is not a plain Python function"
    h.update(f"{getattr(inner, '__module__', '')}.{getattr(inner, '__qualname__', '')}".encode())
    _feed_code(h, code)
    try:
        _feed(h, inner.__defaults__)
        _feed(h, inner.__kwdefaults__)
    except UnstableValueError as exc:
        return None, f"a default value of `{inner.__qualname__}`: {exc}"
    return h.digest(), ""


def function_digest(f: PipeFunc) -> tuple[bytes | None, str]:
    """The digest of pipeline function ``f`` or ``(None, reason)`` when it cannot be trusted."""
    digest, reason = _callable_digest(f.func)
    if digest is None:
        return None, reason
    h = hashlib.blake2b(digest, digest_size=16)
    h.update(repr((f.output_name, getattr(f, "output_picker", None) is not None)).encode())
    return h.digest(), ""

"""Digests of the things an element key is made of: constant values and functions.

Thin adapters over the model's stable digests (``model/_value_hash.py``: ``stable_digest``,
``model/_fingerprint.py``: ``function_fingerprint``): ``value_digest(value)`` gives 16 bytes that
depend only on the value (raises :class:`UnstableValueError` when there is no stable way to
hash it); ``function_digest(f)`` gives the digest of a pipeline function (its code, defaults,
bound values, renames and output names) or None with the reason it cannot be trusted.

>>> value_digest((1, "a", 2.5)) == value_digest((1, "a", 2.5))
True
>>> from pipemap.runner import PipeFunc
>>> function_digest(PipeFunc(lambda x: x, "y"))[0] is not None
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipemap.runner.model._fingerprint import function_fingerprint, value_or_code_digest
from pipemap.runner.model._value_hash import UnstableValueError

if TYPE_CHECKING:
    from pipemap.runner.model._pipefunc import PipeFunc

__all__ = ["UnstableValueError", "function_digest", "value_digest"]


def value_digest(value: object) -> bytes:
    """16 bytes identifying ``value`` (a callable constant: its code); raises :class:`UnstableValueError`."""
    return value_or_code_digest(value)


def function_digest(f: PipeFunc) -> tuple[bytes | None, str]:
    """The digest of pipeline function ``f`` or ``(None, reason)`` when it cannot be trusted."""
    fingerprint = function_fingerprint(f)
    if fingerprint.digest is None:
        return None, fingerprint.unstable or "its code cannot be digested"
    return fingerprint.digest, ""

"""`function_fingerprint(func)`: what determines a `PipeFunc`'s values, as stable digests.

A `FunctionFingerprint` has the digest of the code (`code_digest`), one digest per bound value
and per default (signature defaults and ``defaults=``, by renamed name) and one combination
(``digest``) that also covers the renames, the output names and the output picker. Pipeline
cosmetics (mapspec, resources limits, profiling, retries, timeouts) are left out: they change
which elements run or how, not what a value is. When some part cannot be digested stably (a
closure over a socket, an unpicklable bound value) ``unstable`` says why and ``digest`` is
None: nothing of that function may then be trusted from an earlier run.

>>> from pipemap.runner.model._pipefunc import PipeFunc
>>> f = PipeFunc(lambda x, y=2: x * y, "z")
>>> g = PipeFunc(lambda x, y=3: x * y, "z")
>>> fp = function_fingerprint(f)
>>> fp == function_fingerprint(f), fp.code == function_fingerprint(g).code, fp.digest == function_fingerprint(g).digest
(True, True, False)
>>> sorted(fp.defaults), fp.unstable
(['y'], None)
"""

from __future__ import annotations

import dataclasses
from hashlib import blake2b
from typing import TYPE_CHECKING, Any

from pipemap.runner.model._code_digest import code_digest
from pipemap.runner.model._value_hash import DIGEST_SIZE, UnstableValueError, stable_digest

if TYPE_CHECKING:
    from pipemap.runner.model._pipefunc import PipeFunc

__all__ = ["FunctionFingerprint", "function_fingerprint", "value_or_code_digest"]

_PERSON = b"pipemap-func-1"


@dataclasses.dataclass(frozen=True)
class FunctionFingerprint:
    """The stable digests of one function (see the module docstring); ``digest`` is None when
    ``unstable`` gives a reason.

    >>> FunctionFingerprint(code=None, bound={}, defaults={}, unstable="no code", digest=None).trusted
    False
    """

    code: bytes | None
    bound: dict[str, bytes]
    defaults: dict[str, bytes]
    unstable: str | None
    digest: bytes | None
    #: the digest of the renames, output names, output picker and passed resources (None: unstable)
    settings: bytes | None = None

    @property
    def trusted(self) -> bool:
        """Whether results of this function from an earlier run may be compared at all."""
        return self.digest is not None

    def __hash__(self) -> int:
        return hash((self.code, tuple(sorted(self.bound.items())), tuple(sorted(self.defaults.items())), self.digest))


def value_or_code_digest(value: object) -> bytes:
    """`stable_digest` of a value, or the code digest of a callable one (a default ``op=np.add``);
    raises `UnstableValueError` when neither works.

    >>> value_or_code_digest(len) == value_or_code_digest(len), len(value_or_code_digest(3))
    (True, 16)
    """
    try:
        return stable_digest(value)
    except UnstableValueError:
        if not callable(value):
            raise
        return code_digest(value)


def _digests(kind: str, values: dict[str, object], problems: list[str]) -> dict[str, bytes]:
    out = {}
    for name, value in values.items():
        try:
            out[name] = value_or_code_digest(value)
        except UnstableValueError as e:
            problems.append(f"{kind} `{name}`: {e}")
        except Exception as e:  # noqa: BLE001 - reading a value failed: untrusted, never a failed run
            problems.append(f"{kind} `{name}`: its digest failed ({type(e).__name__}: {e})")
    return out


def function_fingerprint(func: PipeFunc) -> FunctionFingerprint:
    """The fingerprint of a `PipeFunc` (a `NestedPipeFunc`: its inner functions combined).

    >>> from pipemap.runner.model._pipefunc import PipeFunc
    >>> import socket
    >>> def reader(s):
    ...     return lambda x: s.fileno() + x
    >>> with socket.socket() as s:
    ...     fp = function_fingerprint(PipeFunc(reader(s), "y"))
    >>> fp.digest, fp.unstable
    (None, 'closure variable `s`: a value of type `socket.socket` has no stable digest (its content cannot be read exactly)')
    """
    problems: list[str] = []
    inner = getattr(func, "functions", None)
    code: bytes | None
    if inner is not None:  # a NestedPipeFunc: its own call is the inner pipeline
        code = _nested_code(inner, problems)
    else:
        try:
            code = code_digest(func.func, own_defaults=False)
        except UnstableValueError as e:
            problems.append(str(e))
            code = None
        except Exception as e:  # noqa: BLE001 - a callable that breaks the walk: untrusted, never a failed run
            problems.append(f"its code digest failed ({type(e).__name__}: {e})")
            code = None
    bound = _digests("bound value", dict(func.bound), problems)
    defaults = _digests("default", dict(func.defaults), problems)
    extra: dict[str, object] = {"renames": dict(func.renames), "outputs": func.output_names}
    if func.output_picker is not None:
        extra["picker"] = func.output_picker
    if func.resources_variable is not None:  # the resources reach the function as an argument
        extra["resources"] = (func.resources_variable, func.resources)
    extras = _digests("setting", extra, problems)
    if problems or code is None:
        return FunctionFingerprint(code, bound, defaults, "; ".join(problems) or "no code digest", None)
    settings = _combine([extras])
    return FunctionFingerprint(code, bound, defaults, None, _combine([bound, defaults, extras], code), settings)


def _combine(parts: list[dict[str, bytes]], code: bytes = b"") -> bytes:
    h = blake2b(digest_size=DIGEST_SIZE, person=_PERSON)
    h.update(code)
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        for name in sorted(part):
            h.update(name.encode() + b"\x00" + part[name])
    return h.digest()


def _nested_code(functions: list[Any], problems: list[str]) -> bytes | None:
    """The inner functions' full digests, combined in the order of their output names."""
    h = blake2b(digest_size=DIGEST_SIZE, person=_PERSON)
    h.update(b"nested")
    for f in sorted(functions, key=lambda f: f.output_names):
        fp = function_fingerprint(f)
        if fp.digest is None:
            problems.append(f"inner function `{f.__name__}`: {fp.unstable}")
            continue
        h.update(fp.digest)
    return None if problems else h.digest()

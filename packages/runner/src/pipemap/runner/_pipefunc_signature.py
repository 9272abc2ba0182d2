"""Reading what a `PipeFunc` wraps and normalising its arguments: the signature's parameters
and defaults, the function's name, names, internal shapes and mapspecs.

>>> _function_name(functools.partial(print, end="")), normalize_internal_shape(3)
('print', (3,))
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

from pipemap.mapspec import MapSpec

__all__ = ["normalize_internal_shape"]


def _is_name(name: object) -> bool:
    """A Python identifier, or a scoped ``scope.name`` pair of identifiers."""
    if not isinstance(name, str):
        return False
    parts = name.split(".")
    return len(parts) <= 2 and all(p.isidentifier() for p in parts)


def normalize_internal_shape(
    shape: int | str | tuple[int | str, ...] | None, name: str = "output"
) -> tuple[int | str, ...] | None:
    """Normalise an internal shape: an int or ``"?"`` becomes a 1-tuple; entries are checked.

    >>> normalize_internal_shape(3), normalize_internal_shape("?"), normalize_internal_shape((2, "?"))
    ((3,), ('?',), (2, '?'))
    """
    if shape is None:
        return None
    if isinstance(shape, (int, str)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        msg = f"Internal shape for '{name}' must be a tuple of integers or '?', got {shape!r}."
        raise TypeError(msg)
    out: list[int | str] = []
    for entry in shape:
        if isinstance(entry, int) and not isinstance(entry, bool) and entry >= 0:
            out.append(int(entry))
        elif entry == "?":
            out.append("?")
        else:
            msg = f"Internal shape for '{name}' must be a tuple of integers or '?', got {shape!r}."
            raise TypeError(msg)
    return tuple(out)


def _signature_parameters(func: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(func).parameters)
    except (TypeError, ValueError) as e:
        msg = f"Cannot read the signature of `{func!r}`: {e}"
        raise TypeError(msg) from e


def _signature_defaults(func: Callable[..., Any], params: dict[str, inspect.Parameter]) -> dict:
    """Defaults written in the function's signature (dataclass factories are called)."""
    if dataclasses.is_dataclass(func) and isinstance(func, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(func):
            if not f.init:
                continue
            if f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
            elif f.default is not dataclasses.MISSING:
                out[f.name] = f.default
        return out
    return {
        name: p.default
        for name, p in params.items()
        if p.default is not inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    }


def _function_name(func: Callable[..., Any]) -> str:
    """The name of a function, of the function inside a `functools.partial`, or of a callable's type."""
    while isinstance(func, functools.partial):
        func = func.func
    return getattr(func, "__name__", None) or type(func).__name__


def _parse_mapspec(mapspec: str | MapSpec | None) -> MapSpec | None:
    if mapspec is None or isinstance(mapspec, MapSpec):
        return mapspec
    if isinstance(mapspec, str):
        return MapSpec.from_string(mapspec)
    msg = f"`mapspec` must be a string or a MapSpec, got {type(mapspec).__name__}: {mapspec!r}"
    raise TypeError(msg)

"""Checks and normalisation of what a `PipeFunc` is built from (names, internal shapes,
signatures, mapspecs, the per-element ``timeout``); used by `PipeFunc.__init__` and its updates.

>>> _parse_mapspec("x[i] -> y[i]").output_names
('y',)
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import typing
from collections.abc import Callable
from typing import Any

from pipemap.mapspec import MapSpec

__all__ = ["lenient_internal_shape", "normalize_internal_shape", "validate_resources_scope", "validate_timeout"]


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


def lenient_internal_shape(shape: object, name: str = "output") -> object:
    """`normalize_internal_shape` where it applies; any other value is kept as given.

    As in pipefunc, an internal shape is only checked when a run uses it (an output with internal
    axes): for an output without them it is ignored, whatever it is.

    >>> lenient_internal_shape(3), lenient_internal_shape(...)
    ((3,), Ellipsis)
    """
    try:
        return normalize_internal_shape(shape, name)  # type: ignore[arg-type]
    except TypeError:
        return shape


def _signature_parameters(func: Callable[..., object], resources_variable: str | None = None) -> dict[str, inspect.Parameter]:
    """The signature's parameters, without ``resources_variable`` (the engine passes that one)."""
    try:
        params = dict(inspect.signature(func).parameters)
    except (TypeError, ValueError) as e:
        msg = f"Cannot read the signature of `{func!r}`: {e}"
        raise TypeError(msg) from e
    if resources_variable is not None:
        if params.pop(resources_variable, None) is None:
            msg = (
                f"The `resources_variable={resources_variable!r}` should be a parameter of the function"
                f" (`{_function_name(func)}` has {tuple(params)})."
            )
            raise ValueError(msg)
    return params


def validate_resources_scope(scope: object, name: str) -> str:
    """``"map"`` or ``"element"``.

    >>> validate_resources_scope("element", "f")
    'element'
    """
    if scope not in ("map", "element"):
        msg = f"The `resources_scope` of `{name}` must be 'map' or 'element', got {scope!r}."
        raise ValueError(msg)
    return str(scope)


def _signature_defaults(func: Callable[..., object], params: dict[str, inspect.Parameter]) -> dict:
    """Defaults written in the function's signature (dataclass factories are called)."""
    if dataclasses.is_dataclass(func) and isinstance(func, type):
        out: dict[str, object] = {}
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


def validate_timeout(timeout: object, name: str) -> float | None:
    """``None`` or a positive, finite number of seconds.

    >>> validate_timeout(2, "f")
    2.0
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (0 < timeout < math.inf):
        msg = f"`timeout` of `{name}` must be a positive number of seconds or None, got {timeout!r}."
        raise ValueError(msg)
    return float(timeout)


def _function_name(func: Callable[..., object]) -> str:
    """The name of a function, of the function inside a `functools.partial`, or of a callable's type."""
    while isinstance(func, functools.partial):
        func = func.func
    return getattr(func, "__name__", None) or type(func).__name__


def _rename_clashes(renames: dict[str, str]) -> str:
    """pipefunc's listing of renames that map several names to one: ``"`q: ['a', 'b']`"``.

    >>> _rename_clashes({"a": "q", "b": "q", "c": "r"})
    "`q: ['a', 'b']`"
    """
    by_target: dict[str, list[str]] = {}
    for old, new in renames.items():
        by_target.setdefault(new, []).append(old)
    return "; ".join(f"`{new}: {olds}`" for new, olds in by_target.items() if len(olds) > 1)


def _set_str(items: set[str]) -> str:
    return "{" + ", ".join(repr(x) for x in sorted(items)) + "}"


def _parse_mapspec(mapspec: str | MapSpec | None) -> MapSpec | None:
    if mapspec is None or isinstance(mapspec, MapSpec):
        return mapspec
    if isinstance(mapspec, str):
        return MapSpec.from_string(mapspec)
    msg = (
        f"The 'mapspec' argument should be an instance of MapSpec, not {type(mapspec)}."
        f" Pass a string such as 'x[i] -> y[i]' or a MapSpec; got {mapspec!r}."
    )
    raise TypeError(msg)


def return_annotations(
    func: Callable[..., object], plain_outputs: bool, output_name: str | tuple[str, ...], output_names: tuple[str, ...]
) -> dict[str, object]:
    """{output name: return annotation} of ``func``; ``inspect.Parameter.empty`` where unknown
    (always, with a custom ``output_picker``: ``plain_outputs=False``).

    >>> def f(a) -> tuple[int, float]: ...
    >>> return_annotations(f, True, ("x", "y"), ("x", "y"))
    {'x': <class 'int'>, 'y': <class 'float'>}
    """
    empty = inspect.Parameter.empty
    hint: object = empty
    if plain_outputs:
        callable_: Any = func  # Any: mypy cannot type `__call__` of a non-function callable
        target = callable_ if inspect.isfunction(callable_) else callable_.__call__
        if isinstance(func, type):
            hint = func
        else:
            try:
                hint = typing.get_type_hints(target).get("return", empty)
            except Exception:
                hint = empty
    if isinstance(output_name, str):
        return {output_name: hint}
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if len(args) == len(output_names) and Ellipsis not in args:
            return dict(zip(output_names, args))
    return dict.fromkeys(output_names, empty)


def validate_mapspec(
    spec: MapSpec, name: str, parameters: tuple[str, ...], bound: set[str], output_names: tuple[str, ...]
) -> None:
    """The mapspec of function ``name`` reads unbound parameters and writes exactly its outputs."""
    inputs = set(spec.input_names)
    if extra := inputs - set(parameters):
        msg = (
            f"The input of the function `{name}` should match the input of the"
            f" MapSpec `{spec}`: `{_set_str(extra)} not in {parameters}`."
        )
        raise ValueError(msg)
    if bound_inputs := inputs & bound:
        msg = (
            "The bound arguments cannot be part of the MapSpec input names. The violating"
            f" bound arguments are: `{_set_str(bound_inputs)}`. Because bound arguments might have"
            " the same name in different functions and the MapSpec input names are unique, the bound"
            f" arguments cannot be part of the MapSpec input names. Function: `{name}`."
        )
        raise ValueError(msg)
    if set(spec.output_names) != set(output_names):
        msg = (
            f"The output of the function `{name}` should match the output of the"
            f" MapSpec `{spec}`: `{_set_str(set(spec.output_names))} !="
            f" {_set_str(set(output_names))}`."
        )
        raise ValueError(msg)

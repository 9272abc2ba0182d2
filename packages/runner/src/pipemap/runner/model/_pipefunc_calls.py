"""The per-element call path of a `PipeFunc`: the fast call and the output picker.

Both are closures built once per change of the function (`PipeFunc._refresh`), with renames,
bound values and default overrides folded in, so the engine's per-element work is one call.

>>> from pipemap.runner import PipeFunc
>>> f = PipeFunc(lambda a, b: (a, b), ("x", "y"), renames={"a": "p"}, bound={"b": 2})
>>> make_picker(f)(make_fast_call(f)({"p": 1}))
(1, 2)
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

from pipemap.storage import ErrorSnapshot, PropagatedErrorSnapshot

if TYPE_CHECKING:
    from collections.abc import Callable

    from pipemap.runner.model._pipefunc import PipeFunc

__all__ = ["make_fast_call", "make_picker"]


def _error_types() -> tuple[type, ...]:
    """The storage package's error-snapshot classes (empty until it provides them)."""
    cached = _ERROR_TYPES_CACHE
    if cached:
        return cached[0]
    _ERROR_TYPES_CACHE.append((ErrorSnapshot, PropagatedErrorSnapshot))
    return _ERROR_TYPES_CACHE[0]


_ERROR_TYPES_CACHE: list[tuple[type, ...]] = []


def make_fast_call(pf: PipeFunc) -> Callable[[dict[str, Any]], Any]:
    """Build ``call(kwargs)``: kwargs by renamed names; bound values win; no checks.

    The engine's per-element path. ``kwargs`` should hold every unbound parameter (the
    engine resolves pipeline defaults); a default set with ``defaults=`` is used for a
    missing key, signature defaults apply as in any call.
    """
    func = pf.func
    inverse = {new: old for new, old in pf._inverse_renames.items() if new != old}
    native = inverse.get
    bound = {native(k, k): v for k, v in pf._bound.items()}
    overrides = {native(k, k): v for k, v in pf._defaults.items()}
    if not inverse and not bound and not overrides:

        def call(kwargs: dict[str, Any]) -> Any:
            return func(**kwargs)

    elif not inverse:

        def call(kwargs: dict[str, Any]) -> Any:
            return func(**{**overrides, **kwargs, **bound})

    else:

        def call(kwargs: dict[str, Any]) -> Any:
            renamed = {native(k, k): v for k, v in kwargs.items()}
            return func(**{**overrides, **renamed, **bound})

    call.__doc__ = f"Call `{pf.__name__}` with kwargs by renamed parameter names."
    return call

def make_picker(pf: PipeFunc) -> Callable[[Any], tuple[Any, ...]]:
    """Build ``pick(value) -> tuple`` in the order of `output_names`.

    Error snapshots pass through to every output.
    """
    names = pf.output_names
    n = len(names)
    picker = pf._output_picker
    errors = _error_types()  # bound now: no lookup per call
    if picker is None and isinstance(pf.output_name, str):
        return _pick_single
    if picker is None:
        getter = operator.itemgetter(*range(n))
        if n == 1:
            def pick(value: Any) -> tuple[Any, ...]:
                if isinstance(value, errors):
                    return (value,)
                return (value[0],)

        else:
            def pick(value: Any) -> tuple[Any, ...]:
                if isinstance(value, errors):
                    return (value,) * n
                return getter(value)

        return pick

    def pick_custom(value: Any) -> tuple[Any, ...]:
        if isinstance(value, errors):
            return (value,) * n
        return tuple(picker(value, name) for name in names)

    return pick_custom


def _pick_single(value: Any) -> tuple[Any]:
    return (value,)

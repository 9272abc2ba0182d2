"""The call path of a `PipeFunc`: the compiled call and the output picker.

:func:`compile_call` is the one call compiler (``PipeFunc.compile_call`` and
``PipeFunc.call_with_kwargs`` use it): renames, bound values and default overrides folded into
a lambda with literal keywords, so the engine's per-element work is one call. The picker is a
closure built once per change of the function (`PipeFunc._refresh`).

>>> from pipemap.runner import PipeFunc
>>> f = PipeFunc(lambda a, b: (a, b), ("x", "y"), renames={"a": "p"}, bound={"b": 2})
>>> make_picker(f)(compile_call(f, ["p"], {})(1))
(1, 2)
"""

from __future__ import annotations

import functools
import inspect
import operator
import sys
import typing
from typing import TYPE_CHECKING, Any

from collections.abc import Callable

from pipemap.storage import ErrorSnapshot, PropagatedErrorSnapshot

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pipemap.runner.model._pipefunc import PipeFunc

__all__ = ["compile_call", "lazyframe_parameters", "make_picker"]


def _error_types() -> tuple[type, ...]:
    """The storage package's error-snapshot classes (empty until it provides them)."""
    cached = _ERROR_TYPES_CACHE
    if cached:
        return cached[0]
    _ERROR_TYPES_CACHE.append((ErrorSnapshot, PropagatedErrorSnapshot))
    return _ERROR_TYPES_CACHE[0]


_ERROR_TYPES_CACHE: list[tuple[type, ...]] = []


def compile_call(
    pf: PipeFunc,
    mapped_names: Sequence[str],
    const: Mapping[str, object],
    guard: tuple[int, Callable[[object], object]] | None = None,
) -> Callable[..., Any]:
    """``call(*values)`` = ``pf.func(**{mapped: values}, **const)``, renames and bound applied.

    The model's calling convention (renamed names; bound values win; ``defaults=`` overrides
    for absent keys), compiled once into a lambda with literal keywords, so no dict is built per
    element; ``call.__positional__`` lists the mapped names it takes, in order. ``guard=(n,
    check)``: a returned value whose ``operator.length_hint`` is not ``n`` goes through
    ``check(value)`` (which raises or returns it), see `pipemap.runner.worker._guards`.
    """
    bound = pf.bound
    native = pf.native_name
    consts: dict[str, object] = {}
    for name, value in pf.default_overrides.items():
        consts[native(name)] = value
    for name, value in const.items():
        consts[native(name)] = value
    for name, value in bound.items():
        consts[native(name)] = value
    positional = [n for n in mapped_names if n not in bound]
    natives = [native(n) for n in positional]
    for name in natives:
        consts.pop(name, None)
    lazy = pf.lazyframe_parameters
    if lazy:  # decided once per function (its annotations), never per element
        consts = {k: _as_lazy(v) if k in lazy else v for k, v in consts.items()}
    if guard is None:
        call = _call_factory(tuple(natives), bool(consts))(pf.func, consts)
    else:
        call = _call_factory(tuple(natives), bool(consts), True)(pf.func, consts, *guard)
    if lazy and (positions := tuple(k for k, name in enumerate(natives) if name in lazy)):
        call = _lazy_arguments(call, positions)
    call.__positional__ = positional
    return call


def lazyframe_parameters(func: Callable[..., Any]) -> frozenset[str]:
    """The parameters of ``func`` (its own names) annotated exactly ``polars.LazyFrame``.

    pipefunc hands such a parameter a ``pl.LazyFrame`` (``DataFrame.lazy()``) when the value is a
    ``pl.DataFrame``. Without polars imported no annotation can be its ``LazyFrame``: empty.

    >>> def f(a: int) -> int: ...
    >>> lazyframe_parameters(f)
    frozenset()
    """
    polars = sys.modules.get("polars")
    lazy_frame = getattr(polars, "LazyFrame", None)
    if lazy_frame is None:
        return frozenset()
    target: Any = func
    if inspect.isclass(func):
        target = func.__init__
    elif not inspect.isfunction(func) and not inspect.ismethod(func):
        target = getattr(func, "__call__", func)  # noqa: B004 - callable objects: their __call__
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:  # noqa: BLE001 - unresolvable annotations: only the plain objects count
        hints = dict(getattr(target, "__annotations__", None) or {})
    return frozenset(name for name, hint in hints.items() if name != "return" and hint is lazy_frame)


def _as_lazy(value: object) -> object:
    polars = sys.modules.get("polars")
    if polars is not None and isinstance(value, polars.DataFrame):
        return value.lazy()
    return value


def _lazy_arguments(call: Callable[..., Any], positions: tuple[int, ...]) -> Callable[..., Any]:
    """``call`` with the ``pl.DataFrame`` values at ``positions`` passed as ``pl.LazyFrame``."""
    import polars as pl

    data_frame = pl.DataFrame

    def lazy_call(*args: Any) -> Any:
        values = list(args)
        for k in positions:
            if isinstance(values[k], data_frame):
                values[k] = values[k].lazy()
        return call(*values)

    return lazy_call


@functools.lru_cache(maxsize=256)
def _call_factory(natives: tuple[str, ...], with_consts: bool, guarded: bool = False) -> Callable[..., Any]:
    """``factory(_f, _c)`` -> ``lambda _a0, ...: _f(name0=_a0, ..., **_c)``, compiled once per
    keyword signature (names are the function's own parameter names: valid identifiers).
    ``guarded``: ``factory(_f, _c, _n, _check)``, the value checked inline (no extra call when
    its length is ``_n``)."""
    params = ", ".join(f"_a{k}" for k in range(len(natives)))
    parts = [f"{native}=_a{k}" for k, native in enumerate(natives)]
    if with_consts:
        parts.append("**_c")
    body = f"_f({', '.join(parts)})"
    if guarded:
        src = (
            "from operator import length_hint as _lh\n"
            "def factory(_f, _c, _n, _check):\n"
            f"    return lambda {params}: _v if _lh(_v := {body}, -1) == _n else _check(_v)\n"
        )
    else:
        src = f"def factory(_f, _c):\n    return lambda {params}: {body}\n"
    namespace: dict[str, Any] = {}
    exec(src, namespace)  # noqa: S102 - generated from identifiers only
    return namespace["factory"]


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


def _pick_single(value: object) -> tuple[object]:
    return (value,)

"""Conversion of a `pipefunc.NestedPipeFunc` into pipemap's `NestedPipeFunc` (called by
``_pipefunc_compat.function_from_pipefunc``, which imports this module lazily).

What carries over: the inner functions (converted one by one; pipefunc has already removed
their mapspecs), the output name(s), ``function_name``, renames, bound values, defaults, the
nested mapspec (given or derived by pipefunc: kept as is), resources and the cache flag.

>>> import pipefunc
>>> n = pipefunc.NestedPipeFunc([pipefunc.PipeFunc(lambda a: a + 1, "b"), pipefunc.PipeFunc(lambda b: 2 * b, "c")])
>>> m = nested_from_pipefunc(n)
>>> type(m).__name__, m.output_name, m(a=1)
('NestedPipeFunc', ('b', 'c'), (2, 4))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipemap.runner.model._nested import NestedPipeFunc
from pipemap.runner.model._pipefunc import PipeFunc
from pipemap.runner.model._pipefunc_compat import _mapspec, _resources, function_from_pipefunc

if TYPE_CHECKING:
    import pipefunc

__all__ = ["nested_from_pipefunc"]


def nested_from_pipefunc(f: pipefunc.NestedPipeFunc) -> NestedPipeFunc:
    """Convert one `pipefunc.NestedPipeFunc` (its inner functions with `function_from_pipefunc`)."""
    where = str(f)
    inner = [function_from_pipefunc(g, PipeFunc) for g in f.pipeline.functions]
    for g in inner:
        g.resources = None  # pipefunc copies the nested resources into each inner function
    nested = NestedPipeFunc(
        inner,
        output_name=f._output_name,
        function_name=f.function_name,
        renames=dict(f._renames),
        mapspec=_mapspec(f.mapspec),
        resources=_resources(f.resources, where),
        resources_scope=getattr(f, "resources_scope", "map"),
        bound=dict(f._bound),
        cache=bool(f.cache),
    )
    if overrides := {k: v for k, v in f._defaults.items() if k in nested.parameters and k not in nested.bound}:
        nested.update_defaults(overrides)
    nested.debug, nested.print_error = bool(f.debug), bool(getattr(f, "print_error", True))
    return nested

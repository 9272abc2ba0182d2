"""Convert pipefunc objects (`pipefunc.Pipeline`, `pipefunc.PipeFunc`) into pipemap ones.

pipefunc is optional and imported lazily (``_pipefunc_compat``). What carries over: functions, output names,
output pickers, mapspecs (generated ones keep their flag), renames (and so scopes), defaults,
bound values, internal shapes, resources (as dicts; callables, ``resources_scope`` and
``resources_variable`` as they are), and the profile/debug/print_error/cache flags (with the
pipeline's cache type); a ``NestedPipeFunc`` becomes pipemap's (``_from_pipefunc_nested``). What
pipemap does not support raises `UnsupportedPipefuncFeature` naming the feature (variants,
``post_execution_hook``, ``VariantPipeline``); ``lazy``, which only changes side effects, gives a
`UserWarning` naming it.

>>> import pipefunc
>>> @pipefunc.pipefunc(output_name="y", mapspec="x[i] -> y[i]")
... def double(x):
...     return 2 * x
>>> converted = from_pipefunc(pipefunc.Pipeline([double]))
>>> type(converted).__module__, converted.mapspecs_as_strings
('pipemap.runner.model._pipeline', ['x[i] -> y[i]'])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipemap.runner.model._pipefunc import PipeFunc
from pipemap.runner.model._pipefunc_compat import (
    UnsupportedPipefuncFeature,
    function_from_pipefunc,
    pipeline_from_pipefunc,
)
from pipemap.runner.model._pipeline import Pipeline

if TYPE_CHECKING:
    import pipefunc

__all__ = ["UnsupportedPipefuncFeature", "from_pipefunc", "pipefunc_to_pipemap_function"]


def pipefunc_to_pipemap_function(f: pipefunc.PipeFunc, *, cls: type[PipeFunc] = PipeFunc) -> PipeFunc:
    """Convert one `pipefunc.PipeFunc` (raises `UnsupportedPipefuncFeature` for what cannot carry over).

    >>> import pipefunc
    >>> pf = pipefunc.PipeFunc(lambda a, b=1: a + b, "c", renames={"a": "x"}, bound={"b": 2})
    >>> g = pipefunc_to_pipemap_function(pf)
    >>> type(g).__module__, g.parameters, g(x=1)
    ('pipemap.runner.model._pipefunc', ('x', 'b'), 3)
    """
    return function_from_pipefunc(f, cls)


def from_pipefunc(pipeline: Any, *, cls: type[Pipeline] = Pipeline) -> Pipeline:
    """Convert a `pipefunc.Pipeline` into a pipemap `Pipeline` (see the module docstring).

    >>> import pipefunc
    >>> p = pipefunc.Pipeline([pipefunc.PipeFunc(lambda a: a + 1, "b")])
    >>> from_pipefunc(p)("b", a=1)
    2
    """
    return pipeline_from_pipefunc(pipeline, cls, PipeFunc, Pipeline)

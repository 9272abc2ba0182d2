"""Convert pipefunc objects (`pipefunc.Pipeline`, `pipefunc.PipeFunc`) into pipemap ones.

pipefunc is optional and imported only here, lazily. What carries over: functions, output names,
output pickers, mapspecs (generated ones keep their flag), renames (and so scopes), defaults,
bound values, internal shapes, resources (as dicts), and the profile/debug/print_error/cache flags. What
pipemap does not support raises `UnsupportedPipefuncFeature` naming the feature
(``NestedPipeFunc``, variants, ``resources_variable``, ``post_execution_hook``,
``VariantPipeline``); features that only change side effects (a result cache, ``lazy``,
element-scoped resources) give a `UserWarning` naming them.

>>> import pipefunc
>>> @pipefunc.pipefunc(output_name="y", mapspec="x[i] -> y[i]")
... def double(x):
...     return 2 * x
>>> converted = from_pipefunc(pipefunc.Pipeline([double]))
>>> type(converted).__module__, converted.mapspecs_as_strings
('pipemap.runner.model._pipeline', ['x[i] -> y[i]'])
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from pipemap.mapspec import MapSpec
from pipemap.runner.model._pipefunc import PipeFunc
from pipemap.runner.model._pipeline import Pipeline

__all__ = ["UnsupportedPipefuncFeature", "from_pipefunc", "pipefunc_to_pipemap_function"]


class UnsupportedPipefuncFeature(NotImplementedError):
    """A pipefunc feature pipemap cannot reproduce; the message names it and the function.

    >>> issubclass(UnsupportedPipefuncFeature, NotImplementedError)
    True
    """


def _import_pipefunc() -> Any:
    try:
        import pipefunc
    except ImportError as e:  # pragma: no cover - pipefunc is installed in the dev environment
        msg = "Converting a pipefunc pipeline needs the `pipefunc` package (`pip install pipefunc`)."
        raise ImportError(msg) from e
    return pipefunc


def _unsupported(what: str, where: str, hint: str = "") -> UnsupportedPipefuncFeature:
    msg = f"pipemap does not support {what} (in `{where}`)." + (f" {hint}" if hint else "")
    return UnsupportedPipefuncFeature(msg)


def _warn_ignored(what: str, where: str) -> None:
    warnings.warn(f"pipemap ignores {what} (in `{where}`).", UserWarning, stacklevel=4)


def _resources(resources: Any, where: str) -> Any:
    """pipefunc `Resources` become a dict of the fields that differ from their defaults."""
    if resources is None or isinstance(resources, dict) or callable(resources):
        return resources
    if dataclasses.is_dataclass(resources) and hasattr(resources, "dict"):
        cls: Any = type(resources)  # a dataclass with defaults for every field (pipefunc's Resources)
        values = resources.dict()
        try:
            defaults = cls().dict()
        except Exception:
            defaults = {}
        return {k: v for k, v in values.items() if k not in defaults or defaults[k] != v}
    msg = f"Cannot convert the resources {resources!r} of `{where}`; use a dict."
    raise TypeError(msg)


def _mapspec(spec: Any) -> MapSpec | None:
    if spec is None:
        return None
    converted = MapSpec.from_string(str(spec))
    if getattr(spec, "_is_generated", False):
        converted = MapSpec(converted.inputs, converted.outputs, _is_generated=True)
    return converted


def pipefunc_to_pipemap_function(f: Any, *, cls: type[PipeFunc] = PipeFunc) -> PipeFunc:
    """Convert one `pipefunc.PipeFunc` (raises `UnsupportedPipefuncFeature` for what cannot carry over).

    >>> import pipefunc
    >>> pf = pipefunc.PipeFunc(lambda a, b=1: a + b, "c", renames={"a": "x"}, bound={"b": 2})
    >>> g = pipefunc_to_pipemap_function(pf)
    >>> type(g).__module__, g.parameters, g(x=1)
    ('pipemap.runner.model._pipefunc', ('x', 'b'), 3)
    """
    pf = _import_pipefunc()
    where = str(f)
    if isinstance(f, pf.NestedPipeFunc):
        raise _unsupported("`NestedPipeFunc`", where, "Convert the functions it combines separately.")
    if not isinstance(f, pf.PipeFunc):
        msg = f"Expected a `pipefunc.PipeFunc`, got {type(f).__module__}.{type(f).__name__}: {f!r}"
        raise TypeError(msg)
    if getattr(f, "variant", None):
        raise _unsupported("variants (`variant=`)", where, "Select one with `VariantPipeline.with_variant` first.")
    if getattr(f, "resources_variable", None) is not None:
        raise _unsupported("`resources_variable`", where)
    if getattr(f, "post_execution_hook", None) is not None:
        raise _unsupported("`post_execution_hook`", where)
    if getattr(f, "resources_scope", "map") != "map":
        _warn_ignored(f"`resources_scope={f.resources_scope!r}`", where)
    return cls(
        f.func,
        f._output_name,
        output_picker=f._output_picker,
        renames=dict(f.renames),
        defaults=dict(f._defaults),
        bound=dict(f._bound),
        profile=bool(f.profile),
        debug=bool(f.debug),
        print_error=bool(getattr(f, "print_error", True)),
        cache=bool(f.cache),
        mapspec=_mapspec(f.mapspec),
        internal_shape=f.internal_shape,
        resources=_resources(f.resources, where),
    )


def from_pipefunc(pipeline: Any, *, cls: type[Pipeline] = Pipeline) -> Pipeline:
    """Convert a `pipefunc.Pipeline` into a pipemap `Pipeline` (see the module docstring).

    >>> import pipefunc
    >>> p = pipefunc.Pipeline([pipefunc.PipeFunc(lambda a: a + 1, "b")])
    >>> from_pipefunc(p)("b", a=1)
    2
    """
    pf = _import_pipefunc()
    if isinstance(pipeline, Pipeline):
        return pipeline.copy()
    variant_cls = getattr(pf, "VariantPipeline", None)
    if variant_cls is not None and isinstance(pipeline, variant_cls):
        raise _unsupported("`VariantPipeline`", "pipeline", "Call `.with_variant(...)` first to get a `Pipeline`.")
    if not isinstance(pipeline, pf.Pipeline):
        msg = f"Expected a `pipefunc.Pipeline`, got {type(pipeline).__module__}.{type(pipeline).__name__}."
        raise TypeError(msg)
    functions = [pipefunc_to_pipemap_function(f) for f in pipeline.functions]
    if getattr(pipeline, "_cache_type", None) is not None:
        _warn_ignored(f"the pipeline cache (`cache_type={pipeline._cache_type!r}`)", "pipeline")
    if any(f.cache for f in functions):
        names = ", ".join(str(f) for f in functions if f.cache)
        _warn_ignored("`cache=True` (results are not cached)", names)
    if getattr(pipeline, "lazy", False):
        _warn_ignored("`lazy=True`", "pipeline")
    return cls(
        functions,
        lazy=bool(getattr(pipeline, "lazy", False)),
        debug=getattr(pipeline, "_debug", None),
        profile=getattr(pipeline, "_profile", None),
        print_error=getattr(pipeline, "_print_error", None),
        validate_type_annotations=bool(getattr(pipeline, "validate_type_annotations", False)),
        name=getattr(pipeline, "name", None),
        description=getattr(pipeline, "description", None),
    )

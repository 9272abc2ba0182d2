"""The conversion of pipefunc objects, written without the model classes (they are passed in), so
that `PipeFunc.from_pipefunc` and `Pipeline.from_pipefunc` can use it without an import cycle.
``model._from_pipefunc`` is the entry point with the defaults (its docstring says what carries
over); pipefunc itself is optional and imported only here, lazily.

>>> _unsupported("`NestedPipeFunc`", "f")
UnsupportedPipefuncFeature('pipemap does not support `NestedPipeFunc` (in `f`).')
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from typing import TYPE_CHECKING, Any

from pipemap.mapspec import MapSpec

if TYPE_CHECKING:
    import types

    import pipefunc
    from pipemap.runner.model._pipefunc import PipeFunc
    from pipemap.runner.model._pipeline import Pipeline

__all__ = ["UnsupportedPipefuncFeature", "function_from_pipefunc", "pipeline_from_pipefunc", "without_snapshot"]


class UnsupportedPipefuncFeature(NotImplementedError):
    """A pipefunc feature pipemap cannot reproduce; the message names it and the function.

    >>> issubclass(UnsupportedPipefuncFeature, NotImplementedError)
    True
    """


def _import_pipefunc() -> types.ModuleType:
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


def _resources(resources: object, where: str) -> object:
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


def without_snapshot(source: object) -> object:
    """A shallow copy of a pipefunc ``PipeFunc`` without its ``error_snapshot`` (what a pickled
    converted function carries to workers: an earlier run's snapshot may hold large arguments)."""
    if source is None or getattr(source, "error_snapshot", None) is None:
        return source
    try:
        detached = copy.copy(source)
        detached.error_snapshot = None  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - only a convenience for skipped_function in workers
        return None
    return detached


def _mapspec(spec: object) -> MapSpec | None:
    if spec is None:
        return None
    converted = MapSpec.from_string(str(spec))
    if getattr(spec, "_is_generated", False):
        converted = MapSpec(converted.inputs, converted.outputs, _is_generated=True)
    return converted


def function_from_pipefunc(f: pipefunc.PipeFunc, cls: type[PipeFunc]) -> PipeFunc:
    """Convert one `pipefunc.PipeFunc` into ``cls`` (raises `UnsupportedPipefuncFeature` for what
    cannot carry over)."""
    pf = _import_pipefunc()
    where = str(f)
    if isinstance(f, pf.NestedPipeFunc):
        from pipemap.runner.model._from_pipefunc_nested import nested_from_pipefunc  # (import cycle)

        return nested_from_pipefunc(f)
    if not isinstance(f, pf.PipeFunc):
        msg = f"Expected a `pipefunc.PipeFunc`, got {type(f).__module__}.{type(f).__name__}: {f!r}"
        raise TypeError(msg)
    if getattr(f, "variant", None):
        raise _unsupported("variants (`variant=`)", where, "Select one with `VariantPipeline.with_variant` first.")
    if getattr(f, "post_execution_hook", None) is not None:
        raise _unsupported("`post_execution_hook`", where)
    variable = getattr(f, "resources_variable", None)
    converted = cls(
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
        resources=f.resources if variable is not None else _resources(f.resources, where),  # passed as given
        resources_variable=variable,
        resources_scope=getattr(f, "resources_scope", "map"),
    )
    converted.pipefunc_source = f  # error snapshots go to the user's function too
    return converted


def pipeline_from_pipefunc(
    pipeline: pipefunc.Pipeline | Pipeline, cls: type[Pipeline], function_cls: type[PipeFunc], base: type[Pipeline]
) -> Pipeline:
    """Convert a `pipefunc.Pipeline` into ``cls`` (a pipemap ``base`` is copied), its functions into
    ``function_cls``."""
    pf = _import_pipefunc()
    if isinstance(pipeline, base):
        return pipeline.copy()
    variant_cls = getattr(pf, "VariantPipeline", None)
    if variant_cls is not None and isinstance(pipeline, variant_cls):
        raise _unsupported("`VariantPipeline`", "pipeline", "Call `.with_variant(...)` first to get a `Pipeline`.")
    if not isinstance(pipeline, pf.Pipeline):
        msg = f"Expected a `pipefunc.Pipeline`, got {type(pipeline).__module__}.{type(pipeline).__name__}."
        raise TypeError(msg)
    functions = [function_from_pipefunc(f, function_cls) for f in pipeline.functions]
    if getattr(pipeline, "lazy", False):
        _warn_ignored("`lazy=True`", "pipeline")
    converted = cls(
        functions,
        cache_type=getattr(pipeline, "_cache_type", None),
        cache_kwargs=getattr(pipeline, "_cache_kwargs", None),
        lazy=bool(getattr(pipeline, "lazy", False)),
        debug=getattr(pipeline, "_debug", None),
        profile=getattr(pipeline, "_profile", None),
        print_error=getattr(pipeline, "_print_error", None),
        validate_type_annotations=bool(getattr(pipeline, "validate_type_annotations", False)),
        name=getattr(pipeline, "name", None),
        description=getattr(pipeline, "description", None),
    )
    from pipemap.runner.model._cache import cache_of  # (pipeline-level results cache: item 19)

    converted.__dict__["_results_cache"] = cache_of(pipeline, lambda: converted.cache)  # runs of `pipeline` share it
    return converted

"""Initial shapes of a run (docs/behaviour.md §2.3) and run-time resolution of ``"?"`` sizes (docs/behaviour.md §2.4).

>>> from pipemap.mapspec import MapSpec
>>> shapes, masks = shapes_from_specs(
...     [MapSpec.from_string("x[i] -> y[i]")], {"x": (4,)}, {}
... )
>>> shapes["y"], masks["y"]
((4,), (True,))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipemap.mapspec import (
    MapSpec,
    RaggedPlan,
    array_shape,
    external_shape_from_mask,
    internal_shape_from_mask,
    shape_and_mask_from_mapspec,
    shape_is_resolved,
)

if TYPE_CHECKING:
    from pipemap.runner.model._pipeline import Pipeline

ShapeTuple = tuple[Any, ...]
OutputKey = str | tuple[str, ...]


def at_least_tuple(x: object) -> tuple:
    return x if isinstance(x, tuple) else (x,)


def normalize_internal_shapes(internal_shapes: Mapping[str, object] | None) -> dict[str, tuple]:
    """``{"y": 3}`` -> ``{"y": (3,)}``; ``"?"`` -> ``("?",)``."""
    return {k: at_least_tuple(v) if not isinstance(v, list) else tuple(v) for k, v in (internal_shapes or {}).items()}


def shapes_from_specs(
    specs: Sequence[MapSpec],
    root_shapes: Mapping[str, ShapeTuple],
    internal_shapes: Mapping[str, object] | None,
    function_names: Sequence[str] | None = None,
    ragged: RaggedPlan | None = None,
) -> tuple[dict[OutputKey, ShapeTuple], dict[OutputKey, tuple[bool, ...]]]:
    """Shapes of root arrays and every mapspec output, ``specs`` in topological order
    (``function_names``, parallel to ``specs``, are named in errors; ``ragged``: the run's ragged
    arrays, whose functions' shapes come from their flat mapspecs)."""
    internal = normalize_internal_shapes(internal_shapes)
    shapes: dict[OutputKey, ShapeTuple] = dict(root_shapes.items())
    masks: dict[OutputKey, tuple[bool, ...]] = {k: (True,) * len(v) for k, v in root_shapes.items()}
    for k, spec in enumerate(specs):
        try:
            if ragged:
                flat_spec, view = ragged.shape_view(spec, shapes, {})
                shape, mask = shape_and_mask_from_mapspec(flat_spec, view, internal)
            else:
                shape, mask = shape_and_mask_from_mapspec(spec, shapes, internal)
        except (ValueError, TypeError) as exc:
            if function_names is not None:
                exc.add_note(f"While computing the shape of the outputs of function `{function_names[k]}` (mapspec `{spec}`).")
            raise
        names = spec.output_names
        key: OutputKey = names if len(names) > 1 else names[0]
        shapes[key] = shape
        masks[key] = mask
        if len(names) > 1:
            for name in names:
                shapes[name] = shape
                masks[name] = mask
    return shapes, masks


def map_shapes(
    pipeline: Pipeline,
    inputs: Mapping[str, object],
    internal_shapes: Mapping[str, object] | None,
) -> tuple[dict[OutputKey, ShapeTuple], dict[OutputKey, tuple[bool, ...]]]:
    """docs/behaviour.md §2.3: shapes of mapped root arguments (from ``defaults | inputs``) and of every output."""
    values = {**pipeline.defaults, **inputs}
    names = set(pipeline.mapspec_names)
    root_shapes = {}
    for p in pipeline.topological_generations[0]:
        if p not in names or p not in values:
            continue
        try:
            root_shapes[p] = array_shape(values[p], p)
        except TypeError as exc:
            users = [f"`{f.__name__}` ({f.mapspec})" for f in pipeline.functions if f.mapspec and p in f.mapspec.input_names]
            exc.add_note(f"Input `{p}` is mapped over by {', '.join(users)}: pass a list, a range or a numpy array.")
            raise
    funcs = [f for f in pipeline.sorted_functions if f.mapspec is not None]
    specs = [f.mapspec for f in funcs if f.mapspec is not None]
    function_names = [f.__name__ for f in funcs]
    ragged = RaggedPlan.from_specs(specs, function_names)
    return shapes_from_specs(specs, root_shapes, internal_shapes, function_names, ragged)


def _internal_of(shapes: Mapping[OutputKey, ShapeTuple], masks: Mapping[OutputKey, tuple[bool, ...]]) -> dict[str, ShapeTuple]:
    return {
        name: internal_shape_from_mask(shape, masks[name])
        for name, shape in shapes.items()
        if not isinstance(name, tuple) and not all(masks[name])
    }


def resolve_downstream(
    resolved_shapes: dict[OutputKey, ShapeTuple],
    masks: Mapping[OutputKey, tuple[bool, ...]],
    specs: Sequence[MapSpec],
    known: Mapping[str, ShapeTuple],
    ragged: RaggedPlan | None = None,
    totals: Mapping[str, int] | None = None,
) -> list[OutputKey]:
    """Recompute every unresolved shape (``specs`` topological) after the full shapes in ``known``
    (output name -> full shape) became known; return the keys whose shape changed. ``totals``:
    the element counts of the ragged arrays whose rows are known (by producer output)."""
    changed: list[OutputKey] = []
    for name, shape in known.items():
        if name in resolved_shapes and tuple(resolved_shapes[name]) != tuple(shape):
            resolved_shapes[name] = tuple(shape)
            changed.append(name)
    spec_of = {n: spec for spec in specs for n in spec.output_names}
    for key in list(resolved_shapes):
        if shape_is_resolved(resolved_shapes[key]):
            continue
        first = key[0] if isinstance(key, tuple) else key
        spec = spec_of.get(first)
        if spec is None or not spec.inputs:
            continue
        internal = _internal_of(resolved_shapes, masks)
        if ragged:
            flat_spec, view = ragged.shape_view(spec, resolved_shapes, totals or {})
            new_shape, _ = shape_and_mask_from_mapspec(flat_spec, view, internal)
        else:
            new_shape, _ = shape_and_mask_from_mapspec(spec, resolved_shapes, internal)
        if tuple(new_shape) != tuple(resolved_shapes[key]):
            resolved_shapes[key] = tuple(new_shape)
            changed.append(key)
            for n in spec.output_names:
                if n != key and n in resolved_shapes and tuple(resolved_shapes[n]) != tuple(new_shape):
                    resolved_shapes[n] = tuple(new_shape)
                    changed.append(n)
    return changed


__all__ = [
    "at_least_tuple",
    "external_shape_from_mask",
    "internal_shape_from_mask",
    "map_shapes",
    "normalize_internal_shapes",
    "resolve_downstream",
    "shapes_from_specs",
]

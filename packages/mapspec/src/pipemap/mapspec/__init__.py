"""pipemap.mapspec: the mapspec grammar, shape algebra and compiled index math.

A mapspec such as ``"x[i], y[j] -> z[i, j]"`` says how the axes of a function's inputs map to the
axes of its outputs. This package parses and validates mapspecs, computes shapes (with ``"?"`` for
sizes not known yet), and turns linear element indices into input/output keys, one at a time or in
bulk through compiled kernels.

>>> from pipemap.mapspec import MapSpec
>>> spec = MapSpec.from_string("x[i], y[j] -> z[i, j]")
>>> spec.shape({"x": (3,), "y": (2,)})
((3, 2), (True, True))
>>> spec.input_keys((3, 2), 5)
{'x': (2,), 'y': (1,)}
"""

from __future__ import annotations

from pipemap.mapspec._errors import MapSpecError, ShapeError
from pipemap.mapspec._mapspec import ArraySpec, MapSpec
from pipemap.mapspec._pipeline_specs import (
    axis_sizes,
    mapspec_axes,
    mapspec_dimensions,
    trace_dependencies,
    validate_consistent_axes,
)
from pipemap.mapspec._shapes import (
    UNKNOWN,
    ShapeTuple,
    array_shape,
    external_shape_from_mask,
    internal_shape_from_mask,
    mapspec_shape,
    merge_shape,
    shape_and_mask_from_mapspec,
    shape_is_resolved,
    shape_size,
    shape_strides,
)
from pipemap.mapspec.ragged import RaggedLayout
from pipemap.mapspec.ragged_plan import RaggedArray, RaggedPlan

__all__ = [
    "UNKNOWN",
    "ArraySpec",
    "MapSpec",
    "MapSpecError",
    "RaggedArray",
    "RaggedLayout",
    "RaggedPlan",
    "ShapeError",
    "ShapeTuple",
    "array_shape",
    "axis_sizes",
    "external_shape_from_mask",
    "internal_shape_from_mask",
    "mapspec_axes",
    "mapspec_dimensions",
    "mapspec_shape",
    "merge_shape",
    "shape_and_mask_from_mapspec",
    "shape_is_resolved",
    "shape_size",
    "shape_strides",
    "trace_dependencies",
    "validate_consistent_axes",
]

try:  # the batched plan is added by the kernels' Python layer
    from pipemap.mapspec.index_plan import IndexPlan

    __all__ += ["IndexPlan"]
except ImportError:  # pragma: no cover - only while index_plan.py is being written
    pass

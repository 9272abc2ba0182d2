"""Shape algebra with unknown (``"?"``) sizes: array shapes, mapspec output shapes, masks."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar, overload

from pipemap.mapspec._errors import ShapeError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pipemap.mapspec._mapspec import MapSpec

__all__ = [
    "UNKNOWN",
    "ShapeTuple",
    "array_shape",
    "external_shape_from_mask",
    "internal_shape_from_mask",
    "mapspec_shape",
    "merge_shape",
    "shape_and_mask_from_mapspec",
    "shape_is_resolved",
    "shape_size",
    "shape_strides",
]

UNKNOWN = "?"
"""Stands for a dimension whose size is not known yet."""

ShapeTuple = tuple[int | str, ...]

_Dim = TypeVar("_Dim", bound=int | str)  # a dimension: a size, or "?" where unknown


@overload
def shape_is_resolved(shape: tuple[int | str, ...]) -> TypeGuard[tuple[int, ...]]: ...
@overload
def shape_is_resolved(shape: Sequence[int | str]) -> TypeGuard[Sequence[int]]: ...
def shape_is_resolved(shape: Sequence[int | str]) -> bool:
    """True when no dimension is ``"?"`` (to a type checker: the shape holds only ints).

    Parameters
    ----------
    shape : sequence of (int or str)
        A shape, possibly with ``"?"`` for unknown sizes.

    Examples
    --------
    >>> shape_is_resolved((2, 3)), shape_is_resolved((2, "?"))
    (True, False)
    """
    return all(isinstance(dim, int) for dim in shape)


def shape_size(shape: Sequence[int | str]) -> int:
    """The number of elements of a resolved shape.

    Parameters
    ----------
    shape : sequence of int
        A resolved shape (``()`` has one element).

    Examples
    --------
    >>> shape_size((2, 3))
    6
    """
    if not shape_is_resolved(shape):
        msg = f"Cannot compute the size of the unresolved shape {tuple(shape)}."
        raise ShapeError(msg)
    return math.prod(shape)


def shape_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """C-order strides in elements: ``stride_k = prod(shape[k+1:])``.

    Parameters
    ----------
    shape : sequence of int
        A resolved shape.

    Returns
    -------
    tuple of int
        One stride per axis; linear index ``n`` has key ``(n // stride_k) % shape_k`` on axis ``k``.

    Examples
    --------
    >>> shape_strides((3, 4, 5))
    (20, 5, 1)
    """
    strides = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        strides[k] = strides[k + 1] * int(shape[k + 1])
    return tuple(strides)


def external_shape_from_mask(shape: Sequence[_Dim], mask: Sequence[bool]) -> tuple[_Dim, ...]:
    """The entries of a full shape on external axes (mask True).

    Parameters
    ----------
    shape : sequence of (int or str)
        A full shape (external and internal axes).
    mask : sequence of bool
        The shape mask: True for an external axis, False for an internal one.

    Returns
    -------
    tuple
        The external sizes, in order.

    Examples
    --------
    >>> external_shape_from_mask((3, 2, 4), (False, True, False))
    (2,)
    """
    _check_mask(shape, mask)
    return tuple(s for s, m in zip(shape, mask, strict=True) if m)


def internal_shape_from_mask(shape: Sequence[_Dim], mask: Sequence[bool]) -> tuple[_Dim, ...]:
    """The entries of a full shape on internal axes (mask False).

    Parameters
    ----------
    shape : sequence of (int or str)
        A full shape (external and internal axes).
    mask : sequence of bool
        The shape mask: True for an external axis, False for an internal one.

    Returns
    -------
    tuple
        The internal sizes, in order.

    Examples
    --------
    >>> internal_shape_from_mask((3, 2, 4), (False, True, False))
    (3, 4)
    """
    _check_mask(shape, mask)
    return tuple(s for s, m in zip(shape, mask, strict=True) if not m)


def merge_shape(
    external: Sequence[int | str], internal: Sequence[int | str], mask: Sequence[bool]
) -> ShapeTuple:
    """Interleave external and internal sizes by the mask into the full shape.

    Parameters
    ----------
    external : sequence of (int or str)
        The sizes of the external axes, in order.
    internal : sequence of (int or str)
        The sizes of the internal axes, in order.
    mask : sequence of bool
        The shape mask: True where the next external size goes, False for the next internal one.

    Returns
    -------
    tuple
        The full shape.

    Examples
    --------
    >>> merge_shape((2,), (3, 4), (False, True, False))
    (3, 2, 4)
    """
    ext, inner = iter(external), iter(internal)
    n_ext = sum(1 for m in mask if m)
    if n_ext != len(external) or len(mask) - n_ext != len(internal):
        msg = (
            f"Cannot merge external shape {tuple(external)} and internal shape "
            f"{tuple(internal)} with shape mask {tuple(mask)}."
        )
        raise ShapeError(msg)
    return tuple(next(ext) if m else next(inner) for m in mask)


def _check_mask(shape: Sequence[Any], mask: Sequence[bool]) -> None:
    if len(shape) != len(mask):
        msg = f"Shape {tuple(shape)} and shape mask {tuple(mask)} have different lengths."
        raise ShapeError(msg)


def array_shape(x: Any, name: str = "x") -> ShapeTuple:
    """The shape used to map over ``x``: ``.shape`` if present, ``(len(x),)`` for lists and ranges.

    Parameters
    ----------
    x : Any
        A value mapped over: a numpy array, a pandas object, a storage, a list or a range.
    name : str, default "x"
        The name used in the error message.

    Returns
    -------
    tuple
        The shape (nested lists count as one-dimensional).

    Raises
    ------
    TypeError
        If ``x`` has no shape (a tuple, a scalar, ...).

    Examples
    --------
    >>> array_shape([[1, 2], [3, 4]]), array_shape(range(3))
    ((2,), (3,))
    >>> array_shape((1, 2))
    Traceback (most recent call last):
    ...
    TypeError: No array shape defined for `x` of type <class 'tuple'>
    """
    shape = getattr(x, "shape", None)
    if shape is not None:
        return tuple(shape)
    if isinstance(x, list | range):
        return (len(x),)
    msg = f"No array shape defined for `{name}` of type {type(x)}"
    raise TypeError(msg)


def mapspec_shape(
    spec: MapSpec,
    input_shapes: Mapping[str, Sequence[int | str]],
    internal_shapes: Mapping[str, Sequence[int | str]] | None = None,
) -> tuple[ShapeTuple, tuple[bool, ...]]:
    """The full output shape and mask of ``spec`` (docs/behaviour.md §1.5); see ``MapSpec.shape``.

    Parameters
    ----------
    spec : MapSpec
        The mapspec.
    input_shapes : mapping of str to shape
        The shape of every input of ``spec`` (``"?"`` for unknown sizes).
    internal_shapes : mapping of str to shape, optional
        The internal sizes of outputs with internal axes, by output name (missing: ``"?"``).

    Returns
    -------
    tuple
        ``(shape, mask)``: the full shape of the first output and its mask (True = external axis).

    Examples
    --------
    >>> from pipemap.mapspec import MapSpec
    >>> mapspec_shape(MapSpec.from_string("x[i], y[j] -> z[i, j]"), {"x": (3,), "y": ("?",)})
    ((3, '?'), (True, True))
    """
    internal_shapes = internal_shapes or {}
    names = set(spec.input_names)
    extra = set(input_shapes) - names
    if extra:
        msg = f"Got extra array(s) {extra} that are not accepted by this map. Mapspec: `{spec}`."
        raise ShapeError(msg)
    missing = names - set(input_shapes)
    if missing:
        msg = f"Inputs expected by this map were not provided: {missing} (mapspec `{spec}`)."
        raise ShapeError(msg)
    for key in internal_shapes:
        if key not in spec.output_names:
            msg = f"Internal shape of `{key}` is not accepted by this map. Mapspec: `{spec}`."
            raise ShapeError(msg)
    for array in spec.inputs:
        array.validate(tuple(input_shapes[array.name]))

    first = spec.outputs[0]
    has_internal_key = first.name in internal_shapes
    internal: Sequence[object] = ()
    if has_internal_key and len(first.axes) > len(spec.external_indices):
        # read only for an output with internal axes: other entries are ignored, as in pipefunc
        value = internal_shapes[first.name]
        internal = tuple(value) if isinstance(value, list | tuple) else (value,)
    used = spec.input_indices
    shape: list[int | str] = []
    mask: list[bool] = []
    n_internal = 0
    for axis in first.axes:
        if axis in used:
            shape.append(_common_size(spec, axis, input_shapes))
            mask.append(True)
            continue
        if not has_internal_key:
            shape.append(UNKNOWN)
        elif n_internal >= len(internal):
            n = len(first.axes) - len(spec.external_indices)
            msg = (
                f"Internal shape for '{first.name}' is too short. Mapspec `{spec}` has {n} internal"
                f" {'axis' if n == 1 else 'axes'}, the internal shape is {tuple(internal)!r}."
            )
            raise ShapeError(msg)
        else:
            dim = internal[n_internal]
            if not (dim == UNKNOWN or (isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0)):
                msg = (
                    f"Internal shape for '{first.name}' must be a tuple of integers or '?'."
                    f" Got {internal_shapes[first.name]!r} (mapspec `{spec}`)."
                )
                raise TypeError(msg)
            shape.append(dim)
        n_internal += 1
        mask.append(False)
    return tuple(shape), tuple(mask)


def _common_size(spec: MapSpec, axis: str, input_shapes: Mapping[str, Sequence[int | str]]) -> int | str:
    sizes: dict[str, int] = {}
    for array in spec.inputs:
        if axis in array.axes:
            dim = input_shapes[array.name][array.axes.index(axis)]
            if dim != UNKNOWN:
                sizes[array.name] = int(dim)
    if not sizes:
        return UNKNOWN
    if len(set(sizes.values())) > 1:
        names = ", ".join(sizes)
        detail = ", ".join(f"{k}: {v}" for k, v in sizes.items())
        msg = f"Dimension mismatch for arrays `{names}` along `{axis}` axis. Lengths: {detail} (mapspec `{spec}`)."
        raise ShapeError(msg)
    return next(iter(sizes.values()))


def shape_and_mask_from_mapspec(
    spec: MapSpec,
    shapes: Mapping[Any, Sequence[int | str]],
    internal_shapes: Mapping[str, Sequence[int | str]] | None = None,
) -> tuple[ShapeTuple, tuple[bool, ...]]:
    """``spec.shape`` with the input shapes picked from a dict of all known shapes.

    Parameters
    ----------
    spec : MapSpec
        The mapspec.
    shapes : mapping
        Known shapes; it may hold other keys too (a runner's tuple keys of multi-output
        functions): only the names of the spec's inputs are looked up.
    internal_shapes : mapping of str to shape, optional
        The internal sizes of outputs with internal axes, by output name.

    Returns
    -------
    tuple
        ``(shape, mask)`` of the spec's first output.

    Examples
    --------
    >>> from pipemap.mapspec import MapSpec
    >>> spec = MapSpec.from_string("x[i] -> y[i]")
    >>> shape_and_mask_from_mapspec(spec, {"x": (4,), "w": (2,)})
    ((4,), (True,))
    """
    input_shapes = {name: shapes[name] for name in spec.input_names if name in shapes}
    internal = None
    if internal_shapes:
        internal = {k: v for k, v in internal_shapes.items() if k in spec.output_names}
    return mapspec_shape(spec, input_shapes, internal)

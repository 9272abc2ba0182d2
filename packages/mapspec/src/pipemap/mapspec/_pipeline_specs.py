"""Helpers over the mapspecs of a whole pipeline: consistency, axes per array, dependency tracing."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from pipemap.mapspec._errors import MapSpecError, ShapeError
from pipemap.mapspec._shapes import UNKNOWN

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from pipemap.mapspec._mapspec import MapSpec

__all__ = [
    "axis_sizes",
    "mapspec_axes",
    "mapspec_dimensions",
    "trace_dependencies",
    "validate_consistent_axes",
]


def _all_arrays(specs: Iterable[MapSpec]):  # noqa: ANN202
    for spec in specs:
        yield from ((spec, a) for a in (*spec.inputs, *spec.outputs))


def validate_consistent_axes(specs: Sequence[MapSpec]) -> None:
    """Check that each array has one rank and one axis name per position across all specs.

    ``:`` is compatible with any name.

    Parameters
    ----------
    specs : sequence of MapSpec
        The mapspecs of a pipeline.

    Raises
    ------
    MapSpecError
        Naming the array and the two specs that conflict.

    Examples
    --------
    >>> from pipemap.mapspec import MapSpec
    >>> validate_consistent_axes([MapSpec.from_string("a[i] -> f[i]"), MapSpec.from_string("a[i, j] -> g[i, j]")])
    Traceback (most recent call last):
    ...
    pipemap.mapspec._errors.MapSpecError: MapSpec axes for `a` are inconsistent: a[i], a[i, j]. All axes should have the same length. Conflict: a[i] (in `a[i] -> f[i]`) vs a[i, j] (in `a[i, j] -> g[i, j]`).
    """
    seen: dict[str, tuple[object, object]] = {}
    for spec, array in _all_arrays(specs):
        if array.name not in seen:
            seen[array.name] = (spec, array)
            continue
        first_spec, first = seen[array.name]
        where = f"{first} (in `{first_spec}`) vs {array} (in `{spec}`)"
        if first.rank != array.rank:  # type: ignore[attr-defined]
            msg = (
                f"MapSpec axes for `{array.name}` are inconsistent: {_listing(specs, array.name)}. "
                f"All axes should have the same length. Conflict: {where}."
            )
            raise MapSpecError(msg)
        for a, b in zip(first.axes, array.axes, strict=True):  # type: ignore[attr-defined]
            if a is not None and b is not None and a != b:
                msg = (
                    f"MapSpec axes for `{array.name}` are inconsistent: {_listing(specs, array.name)}. "
                    f"All axes should have the same name at the same index. Conflict: {where}."
                )
                raise MapSpecError(msg)
        if any(a is None for a in first.axes) and any(b is not None for b in array.axes):  # type: ignore[attr-defined]
            # keep the most informative (named) version for later comparisons
            merged = tuple(a if a is not None else b for a, b in zip(first.axes, array.axes, strict=True))  # type: ignore[attr-defined]
            seen[array.name] = (first_spec, type(array)(array.name, merged))


def _listing(specs: Sequence[MapSpec], name: str) -> str:
    """Every distinct way ``name`` is written in ``specs``, as pipefunc lists them (first seen first)."""
    return ", ".join(dict.fromkeys(str(array) for _, array in _all_arrays(specs) if array.name == name))


def mapspec_axes(specs: Sequence[MapSpec]) -> dict[str, tuple[str | None, ...]]:
    """The axes of every array, each position named by any spec that names it.

    Parameters
    ----------
    specs : sequence of MapSpec
        The mapspecs of a pipeline.

    Returns
    -------
    dict of str to tuple
        ``{array name: axes}``, ``None`` where no spec names a position.

    Examples
    --------
    >>> from pipemap.mapspec import MapSpec
    >>> mapspec_axes([MapSpec.from_string("a[i, :] -> b[i]"), MapSpec.from_string("a[:, j] -> c[j]")])
    {'a': ('i', 'j'), 'b': ('i',), 'c': ('j',)}
    """
    axes: dict[str, list[str | None]] = {}
    for _, array in _all_arrays(specs):
        current = axes.setdefault(array.name, list(array.axes))
        if len(current) != len(array.axes):
            msg = f"MapSpec axes for `{array.name}` are inconsistent. All axes should have the same length."
            raise MapSpecError(msg)
        for k, axis in enumerate(array.axes):
            if current[k] is None:
                current[k] = axis
    return {name: tuple(ax) for name, ax in axes.items()}


def mapspec_dimensions(specs: Sequence[MapSpec]) -> dict[str, int]:
    """The rank of every array named in any spec.

    Parameters
    ----------
    specs : sequence of MapSpec
        The mapspecs of a pipeline.

    Returns
    -------
    dict of str to int
        ``{array name: number of axes}``.

    Examples
    --------
    >>> from pipemap.mapspec import MapSpec
    >>> mapspec_dimensions([MapSpec.from_string("x[i], y[j] -> z[i, j]")])
    {'x': 1, 'y': 1, 'z': 2}
    """
    return {name: len(axes) for name, axes in mapspec_axes(specs).items()}


def trace_dependencies(specs: Sequence[MapSpec]) -> dict[str, dict[str, tuple[str, ...]]]:
    """For each output of a spec with inputs: {source array: the source's axes it keeps}.

    Sources are arrays not produced by a spec with inputs (root inputs, generator outputs).
    Axes are followed through intermediates; reduced axes vanish.

    Parameters
    ----------
    specs : sequence of MapSpec
        The mapspecs of a pipeline.

    Returns
    -------
    dict
        ``{output name: {source name: axes}}``.

    Examples
    --------
    >>> from pipemap.mapspec import MapSpec
    >>> specs = [MapSpec.from_string(s) for s in
    ...          ["a[i], b[j] -> x[i, j]", "x[i, j], c[k] -> y[i, j, k]", "y[i, :, k] -> z[k, i]"]]
    >>> trace_dependencies(specs)["z"]
    {'a': ('i',), 'c': ('k',)}
    """
    producer: dict[str, MapSpec] = {}
    for spec in specs:
        if spec.inputs:
            for name in spec.output_names:
                producer[name] = spec
    full_axes = mapspec_axes(specs)
    cache: dict[str, dict[str, set[str]]] = {}

    def sources_by_axis(name: str) -> dict[str, set[str]]:
        # {axis: sources reaching this output along it}, axes in order of first appearance
        if name in cache:
            return cache[name]
        by_axis: dict[str, set[str]] = {}
        for array in producer[name].inputs:
            upstream = sources_by_axis(array.name) if array.name in producer else None
            for axis in array.indices:
                if upstream is None:
                    by_axis.setdefault(axis, set()).add(array.name)
                elif axis in upstream:  # axis names are global; ':' slots are reductions
                    by_axis.setdefault(axis, set()).update(upstream[axis])
        cache[name] = by_axis
        return by_axis

    deps: dict[str, dict[str, tuple[str, ...]]] = {}
    for name in producer:
        kept: dict[str, set[str]] = {}
        for axis, sources in sources_by_axis(name).items():
            for source in sorted(sources):  # sorted per axis: zipped names join in this order
                kept.setdefault(source, set()).add(axis)
        deps[name] = {
            source: tuple(a for a in full_axes[source] if a in axes) for source, axes in kept.items()
        }
    return deps


def axis_sizes(
    specs: Sequence[MapSpec], shapes: Mapping[str, Sequence[int | str]]
) -> dict[str, int | str]:
    """The size of every named axis, checking that zipped arrays agree.

    Parameters
    ----------
    specs : sequence of MapSpec
        The mapspecs of a pipeline.
    shapes : mapping of str to shape
        Known array shapes by name (``"?"`` for unknown sizes); arrays not in it are skipped.

    Returns
    -------
    dict of str to (int or str)
        ``{axis name: size}`` (``"?"`` where no array fixes the size).

    Raises
    ------
    ShapeError
        If two arrays disagree on the size of an axis.

    Examples
    --------
    >>> from pipemap.mapspec import MapSpec
    >>> axis_sizes([MapSpec.from_string("x[i], y[i] -> z[i]")], {"x": (3,), "y": (3,)})
    {'i': 3}
    >>> axis_sizes([MapSpec.from_string("x[i], y[i] -> z[i]")], {"x": (3,), "y": (4,)})
    Traceback (most recent call last):
    ...
    pipemap.mapspec._errors.ShapeError: Dimension mismatch along axis `i`: `x` has length 3 but `y` has length 4 (mapspec `x[i], y[i] -> z[i]`).
    """
    sizes: dict[str, tuple[int | str, str, MapSpec]] = {}
    for spec, array in _all_arrays(specs):
        shape = shapes.get(array.name)
        if shape is None:
            continue
        array.validate(tuple(shape))
        for axis, dim in zip(array.axes, shape, strict=True):
            if axis is None or dim == UNKNOWN:
                continue
            if axis not in sizes or sizes[axis][0] == UNKNOWN:
                sizes[axis] = (dim, array.name, spec)
            elif sizes[axis][0] != dim:
                other_dim, other, _ = sizes[axis]
                msg = (
                    f"Dimension mismatch along axis `{axis}`: `{other}` has length {other_dim} "
                    f"but `{array.name}` has length {dim} (mapspec `{spec}`)."
                )
                raise ShapeError(msg)
    return {axis: value[0] for axis, value in sizes.items()}

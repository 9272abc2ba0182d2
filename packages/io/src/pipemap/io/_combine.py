"""Combine the presentation models of several run folders of one pipeline into one.

Two runs of the same pipeline over different (overlapping, grown, refined or reordered) grids
are aligned by the values of their input coordinates: the result spans the union of the labels
along every axis, and each element comes from the first folder that has it. Where two folders
both hold an element, the values must agree (numbers within a relative 1e-9), otherwise the
combination is refused with the output, the folders and the element named: a reduction over an
axis that grew between the runs is the usual culprit, and loading it from one folder the way on.

>>> import numpy as np
>>> from pipemap.io._model import build_model
>>> a = build_model(["x[i] -> y[i]"], {"x": [1, 2]}, {"y": np.array([10, 20])})
>>> b = build_model(["x[i] -> y[i]"], {"x": [2, 3]}, {"y": np.array([20, 30])})
>>> both = combine_models([a, b], ["a", "b"])
>>> both.coords["x"].combined().tolist(), both.variables["y"].data.tolist()
([1, 2, 3], [10, 20, 30])
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._arrays import typed_values
from ._model import Coordinate, Model, Variable

__all__ = ["RunFolderConflictError", "combine_models"]


class RunFolderConflictError(ValueError):
    """Run folders that cannot be combined: different layouts, or different values for one element.

    >>> issubclass(RunFolderConflictError, ValueError)
    True
    """


@dataclass
class _Axis:
    """How one axis of each source maps onto the combined axis."""

    size: int
    #: per source, the combined position of each of its positions
    positions: list[np.ndarray]
    #: per combined position, (source number, position in that source) of its first holder
    origin: list[tuple[int, int]]


def _axis_labels(model: Model, dim: str) -> list[Hashable] | None:
    """The labels of ``dim`` in ``model``: its one-axis coordinate's values (tuples when zipped)."""
    for coord in model.coords.values():
        if coord.dims == (dim,):
            return list(coord.combined().tolist())
    return None


def _sorted_or_first_seen(labels: list[Hashable]) -> list[Hashable]:
    try:
        return sorted(labels)  # type: ignore[type-var]
    except TypeError:
        return labels


def _align_axis(dim: str, models: Sequence[Model], sources: Sequence[str]) -> _Axis:
    present = [i for i, m in enumerate(models) if dim in m.dims]
    labels = [_axis_labels(models[i], dim) for i in present]
    sizes = [models[i].dims[dim] for i in present]
    positional = any(lab is None for lab in labels) or all(lab == labels[0] for lab in labels)
    if positional:
        if len(set(sizes)) > 1:
            detail = ", ".join(f"{sources[i]}: {s}" for i, s in zip(present, sizes))
            msg = (
                f"Cannot combine the run folders along axis `{dim}`: it has no input coordinate to"
                f" align by, and its length differs ({detail})"
            )
            raise RunFolderConflictError(msg)
        size = sizes[0]
        positions = [np.arange(m.dims[dim]) if dim in m.dims else np.zeros(0, int) for m in models]
        return _Axis(size, positions, [(present[0], p) for p in range(size)])
    first_seen: dict[Hashable, tuple[int, int]] = {}
    for i, lab in zip(present, labels):
        assert lab is not None  # noqa: S101 - positional covers None
        try:
            if len(set(lab)) != len(lab):
                msg = f"Cannot combine the run folders along axis `{dim}`: `{sources[i]}` has repeated coordinate values on it"
                raise RunFolderConflictError(msg)
        except TypeError:
            msg = f"Cannot combine the run folders along axis `{dim}`: the coordinate values of `{sources[i]}` are not hashable"
            raise RunFolderConflictError(msg) from None
        for p, value in enumerate(lab):
            first_seen.setdefault(value, (i, p))
    order = _sorted_or_first_seen(list(first_seen))
    where = {value: k for k, value in enumerate(order)}
    positions = [np.zeros(0, int) for _ in models]
    for i, lab in zip(present, labels):
        positions[i] = np.fromiter((where[v] for v in lab or ()), dtype=np.intp, count=len(lab or ()))
    return _Axis(len(order), positions, [first_seen[v] for v in order])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float | np.floating) and isinstance(b, float | np.floating):
        return bool(np.isclose(a, b, rtol=1e-9, atol=0.0, equal_nan=True))
    try:
        return bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) else bool(a == b)
    except Exception:  # noqa: BLE001 - values that cannot be compared are different
        return False


def _cells(var: Variable) -> tuple[np.ndarray, np.ndarray]:
    """The variable as an object array of its values (ints back as ints) and its missing mask."""
    missing = var.missing if var.missing is not None else np.zeros(var.data.shape, dtype=bool)
    cells = var.data.astype(object)
    if var.integer:
        present = ~missing
        cells[present] = [int(v) for v in var.data[present].tolist()]
    return cells, missing


def _conflict(name: str, dims: tuple[str, ...], index: tuple[int, ...], sources: tuple[str, str], values: tuple[Any, Any]) -> RunFolderConflictError:
    where = ", ".join(f"{d}={i}" for d, i in zip(dims, index))
    msg = (
        f"Output `{name}` differs between run folders `{sources[0]}` and `{sources[1]}` at"
        f" {where or 'its single value'} (combined positions): {values[0]!r} vs {values[1]!r}."
        " A reduction over an axis that grew between the runs differs like this; load the other"
        " outputs only, or this one from one folder."
    )
    return RunFolderConflictError(msg)


def _combine_variable(
    name: str, models: Sequence[Model], sources: Sequence[str], axes: dict[str, _Axis]
) -> Variable:
    holders = [i for i, m in enumerate(models) if name in m.variables]
    dims = models[holders[0]].variables[name].dims
    for i in holders:
        if models[i].variables[name].dims != dims:
            msg = (
                f"Output `{name}` has axes {models[i].variables[name].dims} in `{sources[i]}` but"
                f" {dims} in `{sources[holders[0]]}`: not runs of one pipeline"
            )
            raise RunFolderConflictError(msg)
    shape = tuple(axes[d].size for d in dims)
    out = np.empty(shape, dtype=object)
    missing = np.ones(shape, dtype=bool)
    owner = np.full(shape, -1, dtype=np.intp)
    for i in holders:
        cells, src_missing = _cells(models[i].variables[name])
        target = np.ix_(*(axes[d].positions[i] for d in dims)) if dims else ()
        have = ~src_missing
        fresh = have & missing[target]
        both = have & ~missing[target]
        if both.any():
            current = out[target]
            for index in zip(*np.nonzero(both)):
                if not _same(current[index], cells[index]):
                    combined_index = tuple(int(axes[d].positions[i][k]) for d, k in zip(dims, index))
                    first = sources[int(owner[target][index])]
                    raise _conflict(name, dims, combined_index, (first, sources[i]), (current[index], cells[index]))
        block = out[target]
        block[fresh] = cells[fresh]
        out[target] = block
        owned = owner[target]
        owned[fresh] = i
        owner[target] = owned
        block_missing = missing[target]
        block_missing[fresh] = False
        missing[target] = block_missing
    data = typed_values(np.ma.MaskedArray(out, mask=missing))
    any_missing = bool(missing.any())
    present = out[~missing]
    integer = (
        any_missing
        and data.dtype.kind == "f"
        and bool(present.size)
        and all(isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) for v in present.tolist())
    )
    return Variable(dims, data, missing if any_missing else None, integer)


def _combine_coordinate(name: str, models: Sequence[Model], sources: Sequence[str], axes: dict[str, _Axis]) -> Coordinate:
    holders = [i for i, m in enumerate(models) if name in m.coords]
    first = models[holders[0]].coords[name]
    if len(first.dims) != 1:  # a multi-dimensional coordinate must be the same everywhere
        for i in holders[1:]:
            other = models[i].coords[name]
            if other.dims != first.dims or not all(
                p in other.parts and np.array_equal(first.parts[p], other.parts[p]) for p in first.parts
            ):
                msg = f"Cannot combine the run folders: the multi-dimensional input `{name}` differs between `{sources[holders[0]]}` and `{sources[i]}`"
                raise RunFolderConflictError(msg)
        return first
    axis = axes[first.dims[0]]
    parts = {}
    for part in first.parts:
        pieces = [models[i].coords[name].parts[part] if i in holders else None for i in range(len(models))]
        offsets = np.cumsum([0] + [len(p) if p is not None else 0 for p in pieces])
        joined = np.concatenate([p for p in pieces if p is not None])
        take = np.array([offsets[src] + pos for src, pos in axis.origin], dtype=np.intp)
        parts[part] = joined[take]
    return Coordinate(first.dims, parts)


def combine_models(models: Sequence[Model], sources: Sequence[str]) -> Model:
    """One model spanning several runs' models (``sources`` names them in error messages).

    Axes are aligned by their input coordinate's values (sorted union when the values sort,
    first-seen order otherwise); axes without a one-axis coordinate must have one length.
    """
    if len(models) == 1:
        return models[0]
    dims: list[str] = []
    for model in models:
        dims += [d for d in model.dims if d not in dims]
    axes = {dim: _align_axis(dim, models, sources) for dim in dims}
    result = Model(dims={dim: axes[dim].size for dim in dims})
    for number, model in enumerate(models):
        for name in model.coords:
            if name not in result.coords:
                result.coords[name] = _combine_coordinate(name, models, sources, axes)
        for name in model.variables:
            if name not in result.variables:
                result.variables[name] = _combine_variable(name, models, sources, axes)
                result.var_coords[name] = list(model.var_coords.get(name, []))
        for name, value in model.singles.items():
            if name not in result.singles:
                result.singles[name] = value
            elif not _same(result.singles[name], value):
                first = sources[next(i for i, m in enumerate(models) if name in m.singles)]
                raise _conflict(name, (), (), (first, sources[number]), (result.singles[name], value))
    return result

"""A library-neutral table model of a run's results: dims, coordinates, variables, single values.

Both the xarray builder and the DataFrame builders start from :func:`build_model`, so they agree
on which arrays become coordinates, how zipped inputs are combined, and how elements are typed.

>>> model = build_model(["x[i] -> y[i]"], {"x": [1, 2]}, {"y": np.array([2, 4], dtype=object)})
>>> model.dims, list(model.coords), model.variables["y"].data.tolist()
({'i': 2}, ['x'], [2, 4])
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pipemap.mapspec import MapSpec, mapspec_axes, trace_dependencies

from ._arrays import as_object_array, from_array_like, present_values, single_as_array, typed_values

__all__ = ["Coordinate", "Model", "ShapeMismatchError", "Variable", "build_model", "parse_mapspecs"]


@dataclass
class Variable:
    """A mapped output: its axes (dims) and its typed data (full shape)."""

    dims: tuple[str, ...]
    data: np.ndarray
    #: True where the element is missing or failed (None: nothing missing)
    missing: np.ndarray | None = None
    #: every present element is an integer, but ``data`` is float because of missing elements
    integer: bool = False


@dataclass
class Coordinate:
    """A coordinate on ``dims``: one source array, or several zipped ones (``parts``)."""

    dims: tuple[str, ...]
    parts: dict[str, np.ndarray]

    @property
    def name(self) -> str:
        """``"a"`` for one source, ``"a:b"`` for zipped sources."""
        return ":".join(self.parts)

    def combined(self) -> np.ndarray:
        """The coordinate values: the array itself, or an object array of tuples when zipped."""
        if len(self.parts) == 1:
            return next(iter(self.parts.values()))
        arrays = [_object_cells(a) for a in self.parts.values()]
        shape = arrays[0].shape
        flat = [a.ravel().tolist() for a in arrays]
        out = np.empty(len(flat[0]), dtype=object)
        out[:] = list(zip(*flat)) if flat[0] else []
        return out.reshape(shape)


def _object_cells(array: np.ndarray) -> np.ndarray:
    """``array`` as objects; datetime64/timedelta64 cells as pandas ``Timestamp``/``Timedelta`` (as
    pipefunc's pandas MultiIndex gives them) when pandas is installed."""
    if array.dtype.kind in "mM":
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas comes with the xarray and pandas extras
            return np.asarray(array, dtype=object)
        return np.asarray(pd.Series(array.ravel()).astype(object), dtype=object).reshape(array.shape)
    return np.asarray(array, dtype=object)


@dataclass
class Model:
    """Everything a Dataset or DataFrame needs, in insertion order."""

    dims: dict[str, int] = field(default_factory=dict)
    coords: dict[str, Coordinate] = field(default_factory=dict)
    variables: dict[str, Variable] = field(default_factory=dict)
    singles: dict[str, Any] = field(default_factory=dict)
    #: per variable, the coordinate names attached to it (for column order)
    var_coords: dict[str, list[str]] = field(default_factory=dict)
    #: ragged outputs (padded along their last dim): their outer dims and row lengths
    lengths: dict[str, tuple[tuple[str, ...], np.ndarray]] = field(default_factory=dict)


class ShapeMismatchError(ValueError):
    """Two arrays disagree on the size of a shared axis (the message names both)."""


def parse_mapspecs(mapspecs: Sequence[MapSpec | str]) -> list[MapSpec]:
    """Accept parsed mapspecs or their strings.

    >>> parse_mapspecs(["x[i] -> y[i]"])[0].output_names
    ('y',)
    """
    return [m if isinstance(m, MapSpec) else MapSpec.from_string(m) for m in mapspecs]


def _all_integers(raw: np.ndarray, missing: np.ndarray) -> bool:
    """Whether the present elements of ``raw`` are all integers (not bools)."""
    present = np.ma.getdata(raw)[~missing]
    if present.dtype != object:
        return present.dtype.kind in "iu"
    types = set(map(type, present.tolist()))  # one check per distinct type, not per element
    return bool(present.size) and all(
        issubclass(t, int | np.integer) and not issubclass(t, bool | np.bool_) for t in types
    )


def _rows_of(padded: np.ndarray, lengths: np.ndarray, typed: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """One 1-D array per row (object array over the outer shape) of a padded ragged array."""
    data = np.ma.getdata(padded)
    out = np.empty(lengths.shape, dtype=object)
    for key in np.ndindex(lengths.shape):
        out[key] = typed(np.asarray(data[key][: int(lengths[key])], dtype=object))
    return out


def _no_loader(name: str) -> Any:
    raise KeyError(name)


def build_model(
    mapspecs: Sequence[MapSpec | str],
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    *,
    output_names: Sequence[str] | None = None,
    load_intermediate: bool = True,
    load_input: Callable[[Any], Any] | None = None,
    infer_dtypes: bool | Collection[str] = True,
    ragged_lengths: Mapping[str, np.ndarray] | None = None,
    ragged: str = "elements",
) -> Model:
    """Arrange results for presentation.

    ``outputs`` maps output names to arrays (mapped outputs: masked or plain arrays of the full
    shape; masked elements are missing) or values (single outputs); it may be a lazy mapping.
    ``output_names`` selects the outputs to present (default: every key of ``outputs``).
    ``load_input`` turns file-backed inputs into values (default: identity).
    ``infer_dtypes``: give numeric dtypes to arrays whose elements are all numbers (True, the
    loaders' default), to no array (False: object arrays stay object, as ``to_xarray(type_cast=False)``),
    or to the inputs and to the outputs named in the collection only.
    Array-like inputs (pandas ``Series``/``Index``, polars ``Series``...) become arrays of their dtype.
    ``ragged_lengths``: the row lengths of ragged outputs (filled as ``outputs`` are read; their
    arrays are padded along the last axis). ``ragged="elements"`` keeps them padded (the frames
    drop the padding rows, datasets get a ``<name>_length`` variable); ``"lists"`` makes each a
    variable over the outer dims holding one 1-D array per row (polars: a list column).
    """
    if ragged not in ("elements", "lists"):
        msg = f"ragged={ragged!r}: expected 'elements' (one row per element) or 'lists' (one list per row)"
        raise ValueError(msg)
    specs = parse_mapspecs(mapspecs)
    names = list(output_names) if output_names else sorted(outputs)
    axes_of = mapspec_axes(specs) if specs else {}
    deps = trace_dependencies(specs) if specs else {}
    mapped: list[str] = []
    for spec in specs:
        for name in spec.output_names:
            if name in names and name not in mapped:
                mapped.append(name)
    singles = [n for n in names if n not in mapped]
    model = Model()
    cache: dict[str, Any] = {}
    dim_source: dict[str, str] = {}

    def set_dim(axis: str, size: int, source: str) -> None:
        known = model.dims.setdefault(axis, size)
        dim_source.setdefault(axis, source)
        if known != size:
            msg = (
                f"`{source}` has size {size} along axis `{axis}`, but `{dim_source[axis]}` has size {known}"
                " along it"
            )
            raise ShapeMismatchError(msg)

    def present(name: str, array: np.ndarray, *, is_input: bool) -> np.ndarray:
        if infer_dtypes is True or (is_input and infer_dtypes is not False):
            return typed_values(array)
        if infer_dtypes is False or name not in infer_dtypes:
            return present_values(array)
        return typed_values(array)

    def source_array(name: str) -> Any:
        if name in cache:
            return cache[name]
        if name in inputs:
            value = inputs[name]
            if load_input is not None:
                value = load_input(value)
        elif load_intermediate and name in outputs:
            value = outputs[name]
        else:
            value = None
        if value is not None:
            value = as_object_array(from_array_like(value), len(axes_of[name]))
            if isinstance(value, np.ndarray):
                value = present(name, value, is_input=name in inputs)
        cache[name] = value
        return value

    for name in mapped:
        dims = tuple(a for a in axes_of[name] if a is not None)
        zipped: dict[tuple[str, ...], dict[str, np.ndarray]] = {}
        for source, axes in deps.get(name, {}).items():
            if axes != axes_of[source]:
                continue
            array = source_array(source)
            if not isinstance(array, np.ndarray):
                continue
            zipped.setdefault(axes, {})[source] = array
        coord_names = []
        for axes, parts in zipped.items():
            coord = Coordinate(axes, parts)
            model.coords.setdefault(coord.name, coord)
            coord_names.append(coord.name)
            for part, array in parts.items():
                for axis, size in zip(axes, array.shape):
                    set_dim(axis, size, part)
        raw = as_object_array(outputs[name], len(dims))
        if not isinstance(raw, np.ndarray):
            raw = np.asarray(raw)
        if ragged_lengths is not None and name in ragged_lengths:
            lengths = ragged_lengths[name]
            if ragged == "lists":
                model.variables[name] = Variable(dims[:-1], _rows_of(raw, lengths, lambda a: present(name, a, is_input=False)))
                model.var_coords[name] = [c for c in coord_names if model.coords[c].dims[-1:] != dims[-1:]]
                for axis, size in zip(dims[:-1], lengths.shape):
                    set_dim(axis, size, name)
                continue
            model.lengths[name] = (dims[:-1], lengths)
        mask = np.ma.getmaskarray(raw) if isinstance(raw, np.ma.MaskedArray) else None
        data = cache[name] if cache.get(name) is not None else present(name, raw, is_input=False)
        for axis, size in zip(dims, data.shape):
            set_dim(axis, size, name)
        missing = mask if mask is not None and bool(mask.any()) else None  # None: nothing missing
        integer = missing is not None and data.dtype.kind == "f" and _all_integers(raw, missing)
        model.variables[name] = Variable(dims, data, missing, integer)
        model.var_coords[name] = coord_names
    # outputs used as another output's coordinate are shown as the coordinate only
    for coord in model.coords.values():
        for part in coord.parts:
            model.variables.pop(part, None)
    for name in singles:  # lists and tuples as object arrays (wrapped in DimensionlessArray), as pipefunc
        model.singles[name] = single_as_array(outputs[name])
    return model


"""`ArraySpec` and `MapSpec`: the parsed, validated form of a mapspec string.

Parsing and every check happen here, in Python, once; the per-element index math runs in the
compiled kernels (`_kernels.pyx`) through a `CompiledSpec` cached on each `MapSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipemap.mapspec._errors import MapSpecError
from pipemap.mapspec._parse import parse_sides, pipefunc_wording

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from pipemap.mapspec._kernels import CompiledSpec

__all__ = ["ArraySpec", "MapSpec"]

UNKNOWN = "?"


def _is_identifier(name: str) -> bool:
    return name.isidentifier()


def _is_array_name(name: str) -> bool:
    parts = name.split(".")
    return len(parts) <= 2 and all(_is_identifier(p) for p in parts)


@dataclass(frozen=True, slots=True)
class ArraySpec:
    """One array of a mapspec: a name and its axes (``None`` is an unnamed ``:`` slot).

    Parameters
    ----------
    name : str
        The array's name: an identifier, or ``scope.name`` for a scoped name.
    axes : tuple of (str or None)
        One entry per dimension: the axis name, or ``None`` for ``:`` (the whole axis).
    ragged : str or None, default None
        The name of a ragged axis (written ``j*``): its rows have their own lengths per index of
        the axes before it. It is the last axis and has at least one axis before it.

    Examples
    --------
    >>> spec = ArraySpec("a", ("i", None, "j"))
    >>> str(spec), spec.indices, spec.rank
    ('a[i, :, j]', ('i', 'j'), 3)
    >>> str(ArraySpec("w", ("i", "j"), ragged="j"))
    'w[i, j*]'
    """

    name: str
    axes: tuple[str | None, ...]
    ragged: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _is_array_name(self.name):
            msg = f"Array name '{self.name}' is not a valid Python identifier"
            raise MapSpecError(msg)
        for axis in self.axes:
            if axis is not None and (not isinstance(axis, str) or not _is_identifier(axis)):
                msg = f"Index name '{axis}' is not a valid Python identifier"
                raise MapSpecError(msg)
        if self.ragged is not None:
            if self.ragged not in self.axes:
                msg = f"Ragged axis '{self.ragged}' is not an axis of `{self.name}{list(self.axes)}`"
                raise MapSpecError(msg)
            if self.axes[-1] != self.ragged or len(self.axes) < 2:
                where = "the only axis" if len(self.axes) < 2 else "not the last axis"
                msg = (
                    f"Ragged axis '{self.ragged}*' of `{self}` is {where}: a ragged axis is the last"
                    " axis of an array and needs an axis before it (its rows)"
                )
                raise MapSpecError(msg)

    def __str__(self) -> str:
        axes = ", ".join(
            ":" if axis is None else (f"{axis}*" if axis == self.ragged else axis) for axis in self.axes
        )
        return f"{self.name}[{axes}]"

    @property
    def indices(self) -> tuple[str, ...]:
        """The named axes, in order.

        >>> ArraySpec("a", ("i", None)).indices
        ('i',)
        """
        return tuple(axis for axis in self.axes if axis is not None)

    @property
    def rank(self) -> int:
        """The number of axes, named or not.

        >>> ArraySpec("a", ("i", None)).rank
        2
        """
        return len(self.axes)

    def validate(self, shape: tuple[int | str, ...]) -> None:
        """Raise ``ValueError`` if ``shape`` does not have this array's rank.

        >>> ArraySpec("a", ("i", "j")).validate((2, 3))
        """
        if len(shape) != self.rank:
            msg = f"Expecting array of rank {self.rank}, but got array of shape {shape} for `{self}`."
            raise MapSpecError(msg)

    def add_axes(self, *axes: str | None) -> ArraySpec:
        """Return a copy with ``axes`` appended (``None`` appends ``:``).

        >>> str(ArraySpec("a", ("i",)).add_axes("j", None))
        'a[i, j, :]'
        """
        duplicates = {a for a in axes if a is not None and a in self.axes}
        if duplicates:
            msg = f"Duplicate axes are not allowed: {sorted(duplicates)} already in `{self}`."
            raise MapSpecError(msg)
        if self.ragged is not None and axes:
            msg = f"Cannot add axes after the ragged axis '{self.ragged}*' of `{self}`: a ragged axis stays last."
            raise MapSpecError(msg)
        return ArraySpec(self.name, self.axes + tuple(axes))

    def rename(self, renames: Mapping[str, str]) -> ArraySpec:
        """Rename the array itself if its name is in ``renames``.

        >>> str(ArraySpec("a", ("i",)).rename({"a": "b"}))
        'b[i]'
        """
        return ArraySpec(renames.get(self.name, self.name), self.axes, self.ragged)

    def rename_axes(self, renames: Mapping[str, str]) -> ArraySpec:
        """Rename axes; unnamed slots are kept.

        >>> str(ArraySpec("a", ("i", None)).rename_axes({"i": "x"}))
        'a[x, :]'
        """
        axes = tuple(None if a is None else renames.get(a, a) for a in self.axes)
        ragged = None if self.ragged is None else renames.get(self.ragged, self.ragged)
        return ArraySpec(self.name, axes, ragged)


@dataclass(frozen=True, slots=True)
class MapSpec:
    """How the axes of a function's inputs map to the axes of its outputs.

    Usually built with :meth:`MapSpec.from_string`, which parses and validates the text form
    (``"x[i, j], y[j, :, k] -> z[i, j, k]"``). Element keys use C order over the output's
    external axes (docs/behaviour.md §1.6).

    Parameters
    ----------
    inputs : tuple of ArraySpec
        The input arrays, in written order (empty for a generator spec ``... -> x[i]``).
    outputs : tuple of ArraySpec
        The output arrays; all have the same named axes and none has a ``:`` slot.

    Raises
    ------
    ValueError
        If an output has a ``:`` slot, the outputs' axes differ, or an input axis is not an output
        axis.

    Examples
    --------
    >>> spec = MapSpec.from_string("x[i, j], y[j, :, k] -> z[i, j, k]")
    >>> spec.output_key((5, 2, 3), 23)
    (3, 1, 2)
    >>> spec.input_keys((5, 2, 3), 23)
    {'x': (3, 1), 'y': (1, slice(None, None, None), 2)}
    """

    inputs: tuple[ArraySpec, ...]
    outputs: tuple[ArraySpec, ...]
    _is_generated: bool = False
    _compiled_cache: list[Any] = field(
        default_factory=list, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not self.outputs:
            msg = f"MapSpec `{self}` has no output arrays."
            raise MapSpecError(msg)
        if any(axis is None for out in self.outputs for axis in out.axes):
            msg = f"Output array must have all axes indexed (no ':'). Got `{self}`."
            raise MapSpecError(msg)
        first = self.outputs[0].axes
        if any(out.axes != first for out in self.outputs[1:]):
            msg = f"All output arrays must have identical indices. Got `{self}`."
            raise MapSpecError(msg)
        for array in (*self.inputs, *self.outputs):
            named = array.indices
            if len(set(named)) != len(named):
                msg = f"Array `{array}` in `{self}` repeats an axis."
                raise MapSpecError(msg)
        missing = self.input_indices - set(first)
        if missing:
            msg = (
                "Input arrays have indices that do not appear in the output: "
                f"{_set_repr(missing)}. Got `{self}`."
            )
            raise MapSpecError(msg)
        self._check_ragged()
        names = [a.name for a in self.inputs]
        if len(set(names)) != len(names):
            msg = f"An input array appears twice in `{self}`."
            raise MapSpecError(msg)
        out_names = self.output_names
        if len(set(out_names)) != len(out_names):
            msg = f"An output array appears twice in `{self}`."
            raise MapSpecError(msg)

    def _check_ragged(self) -> None:
        """An axis is ragged everywhere it is named in this mapspec, or nowhere."""
        ragged = {a.ragged for a in (*self.inputs, *self.outputs) if a.ragged is not None}
        for axis in sorted(ragged):
            plain = [str(a) for a in (*self.inputs, *self.outputs) if axis in a.indices and a.ragged != axis]
            if plain:
                msg = (
                    f"Axis '{axis}' is ragged ('{axis}*') in one array of `{self}` but not in"
                    f" {', '.join(f'`{p}`' for p in plain)}: mark it '{axis}*' everywhere or nowhere"
                )
                raise MapSpecError(msg)

    def __reduce__(self) -> tuple[Any, ...]:
        # The compiled kernel cache is rebuilt on demand; never pickle it.
        return (MapSpec, (self.inputs, self.outputs, self._is_generated))

    # -- parsing and printing -------------------------------------------------------------
    @classmethod
    def from_string(cls, expr: str) -> MapSpec:
        """Parse a mapspec string.

        >>> str(MapSpec.from_string("a[i,j],b[i, j]->q[i ,j]"))
        'a[i, j], b[i, j] -> q[i, j]'
        >>> MapSpec.from_string("... -> x[i]").input_names
        ()
        """
        if not isinstance(expr, str):
            msg = f"A mapspec must be a string, got {type(expr).__name__}: {expr!r}"
            raise TypeError(msg)
        sides = parse_sides(expr)
        inputs = tuple(_make_array(name, axes, expr) for name, axes in sides[0])
        outputs = tuple(_make_array(name, axes, expr) for name, axes in sides[1])
        try:
            return cls(inputs, outputs)
        except MapSpecError as e:
            msg = str(e) if expr in str(e) else f"{e} (in mapspec '{expr}')"
            # start with pipefunc's words where it rejects too (not for ragged axes: pipefunc
            # 0.93.2 has none, its words would blame the '*')
            ragged = any(a.ragged for a in (*inputs, *outputs))
            lead = None if ragged else pipefunc_wording(expr)
            if lead and not msg.startswith(lead.rstrip(".")):
                msg = f"{lead.rstrip('.')}. {msg}"
            raise MapSpecError(msg) from None

    def to_string(self) -> str:
        """The canonical text form.

        >>> MapSpec.from_string("x[i]->y[i]").to_string()
        'x[i] -> y[i]'
        """
        inputs = ", ".join(map(str, self.inputs)) if self.inputs else "..."
        return f"{inputs} -> {', '.join(map(str, self.outputs))}"

    def __str__(self) -> str:
        return self.to_string()

    # -- names and indices ----------------------------------------------------------------
    @property
    def input_names(self) -> tuple[str, ...]:
        """Input array names, in written order.

        >>> MapSpec.from_string("a[i], b[j] -> c[i, j]").input_names
        ('a', 'b')
        """
        return tuple(a.name for a in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Output array names, in written order.

        >>> MapSpec.from_string("a[i] -> b[i], c[i]").output_names
        ('b', 'c')
        """
        return tuple(a.name for a in self.outputs)

    @property
    def ragged_axes(self) -> tuple[str, ...]:
        """The axes marked ragged (``j*``) in this mapspec, in output order.

        >>> MapSpec.from_string("t[i] -> w[i, j*]").ragged_axes
        ('j',)
        >>> MapSpec.from_string("x[i] -> y[i]").ragged_axes
        ()
        """
        ragged = {a.ragged for a in (*self.inputs, *self.outputs)}
        return tuple(axis for axis in self.output_indices if axis in ragged)

    @property
    def produces_ragged(self) -> bool:
        """Whether this function makes the rows of a ragged axis (the axis is in no input).

        >>> MapSpec.from_string("t[i] -> w[i, j*]").produces_ragged
        True
        >>> MapSpec.from_string("w[i, j*] -> u[i, j*]").produces_ragged
        False
        """
        return any(axis not in self.input_indices for axis in self.ragged_axes)

    @property
    def input_indices(self) -> set[str]:
        """The set of named axes used by the inputs.

        >>> sorted(MapSpec.from_string("a[i, :], b[j] -> c[i, j]").input_indices)
        ['i', 'j']
        """
        return {axis for a in self.inputs for axis in a.indices}

    @property
    def output_indices(self) -> tuple[str, ...]:
        """The axes of the (first) output.

        >>> MapSpec.from_string("a[i] -> b[i, j]").output_indices
        ('i', 'j')
        """
        return self.outputs[0].indices

    @property
    def external_indices(self) -> tuple[str, ...]:
        """Output axes that also appear in an input, in output order.

        >>> MapSpec.from_string("a[i] -> b[i, j]").external_indices
        ('i',)
        """
        used = self.input_indices
        return tuple(axis for axis in self.output_indices if axis in used)

    # -- index math (compiled) ------------------------------------------------------------
    def _compiled(self) -> CompiledSpec:
        cache = self._compiled_cache
        if not cache:
            from pipemap.mapspec._kernels import CompiledSpec
            from pipemap.mapspec.index_plan import axis_maps_for

            cache.append(
                CompiledSpec(
                    self.to_string(),
                    self.input_names,
                    axis_maps_for(self),
                    len(self.external_indices),
                )
            )
        return cache[0]

    def output_key(self, shape: tuple[int, ...], linear_index: int) -> tuple[int, ...]:
        """The output multi-index of linear index ``linear_index`` over the external ``shape``.

        >>> MapSpec.from_string("x[i], y[j] -> z[i, j]").output_key((3, 2), 3)
        (1, 1)
        """
        cache = self._compiled_cache
        return (cache[0] if cache else self._compiled()).output_key(shape, linear_index)

    def input_keys(
        self, shape: tuple[int, ...], linear_index: int
    ) -> dict[str, tuple[int | slice, ...]]:
        """Keys to index each input with, for linear index ``linear_index``.

        >>> MapSpec.from_string("x[i], y[j] -> z[i, j]").input_keys((3, 2), 3)
        {'x': (1,), 'y': (1,)}
        """
        cache = self._compiled_cache
        return (cache[0] if cache else self._compiled()).input_keys(shape, linear_index)

    # -- shapes ---------------------------------------------------------------------------
    def shape(
        self,
        input_shapes: Mapping[str, tuple[int | str, ...]],
        internal_shapes: Mapping[str, tuple[int | str, ...]] | None = None,
    ) -> tuple[tuple[int | str, ...], tuple[bool, ...]]:
        """The output's full shape and shape mask (True = external axis), docs/behaviour.md §1.5.

        >>> MapSpec.from_string("a[j] -> b[i, j, k, l]").shape({"a": (2,)}, {"b": (3, 4, 5)})
        ((3, 2, 4, 5), (False, True, False, False))
        """
        from pipemap.mapspec._shapes import mapspec_shape

        return mapspec_shape(self, input_shapes, internal_shapes)

    # -- transformations ------------------------------------------------------------------
    def rename(self, renames: Mapping[str, str]) -> MapSpec:
        """Rename arrays; returns ``self`` when no name matches.

        >>> str(MapSpec.from_string("a[i] -> b[i]").rename({"a": "x"}))
        'x[i] -> b[i]'
        """
        if not any(a.name in renames for a in (*self.inputs, *self.outputs)):
            return self
        return MapSpec(
            tuple(a.rename(renames) for a in self.inputs),
            tuple(a.rename(renames) for a in self.outputs),
            self._is_generated,
        )

    def rename_axes(self, renames: Mapping[str, str]) -> MapSpec:
        """Rename axes everywhere; returns a new object.

        >>> str(MapSpec.from_string("a[i, :], b[:, j] -> c[i, j]").rename_axes({"i": "x", "j": "y"}))
        'a[x, :], b[:, y] -> c[x, y]'
        """
        return MapSpec(
            tuple(a.rename_axes(renames) for a in self.inputs),
            tuple(a.rename_axes(renames) for a in self.outputs),
            self._is_generated,
        )

    def add_axes(self, *axes: str | None) -> MapSpec:
        """Append ``axes`` to every input and output.

        >>> str(MapSpec.from_string("a[i], b[j] -> c[i, j]").add_axes("k"))
        'a[i, k], b[j, k] -> c[i, j, k]'
        """
        return MapSpec(
            tuple(a.add_axes(*axes) for a in self.inputs),
            tuple(a.add_axes(*axes) for a in self.outputs),
            self._is_generated,
        )

    def with_generated(self, is_generated: bool = True) -> MapSpec:
        """A copy with the generated flag set.

        >>> MapSpec.from_string("... -> x[i]").with_generated()._is_generated
        True
        """
        return MapSpec(self.inputs, self.outputs, is_generated)


def _set_repr(items: Iterable[str]) -> str:
    return "{" + ", ".join(repr(x) for x in sorted(items)) + "}"


def _make_array(name: str, axes: tuple[str | None, ...], expr: str) -> ArraySpec:
    if not _is_array_name(name):
        msg = f"Array name '{name}' is not a valid Python identifier (in mapspec '{expr}')."
        raise MapSpecError(msg)
    ragged = [a for a in axes if a is not None and a.endswith("*")]
    if not ragged:
        return ArraySpec(name, axes)
    if len(ragged) > 1:
        msg = f"Array `{name}` has {len(ragged)} ragged axes ({', '.join(ragged)}) in mapspec '{expr}': at most one, the last"
        raise MapSpecError(msg)
    plain = tuple(None if a is None else a.removesuffix("*") for a in axes)
    try:
        return ArraySpec(name, plain, ragged[0].removesuffix("*"))
    except MapSpecError as exc:
        raise MapSpecError(f"{exc} (in mapspec '{expr}')") from None

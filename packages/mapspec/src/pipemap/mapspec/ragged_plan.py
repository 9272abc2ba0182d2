"""Which arrays of a pipeline are ragged, how they are stored, and the flat mapspec each function runs.

A pipeline's mapspecs (topological order) are enough to know its ragged arrays:

- a *producer* (``text[i] -> words[i, j*]``: the ragged axis is in no input) makes the rows. Its
  output is stored **per row**: one element per outer index holding the row's sequence, so its
  storage has the outer shape. The producer runs as ``text[i] -> words[i]``.
- an *element-wise consumer* (``words[i, j*] -> upper[i, j*]``) runs once per existing element:
  it runs as ``words[j] -> upper[j]`` over the flat elements (``j`` now counts all elements, row
  after row), and its output is stored **flat** (one element per existing element). Broadcast
  inputs over outer axes (``x[i]``) are read at the row of each element.
- a *reduction* (``words[i, :] -> n[i]``, no star: the pipeline knows ``words`` is ragged) gets
  each row, with its own length; it runs as ``words[i] -> n[i]``.

>>> from pipemap.mapspec import MapSpec
>>> plan = RaggedPlan.from_specs([MapSpec.from_string(s) for s in (
...     "text[i] -> words[i, j*]", "words[i, j*] -> upper[i, j*]", "upper[i, :] -> n[i]")])
>>> {n: (a.stored, a.source) for n, a in plan.arrays.items()}
{'words': ('rows', 'words'), 'upper': ('flat', 'words')}
>>> [str(plan.effective[k]) for k in ("words", "upper", "n")]
['text[i] -> words[i]', 'words[j] -> upper[j]', 'upper[i] -> n[i]']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pipemap.mapspec._errors import MapSpecError
from pipemap.mapspec._mapspec import ArraySpec, MapSpec

__all__ = ["RaggedArray", "RaggedPlan", "Role"]

Role = Literal["produce", "elements", "reduce"]


@dataclass(frozen=True)
class RaggedArray:
    """One ragged array: its ragged axis, outer axes, how it is stored and whose rows it has.

    Parameters
    ----------
    name : str
        The array.
    axis : str
        Its ragged axis.
    outer_axes : tuple of str
        The axes before the ragged axis (the grid of rows).
    stored : {"rows", "flat"}
        ``"rows"``: a producer's output, one sequence per outer index; ``"flat"``: an
        element-wise consumer's output, one value per existing element.
    source : str
        The producer output whose row lengths apply.

    Examples
    --------
    >>> RaggedArray("w", "j", ("i",), "rows", "w").stored
    'rows'
    """

    name: str
    axis: str
    outer_axes: tuple[str, ...]
    stored: Literal["rows", "flat"]
    source: str


@dataclass
class RaggedPlan:
    """The ragged arrays of a pipeline and, per function (keyed by its first output name), its
    role and the flat mapspec it runs; ``broadcast`` lists, per element-wise consumer, the inputs
    read at each element's row. Empty for a pipeline without ragged axes.

    Parameters
    ----------
    arrays : dict of str to RaggedArray
        The ragged arrays by name.
    roles : dict of str to {"produce", "elements", "reduce"}
        Each ragged-touching function's role, keyed by its first output name.
    effective : dict of str to MapSpec
        The flat mapspec each such function runs.
    broadcast : dict
        Per element-wise consumer, the inputs read at each element's row and their axes.

    Examples
    --------
    >>> RaggedPlan.from_specs([MapSpec.from_string("x[i] -> y[i]")]).arrays
    {}
    """

    arrays: dict[str, RaggedArray] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    effective: dict[str, MapSpec] = field(default_factory=dict)
    broadcast: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.roles)

    @classmethod
    def from_specs(cls, specs: Sequence[MapSpec], function_names: Sequence[str] | None = None) -> RaggedPlan:
        """Analyse ``specs`` (topological order); ``MapSpecError`` names the function and axis of a
        ``*`` axis no function produces, or of a ragged array read without ``*`` or ``:``."""
        plan = cls()
        for k, spec in enumerate(specs):
            who = f"function `{function_names[k]}` (mapspec `{spec}`)" if function_names else f"mapspec `{spec}`"
            ragged_inputs = [a for a in spec.inputs if a.name in plan.arrays]
            if not spec.ragged_axes and not ragged_inputs:
                continue
            key = spec.output_names[0]
            if spec.produces_ragged:
                plan._add_producer(spec, key, who)
            elif spec.ragged_axes:
                plan._add_elements(spec, key, who)
            else:
                plan._add_reduction(spec, key, who)
        return plan

    # ------------------------------------------------------------------ analysis
    def _reduced_inputs(self, spec: MapSpec, who: str) -> list[ArraySpec]:
        """The inputs with the ragged axis of a ragged array reduced (``w[i, :]`` -> ``w[i]``)."""
        out = []
        for a in spec.inputs:
            ragged = self.arrays.get(a.name)
            if ragged is None or a.ragged is not None:
                out.append(a)
                continue
            if len(a.axes) != len(ragged.outer_axes) + 1:
                msg = f"`{a}` in {who} has {len(a.axes)} axes but the ragged array `{a.name}` has {len(ragged.outer_axes) + 1}"
                raise MapSpecError(msg)
            if a.axes[-1] is not None:
                msg = (
                    f"`{a}` in {who} reads the ragged array `{a.name}` (axis '{ragged.axis}' is ragged) without"
                    f" marking its last axis: write `{a.axes[-1]}*` to map over the elements that exist,"
                    " or `:` to receive each row"
                )
                raise MapSpecError(msg)
            if any(x is None for x in a.axes[:-1]):
                msg = f"`{a}` in {who}: reducing the outer axes of a ragged array is not supported yet"
                raise NotImplementedError(msg)
            out.append(ArraySpec(a.name, a.axes[:-1]))
        return out

    def _add_producer(self, spec: MapSpec, key: str, who: str) -> None:
        outputs = []
        for a in spec.outputs:
            if a.ragged is None:
                msg = f"{who} makes a ragged axis, so every output needs it: `{a}` has none"
                raise MapSpecError(msg)
            outer = tuple(x for x in a.axes[:-1] if x is not None)
            self.arrays[a.name] = RaggedArray(a.name, a.ragged, outer, "rows", a.name)
            outputs.append(ArraySpec(a.name, a.axes[:-1]))
        self.roles[key] = "produce"
        self.effective[key] = MapSpec(tuple(self._reduced_inputs(spec, who)), tuple(outputs))

    def _add_elements(self, spec: MapSpec, key: str, who: str) -> None:
        (axis,) = spec.ragged_axes
        sources = [a for a in spec.inputs if a.ragged == axis]
        for a in sources:
            if a.name not in self.arrays:
                msg = (
                    f"Axis '{axis}*' of `{a}` in {who} is ragged but no function before it produces"
                    f" `{a.name}` as ragged: mark the axis '{axis}*' in the producer's output"
                    f" (e.g. `...[i] -> {a.name}[i, {axis}*]`)"
                )
                raise MapSpecError(msg)
        source = self.arrays[sources[0].name]
        outer = source.outer_axes
        for a in sources[1:]:
            if self.arrays[a.name].outer_axes != outer:
                msg = f"`{a}` and `{sources[0]}` in {who} have different outer axes"
                raise MapSpecError(msg)
        inputs = []
        broadcast: dict[str, tuple[str, ...]] = {}
        for a in spec.inputs:
            if a.ragged == axis:
                if tuple(a.axes[:-1]) != outer:
                    msg = f"`{a}` in {who}: the outer axes must be {outer} in order, as where `{a.name}` was made"
                    raise MapSpecError(msg)
                inputs.append(ArraySpec(a.name, (axis,)))
            elif a.name in self.arrays:
                msg = f"`{a}` in {who} reads the ragged array `{a.name}` without its ragged axis '{axis}*'"
                raise MapSpecError(msg)
            elif not a.indices:
                inputs.append(a)
            elif None in a.axes or not set(a.indices) <= set(outer):
                msg = (
                    f"`{a}` in {who}: an input next to a ragged axis must be indexed by outer axes"
                    f" {outer} only (no ':'), to be read at each element's row; not supported yet otherwise"
                )
                raise NotImplementedError(msg)
            else:
                inputs.append(ArraySpec(a.name, (axis,)))
                broadcast[a.name] = tuple(x for x in a.axes if x is not None)
        outputs = []
        for a in spec.outputs:
            if a.ragged != axis or tuple(a.axes[:-1]) != outer:
                msg = f"`{a}` in {who}: an element-wise output of a ragged axis is `{a.name}[{', '.join((*outer, axis + '*'))}]`"
                raise MapSpecError(msg)
            self.arrays[a.name] = RaggedArray(a.name, axis, outer, "flat", source.source)
            outputs.append(ArraySpec(a.name, (axis,)))
        self.roles[key] = "elements"
        self.effective[key] = MapSpec(tuple(inputs), tuple(outputs))
        self.broadcast[key] = broadcast

    def _add_reduction(self, spec: MapSpec, key: str, who: str) -> None:
        self.roles[key] = "reduce"
        self.effective[key] = MapSpec(tuple(self._reduced_inputs(spec, who)), spec.outputs)

    # ------------------------------------------------------------------ queries
    def role_of(self, spec: MapSpec) -> Role | None:
        """The role of the function with mapspec ``spec`` (None: it touches no ragged array)."""
        return self.roles.get(spec.output_names[0])

    def ragged_inputs(self, spec: MapSpec) -> list[str]:
        """The ragged arrays that the function with mapspec ``spec`` reads."""
        return [a.name for a in spec.inputs if a.name in self.arrays]

    def shape_view(
        self, spec: MapSpec, shapes: Mapping[Any, Sequence[int | str]], totals: Mapping[str, int]
    ) -> tuple[MapSpec, dict[Any, Sequence[int | str]]]:
        """The mapspec and input shapes with which the shape of ``spec``'s outputs is computed:
        element-wise consumers see every mapped input as long as all elements (``"?"`` until the
        rows of ``totals``' source are known), producers and reductions see the outer shapes."""
        key = spec.output_names[0]
        role = self.roles.get(key)
        if role is None:
            return spec, dict(shapes)
        effective = self.effective[key]
        view: dict[Any, Sequence[int | str]] = dict(shapes)
        if role == "elements":
            ragged = next(self.arrays[a.name] for a in spec.inputs if a.name in self.arrays)
            total = totals.get(ragged.source)
            for a in effective.inputs:
                if a.indices:
                    view[a.name] = ("?",) if total is None else (total,)
        else:
            for name in self.ragged_inputs(spec):
                view[name] = tuple(shapes[self.arrays[name].source])
        return effective, view

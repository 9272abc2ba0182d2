"""Running functions over ragged axes (docs/concepts/ragged.md): the flat task of each function and
the row lengths that become known when a producer finishes.

The plan (``RunInfo.ragged``, a :class:`~pipemap.mapspec.RaggedPlan`) gives each function touching
a ragged array its flat mapspec; here its task gets that mapspec and the views that read its
inputs (``worker/_ragged_views.py``). When a producer (``text[i] -> words[i, j*]``) finishes, its
rows are read once (run setup, not per-element work), their lengths become a
:class:`~pipemap.mapspec.RaggedLayout`, are written to ``ragged/<output>.npy`` and resolve the
flat shapes of the element-wise consumers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pipemap.mapspec import MapSpec, RaggedLayout
from pipemap.storage import write_ragged_lengths

from pipemap.runner.worker._ragged_views import ExpandView, FlatView, RowsView, row_error

if TYPE_CHECKING:
    from pipemap.runner.engine._run_info import RunInfo
    from pipemap.runner.model._pipefunc import PipeFunc

__all__ = ["finish_ragged", "layouts_of", "ragged_task"]


def layouts_of(info: RunInfo) -> dict[str, RaggedLayout]:
    """The row layouts known so far in this run, by producer output."""
    layouts = info.__dict__.get("_ragged_layouts")
    if layouts is None:
        layouts = {}
        info.__dict__["_ragged_layouts"] = layouts
    return layouts


def _layout(info: RunInfo, f: PipeFunc, name: str) -> RaggedLayout:
    source = info.ragged.arrays[name].source
    layout = layouts_of(info).get(source)
    if layout is None:  # pragma: no cover - the walk runs producers first
        msg = f"The rows of `{source}` are not known when `{f.__name__}` runs"
        raise RuntimeError(msg)
    return layout


def ragged_task(info: RunInfo, f: PipeFunc, mapped: dict[str, Any]) -> tuple[MapSpec | None, dict[str, Any], bool]:
    """``(flat mapspec, mapped inputs, produces rows)`` of mapped function ``f``; ``(None, mapped,
    False)`` for a function that touches no ragged array. Zipped ragged inputs must have equal rows
    (``ShapeError`` naming the first row that differs)."""
    plan = info.ragged
    spec = f.mapspec
    role = plan.role_of(spec) if plan and spec is not None else None
    if role is None or spec is None:
        return None, mapped, False
    key = spec.output_names[0]
    out = dict(mapped)
    if role == "elements":
        first: tuple[str, RaggedLayout] | None = None
        for name in plan.ragged_inputs(spec):
            array = plan.arrays[name]
            layout = _layout(info, f, name)
            if first is None:
                first = (name, layout)
            elif layout is not first[1]:
                first[1].check_same_rows(layout, [first[0], name])
            out[name] = FlatView(mapped[name], layout) if array.stored == "rows" else mapped[name]
        assert first is not None  # an element-wise consumer reads a ragged array
        outer = plan.arrays[first[0]].outer_axes
        for name, axes in plan.broadcast[key].items():
            out[name] = ExpandView(mapped[name], axes, outer, first[1])
    else:
        for name in plan.ragged_inputs(spec):
            array = plan.arrays[name]
            out[name] = RowsView(mapped[name], _layout(info, f, name), per_row=array.stored == "rows")
    return plan.effective[key], out, role == "produce"


def _row_length(row: Any) -> int:
    """A stored row's length; an error snapshot or a missing row has no elements."""
    return len(row) if row_error(row) is None else 0


def finish_ragged(info: RunInfo, store: dict[str, Any], f: PipeFunc, computed: list[np.ndarray] | None) -> bool:
    """After mapped function ``f``: a producer's row lengths become known (``computed``: its values
    when the parent kept all of them); every ragged output gets its lengths file. True when ``f``
    was a producer (flat sizes were resolved)."""
    plan = info.ragged
    spec = f.mapspec
    role = plan.role_of(spec) if plan and spec is not None else None
    if role not in ("produce", "elements"):
        return False
    layouts = layouts_of(info)
    for k, name in enumerate(f.output_names):
        if role == "produce":
            storage = store[name]
            shape = tuple(int(n) for n in storage.shape)
            size = int(np.prod(shape)) if shape else 1
            rows = computed[k] if computed is not None else storage.get_many(np.arange(size, dtype=np.int64))
            lengths = np.fromiter((_row_length(r) for r in rows), dtype=np.int64, count=size)
            layout = RaggedLayout(lengths.reshape(shape))
            layouts[name] = layout
            info.resolve_ragged(name, layout.size, store)
        else:
            layout = layouts[plan.arrays[name].source]
        if info.run_folder is not None:
            write_ragged_lengths(info.run_folder, name, layout.lengths)
    return role == "produce"

"""A resume of a run folder that records its functions (`_resume_records`): the refusals that
remain, each naming what differs and the way on, then the `ResumePlan` (`_resume_plan`).

Refused: another ``error_handling``; a folder of another pipeline (no function in common); a
mapspec, internal shape or shape of an existing output or input that changed (a changed
mapped input length names the input, its axis, the stored and the new length). Everything
else becomes a plan: which functions to recompute and why, which outputs to clear.

>>> from pipemap.runner import Pipeline, PipeFunc
>>> p = Pipeline([PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]")])
>>> shape_change(p, "x", (3,), (4,), {"x"})
'input `x` axis `i` has 4 elements, the stored run has 3'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipemap.runner.engine._resume import ResumeValidation, _undecidable, tolerant_equal
from pipemap.runner.engine._resume_plan import ResumePlan, carried_records, changed_functions, way_on

if TYPE_CHECKING:
    from pipemap.runner.model._pipeline import Pipeline
    from pipemap.storage import RunRecord

__all__ = ["plan_resume", "shape_change"]


def _refuse(what: str, detail: str, folder: object) -> None:
    msg = f"{what} do not match previous run, cannot use `resume=True`. {detail[0].upper()}{detail[1:]}. {way_on(folder)}"
    raise ValueError(msg)


def _name(key: object) -> str:
    return ",".join(key) if isinstance(key, tuple) else str(key)


def shape_change(pipeline: Pipeline, key: object, old: tuple, new: tuple, inputs: set[str]) -> str:
    """How the shape of ``key`` (an input or output name) changed, naming the first differing axis."""
    name = _name(key)
    kind = "input" if name in inputs else "output"
    first = name.split(",")[0]
    axes = pipeline.mapspec_axes.get(first, ())
    if len(old) != len(new):
        return f"{kind} `{name}` has shape {tuple(new)} ({len(new)} axes), the stored run has {tuple(old)}"
    for dim, (a, b) in enumerate(zip(old, new)):
        if a != b:
            axis = axes[dim] if dim < len(axes) and axes[dim] is not None else f"#{dim}"
            return f"{kind} `{name}` axis `{axis}` has {b} elements, the stored run has {a}"
    return f"{kind} `{name}` has shape {tuple(new)}, the stored run has {tuple(old)}"  # pragma: no cover


def _check_structure(
    old: RunRecord, new: Mapping[str, Mapping[str, Any]], pipeline: Pipeline, shapes: Mapping, internal: Mapping | None,
    inputs: Mapping[str, object], folder: object,
) -> None:
    recorded = old.functions or {}
    if recorded and not set(recorded) & set(new):
        _refuse(
            "`MapSpec`s",
            f"`{folder}` holds a run of another pipeline (it computed {', '.join(f'`{k}`' for k in sorted(recorded))};"
            f" this pipeline computes {', '.join(f'`{k}`' for k in sorted(new))}, none of them the same)",
            folder,
        )
    for key, rec in new.items():
        before = recorded.get(key)
        if before is not None and before.get("mapspec") != rec.get("mapspec"):
            _refuse(
                "`MapSpec`s",
                f"function `{rec.get('name')}` (output `{key}`) had mapspec `{before.get('mapspec')}`"
                f" in the stored run, now `{rec.get('mapspec')}`",
                folder,
            )
    common = {n for key in set(recorded) & set(new) for n in key.split(",")}
    old_internal, new_internal = dict(old.internal_shapes or {}), dict(internal or {})
    for name in sorted(common):
        a, b = old_internal.get(name), new_internal.get(name)
        if _norm(a) != _norm(b):
            _refuse("Internal shapes", f"output `{name}` had internal shape {a!r} in the stored run, now {b!r}", folder)
    old_shapes = {k: tuple(v) for k, v in old.shapes.items()}
    given = set(inputs)
    for shape_key in sorted(set(old_shapes) & set(shapes), key=lambda k: (_name(k) not in given, _name(k))):  # inputs first
        new_shape = tuple(shapes[shape_key])
        if old_shapes[shape_key] != new_shape:
            _refuse("Shapes", shape_change(pipeline, shape_key, old_shapes[shape_key], new_shape, given), folder)


def _norm(v: object) -> object:
    return tuple(v) if isinstance(v, list | tuple) else v


def plan_resume(
    old: RunRecord,
    new: Mapping[str, Mapping[str, Any]],
    *,
    pipeline: Pipeline,
    inputs: Mapping[str, object],
    digests: Mapping[str, str | None],
    shapes: Mapping,
    internal: Mapping | None,
    error_handling: str,
    bound: Mapping[str, object],
    validation: ResumeValidation,
    folder: object,
) -> tuple[ResumePlan, bool]:
    """Refuse what cannot be resumed, else the plan and whether inputs, defaults and bound values
    are all unchanged (their files then need no rewrite)."""
    if error_handling != old.error_handling:
        msg = (
            f"`error_handling='{error_handling}'` does not match previous run "
            f"(`error_handling='{old.error_handling}'`), cannot use `resume=True`. "
            "Resuming with a different error handling mode could lead to incorrect results."
        )
        raise ValueError(msg)
    _check_structure(old, new, pipeline, shapes, internal, inputs, folder)
    recorded = old.functions or {}
    old_digests: dict[str, str | None] = {}
    for rec in recorded.values():
        old_digests.update(rec.get("inputs") or {})
    verdicts: dict[str, bool] = {}

    def input_changed(name: str) -> bool:
        if name not in verdicts:
            if name not in old.inputs:
                verdicts[name] = True
            elif digests.get(name) is not None and digests.get(name) == old_digests.get(name):
                verdicts[name] = False
            else:
                same = tolerant_equal(inputs[name], old.inputs[name])
                if same is None:
                    _undecidable("inputs", validation)  # strict: refuses; auto: says so, keeps
                verdicts[name] = same is False
        return verdicts[name]

    plan = ResumePlan(names={k: str(r.get("name", k)) for k, r in new.items()})
    if validation != "skip":
        plan.recompute = changed_functions(recorded, new, pipeline, input_changed)
    added = [k for k in new if k not in recorded]
    invalid = {n for k in [*plan.recompute, *added] for n in new[k].get("outputs", k.split(","))}
    invalid |= {n for n in inputs if validation != "skip" and input_changed(n)}
    plan.carried, clear_absent = carried_records(recorded, new, invalid)
    plan.clear = sorted({n for k in [*plan.recompute, *added] for n in new[k].get("outputs", k.split(","))} | set(clear_absent))
    unchanged = (
        validation != "skip"
        and not any(input_changed(n) for n in inputs)
        and set(inputs) == set(old.inputs)
        and tolerant_equal(dict(pipeline.defaults), old.defaults) is True
        and old.bound is not None
        and tolerant_equal(dict(bound), old.bound) is True
    )
    return plan, unchanged

"""Callable ``resources`` and ``resources_variable`` (pipefunc's semantics, docs/porting.md).

A function's ``resources`` may be a callable of its arguments (by pipeline name, in parameter
order, defaults and bound values included). ``resources_scope="map"``: it is called once per
map in the parent, before anything is submitted, on the whole inputs (arrays, storages);
``"element"``: for each element, right before the call, on that element's arguments. With
``resources_variable`` the function receives the (evaluated) resources as that argument.

A failing resources callable: in ``"raise"`` mode its exception is raised with a note naming
the function; in ``"continue"`` mode the element (every element, for ``"map"``) becomes a
``PropagatedErrorSnapshot`` whose ``error_info`` holds the failure under
:data:`RESOURCES_ERROR_KEY` (pipefunc's key), and the function is not called (nothing is
submitted for a failed map). Functions without callable resources or ``resources_variable``
never come here: :func:`needs_resources` is checked once per run and task.

>>> from pipemap.runner import PipeFunc
>>> f = PipeFunc(lambda x, resources: resources["cpus"] * x, "y", mapspec="x[i] -> y[i]",
...              resources=lambda kw: {"cpus": kw["x"]}, resources_scope="element", resources_variable="resources")
>>> needs_resources(f), needs_element_resources(f)
(True, True)
>>> call = element_resources_call(f, ["x"], {}, None)
>>> [call(2), call(3)]
[4, 9]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pipemap.storage import ErrorSnapshot

from pipemap.runner.worker._errors import full_info, propagated_snapshot, scan_for_errors

if TYPE_CHECKING:
    from pipemap.storage import ErrorInfo, PropagatedErrorSnapshot

    from pipemap.runner.model._pipefunc import PipeFunc

__all__ = [
    "RESOURCES_ERROR_KEY",
    "element_resources_call",
    "evaluate_resources",
    "needs_element_resources",
    "needs_resources",
    "resources_failure",
]

#: the ``error_info`` key of a failed resources evaluation (the one pipefunc uses)
RESOURCES_ERROR_KEY = "__pipefunc_internal_resource_error__"
#: the attribute of an exception raised by a resources callable: the arguments it was given
_FAILED_ON = "_pipemap_resources_kwargs"


def needs_resources(pf: PipeFunc) -> bool:
    """True when running ``pf`` involves its resources (callable ones, or ``resources_variable``)."""
    return callable(pf.resources) or getattr(pf, "resources_variable", None) is not None


def needs_element_resources(pf: PipeFunc) -> bool:
    """True when ``pf``'s resources are evaluated per element (in the worker, before each call)."""
    return callable(pf.resources) and getattr(pf, "resources_scope", "map") == "element" and pf.requires_mapping


def arguments(pf: PipeFunc, kwargs: Mapping[str, object]) -> dict[str, object]:
    """What a resources callable receives: ``kwargs`` with defaults and bound values, by pipeline
    name in parameter order."""
    merged = {**pf.defaults, **kwargs, **pf.bound}
    out = {p: merged[p] for p in pf.parameters if p in merged}
    out.update((k, v) for k, v in merged.items() if k not in out)
    return out


def _note(exc: BaseException, pf: PipeFunc) -> None:
    note = f"Error occurred while evaluating the `resources` of function `{pf.__name__}` (resources_scope={pf.resources_scope!r})."
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)


def evaluate_resources(pf: PipeFunc, kwargs: Mapping[str, object], *, continue_mode: bool) -> tuple[object, ErrorSnapshot | None]:
    """``(resources, None)``, or in continue mode ``(None, snapshot of the failure)``; in raise mode
    a failure raises with a note. The static value when ``resources`` is not callable."""
    resources = pf.resources
    if not callable(resources):
        return resources, None
    kw = arguments(pf, kwargs)
    try:
        return resources(kw), None
    except Exception as exc:
        _note(exc, pf)
        if not continue_mode:
            raise
        return None, ErrorSnapshot(resources, exc, args=(kw,), kwargs={})


def map_resources(
    pf: PipeFunc, kwargs: Mapping[str, object], *, continue_mode: bool
) -> tuple[dict[str, object], ErrorSnapshot | None]:
    """The constant arguments a map (or single call) of ``pf`` gets from its resources: the
    ``resources_variable`` argument, or ``{RESOURCES_ERROR_KEY: snapshot}`` when evaluating them
    failed in continue mode (elements become propagated errors). Element-scoped callables of
    mapped functions are left to :func:`element_resources_call`."""
    if needs_element_resources(pf):
        return {}, None
    variable = pf.resources_variable
    if continue_mode and callable(pf.resources) and variable is None and pf.requires_mapping and scan_for_errors(dict(kwargs)):
        return {}, None  # as pipefunc: not evaluated on inputs holding errors when nobody receives them
    if continue_mode and pf.resources_scope == "element" and scan_for_errors(dict(kwargs)):
        return {}, None
    value, failure = evaluate_resources(pf, kwargs, continue_mode=continue_mode)
    if failure is not None:
        return {RESOURCES_ERROR_KEY: failure}, failure
    return ({variable: value} if variable is not None else {}), None


def element_resources_call(
    pf: PipeFunc,
    mapped_names: list[str],
    const: Mapping[str, object],
    guard: tuple[int, Callable[[object], object]] | None,
) -> Callable[..., Any]:
    """``pf.compile_call(mapped_names, const, guard)`` that evaluates the resources of each
    element first (and passes them as ``resources_variable``). A failure is raised with a note and
    the element's resources arguments attached (see :func:`resources_failure`)."""
    plain = pf.compile_call(mapped_names, const, guard)
    positional = list(plain.__positional__)  # type: ignore[attr-defined]
    variable = pf.resources_variable
    inner = pf.compile_call([*positional, variable], const, guard) if variable is not None else plain
    resources = pf.resources
    assert callable(resources)
    base = dict(const)

    def call(*values: object) -> Any:
        kw = arguments(pf, {**base, **dict(zip(positional, values))})
        try:
            res = resources(kw)
        except Exception as exc:
            _note(exc, pf)
            setattr(exc, _FAILED_ON, kw)
            raise
        return inner(*values, res) if variable is not None else inner(*values)

    call.__positional__ = positional  # type: ignore[attr-defined]
    return call


def resources_failure(
    pf: PipeFunc, exc: BaseException, kwargs: Mapping[str, object], found: list[tuple[str, ErrorInfo]] | None = None
) -> PropagatedErrorSnapshot | None:
    """The propagated snapshot of an element whose resources callable raised ``exc`` (None when
    ``exc`` came from the function itself)."""
    kw = getattr(exc, _FAILED_ON, None)
    if kw is None:
        return None
    snapshot = ErrorSnapshot(pf.resources, exc, args=(kw,), kwargs={})  # type: ignore[arg-type]
    return failed_resources_snapshot(pf, snapshot, kwargs, found)


def failed_resources_snapshot(
    pf: PipeFunc, snapshot: ErrorSnapshot, kwargs: Mapping[str, object], found: list[tuple[str, ErrorInfo]] | None = None
) -> PropagatedErrorSnapshot:
    """A ``PropagatedErrorSnapshot`` for a call skipped because its resources failed."""
    args = {k: v for k, v in kwargs.items() if k != RESOURCES_ERROR_KEY}
    return propagated_snapshot(pf, [*(found or []), (RESOURCES_ERROR_KEY, full_info(snapshot))], args)

"""Error handling of a run (docs/behaviour.md §4.8).

``"raise"``: :func:`raise_with_note` re-raises the original exception with the note
"Error occurred while executing function `f(x=1)`." (truncated reprs, the element index) and
sets ``error_snapshot`` on the PipeFunc (:func:`attach_snapshot`: also on the pipefunc
``PipeFunc`` a converted function came from, as pipefunc sets it on the user's). ``"continue"``: :func:`make_error_snapshot` and
:func:`propagated_snapshot` build the records of :mod:`pipemap.storage`; :func:`scan_for_errors`
finds snapshots in a call's arguments.

>>> format_call("f", {"x": 1, "y": "a" * 300})[:30]
"f(x=1, y='aaaaaaaaaaaaaaaaaaaa"
>>> len(format_call("f", {"y": "a" * 300})) < 130
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np
from pipemap.storage import ErrorInfo, ErrorSnapshot, PropagatedErrorSnapshot

from pipemap.runner.worker._frames import user_frames

if TYPE_CHECKING:
    from pipemap.storage import ErrorSnapshot, PropagatedErrorSnapshot

    from pipemap.runner.model._pipefunc import PipeFunc

MAX_REPR = 100
_ErrorTypes = tuple[type[ErrorSnapshot], type[PropagatedErrorSnapshot]]
_TYPES: list[_ErrorTypes] = []


def error_types() -> _ErrorTypes:
    """``(ErrorSnapshot, PropagatedErrorSnapshot)`` from pipemap.storage (cached)."""
    if _TYPES:
        return _TYPES[0]
    _TYPES.append((ErrorSnapshot, PropagatedErrorSnapshot))
    return _TYPES[0]


def short_repr(value: object, limit: int = MAX_REPR) -> str:
    """``repr(value)`` cut to ``limit`` characters."""
    try:
        text = repr(value)
    except Exception as e:  # noqa: BLE001
        text = f"<unrepresentable {type(value).__name__}: {e!r}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def format_call(name: str, kwargs: Mapping[str, object]) -> str:
    """``f(x=1, y=...)`` with each repr truncated."""
    args = ", ".join(f"{k}={short_repr(v)}" for k, v in kwargs.items())
    return f"{name}({args})"


def _original_kwargs(pf: PipeFunc, kwargs: Mapping[str, object]) -> dict[str, object]:
    native = getattr(pf, "native_name", None)
    merged = {**kwargs, **getattr(pf, "bound", {})}
    return merged if native is None else {native(k): v for k, v in merged.items()}


def element_label(output_names: tuple[str, ...] | list[str], index: int, shape: tuple[int, ...] | None) -> str:
    """``y[18, 16, 0]``: the element at linear ``index`` of an external ``shape``, per axis.

    >>> element_label(("y",), 1880, (20, 20, 5)), element_label(("a", "b"), 2, None)
    ('y[18, 16, 0]', 'a, b at linear index 2')
    """
    multi = multi_index(index, shape)
    if multi is None:
        return f"{', '.join(output_names)} at linear index {index}"
    axes = ", ".join(map(str, multi))
    return " and ".join(f"{n}[{axes}]" for n in output_names)


def multi_index(index: int | None, shape: tuple[int, ...] | None) -> list[int] | None:
    """The index per axis of linear ``index`` in ``shape`` (None if either is unknown or out of range)."""
    if index is None or shape is None or not 0 <= index < int(np.prod(shape)):
        return None
    return [int(i) for i in np.unravel_index(index, shape)] if shape else []


def raise_with_note(
    exc: BaseException,
    pf: PipeFunc,
    kwargs: Mapping[str, object],
    index: int | None,
    shape: tuple[int, ...] | None = None,
) -> None:
    """Re-raise ``exc`` with a note naming the function call and the element (``y[1, 2]``, and its
    linear index); the user's frames travel along as ``_pipemap_frames`` (a worker's traceback
    does not survive pickling)."""
    call = format_call(pf.__name__, {**kwargs, **getattr(pf, "bound", {})})
    note = f"Error occurred while executing function `{call}`."
    if index is not None:
        label = element_label(tuple(pf.output_names), index, shape)
        note += f" (element `{label}`, linear index {index})" if "linear" not in label else f" (element {label})"
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)
    try:
        exc._pipemap_element = (list(pf.output_names), multi_index(index, shape))  # type: ignore[attr-defined]
        exc._pipemap_frames = user_frames(exc.__traceback__)  # type: ignore[attr-defined]
        snapshot = make_error_snapshot(pf, exc, kwargs)
        exc._pipemap_snapshot = snapshot  # type: ignore[attr-defined] # travels back from workers
    except Exception:  # noqa: BLE001, S110 - a snapshot is a convenience, the error must win
        pass
    raise exc


def attach_snapshot(pf: PipeFunc, snapshot: ErrorSnapshot | PropagatedErrorSnapshot) -> None:
    """Set ``error_snapshot`` on ``pf`` and on the user's pipefunc ``PipeFunc`` it was converted from."""
    pf.error_snapshot = snapshot
    source = getattr(pf, "pipefunc_source", None)
    if source is not None:
        source.error_snapshot = snapshot


def make_error_snapshot(pf: PipeFunc, exc: BaseException, kwargs: Mapping[str, object]) -> ErrorSnapshot:
    """An ``ErrorSnapshot`` of a failed call (kwargs by original parameter names), attached to
    ``pf`` (as pipefunc's ``PipeFunc.__call__`` does: seen by the parent when the call ran in it)."""
    snapshot = ErrorSnapshot(pf.func, exc, args=(), kwargs=_original_kwargs(pf, kwargs))
    attach_snapshot(pf, snapshot)
    return snapshot


def propagated_snapshot(
    pf: PipeFunc, found: list[tuple[str, ErrorInfo]], kwargs: Mapping[str, object]
) -> PropagatedErrorSnapshot:
    """A ``PropagatedErrorSnapshot`` for an element whose inputs hold errors (not called).

    As pipefunc's: ``skipped_function`` is the ``PipeFunc`` (the user's pipefunc one for a
    converted function), ``attempted_kwargs`` the arguments by pipeline name in parameter order
    (bound values and defaults included) without those that carried the errors.
    """
    error_info: dict[str, ErrorInfo] = {}
    full = False
    for name, info in found:
        error_info[name] = info
        full = full or info.type == "full"
    reason: Literal["input_is_error", "array_contains_errors"] = "input_is_error" if full else "array_contains_errors"
    merged = {**kwargs, **getattr(pf, "bound", {})}
    attempted = {p: merged[p] for p in pf.parameters if p in merged and p not in error_info}
    return PropagatedErrorSnapshot(
        error_info=error_info,
        skipped_function=pf if getattr(pf, "pipefunc_source", None) is None else pf.pipefunc_source,
        reason=reason,
        attempted_kwargs=attempted,
    )


def _partial_info(arr: object, types: tuple[type, ...]) -> ErrorInfo | None:
    data = arr.data if isinstance(arr, np.ma.MaskedArray) else arr
    data = np.asarray(data, dtype=object)
    is_error = np.fromiter((isinstance(v, types) for v in data.reshape(-1)), dtype=bool, count=data.size)
    count = int(is_error.sum())
    if not count:
        return None
    return ErrorInfo.from_partial_error(data.shape, np.nonzero(is_error.reshape(data.shape)), count)


def full_info(value: ErrorSnapshot | PropagatedErrorSnapshot) -> ErrorInfo:
    """``ErrorInfo`` for an argument that is itself an error snapshot."""
    return ErrorInfo.from_full_error(value)


def scan_for_errors(kwargs: Mapping[str, object]) -> list[tuple[str, ErrorInfo]] | None:
    """Snapshots among the arguments: a snapshot is a full error, an object array (or storage)
    holding snapshots a partial one (shape, indices, count). None when there are none."""
    types = error_types()
    if not types:
        return None
    found: list[tuple[str, ErrorInfo]] = []
    for name, value in kwargs.items():
        if isinstance(value, types):
            found.append((name, full_info(value)))
        elif isinstance(value, np.ndarray) and value.dtype == object:
            info = _partial_info(value, types)
            if info is not None:
                found.append((name, info))
        elif hasattr(value, "to_array") and hasattr(value, "get_many"):
            info = _partial_info(value.to_array(splat_internal=False), types)
            if info is not None:
                found.append((name, info))
    return found or None

"""Per-element status as data: :func:`load_status` (one row per element of every mapped output).

Columns: ``output``, one column per axis name (the element's index along it; null where the
output has no such axis), the mapped run inputs at that element (``x``, ``w``, ... as in
``load_dataframe``), ``state``, ``attempts`` and ``error_type``.

States: ``done`` (a result is stored), ``failed`` (an ``ErrorSnapshot``: the function raised),
``propagated`` (a ``PropagatedErrorSnapshot``: not called because an input had failed),
``missing`` (nothing stored yet); ``reused`` is reserved. Only the failed elements are read:
``failures.json`` (written by ``error_handling="continue"`` runs) says which; a run folder without
it (written by pipefunc or an older pipemap) has its stored elements read once to find them, as
does ``verify=True`` (``failures.json`` is rewritten when a function finishes, so after a killed
run it can lag behind the storage).

>>> import pipemap.io as pio
>>> df = pio.load_status(pio.example_run_folder(missing=[1]))
>>> df[df.output == "y"][["i", "x", "state", "attempts"]].to_dict("list")
{'i': [0, 1, 2], 'x': [1, 2, 3], 'state': ['done', 'missing', 'done'], 'attempts': [1, 0, 1]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pipemap.mapspec import MapSpec
from pipemap.storage import FAILURES_FILE, read_attempts

from ._dataframe import _polars_series
from ._folder import RunFolder, RunFolderError
from ._read import is_error

__all__ = ["STATES", "ElementStates", "attempts_of", "element_states", "load_status"]

#: the states, in the order of the ``state`` column's categories
STATES = ("done", "failed", "propagated", "missing", "reused")
_DONE, _FAILED, _PROPAGATED, _MISSING = 0, 1, 2, 3


@dataclass
class ElementStates:
    """The states of one mapped output's elements (flat, linear order) and their error types."""

    shape: tuple[int, ...]
    code: np.ndarray  # int8 per element: an index into STATES
    error_type: np.ndarray  # object per element: exception type name, None when not failed


def _failures_record(view: RunFolder) -> dict[str, list[int]] | None:
    path = view.folder / FAILURES_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return {str(k): [int(i) for i in v] for k, v in data["outputs"].items()}
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError):
        return None


def _error_type(record: Any) -> str:
    """The exception type of a failure record (a propagated one: its first root cause's)."""
    if hasattr(record, "attempted_kwargs"):
        causes = record.get_root_causes() if hasattr(record, "get_root_causes") else []
        return _error_type(causes[0]) if causes else "?"
    kind = getattr(record, "exception_type", None)
    if isinstance(kind, str):
        return kind
    exc = getattr(record, "exception", None)
    return type(exc).__name__ if exc is not None else "?"


def element_states(view: RunFolder, name: str, *, verify: bool = False) -> ElementStates:
    """The state of every element of mapped output ``name`` (reads only the failed elements,
    unless the folder has no failure record or ``verify``)."""
    store = view.store(name)
    if not store.full_shape_is_resolved():
        return ElementStates((0,), np.empty(0, dtype=np.int8), np.empty(0, dtype=object))
    shape = tuple(int(s) for s in store.resolved_shape)
    done = np.asarray(store.done_mask(), dtype=bool).reshape(-1)
    code = np.where(done, _DONE, _MISSING).astype(np.int8)
    error_type = np.full(done.size, None, dtype=object)
    if view.record.error_handling == "raise":
        return ElementStates(shape, code, error_type)  # a raise-mode run stores no failures
    record = None if verify else _failures_record(view)
    if record is None:
        candidates = np.flatnonzero(done)
    else:
        listed = np.asarray(record.get(name, []), dtype=np.int64)
        candidates = listed[(listed >= 0) & (listed < done.size)]
        candidates = candidates[done[candidates]]
    if candidates.size:
        values = store.get_many(candidates)
        for linear, value in zip(candidates.tolist(), values):
            if is_error(value):
                code[linear] = _PROPAGATED if hasattr(value, "attempted_kwargs") else _FAILED
                error_type[linear] = _error_type(value)
    return ElementStates(shape, code, error_type)


def attempts_of(view: RunFolder, name: str, states: ElementStates) -> np.ndarray:
    """Attempts per element: the recorded number for elements a retry policy tried more than once
    or that failed under one (`read_attempts`), else 1 for an element whose function ran (done or
    failed) and 0 for the others."""
    ran = (states.code == _DONE) | (states.code == _FAILED)
    attempts = ran.astype(np.int64)
    for linear, record in read_attempts(view.folder, name).items():
        if 0 <= linear < attempts.size:
            attempts[linear] = record.attempts
    return attempts


def _leading(value: Any, ndim: int) -> np.ndarray:
    """``value``'s leading ``ndim`` axes as an object array (deeper content kept as elements)."""
    if isinstance(value, np.ndarray) and value.ndim == ndim:
        out = np.empty(value.shape, dtype=object)
        out[...] = list(value.reshape(-1)) if value.size else []
        return out.reshape(value.shape) if value.size else out
    if ndim == 1:
        items = list(value)
        out = np.empty(len(items), dtype=object)
        out[:] = items if items else []
        return out
    rows = [_leading(v, ndim - 1) for v in value]
    out = np.empty((len(rows), *(rows[0].shape if rows else (0,) * (ndim - 1))), dtype=object)
    for k, row in enumerate(rows):
        out[k] = row
    return out


def _input_axes(view: RunFolder) -> dict[str, tuple[str, ...]]:
    """Run inputs that mapspecs map, with their axes (the first mapspec using one decides)."""
    inputs = set(view.input_names) - set(view.record.all_output_names)
    found: dict[str, tuple[str, ...]] = {}
    for text in view.mapspecs:
        for spec_input in MapSpec.from_string(text).inputs:
            if spec_input.name in inputs and spec_input.name not in found and None not in spec_input.axes:
                found[spec_input.name] = tuple(str(a) for a in spec_input.axes)
    return found


def _output_axes(view: RunFolder, name: str) -> tuple[str, ...]:
    for text in view.mapspecs:
        spec = MapSpec.from_string(text)
        for out in spec.outputs:
            if out.name == name:
                return tuple(str(a) for a in out.axes)
    msg = f"No mapspec of the run at `{view.folder}` produces `{name}`"
    raise RunFolderError(msg)


def _table(view: RunFolder, *, verify: bool) -> dict[str, Any]:
    pieces: list[dict[str, np.ndarray]] = []
    input_axes = _input_axes(view)
    loaded: dict[str, np.ndarray] = {}
    for name in view.output_names:
        if not view.is_mapped(name):
            continue
        states = element_states(view, name, verify=verify)
        n = states.code.size
        axes = _output_axes(view, name)
        external = [a for a, m in zip(axes, view.record.full_shape_and_mask(name)[1]) if m]
        index = np.unravel_index(np.arange(n, dtype=np.int64), states.shape) if n else [np.empty(0, np.int64)] * len(external)
        piece: dict[str, np.ndarray] = {"output": np.full(n, name, dtype=object)}
        by_axis = dict(zip(external, index))
        piece.update({f"axis:{a}": np.asarray(i, dtype=np.int64) for a, i in by_axis.items()})
        for input_name, in_axes in input_axes.items():
            if not in_axes or not set(in_axes) <= set(by_axis):
                continue
            if input_name not in loaded:
                loaded[input_name] = _leading(view.load_input(input_name), len(in_axes))
            piece[f"input:{input_name}"] = loaded[input_name][tuple(by_axis[a] for a in in_axes)].reshape(-1)
        piece["state"] = np.asarray(STATES, dtype=object)[states.code]
        piece["attempts"] = attempts_of(view, name, states)
        piece["error_type"] = states.error_type
        pieces.append(piece)
    axis_order = list(dict.fromkeys(str(a) for t in view.mapspecs for o in MapSpec.from_string(t).outputs for a in o.axes))
    present = {k for p in pieces for k in p}
    keys = ["output"]
    keys += [f"axis:{a}" for a in axis_order if f"axis:{a}" in present]
    keys += [f"input:{n}" for n in input_axes if f"input:{n}" in present]
    keys += ["state", "attempts", "error_type"]
    return {key: [p.get(key) for p in pieces] for key in keys}


def load_status(
    run_folder: str | Path, *, backend: Literal["pandas", "polars"] = "pandas", verify: bool = False
) -> Any:
    """One row per element of every mapped output of ``run_folder``: its index, inputs and state.

    Columns: ``output``, one column per axis, the mapped inputs at that element, ``state``
    (``done``, ``failed``, ``propagated``, ``missing``), ``attempts`` and ``error_type``. See the
    module docstring.

    Parameters
    ----------
    run_folder : str or Path
        The run folder.
    backend : {"pandas", "polars"}, default "pandas"
        The DataFrame library.
    verify : bool, default False
        Read every stored element to find the failures instead of trusting ``failures.json``.

    Examples
    --------
    >>> import pipemap.io as pio
    >>> df = pio.load_status(pio.example_run_folder(missing=[1]))
    >>> df[df.output == "y"][["i", "x", "state", "attempts"]].to_dict("list")
    {'i': [0, 1, 2], 'x': [1, 2, 3], 'state': ['done', 'missing', 'done'], 'attempts': [1, 0, 1]}
    """
    if backend not in ("pandas", "polars"):
        msg = f"Invalid `backend={backend!r}`: use 'pandas' or 'polars'."
        raise ValueError(msg)
    view = RunFolder.open(run_folder)
    table = _table(view, verify=verify)
    n_rows = [len(p) for p in table["state"]]
    total = sum(n_rows)
    data: dict[str, Any] = {}
    for key, parts in table.items():
        name = key.split(":", 1)[1] if ":" in key else key
        if key.startswith("axis:"):
            values = np.concatenate([p if p is not None else np.full(n, -1, np.int64) for p, n in zip(parts, n_rows)]) if parts else np.empty(0, np.int64)
            present = np.concatenate([np.full(n, p is not None) for p, n in zip(parts, n_rows)]) if parts else np.empty(0, bool)
            data[name] = (values, present)
        elif key == "attempts":
            data[name] = np.concatenate(parts) if parts else np.empty(0, np.int64)
        else:
            out = np.empty(total, dtype=object)
            start = 0
            for p, n in zip(parts, n_rows):
                if p is not None:
                    out[start : start + n] = p
                start += n
            data[name] = out
    return _frame(data, backend)


def _frame(data: dict[str, Any], backend: str) -> Any:
    if backend == "polars":
        import polars as pl

        series = []
        for name, column in data.items():
            if isinstance(column, tuple):
                values, present = column
                series.append(pl.Series(name, values, dtype=pl.Int64).set(pl.Series(~present), None))
            elif name in ("output", "state", "error_type"):
                series.append(pl.Series(name, column.tolist(), dtype=pl.Utf8))
            elif name == "attempts":
                series.append(pl.Series(name, column, dtype=pl.Int64))
            else:
                series.append(_polars_series(name, column))
        return pl.DataFrame(series)
    import pandas as pd

    frame: dict[str, Any] = {}
    for name, column in data.items():
        if isinstance(column, tuple):
            values, present = column
            frame[name] = pd.arrays.IntegerArray(values, ~present) if not present.all() else values
        else:
            frame[name] = column
    df = pd.DataFrame(frame)
    df["state"] = pd.Categorical(df["state"], categories=list(STATES))
    return df

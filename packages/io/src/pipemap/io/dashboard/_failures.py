"""The failures table: one row per failed (or skipped) element, read once and cached.

Which elements failed comes from ``failures.json``; only those elements are read (their stored
error records, whose functions and exceptions stay pickled: only names, messages, the formatted
traceback and the inputs are used). The retry record (``attempts/``, JSON) adds the attempt count
and a traceback when the record has none; a raise-mode run's ``raised.json`` gives its one row.
At most :data:`MAX_ROWS` rows per output are read.

>>> import pipemap.io as pio
>>> from pipemap.io.dashboard._state import FolderState
>>> state = FolderState(pio.example_run_folder())
>>> _ = state.refresh()
>>> FailureBook().rows(state)
[]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pipemap.storage import read_attempts

from .._load import _element_error, _raised_element, _short
from .._read import is_error
from ._state import FolderState

__all__ = ["MAX_ROWS", "FailureBook"]

#: failed elements read per output (the counts stay exact; the table shows the first ones)
MAX_ROWS = 500


def _row(output: str, index: Any, linear: int, record: Any) -> dict[str, Any]:
    error = _element_error(output, index, record)
    kind, _, message = error.exception.partition(": ")
    traceback = getattr(record, "traceback", None)
    if error.propagated:
        causes = record.get_root_causes() if hasattr(record, "get_root_causes") else []
        traceback = next((getattr(c, "traceback", None) for c in causes if getattr(c, "traceback", None)), None)
    return {
        "output": output,
        "index": list(index) if index is not None else None,
        "linear": linear,
        "function": error.function,
        "inputs": {k: _short(v) for k, v in error.kwargs.items()},
        "type": kind if message else "",
        "message": message or error.exception,
        "skipped": error.propagated,
        "traceback": traceback if isinstance(traceback, str) else "",
    }


class FailureBook:
    """Rows of the failures table, cached per ``(generation, output, linear index)``.

    >>> import pipemap.io as pio
    >>> from pipemap.io.dashboard import FolderState
    >>> state = FolderState(pio.example_run_folder()); _ = state.refresh()
    >>> FailureBook().rows(state)  # a run without failures
    []
    """

    def __init__(self) -> None:
        self._rows: dict[tuple[int, str, int], dict[str, Any]] = {}

    def rows(self, state: FolderState) -> list[dict[str, Any]]:
        """Every known failure of ``state`` (reads only the elements not read before)."""
        with state.lock:
            view = state.view
            if view is None:
                return []
            out: list[dict[str, Any]] = []
            for name, entry in state.outputs.items():
                indices = state.failed_indices(name) if entry.kind == "mapped" else state.failures.get(name, np.empty(0, np.int64))[:1]
                if not indices.size:
                    continue
                out.extend(self._output_rows(state, name, indices[:MAX_ROWS]))
            out.sort(key=lambda row: row["skipped"])  # the errors first, then the elements they skipped
            raised = _raised_element(view.folder, ())
            if raised is not None:
                kind, _, message = raised.exception.partition(": ")
                out.append({
                    "output": raised.output_name, "index": list(raised.index) if raised.index is not None else None,
                    "linear": None, "function": raised.function, "inputs": {k: _short(v) for k, v in raised.kwargs.items()},
                    "type": kind, "message": message or raised.exception, "skipped": False, "stopped_run": True,
                    "traceback": "(a raise-mode run stored no traceback; the run stopped on this element)",
                })
            return out

    def _output_rows(self, state: FolderState, name: str, indices: np.ndarray) -> list[dict[str, Any]]:
        assert state.view is not None
        entry = state.outputs[name]
        gen = state.generation
        todo = np.array([i for i in indices.tolist() if (gen, name, i) not in self._rows], dtype=np.int64)
        if todo.size:
            attempts = read_attempts(state.view.folder, name)
            records = self._read(state, name, todo)
            for linear, record in zip(todo.tolist(), records):
                index = tuple(int(i) for i in np.unravel_index(linear, entry.shape)) if entry.kind == "mapped" else None
                attempt = attempts.get(linear)
                if record is None:
                    row = {
                        "output": name, "index": list(index) if index is not None else None, "linear": linear,
                        "function": "?", "inputs": {}, "skipped": False,
                        "type": attempt.error_type if attempt else "", "traceback": (attempt.traceback or "") if attempt else "",
                        "message": attempt.error_message if attempt else "(the error record cannot be read here)",
                    }
                else:
                    row = _row(name, index, linear, record)
                    if attempt is not None and not row["traceback"]:
                        row["traceback"] = attempt.traceback or ""
                # without a retry record: a raised error was tried once, a skipped element never
                row["attempts"] = attempt.attempts if attempt is not None else (0 if row["skipped"] else 1)
                if row["skipped"] and linear not in entry.propagated:
                    entry.propagated.add(linear)
                    entry.version += 1
                self._rows[(gen, name, linear)] = row
        return [self._rows[(gen, name, i)] for i in indices.tolist()]

    @staticmethod
    def _read(state: FolderState, name: str, todo: np.ndarray) -> list[Any]:
        assert state.view is not None
        view = state.view
        try:
            if not view.is_mapped(name):
                return [view.value_file(name).load()]
            values = view.store(name).get_many(todo)
        except Exception:  # noqa: BLE001 - an unreadable record gives a row without details
            return [None] * todo.size
        return [v if is_error(v) else None for v in values]

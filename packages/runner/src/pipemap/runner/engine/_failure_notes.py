"""What a person reads when a run stops (issue 15, "failures a person can read").

At the boundary of ``run_map`` an exception raised by the user's function is re-raised with only
the user's frames (none of pipemap's, asyncio's or the executor's; the frames of a worker process
travel back as a short :class:`WorkerTraceback` cause), plus one line on what the run folder keeps
and how to continue. A ``KeyboardInterrupt`` gets the same line. The run folder also records a
raise-mode failure in ``raised.json`` (see :mod:`pipemap.storage`), so ``pipemap errors`` shows it.

>>> stored_note(None, "stopped")
'Run stopped: without a run_folder nothing is kept.'
"""

from __future__ import annotations

import contextlib
import json
import linecache
import os
import socket
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from pipemap.storage import RAISED_FILE, atomic_write_bytes

from pipemap.runner.engine._store import is_storage
from pipemap.runner.worker._frames import Frame, WorkerTraceback, trim_traceback

_T = TypeVar("_T")

if TYPE_CHECKING:
    from types import TracebackType

    from pipemap.runner.engine._prepare import Prepared


def stored_counts(prep: Prepared) -> dict[str, tuple[int, int] | None]:
    """Per mapped output of the run: (elements stored in the run folder, elements in total), None
    for a memory storage (saved only when a run ends well); shapes still unknown are left out."""
    counts: dict[str, tuple[int, int] | None] = {}
    for name, storage in prep.store.items():
        if not isinstance(name, str) or not is_storage(storage):
            continue
        if getattr(storage, "supports_persist", False) or getattr(storage, "folder", None) is None:
            counts[name] = None
            continue
        try:
            done = storage.done_mask()
            counts[name] = (int(done.sum()), int(done.size))
        except Exception:  # noqa: BLE001, S112 - an unresolved shape: nothing to count yet
            continue
    return counts


def stored_note(prep: Prepared | None, what: str) -> str:
    """One line: what the run folder keeps and how to continue."""
    folder = None if prep is None else prep.run_info.run_folder
    if folder is None or prep is None:
        return f"Run {what}: without a run_folder nothing is kept."
    counts = stored_counts(prep)
    parts = [f"{name} {c[0]}/{c[1]}" for name, c in counts.items() if c is not None]
    kept = f"{', '.join(parts)} elements" if parts else ""
    lost = [name for name, c in counts.items() if c is None]
    if lost:
        kept += ("; " if kept else "") + f"not {', '.join(lost)}: memory storage is saved only when a run finishes"
    kept = f" ({kept})" if kept else ""
    return f"Run {what}: finished elements are kept in `{folder}`{kept}; rerun with resume=True to continue from there."


def _resolve_frame(frame: Frame, prep: Prepared) -> Frame:
    """A worker's frame of a function pickled by value reads ``<dynamic-code>``: find the
    function by name among the pipeline's functions (and their module globals)."""
    filename, lineno, name, line = frame
    if not filename.startswith("<"):
        return frame
    for f in prep.pipeline.functions:
        func = getattr(f, "func", None)
        candidates = [func, *((getattr(func, "__globals__", None) or {}).get(name),)]
        for obj in candidates:
            code = getattr(obj, "__code__", None)
            if code is not None and code.co_name == name:
                real = code.co_filename
                return real, lineno, name, linecache.getline(real, lineno).strip() or line
    return frame


def _pickled_by_value(tb: TracebackType | None) -> bool:
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<dynamic-code>":
            return True
        tb = tb.tb_next
    return False


def is_element_error(exc: BaseException) -> bool:
    """An exception raised by the user's function for one element (carries pipemap's note)."""
    return hasattr(exc, "_pipemap_frames") or hasattr(exc, "_pipemap_snapshot")


def tidy_element_error(exc: BaseException, prep: Prepared) -> BaseException:
    """``exc`` with the user's frames only, the worker's frames as its cause, and the note on
    what is kept; the caller re-raises it (``raise exc.with_traceback(...)``)."""
    trimmed = trim_traceback(exc.__traceback__)
    frames: list[Frame] = list(getattr(exc, "_pipemap_frames", None) or [])
    if frames and _pickled_by_value(trimmed):  # (Dask rebuilds a worker's frames: "<dynamic-code>")
        trimmed = None
    exc.__traceback__ = trimmed
    if trimmed is None and frames:
        exc.__cause__ = WorkerTraceback([_resolve_frame(f, prep) for f in frames])
    else:
        exc.__cause__ = None
    exc.__suppress_context__ = True
    note = stored_note(prep, "stopped")
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)
    return exc


async def recording_raised(coro: Coroutine[object, None, _T], prep: Prepared) -> _T:
    """``await coro``; the element an error of the user's function stopped the run on goes to
    ``raised.json`` while the run still holds its folder's lock."""
    try:
        return await coro
    except Exception as exc:
        if is_element_error(exc):
            record_raised(exc, prep)
        raise


def _jsonable(value: object) -> object:
    from pipemap.storage import to_jsonable

    return to_jsonable(value)


def record_raised(exc: BaseException, prep: Prepared) -> None:
    """Write ``raised.json`` in the run folder: the element a raise-mode run stopped on (the
    run still holds the folder's lock: see :func:`recording_raised`)."""
    folder = prep.run_info.run_folder
    snapshot = getattr(exc, "_pipemap_snapshot", None)
    if folder is None or snapshot is None:
        return
    notes = list(getattr(exc, "__notes__", ()))
    outputs, index = getattr(exc, "_pipemap_element", None) or (list(getattr(snapshot, "output_names", [])), None)
    record: dict[str, Any] = {
        "version": 1,
        "function": getattr(snapshot.function, "__name__", "?"),
        "exception": f"{type(exc).__name__}: {exc}",
        "note": notes[0] if notes else "",
        "element": _element_of(notes[0] if notes else "") or (", ".join(outputs) or None),
        "outputs": outputs,
        "index": index,
        "inputs": {k: _jsonable(v) for k, v in (snapshot.kwargs or {}).items()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    with contextlib.suppress(OSError, TypeError, ValueError):
        atomic_write_bytes(os.path.join(folder, RAISED_FILE), json.dumps(record).encode())


def _element_of(note: str) -> str | None:
    start = note.find("(element `")
    if start < 0:
        return None
    rest = note[start + len("(element `") :]
    return rest[: rest.find("`")]


def clear_raised(prep: Prepared) -> None:
    """A new run in the folder: the element the last run stopped on is (re)computed now."""
    folder = prep.run_info.run_folder
    if folder is not None:
        with contextlib.suppress(OSError):
            os.remove(os.path.join(folder, RAISED_FILE))


__all__ = ["WorkerTraceback", "clear_raised", "is_element_error", "recording_raised", "stored_counts", "stored_note", "tidy_element_error"]

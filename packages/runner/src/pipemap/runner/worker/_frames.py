"""Which traceback frames are the user's: readable failures (issue 15).

A failure inside a run passes through pipemap's scheduler, asyncio, the executor and the compiled
call; none of those frames helps the person reading the traceback. :func:`user_frames` keeps the
frames from the user's function on (everything it called, too), :func:`trim_traceback` does the
same for a live traceback object.

>>> is_internal_file("<string>"), is_internal_file(__file__), is_internal_file("/home/me/sweep.py")
(True, True, False)
"""

from __future__ import annotations

import os
import sysconfig
import traceback
from types import TracebackType

import pipemap

_PIPEMAP_DIRS = tuple(os.path.join(os.path.abspath(p), "") for p in pipemap.__path__)
_STDLIB = os.path.join(os.path.abspath(sysconfig.get_paths()["stdlib"]), "")
_THIRD_PARTY_RUNNERS = ("distributed", "dask", "tornado", "loky", "cloudpickle", "joblib")
_RUNNER_PARTS = tuple(f"{os.sep}{name}{os.sep}" for name in _THIRD_PARTY_RUNNERS)

#: one frame as it travels back from a worker: (filename, line number, function name, source line)
Frame = tuple[str, int, str, str]


def is_internal_file(filename: str) -> bool:
    """Whether a frame in ``filename`` belongs to the machinery between the user's call of
    ``run_map`` and the user's function: pipemap, the standard library (asyncio,
    concurrent.futures), executors (Dask, loky) and compiled calls (``<string>``)."""
    if filename.startswith("<"):
        return filename == "<string>"
    path = os.path.abspath(filename)
    if path.startswith(_PIPEMAP_DIRS):
        return True
    if "site-packages" in path or "dist-packages" in path:
        return any(part in path for part in _RUNNER_PARTS)
    return path.startswith(_STDLIB)


def _first_user(tbs: list[TracebackType]) -> int | None:
    for k, tb in enumerate(tbs):
        if not is_internal_file(tb.tb_frame.f_code.co_filename):
            return k
    return None


def trim_traceback(tb: TracebackType | None) -> TracebackType | None:
    """A new traceback of the frames of ``tb`` from the first user frame on (None without one)."""
    tbs: list[TracebackType] = []
    while tb is not None:
        tbs.append(tb)
        tb = tb.tb_next
    start = _first_user(tbs)
    if start is None:
        return None
    new: TracebackType | None = None
    for t in reversed(tbs[start:]):
        new = TracebackType(new, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return new


def user_frames(tb: TracebackType | None) -> list[Frame]:
    """The user's frames of ``tb`` as plain tuples (picklable: they travel back from a worker)."""
    summary = traceback.extract_tb(tb)
    for k, fs in enumerate(summary):
        if not is_internal_file(fs.filename):
            return [(fs.filename, fs.lineno or 0, fs.name, fs.line or "") for fs in summary[k:]]
    return []


class WorkerTraceback(Exception):  # noqa: N818 - shown as the cause, it names where the error happened
    """The user's frames of an exception raised in a worker process (set as its ``__cause__``).

    Its message lists the frames like a traceback, so the error a run raises shows the user's code
    from the worker.

    Parameters
    ----------
    frames : list of tuple
        ``(filename, line number, function name, source line)`` per frame, outermost first.

    Examples
    --------
    >>> print(WorkerTraceback([("model.py", 12, "solve", "return 1 / x")]))
    in a worker process (most recent call last):
      File "model.py", line 12, in solve
        return 1 / x
    """

    def __init__(self, frames: list[Frame]) -> None:
        lines = ["in a worker process (most recent call last):"]
        for filename, lineno, name, line in frames:
            lines.append(f'  File "{filename}", line {lineno}, in {name}')
            if line:
                lines.append(f"    {line.strip()}")
        super().__init__("\n".join(lines))


WorkerTraceback.__module__ = "pipemap.runner"  # the printed name: pipemap.runner.WorkerTraceback

"""A script that starts a parallel run without ``if __name__ == "__main__":`` (issue 15).

With the ``forkserver`` and ``spawn`` start methods (``forkserver`` is the default on Linux from
Python 3.14, and pipemap's pool uses it when threads of unknown origin run) every worker process
imports the main script again. Unguarded, the script's run starts once more in each worker,
which dies while starting: the parent would only see a broken pool. Two checks make this one
clear error instead:

* :func:`check_main_guard` (parent, before the workers start): the line of the main script that
  runs the pipeline lies outside an ``if __name__ ...:`` block;
* :func:`refuse_in_bootstrapping_child` (a worker being started): ``run_map`` is called while
  multiprocessing is still importing the main script in the child; it says why on stderr, once,
  and ends the child.

>>> _guarded_lines("if __name__ == '__main__':\\n    run()\\nrun()\\n")
[(1, 2)]
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import sys
from types import FrameType

#: the exit status of a worker that ended because the main script is not guarded
MAIN_GUARD_EXIT_STATUS = 76


class MainGuardError(RuntimeError):
    """A parallel run started at import time of a script that worker processes import again.

    Under the ``forkserver`` or ``spawn`` start method, workers import the main script; a run at
    its top level would start again in every worker. The message names the script line: put the
    code under ``if __name__ == "__main__":`` (or pass ``parallel=False``).

    Examples
    --------
    >>> issubclass(MainGuardError, RuntimeError)
    True
    """


def guard_message(where: str, method: str) -> str:
    """The one message, naming the script line and the start method."""
    return (
        f"{where} runs a parallel pipemap run at the top level of the script. Worker processes"
        f" (start method {method!r}) import the main script again, so the run would start once more in"
        " every worker. Put the code that runs the pipeline under `if __name__ == \"__main__\":`"
        " (or pass parallel=False)."
    )


def _guarded_lines(source: str) -> list[tuple[int, int]]:
    """Line ranges of the bodies of ``if`` blocks whose test reads ``__name__``."""
    ranges = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test)):
            ranges.append((node.lineno, node.end_lineno or node.lineno))
    return ranges


def _main_module_frame() -> FrameType | None:
    main = sys.modules.get("__main__")
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and main is not None and frame.f_globals is vars(main):
            return frame
        frame = frame.f_back
    return None


def unguarded_main_call() -> tuple[str, int] | None:
    """(script, line) when this call comes from top-level code of the main script outside an
    ``if __name__ ...:`` block; None otherwise (guarded, interactive, ``-c``, a notebook)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not isinstance(path, str) or not path.endswith(".py"):
        return None
    frame = _main_module_frame()
    if frame is None:
        return None
    line = frame.f_lineno
    try:
        with open(path, encoding="utf-8") as file:
            ranges = _guarded_lines(file.read())
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None
    if any(start <= line <= end for start, end in ranges):
        return None
    return path, line


def check_main_guard(method: str) -> None:
    """Raise :class:`MainGuardError` when workers started with ``method`` would re-run this run."""
    if method == "fork":
        return
    found = unguarded_main_call()
    if found is not None:
        raise MainGuardError(guard_message(f"`{found[0]}`, line {found[1]},", method))


def refuse_in_bootstrapping_child() -> None:
    """In a worker that is still importing the main script: say why on stderr and end it."""
    if not getattr(multiprocessing.current_process(), "_inheriting", False):
        return
    method = "forkserver" if "multiprocessing.forkserver" in sys.modules else "spawn"
    main = sys.modules.get("__mp_main__") or sys.modules.get("__main__")
    where = f"`{getattr(main, '__file__', 'the main script')}`"
    print(f"pipemap (worker {os.getpid()}): {guard_message(where, method)}", file=sys.stderr, flush=True)
    raise SystemExit(MAIN_GUARD_EXIT_STATUS)


MainGuardError.__module__ = "pipemap.runner"  # printed as pipemap.runner.MainGuardError

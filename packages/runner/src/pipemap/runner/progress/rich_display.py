"""A rich terminal display: one bar per function with counts, failures, rate and ETA.

No background refresh thread: the bars are redrawn from the event stream, throttled by
:class:`~pipemap.runner.progress.base.ThrottledDisplay`.

>>> import io
>>> from rich.console import Console
>>> from pipemap.runner._events import HeadlessTracker, RunStarted, ChunkDone, FunctionDone, RunFinished
>>> tracker = HeadlessTracker()
>>> d = RichDisplay(tracker, console=Console(file=io.StringIO(), width=100))
>>> for e in [RunStarted({"y": 4}), ChunkDone("y", 4, 1, 0.0), FunctionDone("y"), RunFinished()]:
...     tracker(e); d(e)
>>> "4/4" in d.console.file.getvalue()
True
"""

from __future__ import annotations

from typing import Any

from .._events import HeadlessTracker, RunFinished, RunStarted
from .base import MAX_FPS, ThrottledDisplay


def _columns() -> list[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return [
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]}", style="red", markup=False),
        TextColumn("{task.fields[rate]}", markup=False),
        TimeElapsedColumn(),
        TextColumn("ETA", markup=False),
        TimeRemainingColumn(),
    ]


_CONSOLES: dict[int, Any] = {}


def _stderr_console(console_class: Any) -> Any:
    """One rich Console per ``sys.stderr`` object (creating one probes the terminal each time)."""
    import sys

    key = id(sys.stderr)
    console = _CONSOLES.get(key)
    if console is None or console.file is not sys.stderr:
        _CONSOLES.clear()
        console = _CONSOLES[key] = console_class(file=sys.stderr)
    return console


class RichDisplay(ThrottledDisplay):
    """``show_progress="rich"`` (and ``True`` outside Jupyter)."""

    def __init__(self, tracker: HeadlessTracker, console: Any = None, max_fps: float = MAX_FPS) -> None:
        super().__init__(tracker, max_fps)
        from rich.console import Console

        self.console = console if console is not None else _stderr_console(Console)
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}

    def start(self, event: RunStarted) -> None:
        from rich.progress import Progress

        self.progress = Progress(*_columns(), console=self.console, auto_refresh=False, transient=False)
        for name, total in event.totals.items():
            self.tasks[name] = self.progress.add_task(name, total=total, failed="", rate="")
        self.progress.live.start(refresh=False)  # first render after 1 / max_fps, or at the end

    def draw(self, final: bool = False) -> None:
        if self.progress is None:
            return
        for name, p in self.tracker.progress.items():
            task_id = self.tasks.get(name)
            if task_id is None:
                task_id = self.tasks[name] = self.progress.add_task(name, total=p.total, failed="", rate="")
            total = p.total if p.total is not None else None
            if p.done and total is None:
                total = p.completed
            task = self.progress.tasks[task_id] if task_id < len(self.progress.tasks) else None
            speed = task.speed if task is not None else None
            self.progress.update(
                task_id,
                total=total,
                completed=p.completed if not (p.done and total) else max(p.completed, total),
                failed=f"{p.failed} failed" if p.failed else "",
                rate=f"{speed:,.0f}/s" if speed else "",
            )
        if not final:  # the final state is rendered once by ``stop``
            self.progress.refresh()

    def stop(self, event: RunFinished) -> None:
        if self.progress is not None:
            self.progress.stop()

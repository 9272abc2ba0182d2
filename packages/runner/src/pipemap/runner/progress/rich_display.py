"""A rich terminal display: one bar per function with counts, failures, rate, elapsed time and ETA.

No background refresh thread: the bars are redrawn from the event stream, throttled by
:class:`~pipemap.runner.progress.base.ThrottledDisplay`. Each bar is one plain ``rich.text.Text``
line built here (not a ``rich.progress.Progress`` table): a redraw costs about 0.15 ms instead
of about 1 ms, which keeps the whole display under 1% of a 0.1 s run.

>>> import io
>>> from rich.console import Console
>>> from pipemap.runner.engine._events import HeadlessTracker, RunStarted, ChunkDone, FunctionDone, RunFinished
>>> tracker = HeadlessTracker()
>>> d = RichDisplay(tracker, console=Console(file=io.StringIO(), width=100))
>>> for e in [RunStarted({"y": 4}), ChunkDone("y", 4, 1, 0.0), FunctionDone("y"), RunFinished()]:
...     tracker(e); d(e)
>>> "4/4" in d.console.file.getvalue() and "1 failed" in d.console.file.getvalue()
True
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pipemap.runner.engine._events import FunctionProgress, HeadlessTracker, RunFinished, RunStarted
from .base import MAX_FPS, ThrottledDisplay, format_seconds, rate_and_eta

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

#: characters of one bar
BAR_WIDTH = 40


def bar_line(name: str, width: int, p: FunctionProgress, elapsed: float, max_width: int = 120) -> Text:
    """One function's line: name, bar, ``completed/total``, failures, rate, elapsed, ETA.

    The bar is up to :data:`BAR_WIDTH` characters and shrinks so the line fits ``max_width``.

    >>> from pipemap.runner.engine._events import FunctionProgress
    >>> line = bar_line("y", 1, FunctionProgress(10, completed=5), 1.0)
    >>> line.plain.split()[-5:]
    ['5/10', '5/s', '0:01', 'ETA', '0:01']
    >>> len(bar_line("y", 1, FunctionProgress(10, completed=5), 1.0, max_width=40).plain)
    40
    """
    from rich.text import Text

    total = p.total if p.total is not None else (p.completed if p.done else None)
    fraction = p.fraction if total else (1.0 if p.done else 0.0)
    rate, eta = rate_and_eta(p.completed, total, elapsed, p.stored_before)
    tail = [
        (f" {p.completed}/{'?' if total is None else total}", "green"),
        (f" {p.failed} failed" if p.failed else "", "red"),
        (f" {p.reused} reused" if p.reused else "", "blue"),
        (f" {rate:,.0f}/s" if rate is not None else " --/s", ""),
        (f" {format_seconds(elapsed)}", "yellow"),
        (f" ETA {format_seconds(0.0 if p.done else eta)}", "cyan"),
        (" inline" if p.inline else "", "dim"),  # ran in the parent: too cheap for the pool
    ]
    bar = max(5, min(BAR_WIDTH, max_width - width - 1 - sum(len(text) for text, _ in tail)))
    filled = int(round(bar * fraction))
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(name.ljust(width), style="bold")
    line.append(" ")
    line.append("━" * filled, style="green" if p.done and not p.failed else ("red" if p.failed else "magenta"))
    line.append("━" * (bar - filled), style="grey23")
    for text, style in tail:
        line.append(text, style=style)
    return line


class RichDisplay(ThrottledDisplay):
    """``show_progress="rich"`` (and ``True`` outside Jupyter)."""

    def __init__(self, tracker: HeadlessTracker, console: Console | None = None, max_fps: float = MAX_FPS) -> None:
        super().__init__(tracker, max_fps)
        from rich.console import Console

        self.console = console if console is not None else _stderr_console(Console)
        self.live: Live | None = None
        self.began: dict[str, float] = {}  # when each function's work began (first seen busy)
        self.ended: dict[str, float] = {}  # ... and when it was first seen done

    def start(self, event: RunStarted) -> None:
        from rich.live import Live

        self.live = Live(console=self.console, auto_refresh=False, transient=False, redirect_stdout=False,
                         redirect_stderr=False)
        self.live.start(refresh=False)  # first render after 1 / max_fps, or at the end
        for line in event.recomputed:  # a resume that found stale stored values says which, once
            self.live.console.print(f"resume recomputes {line}", markup=False, highlight=False)

    def _elapsed(self, name: str, p: FunctionProgress, now: float) -> float:
        if name not in self.began and (p.computed or p.done):
            self.began[name] = now - p.elapsed  # the work already done tells when it started
        if p.done and name not in self.ended:
            self.ended[name] = now
        began = self.began.get(name)
        return 0.0 if began is None else self.ended.get(name, now) - began

    def draw(self, final: bool = False) -> None:
        if self.live is None:
            return
        from rich.console import Group

        now = time.monotonic()
        items = self.tracker.progress.items()
        width = max((len(name) for name, _ in items), default=1)
        cols = self.console.width
        lines = [bar_line(name, width, p, self._elapsed(name, p, now), cols) for name, p in items]
        self.live.update(Group(*lines), refresh=not final)  # the final state is rendered by ``stop``

    def stop(self, event: RunFinished) -> None:
        if self.live is not None:
            self.live.stop()
            if not self.console.is_interactive and not self.console.is_jupyter:
                self.console.print()  # a file or pipe gets the final bars, then a line break


_CONSOLES: dict[int, Console] = {}


def _stderr_console(console_class: type[Console]) -> Console:
    """One rich Console per ``sys.stderr`` object (creating one probes the terminal each time)."""
    import sys

    key = id(sys.stderr)
    console = _CONSOLES.get(key)
    if console is None or console.file is not sys.stderr:
        _CONSOLES.clear()
        console = _CONSOLES[key] = console_class(file=sys.stderr)
    return console

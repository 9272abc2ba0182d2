"""An ipywidgets display for notebooks: a progress bar and a counts/rate/ETA label per function.

``ipywidgets`` is imported lazily (extra ``pipemap-runner[widgets]``); constructing the display
works without a notebook front end, so it can be tested headlessly.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pipemap.runner.engine._events import HeadlessTracker, RunFinished, RunStarted
from .base import MAX_FPS, ThrottledDisplay, rate_and_eta, format_seconds

if TYPE_CHECKING:
    import ipywidgets


class WidgetsDisplay(ThrottledDisplay):
    """``show_progress="ipywidgets"`` (and ``True``/``None`` inside Jupyter).

    >>> import pytest; _ = pytest.importorskip("ipywidgets")
    >>> from pipemap.runner.engine._events import HeadlessTracker, RunStarted, ChunkDone, FunctionDone, RunFinished
    >>> t = HeadlessTracker(); d = WidgetsDisplay(t)
    >>> for e in [RunStarted({"y": 4}), ChunkDone("y", 4, 0, 0.0), FunctionDone("y"), RunFinished()]:
    ...     t(e); d(e)
    >>> d.bars["y"].value, d.bars["y"].max
    (4, 4)
    """

    def __init__(self, tracker: HeadlessTracker, max_fps: float = MAX_FPS) -> None:
        super().__init__(tracker, max_fps)
        import ipywidgets

        self._w = ipywidgets
        self.bars: dict[str, ipywidgets.IntProgress] = {}
        self.labels: dict[str, ipywidgets.HTML] = {}
        self.rows = ipywidgets.VBox([])
        self.status = ipywidgets.HTML("")
        self.widget = ipywidgets.VBox([self.rows, self.status])

    def _row(self, name: str, total: int | None) -> None:
        w = self._w
        bar = w.IntProgress(value=0, min=0, max=total or 1, description=name, bar_style="info")
        label = w.HTML("")
        self.bars[name], self.labels[name] = bar, label
        self.rows.children = (*self.rows.children, w.HBox([bar, label]))

    def start(self, event: RunStarted) -> None:
        for name, total in event.totals.items():
            self._row(name, total)
        self.status.value = "running"
        self.draw()

    def draw(self, final: bool = False) -> None:
        now = time.monotonic()
        elapsed = now - self.started_at if self.started_at is not None else 0.0
        for name, p in self.tracker.progress.items():
            if name not in self.bars:
                self._row(name, p.total)
            bar, label = self.bars[name], self.labels[name]
            total = p.total if p.total is not None else (p.completed if p.done else max(p.completed, 1))
            bar.max = max(total, 1)
            bar.value = min(p.completed, bar.max) if not p.done else bar.max
            if p.done:
                bar.bar_style = "danger" if p.failed else "success"
            rate, eta = rate_and_eta(p.completed, p.total, elapsed, p.stored_before)
            speed = f"{rate:,.0f}/s" if rate else "--/s"
            failed = f" <span style='color:red'>{p.failed} failed</span>" if p.failed else ""
            total_text = "?" if p.total is None else str(p.total)
            eta_text = format_seconds(0.0 if p.done else eta)
            reused = f" ({p.reused} reused)" if p.reused else ""
            inline = " | in the parent (too cheap for the pool)" if p.inline else ""
            label.value = f"{p.completed}/{total_text}{reused}{failed} | {speed} | ETA {eta_text}{inline}"

    def stop(self, event: RunFinished) -> None:
        self.status.value = "failed: " + type(event.error).__name__ if event.error is not None else "done"

    def display(self) -> None:
        """Show the widget in the current notebook cell."""
        from IPython.display import display

        display(self.widget)

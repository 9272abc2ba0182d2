"""A display = a listener of the typed progress events that redraws at most ``max_fps`` times a second.

Counting is done by the run's :class:`~pipemap.runner.engine._events.HeadlessTracker` (cheap: one
event per written batch, never per element); a display only reads those counters when it
redraws. Progress events redraw only when the last redraw is older than ``1 / max_fps`` and the
run is older than :data:`FIRST_DRAW_AFTER` (a run shorter than that renders once, at its end, so
a quick run pays for one render only); the end of the run always redraws.

>>> from pipemap.runner.engine._events import HeadlessTracker, RunStarted, ChunkDone, RunFinished
>>> class Count(ThrottledDisplay):
...     def draw(self, final=False): self.draws = getattr(self, "draws", 0) + 1
>>> tracker = HeadlessTracker(); d = Count(tracker)
>>> for e in [RunStarted({"y": 3000})] + [ChunkDone("y", 1, 0, 0.0)] * 3000 + [RunFinished()]:
...     tracker(e); d(e)
>>> d.draws <= 2
True
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pipemap.runner.engine._events import ChunkDone, Event, FunctionDone, HeadlessTracker, RunFinished, RunStarted, ShapeResolved

if TYPE_CHECKING:
    from pipemap.runner.engine._events import FunctionProgress

#: redraws per second, at most
MAX_FPS = 10.0
#: seconds into the run before the first redraw (quick runs render once, at their end)
FIRST_DRAW_AFTER = 0.25


class ThrottledDisplay:
    """Base class of the displays: throttling and lifecycle; subclasses implement ``draw``."""

    def __init__(self, tracker: HeadlessTracker, max_fps: float = MAX_FPS) -> None:
        self.tracker = tracker
        self.interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self._last = 0.0
        self.n_draws = 0
        self.started_at: float | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, ChunkDone | FunctionDone | ShapeResolved):
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last = now
            self._draw()
        elif isinstance(event, RunStarted):
            self.started_at = time.monotonic()
            delay = max(0.0, FIRST_DRAW_AFTER - self.interval) if self.interval else 0.0  # max_fps=0: every event
            self._last = self.started_at + delay
            self.start(event)
        elif isinstance(event, RunFinished):
            self._draw(final=True)
            self.stop(event)

    def _draw(self, final: bool = False) -> None:
        self._last = time.monotonic()
        self.n_draws += 1
        self.draw(final=final)

    # hooks ----------------------------------------------------------------------------
    def start(self, event: RunStarted) -> None:
        """Called once when the run starts (build the bars)."""

    def draw(self, final: bool = False) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def stop(self, event: RunFinished) -> None:
        """Called once when the run ends."""


def rate_and_eta(
    completed: int, total: int | None, elapsed: float, stored_before: int = 0
) -> tuple[float | None, float | None]:
    """Elements per second and seconds left (None when unknown); ``stored_before`` of the
    ``completed`` elements were stored by an earlier run (a resume) and do not count for the rate.

    >>> rate_and_eta(50, 100, 2.0), rate_and_eta(90, 100, 2.0, stored_before=40)
    ((25.0, 2.0), (25.0, 0.4))
    """
    computed = completed - stored_before
    if elapsed <= 0 or computed <= 0:
        return None, None
    rate = computed / elapsed
    eta = (total - completed) / rate if total is not None else None
    return rate, eta


def format_seconds(seconds: float | None) -> str:
    """``"1:02:03"`` / ``"2:03"`` / ``"--"``.

    >>> format_seconds(3723), format_seconds(123.4), format_seconds(None)
    ('1:02:03', '2:03', '--')
    """
    if seconds is None:
        return "--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def summary_line(name: str, p: FunctionProgress, now: float, started: float | None) -> str:
    """One line of counts, rate and ETA for function ``name`` (used by the plain displays)."""
    elapsed = now - started if started is not None else 0.0
    rate, eta = rate_and_eta(p.completed, p.total, elapsed, p.stored_before)
    total = "?" if p.total is None else str(p.total)
    failed = f", {p.failed} failed" if p.failed else ""
    failed += f", {p.reused} reused" if p.reused else ""
    speed = f"{rate:,.0f}/s" if rate is not None else "--/s"
    inline = " | in the parent (too cheap for the pool)" if p.inline else ""
    return f"{name}: {p.completed}/{total}{failed} | {speed} | ETA {format_seconds(0.0 if p.done else eta)}{inline}"

"""Typed progress events and a headless tracker.

The scheduler emits a stream of small, immutable events; displays (rich, ipywidgets, the
headless counters below) are plain callables that receive them.  Emitting is cheap: the
scheduler sends one :class:`ChunkDone` per written batch, never one event per element.

Example
-------
>>> tracker = HeadlessTracker()
>>> tracker(RunStarted(totals={"y": 3}))
>>> tracker(ChunkDone(output_name="y", n_done=3, n_failed=0, elapsed=0.01))
>>> tracker.progress["y"].completed
3
>>> tracker(AlreadyStored("y", 5)); tracker.progress["y"].completed, tracker.progress["y"].computed
(8, 3)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias


@dataclass(frozen=True, slots=True)
class RunStarted:
    """The run begins; ``totals`` maps a function's first output name to its element count (None: unknown);
    ``recomputed``: what a resume recomputes because stored values were stale, one line per function."""

    totals: dict[str, int | None]
    run_folder: str | None = None
    recomputed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChunkDone:
    """A batch of ``n_done`` elements of ``output_name``'s function finished (``n_failed`` of them failed)."""

    output_name: str
    n_done: int
    n_failed: int
    elapsed: float


@dataclass(frozen=True, slots=True)
class AlreadyStored:
    """A resumed run found ``n_done`` elements of ``output_name``'s function stored by an earlier
    run: they count as completed from the start (they are not computed again). ``reused`` of
    them were taken from ``reuse_from`` folders by this run."""

    output_name: str
    n_done: int
    reused: int = 0


@dataclass(frozen=True, slots=True)
class ElementFailed:
    """An element raised (continue mode) or was skipped because its inputs held errors."""

    output_name: str
    index: int | None
    error: Any


@dataclass(frozen=True, slots=True)
class ShapeResolved:
    """A function's element count became known at run time."""

    output_name: str
    total: int


@dataclass(frozen=True, slots=True)
class FunctionDone:
    """Every element of ``output_name``'s function is stored."""

    output_name: str


@dataclass(frozen=True, slots=True)
class RanInline:
    """``parallel=True`` on the default pool, but ``output_name``'s function ran in the parent:
    its elements were measured too cheap for the pool to pay (``reason`` says how cheap)."""

    output_name: str
    reason: str


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The run ended; ``error`` holds the exception when it failed."""

    error: BaseException | None = None


Event: TypeAlias = (
    RunStarted | ChunkDone | AlreadyStored | ElementFailed | ShapeResolved | FunctionDone | RanInline | RunFinished
)
Listener: TypeAlias = Callable[[Event], None]


class EventBus:
    """Fan an event out to a list of listeners (the scheduler's single emit point).

    >>> seen = []
    >>> bus = EventBus([seen.append])
    >>> bus.emit(FunctionDone("y"))
    >>> seen
    [FunctionDone(output_name='y')]
    """

    __slots__ = ("listeners",)

    def __init__(self, listeners: list[Listener] | None = None) -> None:
        self.listeners: list[Listener] = list(listeners or [])

    def __bool__(self) -> bool:
        return bool(self.listeners)

    def emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)


@dataclass(slots=True)
class FunctionProgress:
    """Counters of one function: total (None until known), completed (``stored_before`` of them
    stored by an earlier run, before a resume), failed, timing."""

    total: int | None
    completed: int = 0
    failed: int = 0
    done: bool = False
    started_at: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0
    stored_before: int = 0
    reused: int = 0  # of ``stored_before``: taken from ``reuse_from`` folders by this run
    #: set when the function ran in the parent although the run is parallel (:class:`RanInline`)
    inline: str | None = None

    @property
    def computed(self) -> int:
        """Elements finished by this run (what rates and ETAs are measured on)."""
        return self.completed - self.stored_before

    @property
    def fraction(self) -> float:
        if self.done:
            return 1.0
        if not self.total:
            return 0.0
        return min(1.0, self.completed / self.total)


class HeadlessTracker:
    """Counts progress per function without displaying anything (``show_progress="headless"``).

    >>> t = HeadlessTracker()
    >>> t(RunStarted(totals={"y": 2}))
    >>> t(ChunkDone("y", 2, 1, 0.0)); t(FunctionDone("y"))
    >>> t.progress["y"].failed, t.progress["y"].fraction
    (1, 1.0)
    """

    def __init__(self) -> None:
        self.progress: dict[str, FunctionProgress] = {}
        #: what a resume recomputes because stored values were stale ("function `f` (y): code changed")
        self.recomputed: tuple[str, ...] = ()
        self.finished = False
        self.error: BaseException | None = None

    def __call__(self, event: Event) -> None:
        if type(event) is ChunkDone:  # by far the most frequent event: the cheapest path
            p = self.progress.get(event.output_name)
            if p is None:
                p = self.progress[event.output_name] = FunctionProgress(None)
            p.completed += event.n_done
            p.failed += event.n_failed
            p.elapsed += event.elapsed
        elif isinstance(event, RunStarted):
            self.recomputed = event.recomputed
            for name, total in event.totals.items():
                self.progress[name] = FunctionProgress(total)
        elif isinstance(event, AlreadyStored):
            p = self.progress.setdefault(event.output_name, FunctionProgress(None))
            p.completed += event.n_done
            p.stored_before += event.n_done
            p.reused += event.reused
        elif isinstance(event, ShapeResolved):
            self.progress.setdefault(event.output_name, FunctionProgress(None)).total = event.total
        elif isinstance(event, FunctionDone):
            self.progress.setdefault(event.output_name, FunctionProgress(None)).done = True
        elif isinstance(event, RanInline):
            self.progress.setdefault(event.output_name, FunctionProgress(None)).inline = event.reason
        elif isinstance(event, RunFinished):
            self.finished = True
            self.error = event.error

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """A JSON-friendly snapshot of the counters (``stored_before`` only in a resumed run that
        found stored elements: they are part of ``completed``)."""
        out: dict[str, dict[str, Any]] = {}
        for name, p in self.progress.items():
            out[name] = {"total": p.total, "completed": p.completed, "failed": p.failed, "done": p.done}
            if p.stored_before:
                out[name]["stored_before"] = p.stored_before
            if p.reused:
                out[name]["reused"] = p.reused
            if p.inline:
                out[name]["inline"] = p.inline
        return out

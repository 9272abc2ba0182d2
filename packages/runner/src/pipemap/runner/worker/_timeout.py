"""Per-function element timeouts (``PipeFunc(..., timeout=seconds)``).

The limit is enforced with ``SIGALRM`` in the thread that calls the function: in sequential runs
and in process-pool workers (loky, ``ProcessPoolExecutor``, Dask worker *processes* run tasks in
threads, so they cannot). Where it cannot be enforced, a ``UserWarning`` says so once. Code stuck
in C without returning to the interpreter is only interrupted when it returns.

The caller's own ``ITIMER_REAL`` timer and ``SIGALRM`` handler (``signal.setitimer``,
pytest-timeout, a watchdog) are left alone: each call saves them, arms the earlier of the two
deadlines, and restores the handler and the caller's remaining time (and interval) afterwards.
When the caller's timer expires during a call, its handler runs then, inside the call, as it
would without a timeout (an exception it raises ends the call; ``SIG_DFL`` terminates the process,
as the default action of ``SIGALRM`` does), and the call's own limit stays armed. A caller's
expiry that coincides with the call's timeout is delivered right after the handler is restored.

>>> import time
>>> slow = with_timeout(lambda: time.sleep(2), 0.05, "nap")
>>> try:
...     slow()
... except FunctionTimeoutError as e:
...     print(e)
`nap` exceeded its timeout of 0.05 s
"""

from __future__ import annotations

import signal
import threading
import warnings
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import FrameType

__all__ = ["FunctionTimeoutError", "with_timeout"]

_warned: set[str] = set()
_UNKNOWN = object()


class FunctionTimeoutError(TimeoutError):
    """A function call took longer than its ``timeout``.

    >>> issubclass(FunctionTimeoutError, TimeoutError)
    True
    """


def with_timeout(call: Callable[..., Any], seconds: float, name: str) -> Callable[..., Any]:
    """``call`` limited to ``seconds`` per invocation (unchanged where SIGALRM cannot be used)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        if name not in _warned:
            _warned.add(name)
            warnings.warn(
                f"The timeout of `{name}` is not enforced here: it needs the main thread of a process "
                "(sequential runs or process pools), not a thread pool or threaded worker.",
                UserWarning,
                stacklevel=2,
            )
        return call
    message = f"`{name}` exceeded its timeout of {seconds:g} s"

    def timed(*args: object, **kwargs: object) -> Any:
        alarm = _Alarm(monotonic() + seconds, message)
        alarm.previous = signal.signal(signal.SIGALRM, alarm.on_alarm)
        delay, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
        if delay:  # the caller's timer was running: keep its deadline, fire the earlier one
            alarm.adopt(delay, interval, seconds)
        try:
            return call(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            previous = alarm.previous
            signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
            if alarm.caller_deadline is not None or alarm.missed:
                alarm.give_back()

    positional = getattr(call, "__positional__", None)
    if positional is not None:
        timed.__positional__ = positional  # type: ignore[attr-defined]  # the chunk path reads it
    return timed


class _Alarm:
    """One timed call's ``SIGALRM``: its own deadline and, if one was running, the caller's timer."""

    __slots__ = ("deadline", "message", "previous", "caller_deadline", "caller_interval", "missed")

    def __init__(self, deadline: float, message: str) -> None:
        self.deadline = deadline
        self.message = message
        self.previous: Any = _UNKNOWN  # the caller's handler, set as soon as ours is installed
        self.caller_deadline: float | None = None
        self.caller_interval = 0.0
        self.missed = False  # the caller's timer fired before we knew its handler

    def adopt(self, delay: float, interval: float, seconds: float) -> None:
        """Remember the caller's timer (``delay`` left, ``interval``) and arm whichever is first."""
        self.caller_deadline = self.deadline - seconds + delay
        self.caller_interval = interval
        if delay < seconds:
            signal.setitimer(signal.ITIMER_REAL, delay)

    def on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if monotonic() >= self.deadline:
            raise FunctionTimeoutError(self.message)
        if self.previous is _UNKNOWN:  # (a microsecond window while installing ours): deliver it after the call
            self.missed = True
            signal.setitimer(signal.ITIMER_REAL, self.deadline - monotonic())
            return
        # the caller's timer expired first: its handler runs now, as it would have without us
        if self.caller_deadline is not None:
            self.caller_deadline = self.caller_deadline + self.caller_interval if self.caller_interval else None
        _deliver(self.previous, signum, frame)
        now = monotonic()
        left = self.deadline - now
        if left <= 0:
            raise FunctionTimeoutError(self.message)
        if self.caller_deadline is not None:
            left = min(left, max(self.caller_deadline - now, 1e-6))
        signal.setitimer(signal.ITIMER_REAL, left)

    def give_back(self) -> None:
        """After the call (handler already restored): the caller's timer runs on with its remaining time."""
        left = -1.0 if self.caller_deadline is None else self.caller_deadline - monotonic()
        if left > 0:
            signal.setitimer(signal.ITIMER_REAL, left, self.caller_interval)
            if not self.missed:
                return
        elif self.caller_interval:
            signal.setitimer(signal.ITIMER_REAL, self.caller_interval, self.caller_interval)
        signal.raise_signal(signal.SIGALRM)  # expired during the call, not delivered yet: now


def _deliver(handler: object, signum: int, frame: FrameType | None) -> None:
    """Run the caller's ``SIGALRM`` disposition ``handler`` for an expiry of its timer."""
    if callable(handler):
        handler(signum, frame)
    elif handler == signal.SIG_DFL or handler is None:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGALRM)  # the default action: the process terminates

"""Per-function element timeouts (``PipeFunc(..., timeout=seconds)``).

The limit is enforced with ``SIGALRM`` in the thread that calls the function: in sequential runs
and in process-pool workers (loky, ``ProcessPoolExecutor``, Dask worker *processes* run tasks in
threads, so they cannot). Where it cannot be enforced, a ``UserWarning`` says so once. Code stuck
in C without returning to the interpreter is only interrupted when it returns.

>>> import time
>>> slow = with_timeout(lambda: time.sleep(2), 0.05, "nap")
>>> try:
...     slow()
... except FunctionTimeoutError as e:
...     print(e)
`nap` exceeded its timeout of 0.05 s
"""

from __future__ import annotations

import math
import signal
import threading
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["FunctionTimeoutError", "validate_timeout", "with_timeout"]

_warned: set[str] = set()


class FunctionTimeoutError(TimeoutError):
    """A function call took longer than its ``timeout``.

    >>> issubclass(FunctionTimeoutError, TimeoutError)
    True
    """


def validate_timeout(timeout: Any, name: str) -> float | None:
    """``None`` or a positive, finite number of seconds.

    >>> validate_timeout(2, "f")
    2.0
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (0 < timeout < math.inf):
        msg = f"`timeout` of `{name}` must be a positive number of seconds or None, got {timeout!r}."
        raise ValueError(msg)
    return float(timeout)


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

    def on_alarm(signum: int, frame: Any) -> None:
        msg = f"`{name}` exceeded its timeout of {seconds:g} s"
        raise FunctionTimeoutError(msg)

    def timed(*args: Any, **kwargs: Any) -> Any:
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return call(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    positional = getattr(call, "__positional__", None)
    if positional is not None:
        timed.__positional__ = positional  # type: ignore[attr-defined]  # the chunk path reads it
    return timed

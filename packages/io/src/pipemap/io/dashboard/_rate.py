"""Rate and ETA from the run folder's own timestamps (element file mtimes, pack names).

The rate is the number of elements written in the last :data:`WINDOW` seconds (or since the run
started, if later) divided by that time, measured up to now while a run holds the folder, else up
to the last write. The ETA is ``missing / rate`` while a run holds the folder, else None.

>>> rate, eta = rate_and_eta([(100.0, 10.0), (110.0, 10.0)], 90.0, 40, running=False)
>>> rate, eta
(1.0, None)
"""

from __future__ import annotations

import time

__all__ = ["WINDOW", "rate_and_eta"]

#: seconds of recent writes the rate is measured over
WINDOW = 120.0


def rate_and_eta(
    events: list[tuple[float, float]], start: float | None, missing: int, *, running: bool, now: float | None = None
) -> tuple[float | None, float | None]:
    """``(elements per second, seconds left)``; None where unknown (no writes seen yet)."""
    if not events:
        return None, None
    last = max(t for t, _ in events)
    end = (time.time() if now is None else now) if running else last
    begin = max(end - WINDOW, start if start is not None else min(t for t, _ in events))
    span = end - begin
    written = sum(w for t, w in events if begin <= t <= end)
    if span <= 0:
        return None, None
    rate = written / span
    if not running or missing <= 0:
        return round(rate, 3), (0.0 if missing <= 0 and running else None)
    return round(rate, 3), (round(missing / rate, 1) if rate > 0 else None)

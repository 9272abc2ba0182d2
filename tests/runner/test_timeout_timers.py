"""``PipeFunc(timeout=...)`` leaves the caller's own ``SIGALRM`` timer and handler alone.

The element timeouts use ``ITIMER_REAL``/``SIGALRM``, which a caller may use as well (a plain
``signal.setitimer`` watchdog, pytest-timeout's ``signal`` method). Each timed call must give the
caller its handler and its remaining time (and interval) back, and a caller's timer that expires
during the run must still reach the caller's handler.
"""

from __future__ import annotations

import signal
import time

import pytest
from pipemap.runner import FunctionTimeoutError, PipeFunc, Pipeline, run_map

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")


@pytest.fixture(autouse=True)
def own_alarm():
    """Run with the SIGALRM state of the test (pytest-timeout's timer is put back afterwards)."""
    handler = signal.getsignal(signal.SIGALRM)
    timer = signal.setitimer(signal.ITIMER_REAL, 0)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, handler)
    if timer[0]:
        signal.setitimer(signal.ITIMER_REAL, *timer)


def _nap(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x + 1


def _pipeline(timeout: float) -> Pipeline:
    return Pipeline([PipeFunc(_nap, "y", mapspec="x[i] -> y[i]", timeout=timeout)])


def _single(timeout: float) -> Pipeline:
    return Pipeline([PipeFunc(_nap, "y", timeout=timeout)])


@pytest.mark.parametrize("make", [_pipeline, _single], ids=["mapped", "single"])
def test_caller_timer_and_handler_survive_a_timed_run(tmp_path, make) -> None:
    calls: list[int] = []

    def mine(signum, frame):
        calls.append(signum)

    signal.signal(signal.SIGALRM, mine)
    signal.setitimer(signal.ITIMER_REAL, 100)
    inputs = {"x": [1, 2, 3], "seconds": 0.0} if make is _pipeline else {"x": 1, "seconds": 0.0}
    run_map(make(5.0), inputs, run_folder=tmp_path / "run", parallel=False)
    left, interval = signal.getitimer(signal.ITIMER_REAL)
    assert 50 < left <= 100, f"the caller's timer was not given back: {(left, interval)}"
    assert interval == 0
    assert signal.getsignal(signal.SIGALRM) is mine
    assert calls == []


def test_caller_interval_timer_keeps_its_interval() -> None:
    ticks: list[float] = []
    signal.signal(signal.SIGALRM, lambda signum, frame: ticks.append(time.monotonic()))
    signal.setitimer(signal.ITIMER_REAL, 100, 50)
    run_map(_pipeline(5.0), {"x": [1, 2], "seconds": 0.0}, parallel=False)
    left, interval = signal.getitimer(signal.ITIMER_REAL)
    assert 50 < left <= 100 and interval == 50
    assert ticks == []


def test_caller_timer_expiring_during_the_run_is_delivered(tmp_path) -> None:
    fired: list[float] = []
    signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(time.monotonic()))
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, 0.1)
    r = run_map(_pipeline(30.0), {"x": [1, 2, 3, 4], "seconds": 0.1}, run_folder=tmp_path / "run", parallel=False)
    end = time.monotonic()
    assert r["y"].output.tolist() == [2, 3, 4, 5]  # the caller's handler returned: the calls went on
    assert len(fired) == 1, "the caller's timer never reached its handler"
    assert start < fired[0] < end  # delivered while the run was going on, not lost
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # a one-shot timer is spent


def test_caller_periodic_timer_ticks_through_the_run() -> None:
    ticks: list[float] = []
    signal.signal(signal.SIGALRM, lambda signum, frame: ticks.append(time.monotonic()))
    signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
    run_map(_pipeline(30.0), {"x": list(range(6)), "seconds": 0.05}, parallel=False)
    signal.setitimer(signal.ITIMER_REAL, 0)
    assert len(ticks) >= 2, "the caller's periodic timer stopped ticking during the run"


def test_exception_of_the_callers_handler_ends_the_run() -> None:
    class CallerAlarm(BaseException):
        pass

    def raising(signum, frame):
        raise CallerAlarm

    signal.signal(signal.SIGALRM, raising)
    signal.setitimer(signal.ITIMER_REAL, 0.1)
    with pytest.raises(CallerAlarm):
        run_map(_pipeline(30.0), {"x": list(range(50)), "seconds": 0.05}, parallel=False)
    assert signal.getsignal(signal.SIGALRM) is raising


def test_own_timeout_still_fires_while_a_caller_timer_runs() -> None:
    handler = signal.getsignal(signal.SIGALRM)
    signal.setitimer(signal.ITIMER_REAL, 100)
    with pytest.raises(FunctionTimeoutError, match="`_nap` exceeded its timeout of 0.2 s"):
        run_map(_pipeline(0.2), {"x": [1], "seconds": 30.0}, parallel=False)
    left, _ = signal.getitimer(signal.ITIMER_REAL)
    assert 50 < left <= 100
    assert signal.getsignal(signal.SIGALRM) is handler

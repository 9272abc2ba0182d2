"""Retrying an element where it runs: the compiled call wrapped by a :class:`RetryPolicy`.

:func:`with_retries` is applied to a batch's call only when the task has a policy with more than
one attempt (decided once per batch, so a run without retries calls exactly as before). The
wrapper tries an element again, in the same worker and batch, when its call raises one of the
policy's exception types, after the policy's backoff; a ``timeout=`` expiry is such a failure
(``FunctionTimeoutError``). It logs, by call number, the elements that needed more than one
attempt or failed; :func:`records_for` turns that log into ``AttemptRecord``\\ s by linear index.

>>> from pipemap.runner.model._retry_policy import RetryPolicy
>>> tries = []
>>> def flaky(x):
...     tries.append(x)
...     if len(tries) < 3:
...         raise OSError("busy")
...     return x
>>> call, log = with_retries(flaky, RetryPolicy(3))
>>> call(5), log[0][0], log[0][1]
(5, 3, 'OSError')
"""

from __future__ import annotations

import itertools
import os
import socket
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pipemap.storage import AttemptRecord

from pipemap.runner.model._retry_policy import RetryPolicy

__all__ = ["RetryLog", "attempts_note", "host_name", "records_for", "with_retries"]

#: call number -> (attempts, error type, message, traceback, seconds of the successful attempt)
RetryLog = dict[int, tuple[int, str | None, str | None, str | None, float | None]]

_HOST: list[str] = []
#: the error of an element whose earlier attempt ended with its worker's death
_DIED = ("WorkerDiedError", "The worker process running this element died.", None)


def host_name() -> str:
    """This machine's host name (cached)."""
    if not _HOST:
        _HOST.append(socket.gethostname())
    return _HOST[0]


def attempts_note(attempts: int, name: str) -> str:
    """The note added to an element's error once its attempts are exhausted.

    >>> attempts_note(3, "f")
    'Gave up on this element of `f` after 3 attempts (its retry policy).'
    """
    return f"Gave up on this element of `{name}` after {attempts} attempts (its retry policy)."


def with_retries(
    call: Callable[..., Any], policy: RetryPolicy, prior: int = 0, name: str = ""
) -> tuple[Callable[..., Any], RetryLog]:
    """``call`` retried by ``policy`` and the log it fills; ``prior``: attempts each element
    already used up (a worker that died running it), so every element is logged."""
    log: RetryLog = {}
    numbers = itertools.count()
    most = policy.attempts
    matches = policy.retries
    perf = time.perf_counter

    def again(number: int, attempt: int, error: tuple[str, str, str | None] | None, args: tuple) -> Any:
        """Attempt ``attempt`` and the ones after it (``error``: the last one's)."""
        while True:
            if attempt > prior + 1 and (wait := policy.delay(attempt)):
                time.sleep(wait)
            t0 = perf()
            try:
                value = call(*args)
            except Exception as exc:
                error = (type(exc).__name__, str(exc), "".join(traceback.format_exception(exc)))
                if attempt >= most or not matches(exc):
                    log[number] = (attempt, *error, None)
                    if attempt > 1:
                        exc.add_note(attempts_note(attempt, name))
                    raise
                attempt += 1
                continue
            log[number] = (attempt, *(error or (None, None, None)), perf() - t0)
            return value

    if prior:  # every element already failed once: each is timed and recorded
        def retrying(*args: object) -> Any:
            return again(next(numbers), prior + 1, _DIED, args)

    else:
        def retrying(*args: object) -> Any:
            number = next(numbers)
            try:
                return call(*args)  # the first attempt: nothing timed or recorded unless it fails
            except Exception as exc:
                error = (type(exc).__name__, str(exc), "".join(traceback.format_exception(exc)))
                if most <= 1 or not matches(exc):
                    log[number] = (1, *error, None)
                    raise
                return again(number, 2, error, args)

    positional = getattr(call, "__positional__", None)
    if positional is not None:
        retrying.__positional__ = positional  # type: ignore[attr-defined]  # the chunk path reads it
    return retrying, log


def records_for(log: RetryLog, called: Sequence[int] | None, linear: Sequence[int] | np.ndarray) -> dict[int, AttemptRecord]:
    """The log as ``{linear index: AttemptRecord}``; ``called``: the batch position of each call
    (None: call ``k`` was position ``k``)."""
    host, pid = host_name(), os.getpid()
    out = {}
    for number, (attempts, etype, message, tb, seconds) in log.items():
        k = number if called is None else called[number]
        out[int(linear[k])] = AttemptRecord(attempts, etype, message, tb, host, pid, seconds)
    return out

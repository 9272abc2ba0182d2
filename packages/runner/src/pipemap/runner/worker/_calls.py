"""Calling a mapped function for a batch of elements: the compiled call and the paced loop.

:meth:`PipeFunc.compile_call` (:func:`compile_call`) turns a PipeFunc and the names of its
mapped inputs into ``call(*values)`` with literal keywords (no dict per element);
:func:`call_block` calls it for the elements of a
batch, in blocks paced so that a batch stops soon after its deadline (see :class:`Pace` and
``docs/reliability.md``), recording failures as error snapshots in ``"continue"`` mode.

>>> from pipemap.runner import PipeFunc
>>> call = PipeFunc(lambda x, c: x + c, "y", mapspec="x[i] -> y[i]").compile_call(["x"], {"c": 10})
>>> call(1), call.__positional__
(11, ['x'])
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from pipemap.runner.worker._errors import (
    error_types,
    full_info,
    make_error_snapshot,
    propagated_snapshot,
    raise_with_note,
    scan_for_errors,
)
from pipemap.runner.worker._resources import resources_failure
from pipemap.runner.worker._retry import RetryLog, records_for, with_retries
from pipemap.runner.worker._timeout import with_timeout
from pipemap.runner.worker._modes import ErrorHandling
from pipemap.runner.model._pipefunc_calls import compile_call

if TYPE_CHECKING:
    from pipemap.storage import AttemptRecord, ErrorInfo

    from pipemap.runner.worker._chunk import FunctionTask, Linear, TaskCache

__all__ = ["Pace", "call_block", "compile_call", "kwargs_of", "scan_for_errors_column"]

#: within a batch, a block of calls grows to at most this multiple of the calls made so far, so an
#: element that suddenly turns slow is noticed after a bounded number of calls
BLOCK_GROWTH = 8


def kwargs_of(names: list[str], columns: list[list[object]], k: int, const: Mapping[str, object]) -> dict[str, object]:
    """The keyword arguments of element ``k`` of a batch (for error messages and snapshots)."""
    kwargs = {name: col[k] for name, col in zip(names, columns)}
    return {**kwargs, **const}


class Pace:
    """How many calls the next block of a batch makes, so the batch stops near its deadline.

    Without a deadline one block does every call. With one, the first block is a single call (a
    slow first element is written as soon as it finished) unless ``per_call`` (seconds per call
    measured by an earlier batch of the same chunk) says more fit: then it takes half of what
    fits. Later blocks hold as many calls as fit before the deadline at the pace measured so far,
    growing ``BLOCK_GROWTH``-fold at most; 0 means the deadline passed: the batch stops and is
    written.

    >>> Pace(None).next_block(0, 10)
    10
    >>> pace = Pace(time.perf_counter() + 60.0)
    >>> pace.next_block(0, 10), pace.next_block(1, 9), pace.next_block(10, 0)
    (1, 8, 0)
    >>> Pace(time.perf_counter() + 60.0, per_call=1e-6).next_block(0, 500)  # known to be fast
    500
    """

    __slots__ = ("deadline", "per_call", "start")

    def __init__(self, deadline: float | None, per_call: float | None = None) -> None:
        self.deadline = deadline
        self.per_call = per_call
        self.start = time.perf_counter()

    def next_block(self, done: int, remaining: int) -> int:
        if self.deadline is None or remaining <= 0:
            return remaining
        if done == 0:
            if self.per_call is None or self.per_call <= 0:
                return 1
            return max(1, min(remaining, int((self.deadline - self.start) / self.per_call / 2)))
        now = time.perf_counter()
        if now >= self.deadline:
            return 0
        per_call = (now - self.start) / done
        fit = int((self.deadline - now) / per_call) if per_call > 0 else remaining
        return max(1, min(remaining, BLOCK_GROWTH * done, fit))


def call_block(
    task: FunctionTask,
    cache: TaskCache,
    columns: list[list[object]],
    linear: Linear,
    deadline: float | None = None,
    per_call: float | None = None,
    records: dict[int, AttemptRecord] | None = None,
    prior: int = 0,
) -> tuple[list[Any], list[int]]:
    """Call the function for the elements of ``linear`` in order, stopping early once
    ``deadline`` (a ``time.perf_counter()`` value) passed (``per_call``: the pace measured by
    an earlier batch, see :class:`Pace`); returns (values of the elements called, positions of
    failed elements). ``len(values)`` elements were handled.

    With a retry policy (``task.retry``) the call is wrapped once for the batch (see
    :mod:`._retry`; ``prior``: attempts already used by each element, a worker died running
    them) and ``records`` receives the elements that needed more than one attempt or failed."""
    call = cache["call"]
    pf = task.func
    if pf.timeout:
        call = with_timeout(call, pf.timeout, pf.__name__)
    if task.retry is not None:
        call, log = with_retries(call, task.retry, prior, pf.__name__)
        try:
            values, failed = _call_block(task, cache, call, columns, linear, deadline, per_call)
        finally:
            if log and records is not None:
                records.update(records_for(log, _called_positions(task, cache, columns, log), linear))
        return values, failed
    return _call_block(task, cache, call, columns, linear, deadline, per_call)


def _called_positions(task: FunctionTask, cache: TaskCache, columns: list[list[object]], log: RetryLog) -> list[int] | None:
    """The batch position of each call (continue mode skips elements whose inputs hold errors)."""
    if task.error_handling != ErrorHandling.CONTINUE:
        return None
    if cache["const_error"] is not None:
        return []
    bad = {k for col in columns for k, _ in scan_for_errors_column(col)}
    if not bad:
        return None
    n = max(log) + 1
    return list(itertools.islice((k for k in itertools.count() if k not in bad), n))


def _call_block(
    task: FunctionTask,
    cache: TaskCache,
    call: Any,
    columns: list[list[object]],
    linear: Linear,
    deadline: float | None,
    per_call: float | None,
) -> tuple[list[Any], list[int]]:
    pf = task.func
    names = cache["names"]
    used = [columns[names.index(n)] for n in call.__positional__]
    n = len(linear)
    pace = Pace(deadline, per_call)
    if task.error_handling != ErrorHandling.CONTINUE:
        values: list[Any] = []
        try:
            if deadline is None:
                values.extend(map(call, *used) if used else (call() for _ in range(n)))
            else:
                iterators = [iter(c) for c in used]
                while (size := pace.next_block(len(values), n - len(values))) > 0:
                    if iterators:
                        values.extend(map(call, *[itertools.islice(it, size) for it in iterators]))
                    else:
                        values.extend(call() for _ in range(size))
        except Exception as exc:  # noqa: BLE001 - re-raised with a note naming the element
            k = len(values)
            index = int(linear[k])
            raise_with_note(exc, pf, kwargs_of(names, columns, k, task.const), index, task.external_shape)
        return values, []
    return _call_block_continue(task, cache, call, columns, linear, pace)


def _call_block_continue(
    task: FunctionTask,
    cache: TaskCache,
    call: Any,  # a compiled call (it carries ``__positional__``)
    columns: list[list[object]],
    linear: Linear,
    pace: Pace,
) -> tuple[list[Any], list[int]]:
    """``error_handling="continue"``: elements whose inputs hold errors get a propagated
    snapshot without a call; a failing call becomes an ``ErrorSnapshot``; the rest are called."""
    pf = task.func
    names = cache["names"]
    used = [columns[names.index(n)] for n in call.__positional__]
    n = len(linear)
    const_error = cache["const_error"]
    failed: list[int] = []
    bad: dict[int, list[tuple[str, ErrorInfo]]] = {}
    for name, col in zip(names, columns):
        for k, found in scan_for_errors_column(col):
            bad.setdefault(k, []).append((name, found))
    bad_sorted = sorted(bad)
    values: list[Any] = []
    its = [iter(c) for c in used]
    k = 0
    while k < n and (size := pace.next_block(k, n - k)) > 0:
        end = k + size
        while k < end:
            if const_error is not None or k in bad:
                errs = list(bad.get(k, []))
                if const_error is not None:
                    errs.extend(const_error)
                for it in its:
                    next(it)
                values.append(propagated_snapshot(pf, errs, kwargs_of(names, columns, k, task.const)))
                failed.append(k)
                k += 1
                continue
            pos = bisect.bisect_right(bad_sorted, k)
            stop = min(bad_sorted[pos] if pos < len(bad_sorted) else n, end)
            before = len(values)
            try:
                if its:
                    values.extend(map(call, *[itertools.islice(it, stop - k) for it in its]))
                else:
                    values.extend(call() for _ in range(stop - k))
            except Exception as exc:  # noqa: BLE001 - recorded as an ErrorSnapshot
                j = k + (len(values) - before)
                kwargs = kwargs_of(names, columns, j, task.const)
                values.append(resources_failure(pf, exc, kwargs) or make_error_snapshot(pf, exc, kwargs))
                failed.append(j)
                k = j + 1
                continue
            k = stop
    return values, failed


def scan_for_errors_column(col: list[object]) -> list[tuple[int, ErrorInfo]]:
    """Positions in ``col`` whose value is (or contains) an error snapshot."""
    types = error_types()
    if not types:
        return []
    out = []
    for k, v in enumerate(col):
        if isinstance(v, types):
            out.append((k, full_info(v)))
        elif isinstance(v, np.ndarray) and v.dtype == object:
            found = scan_for_errors({"_": v})
            if found:
                out.append((k, found[0][1]))
    return out

"""Run a mapped function in the parent when pipemap's default pool cannot pay for itself.

With ``parallel=True`` and no ``executor`` (the default pool only; an executor the user passes,
or a chunk size the user sets, is always used), a mapped function's first elements run in the
parent, in probes of 1, 8, 64, ... elements (1, 1, 8, ... when the first call was slow). Sending
chunks to the pool and collecting their results costs a few tens of milliseconds per function
however cheap its elements are, and at most saves the work spread over the workers; so as soon as
a probe shows that the remaining elements take less than :data:`INLINE_MAX_SECONDS` in total, the
parent runs them too (e.g. 10^4 elements of 0.1 µs), in batches sized from the measured rate (the
probes are the start of the run, not extra work: such a run costs about what ``parallel=False``
costs). As soon as the probes have computed for :data:`PROBE_SECONDS` (or waited four times that:
I/O, sleeps), or a probe other than the first (which may pay for the function's imports and
caches) took long enough to measure the elements well (elements of a millisecond or more: the
second one decides), the rest goes to the pool: the parent did at most about that much of the work
serially. The default pool is only taken (and, when none is kept, started) then: a function run in
the parent starts no process. Its workers are forked only when every running thread is known to be
safe to fork past (``executors/_executors.py``); a thread the probes started (the function's own)
makes it ``forkserver``.

The decision is announced as a :class:`~pipemap.runner.engine._events.RanInline` event (progress
displays and ``pipefunc_status.json`` show ``inline``) and kept in the run summary
(``results.summary.inline``).

>>> decide(per_element=1e-7, remaining=10_000, spent=1e-4)
'inline'
>>> decide(per_element=0.01, remaining=199, spent=0.01)
'pool'
>>> decide(per_element=2e-5, remaining=100_000, spent=1e-4, probe=1e-4)
'probe'
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import TYPE_CHECKING, Literal, NamedTuple

from pipemap.runner.executors._executors import cpu_count
from pipemap.runner.worker._chunk import MAX_BATCH, _task_cache, run_batch, run_chunk

if TYPE_CHECKING:
    from pipemap.runner.engine._run_context import MappedJob
    from pipemap.runner.worker._chunk import FunctionTask, Linear

__all__ = [
    "INLINE_MAX_SECONDS", "MIN_ELEMENTS_PER_WORKER", "PROBE_SECONDS", "Probed", "decide", "inline_reason", "probe_inline",
    "run_rest", "worth_probing",
]

#: remaining work (measured seconds per element x elements left) below which the parent runs it
INLINE_MAX_SECONDS = 0.03
#: the probes run in the parent for at most about this long before the rest goes to the pool
PROBE_SECONDS = 0.005
#: a function is probed in the parent only with at least this many elements per pool worker: the
#: first element runs serially before the rest can go to the pool, which costs at most about
#: 1/64 of the run's time then (a function of 2 one-hour elements on 2 workers is not made twice
#: as slow by a probe; its pool overhead of milliseconds does not matter)
MIN_ELEMENTS_PER_WORKER = 64


def worth_probing(n_elements: int, workers: int | None = None) -> bool:
    """Whether a function with ``n_elements`` to compute is probed in the parent at all.

    >>> worth_probing(10_000, workers=2), worth_probing(2, workers=2), worth_probing(200, workers=64)
    (True, False, False)
    """
    workers = workers if workers is not None else cpu_count()  # the default pool's size
    return n_elements >= MIN_ELEMENTS_PER_WORKER * max(workers, 1)


#: the first batch after the probes; later ones grow 4-fold up to ``MAX_BATCH``, as a sequential
#: run's batches do (one big batch would touch more fresh memory than it saves in calls)
REST_BATCH = 1024

#: a probe that took this long measured the time per element well (the fixed cost of a probe,
#: some 30 µs, no longer inflates it)
RELIABLE_PROBE_SECONDS = 0.001


def decide(
    *,
    per_element: float,
    remaining: int,
    spent: float,
    probe: float = 0.0,
    first: bool = False,
    cpu: float | None = None,
    cpu_spent: float | None = None,
) -> Literal["inline", "pool", "probe"]:
    """After a probe (``probe`` seconds of wall time, ``cpu`` of them computing; ``spent`` and
    ``cpu_spent`` by all probes so far; ``per_element``: the best rate seen): run the rest in the
    parent, send it to the pool, or probe further. The first call of a function may pay for
    imports and caches, so a long first probe is confirmed by a second one; a probe that waited
    (descheduled on a busy machine, or a function that sleeps or does I/O) is not taken as a
    measure of work until the probes have waited :data:`PROBE_SECONDS` four times over."""
    cpu = probe if cpu is None else cpu
    cpu_spent = spent if cpu_spent is None else cpu_spent
    if per_element * remaining <= INLINE_MAX_SECONDS:
        return "inline"
    if cpu_spent >= PROBE_SECONDS or spent >= 4 * PROBE_SECONDS:
        return "pool"
    if not first and min(probe, 2 * cpu) >= RELIABLE_PROBE_SECONDS:
        return "pool"
    return "probe"


def inline_reason(n: int, seconds: float) -> str:
    """The sentence shown in progress output and the run summary.

    >>> inline_reason(10_000, 0.0012)
    'ran in the parent: 10000 elements took 1.2 ms, too little for the default pool to pay'
    """
    return f"ran in the parent: {n} elements took {seconds * 1e3:.1f} ms, too little for the default pool to pay"


class Probed(NamedTuple):
    """What the probes of one function left: ``rest`` for the pool (empty when the parent ran
    everything, in ``seconds``; None when the rest goes to the pool) and the measured seconds
    per element (the pool's first chunks are sized from it)."""

    rest: Linear
    seconds: float | None
    per_element: float


def probe_inline(job: MappedJob) -> Probed:
    """Run probes of ``job`` in the parent (values written and reported like a sequential run)."""
    todo = job.todo
    total = len(todo)
    # a copy: preparing the call in the parent (loading file-backed inputs, ...) must not change
    # the task the pool may receive; prepared before the probes, so they time only the elements
    task = copy.copy(job.task)
    task.on_batch = job.absorb
    _task_cache(task)
    position, size, spent, cpu_spent, best = 0, 1, 0.0, 0.0, float("inf")
    loop = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)  # the function sees no running loop, as in a sequential run
    try:
        while position < total:
            part = todo[position : position + size]
            cpu0 = time.thread_time()
            elapsed = run_chunk(task, part).elapsed  # gather, calls, writes (not the progress callback)
            cpu = time.thread_time() - cpu0
            spent += elapsed
            cpu_spent += cpu
            position += len(part)
            best = min(best, elapsed / len(part))  # (a probe descheduled on a busy machine looks slow)
            verdict = decide(
                per_element=best, remaining=total - position, spent=spent, probe=elapsed,
                first=size == 1 and position == 1, cpu=cpu, cpu_spent=cpu_spent,
            )
            if verdict == "inline":
                rest = run_rest(task, todo[position:], best) if position < total else 0.0
                return Probed(todo[total:], spent + rest, best)
            if verdict == "pool":
                return Probed(todo[position:], None, best)
            size = 1 if position == 1 and elapsed >= RELIABLE_PROBE_SECONDS else size * 8  # a slow first call: once more
        return Probed(todo[total:], spent, best)
    finally:
        asyncio.events._set_running_loop(loop)


def run_rest(task: FunctionTask, linear: Linear, per_element: float) -> float:
    """Run ``linear`` in the parent after the probes measured ``per_element`` seconds per element;
    returns the seconds it took.

    As :func:`~pipemap.runner.worker._chunk.run_chunk` does, in batches bounded by time (each
    written and reported through ``task.on_batch``), but the rate is known: each batch makes its
    calls in one block instead of growing from one element, and the batches start at
    :data:`REST_BATCH` elements, where a sequential run starts at 64.
    """
    on_batch = task.on_batch
    assert on_batch is not None  # values are written and reported batch by batch
    start, n, elapsed, size = 0, len(linear), 0.0, REST_BATCH
    while start < n:
        result = run_batch(task, linear[start : start + size], bounded=True, per_element=per_element)
        on_batch(result)
        start += result.n_done
        elapsed += result.elapsed
        per_element = result.elapsed / max(1, result.n_done)
        size = min(4 * size, MAX_BATCH)
    return elapsed

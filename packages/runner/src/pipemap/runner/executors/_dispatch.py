"""Windowed, adaptive dispatch of one mapped function's chunks to an executor.

The scheduler hands over the still-missing linear indices of a function; :class:`ChunkDispatcher`
cuts them into chunks *as it goes* and keeps only a small window of chunks in flight (two per
worker). That gives three properties the one-shot "submit everything" approach lacks:

* chunk sizes adapt to the measured time per element (:class:`ChunkSizer`), so each task runs
  long enough to hide the dispatch cost, and chunks shrink at the end so no worker starves;
* cancelling the run (``AsyncMap.task.cancel()``, Ctrl-C) stops dispatching at once; the chunks
  already in flight are stopped (:mod:`._inflight`) before the run releases its run folder, and
  everything stored stays resumable;
* a worker process that dies (``os._exit``, SIGKILL, OOM-killer) is reported as a
  :class:`WorkerDiedError` naming the function and the index ranges of the chunks it took down,
  or, with ``error_handling="continue"``, those elements are stored as ``ErrorSnapshot``\\ s and
  the run goes on (on a fresh pool when the pool is pipemap's own); with a retry policy that
  covers deaths, the death is a failed attempt of the chunks it took down, whose unstored
  elements run again, alone, while attempts are left.

>>> sizer = ChunkSizer(total=1000, first=50, fixed=False, n_workers=2)
>>> sizer.next_size(1000)
50
>>> sizer.observe(50, 0.005)  # 0.1 ms per element
>>> sizer.next_size(950) > 50
True
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future
from typing import TYPE_CHECKING, Any

import numpy as np

from pipemap.runner.executors._chunksizes import chunksize_for
from pipemap.runner.executors._event_loop import on_event_loop
from pipemap.runner.executors._executors import cpu_count, n_workers
from pipemap.runner.worker._chunk import ChunkResult, _task_cache
from pipemap.runner.worker._errors import make_error_snapshot
from pipemap.runner.worker._gather import gather_inputs

if TYPE_CHECKING:
    from pipemap.runner.worker._chunk import ChunkResult, FunctionTask, Linear
    from pipemap.runner.executors._inflight import InFlight
    from pipemap.runner.executors._chunksizes import Chunksizes
    from pipemap.runner.engine._readiness import Gate

#: a chunk should run about this long once the time per element is known (each chunk costs the
#: parent ~0.35 ms of CPU and its worker a gap of about as much: on 2 cores, 200 x 10 ms elements
#: in 0.1 s chunks lost ~5 ms more than in 0.25 s ones; the tail still shrinks, see ChunkSizer)
TARGET_CHUNK_SECONDS = 0.25
#: ... and never much less than this (a task costs a fraction of a millisecond to dispatch)
MIN_CHUNK_SECONDS = 0.005
#: the same two for a dask cluster, where a task costs the parent (client + scheduler) a few
#: milliseconds of CPU: fewer, longer chunks (measured: 33 -> 15 tasks for 200 x 10 ms, parent
#: CPU 200 -> 120 ms, see tools/bench/compare_parallel.py dask)
DASK_TARGET_CHUNK_SECONDS = 0.5
DASK_MIN_CHUNK_SECONDS = 0.05


def chunk_seconds_for(executor: Executor) -> tuple[float, float]:
    """``(target, minimum)`` seconds of work per chunk for ``executor``.

    >>> chunk_seconds_for(None)
    (0.25, 0.005)
    """
    module = type(executor).__module__ or ""
    if module.startswith("distributed"):
        return DASK_TARGET_CHUNK_SECONDS, DASK_MIN_CHUNK_SECONDS
    return TARGET_CHUNK_SECONDS, MIN_CHUNK_SECONDS
#: chunks in flight per worker (one running, one queued, so a worker never waits for the parent)
IN_FLIGHT_PER_WORKER = 2

#: after a worker death, the lost elements of a chunk run again in at most this many pieces (one
#: element each for small chunks), one piece at a time, so the element that kills its worker is
#: the only one charged for its next deaths
RETRY_PIECES = 64


class WorkerDiedError(RuntimeError):
    """A worker process died (killed, ``os._exit``, out of memory) while running a chunk.

    Everything stored before is kept; ``resume=True`` recomputes the lost elements.

    Parameters
    ----------
    function : str
        The function the chunk ran.
    output_name : str
        Its (first) output.
    ranges : list of range
        The linear element indices that were lost.
    cause : str, default ""
        What the executor reported (e.g. ``BrokenProcessPool: ...``).

    Examples
    --------
    >>> str(WorkerDiedError("f", "y", [range(0, 10)]))[:52]
    'A worker process died while running `f` on elements '
    """

    def __init__(self, function: str, output_name: str, ranges: list[Linear], cause: str = "") -> None:
        self.function = function
        self.output_name = output_name
        self.ranges = [describe_chunk(r) for r in ranges]
        where = ", ".join(self.ranges)
        msg = (
            f"A worker process died while running `{function}` on elements {where} of `{output_name}`"
            f" (linear indices){': ' + cause if cause else ''}. Everything stored before is kept;"
            " rerun with `resume=True` to continue (`resume=True, retry_failed=True` to also re-run the elements"
            " stored as failed with `error_handling='continue'`)."
        )
        super().__init__(msg)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_died, (self.args[0], self.function, self.output_name, self.ranges))


def _rebuild_died(msg: str, function: str, output_name: str, ranges: list[str]) -> WorkerDiedError:
    err = WorkerDiedError.__new__(WorkerDiedError)
    RuntimeError.__init__(err, msg)
    err.function, err.output_name, err.ranges = function, output_name, ranges
    return err


def describe_chunk(chunk: Linear) -> str:
    """``"[100, 200)"`` for a range, the first and last index for arrays.

    >>> describe_chunk(range(100, 200)), describe_chunk([3, 5, 9])
    ('[100, 200)', '[3 ... 9] (3 elements)')
    """
    if isinstance(chunk, str):
        return chunk
    if isinstance(chunk, range):
        return f"[{chunk.start}, {chunk.stop})"
    n = len(chunk)
    if n == 0:
        return "[]"
    return f"[{int(chunk[0])} ... {int(chunk[-1])}] ({n} elements)"


def is_worker_death(exc: BaseException) -> bool:
    """A broken process pool (stdlib, loky) or a task whose dask workers kept dying."""
    if isinstance(exc, BrokenExecutor):
        return True
    return type(exc).__name__ == "KilledWorker"


class ChunkSizer:
    """Chunk sizes: fixed when the user gave one, else the seed rule first, then adaptive.

    Adaptive = about ``target`` seconds of measured work per chunk, never more than
    a ``1 / (2 n_workers)`` share of what is left (so the tail is balanced across workers), and
    never less than ``minimum`` seconds of work (so the tail is not a swarm of tiny tasks);
    :func:`chunk_seconds_for` picks both for an executor.

    >>> s = ChunkSizer(total=200, first=5, fixed=False, n_workers=2)
    >>> s.observe(5, 0.05)  # 10 ms per element
    >>> s.next_size(195)
    25
    >>> s.next_size(12)
    3
    """

    def __init__(
        self,
        total: int,
        first: int,
        fixed: bool,
        n_workers: int,
        target: float = TARGET_CHUNK_SECONDS,
        minimum: float = MIN_CHUNK_SECONDS,
    ) -> None:
        self.total = total
        self.first = max(1, first)
        self.fixed = fixed
        self.n_workers = max(1, n_workers)
        self.target = target
        self.minimum = minimum
        self.per_element: float | None = None

    def observe(self, n_done: int, elapsed: float) -> None:
        """Feed the in-worker time of a finished chunk."""
        if n_done <= 0 or elapsed <= 0:
            return
        t = elapsed / n_done
        self.per_element = t if self.per_element is None else 0.5 * (self.per_element + t)

    def next_size(self, remaining: int) -> int:
        if self.fixed or self.per_element is None:
            return self.first
        share = math.ceil(remaining / (IN_FLIGHT_PER_WORKER * self.n_workers))
        wanted = int(self.target / self.per_element) if self.per_element > 0 else share
        floor = int(self.minimum / self.per_element) if self.per_element > 0 else remaining
        return max(1, min(remaining, max(floor, min(wanted, share))))


class ChunkDispatcher:
    """Send the chunks of one function through ``submit`` with a bounded window.

    ``submit(executor, chunk[, prior])`` returns a ``concurrent.futures.Future`` of a ``ChunkResult``
    (``prior``: attempts its elements already used, for a chunk resubmitted after a death);
    ``handle(result)`` absorbs a finished chunk (writes values the parent must write, progress);
    ``on_dead(chunk, error)`` stores a chunk's elements as failed (continue mode; None: raise);
    ``retry_lost(chunk, used, error)`` (a retry policy covering deaths): the elements of a chunk a
    death took down to run again, or None once their attempts are used up (see :meth:`_retry_dead`);
    ``renew(broken)`` replaces a broken executor by a fresh one (None when the executor is the user's);
    ``gate`` (eager scheduling, :class:`~._readiness.Gate`): a chunk is submitted only once the
    upstream elements it reads are stored; with automatic sizes a partly ready chunk is cut to
    its ready front, but only when nothing of this function is in flight (so ready work never
    waits, and chunks do not shrink needlessly while the workers are busy); a size the user
    fixed is kept exactly; ``in_flight`` (:class:`~._inflight.InFlight`) tracks every submitted chunk
    so that a run ending early can stop them before it releases its run folder.
    """

    def __init__(
        self,
        *,
        function: str,
        output_name: str,
        executor: Executor,
        submit: Callable[..., Future],  # (executor, chunk[, attempts already used])
        sizer: ChunkSizer,
        handle: Callable[[Any], None],
        on_dead: Callable[[Linear, BaseException], None] | None = None,
        renew: Callable[[Executor], Executor] | None = None,
        gate: Gate | None = None,
        in_flight: InFlight | None = None,
        retry_lost: Callable[[Linear, int, WorkerDiedError], Linear | None] | None = None,
    ) -> None:
        self.function = function
        self.output_name = output_name
        self.executor = executor
        self._submit = submit
        self.sizer = sizer
        self.handle = handle
        self.on_dead = on_dead
        self.renew = renew
        self.gate = gate
        self.in_flight = in_flight
        self.window = IN_FLIGHT_PER_WORKER * sizer.n_workers
        self.n_chunks = 0
        self.retry_lost = retry_lost
        self._prior: dict[int, int] = {}  # id of a resubmitted chunk -> attempts its elements used

    def _died(self, chunks: list[Linear], exc: BaseException) -> WorkerDiedError:
        err = WorkerDiedError(self.function, self.output_name, chunks, f"{type(exc).__name__}: {exc}")
        err.__cause__ = exc
        return err

    async def run(self, todo: Linear) -> None:
        await on_event_loop()  # (a run started without one gets it now)
        loop = asyncio.get_running_loop()
        total = len(todo)
        position = 0
        pending: dict[asyncio.Future, Linear] = {}
        retry: list[Linear] = []  # chunks lost with a broken pool, re-run one at a time
        alone: set[int] = set()  # ids of chunks running alone: a death there is theirs
        gate = self.gate

        def submit_one(chunk: Linear) -> None:
            prior = self._prior.get(id(chunk), 0)
            try:
                cf = self._submit(self.executor, chunk, prior) if prior else self._submit(self.executor, chunk)
            except BaseException as exc:
                if not is_worker_death(exc):
                    raise
                cf = Future()
                cf.set_exception(exc)
            if self.in_flight is not None:
                self.in_flight.add(cf, self.executor)
            pending[asyncio.wrap_future(cf, loop=loop)] = chunk
            self.n_chunks += 1

        try:
            while position < total or pending or retry:
                if retry and not pending:
                    chunk = retry.pop(0)
                    alone.add(id(chunk))
                    submit_one(chunk)
                isolating = any(id(c) in alone for c in pending.values())
                blocked = False
                while not retry and not isolating and position < total and len(pending) < self.window:
                    size = self.sizer.next_size(total - position)
                    if gate is not None:
                        size = min(size, total - position)
                        ready = gate.ready_count(todo, position, size)
                        if ready < size and (ready == 0 or pending or self.sizer.fixed):
                            blocked = True
                            break
                        size = ready
                    chunk = todo[position : position + size]
                    position += len(chunk)
                    submit_one(chunk)
                if blocked:
                    assert gate is not None
                    waiter = gate.waiter()
                    done, _ = await asyncio.wait([*pending, waiter], return_when=asyncio.FIRST_COMPLETED)
                    if not waiter.done():
                        waiter.cancel()
                    done.discard(waiter)
                elif not pending:
                    continue
                else:
                    done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                dead: list[tuple[Linear, BaseException]] = []
                for fut in done:
                    chunk = pending.pop(fut)
                    exc = fut.exception()
                    if exc is None:
                        result = fut.result()
                        self.sizer.observe(result.n_done, result.elapsed)
                        self.handle(result)
                    elif is_worker_death(exc):
                        dead.append((chunk, exc))
                    else:
                        raise await self._earliest_error(chunk, exc, pending)
                if dead:
                    await self._after_death(dead, pending, retry, alone)
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise

    async def _earliest_error(self, chunk: Linear, exc: BaseException, pending: dict) -> BaseException:
        """Deterministic errors: chunks before the failed one still finish (and are stored);
        the error of the earliest failed chunk wins, as in a run that collects in order."""
        first = _first_index(chunk)
        earlier = {f: c for f, c in pending.items() if _first_index(c) < first}
        if not earlier:
            return exc
        results = await asyncio.gather(*earlier, return_exceptions=True)
        best = (first, exc)
        for fut, r in zip(earlier, results, strict=True):
            c = pending.pop(fut)
            if isinstance(r, BaseException):
                if _first_index(c) < best[0] and not is_worker_death(r):
                    best = (_first_index(c), r)
            else:
                self.handle(r)
        return best[1]

    async def _drain(self, pending: dict, dead: list[tuple[Linear, BaseException]]) -> None:
        """Wait for the rest of the window (it went down with the pool, or finished)."""
        if not pending:
            return
        rest = await asyncio.gather(*pending, return_exceptions=True)
        for chunk, r in zip(list(pending.values()), rest, strict=True):
            if isinstance(r, BaseException) and is_worker_death(r):
                dead.append((chunk, r))
            elif isinstance(r, BaseException):
                raise r
            else:
                self.handle(r)
        pending.clear()

    async def _after_death(
        self, dead: list[tuple[Linear, BaseException]], pending: dict, retry: list[Linear], alone: set[int]
    ) -> None:
        """Raise, or (continue mode) store the lost chunks as failed / re-run them on a fresh pool."""
        broken_pool = any(isinstance(e, BrokenExecutor) for _, e in dead)
        if broken_pool:
            await self._drain(pending, dead)
        if self.retry_lost is not None and (not broken_pool or self.renew is not None):
            self._retry_dead(dead, broken_pool, retry)
            return
        if self.on_dead is None:
            lost = sorted((c for c, _ in dead), key=_first_index)
            raise self._died(lost, dead[0][1])
        if broken_pool and self.renew is not None:
            self.executor = self.renew(self.executor)
            for chunk, exc in dead:
                if id(chunk) in alone or len(dead) == 1 and not pending:
                    self.on_dead(chunk, self._died([chunk], exc))
                else:
                    retry.append(chunk)
            return
        for chunk, exc in dead:
            self.on_dead(chunk, self._died([chunk], exc))


    def _retry_dead(self, dead: list[tuple[Linear, BaseException]], broken_pool: bool, retry: list[Linear]) -> None:
        """With a retry policy that covers worker deaths: each chunk the death took down (with a
        broken pool, every chunk in flight) is charged one attempt; its unstored elements go back
        to run alone, in up to `RETRY_PIECES` pieces that each run alone (``retry_lost`` says which
        elements, or None once their attempts are used up: then they fail as without a policy), so
        the neighbours of an element that kills its worker every time succeed at their next
        attempt instead of sharing its fate."""
        assert self.retry_lost is not None
        if broken_pool:
            assert self.renew is not None
            self.executor = self.renew(self.executor)
        for chunk, exc in sorted(dead, key=lambda d: _first_index(d[0])):
            used = self._prior.pop(id(chunk), 0) + 1
            err = self._died([chunk], exc)
            again = self.retry_lost(chunk, used, err)
            if again is None:
                if used > 1:
                    err.add_note(f"Gave up on these elements of `{self.function}` after {used} attempts (its retry policy).")
                if self.on_dead is None:
                    raise err
                self.on_dead(chunk, err)
            else:
                for piece in np.array_split(again, min(len(again), RETRY_PIECES)) if len(again) else ():
                    self._prior[id(piece)] = used
                    retry.append(piece)


def _first_index(chunk: Linear) -> int:
    return int(chunk[0]) if len(chunk) else -1


def sizer_for(output_name: str | tuple[str, ...], total: int, chunksizes: Chunksizes, executor: Executor) -> ChunkSizer:
    """The chunk sizer of one function (or fused chain, by its head) on ``executor``."""
    workers = n_workers(executor)
    first = chunksize_for(output_name, total, chunksizes, workers)
    target, minimum = chunk_seconds_for(executor)
    fixed = not is_automatic(output_name, chunksizes)
    return ChunkSizer(total, first, fixed, workers or cpu_count(), target, minimum)


def route_outputs(task: FunctionTask, shares_memory: bool) -> bool:
    """True when workers write ``task``'s outputs themselves (shared memory, or every storage
    is visible from a worker); otherwise the task returns values and the parent writes them."""
    in_worker = shares_memory or all(s.dump_in_subprocess for s in task.outputs or ())
    if not in_worker:
        task.outputs = None
    return in_worker


def is_automatic(output_name: str | tuple[str, ...], chunksizes: Chunksizes) -> bool:
    """True when the chunk size of ``output_name`` is chosen by pipemap (``None`` spec).

    >>> is_automatic("y", None), is_automatic("y", 5), is_automatic("y", {"": 3, "y": None})
    (True, False, True)
    """
    if isinstance(chunksizes, dict):
        spec = chunksizes[output_name] if output_name in chunksizes else chunksizes.get("")
        return spec is None
    return chunksizes is None


def lost_chunk_result(task: FunctionTask, chunk: Linear, error: BaseException) -> ChunkResult:
    """A ``ChunkResult`` holding one ``ErrorSnapshot`` of ``error`` per element of ``chunk``
    (the call's arguments are gathered in the parent, so ``reproduce()`` works)."""
    pf = task.func
    cache = _task_cache(task)
    names, columns = gather_inputs(task, cache["plan"], chunk)
    snaps: list[object] = []
    for k in range(len(chunk)):
        kwargs = {name: col[k] for name, col in zip(names, columns, strict=True)}
        snaps.append(make_error_snapshot(pf, error, {**kwargs, **task.const}))
    values = tuple(list(snaps) for _ in pf.output_names)
    failed = tuple(int(i) for i in chunk)
    return ChunkResult(chunk, len(chunk), len(chunk), values, None, 0.0, failed)

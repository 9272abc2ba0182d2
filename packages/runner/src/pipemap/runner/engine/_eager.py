"""Eager scheduling (``scheduling_strategy="eager"`` with a parallel executor), at chunk level.

Every function runs as its own asyncio task. A mapped function that reads a mapped producer's
outputs only through its mapspec does not wait for that producer to finish: it starts once
the producer computed which elements it will write, and its dispatcher submits a chunk only
once every producer element the chunk reads is stored (:mod:`._readiness`). Whenever that cannot
be decided safely it waits for the whole producer, as the generation strategy does:
``error_handling="continue"``, fixed indices, shapes still unresolved (external, or the
internal shape of a producer output), a storage not known to stay readable while it is
written (:data:`READ_WHILE_WRITTEN`), or a parent-side storage (``dump_in_subprocess`` False) that worker
processes would only see as a copy.

>>> from concurrent.futures import ThreadPoolExecutor
>>> from pipemap.runner import Pipeline, pipefunc, run_map
>>> @pipefunc("y", mapspec="x[i] -> y[i]")
... def double(x):
...     return 2 * x
>>> @pipefunc("z", mapspec="y[i] -> z[i]")
... def inc(y):
...     return y + 1
>>> with ThreadPoolExecutor(2) as ex:
...     r = run_map(Pipeline([double, inc]), {"x": [1, 2, 3]}, executor=ex, scheduling_strategy="eager")
>>> r["z"].output.tolist()
[3, 5, 7]
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import numpy as np
from pipemap.mapspec import IndexPlan, external_shape_from_mask, shape_is_resolved

from pipemap.runner.executors._executors import is_thread_or_sync
from pipemap.runner.worker._modes import ErrorHandling
from pipemap.runner.engine._readiness import Gate, StoredTracker, highest_needed

if TYPE_CHECKING:
    from pipemap.storage import StorageBase

    from pipemap.runner.model._pipefunc import PipeFunc
    from pipemap.runner.engine._prepare import Prepared
    from pipemap.runner.engine._run_context import EagerContext, Gating

#: storages whose stored elements stay readable, unchanged, while other elements are written
#: (one slot or one atomically replaced file per element). Others (``chunked``: a directory
#: listing can miss packs while a concurrent write merges them; zarr: several elements share a
#: rewritten chunk file; custom storages) make consumers wait for the whole producer.
READ_WHILE_WRITTEN = frozenset({"dict", "file_array", "shared_memory_dict"})


def element_producers(f: PipeFunc, deps: set[PipeFunc]) -> set[PipeFunc]:
    """Producers of ``f`` whose outputs ``f`` reads only element-wise (through its mapspec)."""
    if not f.requires_mapping or f.mapspec is None:
        return set()
    mapped = set(f.mapspec.input_names)
    out = set()
    for d in deps:
        if not d.requires_mapping:
            continue
        used = [p for p in f.parameters if p in d.output_names and p not in f.bound]
        if used and all(p in mapped for p in used):
            out.add(d)
    return out


def _external_shape(prep: Prepared, f: PipeFunc) -> tuple[int | str, ...]:
    info = prep.run_info
    return tuple(external_shape_from_mask(info.resolved_shapes[f.output_name], info.shape_masks[f.output_name]))


def can_gate(ctx: EagerContext, f: PipeFunc, producers: set[PipeFunc]) -> bool:
    """Whether ``f``'s chunks may start while ``producers`` still run (else: wait for them)."""
    trackers = ctx.gating.trackers
    if not f.requires_mapping or trackers is None:
        return False
    ragged = ctx.prep.run_info.ragged
    if ragged and f.mapspec is not None and ragged.role_of(f.mapspec) is not None:
        return False  # ragged axes: the rows (and the flat shape) are known once the producers end
    executor = ctx.executors.for_function(f)
    if executor is None or not shape_is_resolved(_external_shape(ctx.prep, f)):
        return False
    shares_memory = is_thread_or_sync(executor)
    for d in producers:
        if not trackers[d].started:
            return False
        for name in d.output_names:
            s = ctx.prep.store[name]
            if not shape_is_resolved(s.shape) or getattr(s, "storage_id", None) not in READ_WHILE_WRITTEN:
                return False
            if s.internal_shape and not shape_is_resolved(s.internal_shape):
                return False  # an internal shape still "?" resolves only when the producer ends
            if not shares_memory and not s.dump_in_subprocess:
                return False  # a worker process would read a copy taken before the writes
    return True


def gate_for(gating: Gating, prep: Prepared, f: PipeFunc) -> Gate | None:
    """The gate of ``f``: per producer, the highest producer index each element of ``f`` reads."""
    sources = gating.sources.pop(f, None)
    if not sources or gating.trackers is None or f.mapspec is None:
        return None
    store = prep.store
    plan = IndexPlan(f.mapspec, tuple(int(d) for d in _external_shape(prep, f)))
    selectors = plan.input_selectors(range(plan.size))
    needs: list[tuple[StoredTracker, np.ndarray | None]] = []
    for d in sources:
        hi: np.ndarray | None = None
        whole = False
        for name in d.output_names:
            if name not in selectors:
                continue
            h = highest_needed(_external_columns(selectors[name], store[name]), store[name].shape)
            if h is None:
                whole = True
                break
            hi = h if hi is None else np.maximum(hi, h)
        needs.append((gating.trackers[d], None if whole else hi))
    return Gate(needs)


def _external_columns(selectors: np.ndarray, storage: StorageBase) -> np.ndarray:
    """The selector columns of the producer's external axes (an internal axis is part of the
    element: reading any of it reads the whole stored element)."""
    mask = tuple(getattr(storage, "shape_mask", ()) or ())
    if not storage.internal_shape or len(mask) != selectors.shape[1] or all(mask):
        return selectors
    return selectors[:, [k for k, external in enumerate(mask) if external]]


async def _wait_started(tracker: StoredTracker, task: asyncio.Future) -> None:
    """Until the producer computed its missing elements (or ended: then its error, if any)."""
    while not tracker.started and not task.done():
        fut = asyncio.get_running_loop().create_future()
        tracker.add_waiter(fut)
        await asyncio.wait([fut, task], return_when=asyncio.FIRST_COMPLETED)
        if not fut.done():
            fut.cancel()
    if task.done():
        await task


async def run_eager(ctx: EagerContext) -> None:
    """Run every function as soon as what it reads exists (see the module docstring)."""
    prep = ctx.prep
    functions = prep.pipeline.sorted_functions
    produced_by = {n: f for f in functions for n in f.output_names}
    deps = {f: {produced_by[p] for p in f.parameters if p in produced_by and p not in f.bound} for f in functions}
    chunk_level = prep.error_handling == ErrorHandling.RAISE and not prep.fixed_indices
    early = {f: element_producers(f, deps[f]) if chunk_level else set() for f in functions}
    trackers: dict[PipeFunc, StoredTracker] = {d: StoredTracker() for ds in early.values() for d in ds}
    ctx.gating.trackers = trackers
    tasks: dict[PipeFunc, asyncio.Future] = {}

    async def run(f: PipeFunc) -> None:
        for d in deps[f] - early[f]:
            await tasks[d]
        for d in early[f]:
            await _wait_started(trackers[d], tasks[d])
        now = {d for d in early[f] if not tasks[d].done()}
        if now and not can_gate(ctx, f, now):
            for d in now:
                await tasks[d]
            now = set()
        if now:
            ctx.gating.sources[f] = now
        await ctx.run_function(f)
        if f in trackers:
            trackers[f].finish()

    for f in functions:
        tasks[f] = asyncio.ensure_future(run(f))
    try:
        await asyncio.gather(*tasks.values())
    except BaseException:
        for t in tasks.values():  # the first error wins; nothing keeps running behind it
            t.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        raise


"""Element-wise chains fused into one task per chunk (parallel runs).

In ``x[i] -> y[i] -> z[i]`` element ``i`` of ``z`` needs only element ``i`` of ``y``. Run
function by function, every ``y`` value travels worker -> parent (or storage) -> worker, and
``z`` cannot start before all of ``y`` is done. Fused, a worker computes a chunk of ``y`` and
then the same chunk of ``z`` from the values it holds: one task instead of two, no round trip,
no barrier between the two functions. Every output is still stored and reported exactly as
unfused (its own storage, progress events, failures, results).

A function ``g`` joins the chain of ``f`` when ``g`` reads one output of ``f`` through its
mapspec with the same axes, in the same order, as ``g``'s own output and ``f``'s output
(an identity map), no internal axes are involved, everything else ``g`` reads was produced
before the chain started, and both use the same executor and chunk size setting. A chain runs
fused only when its functions have the same elements left to compute (always, in a fresh run).

A fused chunk runs in a worker as ``worker._chain.execute_chain``; this module plans chains and
runs them from the parent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pipemap.runner.model._retry_policy import effective_policy
from pipemap.runner.executors._dispatch import ChunkDispatcher, lost_chunk_result, route_outputs, sizer_for
from pipemap.runner.executors._executors import executor_for, is_thread_or_sync
from pipemap.runner.worker._chain import ChainResult, Link, _with_column, execute_chain, run_chain
from pipemap.runner.worker._chunk import ChunkResult, Linear, run_chunk
from pipemap.runner.worker._errors import attach_snapshot
from pipemap.runner.worker._modes import ErrorHandling
from pipemap.runner.worker._task_ref import TaskRef

if TYPE_CHECKING:
    from pipemap.runner.engine._prepare import Prepared
    from pipemap.runner.engine._run_context import FusionContext, MappedJob
    from pipemap.runner.executors._chunksizes import Chunksizes
    from pipemap.runner.model._pipefunc import PipeFunc


# --------------------------------------------------------------------------- planning
def _spec_of(chunksizes: Chunksizes, name: str | tuple[str, ...]) -> object:
    if isinstance(chunksizes, dict):
        return chunksizes[name] if name in chunksizes else chunksizes.get("")
    return chunksizes


def _link(prep: Prepared, f: PipeFunc, g: PipeFunc) -> Link | None:
    """How ``g`` reads ``f`` when it can join ``f``'s chain, else None."""
    info = prep.run_info
    if not (f.requires_mapping and g.requires_mapping) or f.mapspec is None or g.mapspec is None:
        return None
    for func in (f, g):
        if not all(info.shape_masks.get(func.output_name, (False,))):
            return None  # internal axes
        if effective_policy(getattr(func, "retries", None), prep.retries) is not None:
            return None  # a worker's death is retried per function (engine._attempts.lost_retrier)
    if info.ragged:  # ragged axes: only element-wise consumers chain (both run over the same flat elements)
        roles = {info.ragged.role_of(f.mapspec), info.ragged.role_of(g.mapspec)}
        if roles not in ({None}, {"elements"}):
            return None
    read = [name for name in f.output_names if name in g.parameters and name not in g.bound]
    if len(read) != 1 or read[0] not in g.mapspec.input_names:
        return None
    name = read[0]
    out_axes = {spec.axes for spec in g.mapspec.outputs}
    in_axes = [spec.axes for spec in g.mapspec.inputs if spec.name == name]
    f_axes = [spec.axes for spec in f.mapspec.outputs if spec.name == name]
    if len(out_axes) != 1 or in_axes != f_axes or [next(iter(out_axes))] != in_axes:
        return None
    if None in in_axes[0]:
        return None
    if _spec_of(prep.chunksizes, f.output_name) != _spec_of(prep.chunksizes, g.output_name):
        return None
    if prep.executor is not None:
        if executor_for(prep.executor, f.output_name) is not executor_for(prep.executor, g.output_name):
            return None
    return name, f.output_names.index(name)


def plan_chains(prep: Prepared) -> dict[PipeFunc, list[PipeFunc]]:
    """Chains (head function -> its functions in order, two or more) for a parallel run."""
    pipeline = prep.pipeline
    generations = pipeline.topological_generations.function_lists
    level = {f: k for k, gen in enumerate(generations) for f in gen}
    producer = pipeline.output_to_func
    consumers: dict[PipeFunc, list[PipeFunc]] = {}
    for g in pipeline.sorted_functions:
        for p in g.parameters:
            f = producer.get(p)
            if f is not None and g not in consumers.setdefault(f, []):
                consumers[f].append(g)
    taken: set[PipeFunc] = set()
    chains: dict[PipeFunc, list[PipeFunc]] = {}
    for head in pipeline.sorted_functions:
        if head in taken:
            continue
        chain = [head]
        while True:
            tail = chain[-1]
            nxt = None
            for g in consumers.get(tail, []):
                if g in taken or g in chain or _link(prep, tail, g) is None:
                    continue
                others = {producer[p] for p in g.parameters if p in producer and producer[p] is not tail}
                if all(level[o] < level[head] for o in others):
                    nxt = g
                    break
            if nxt is None:
                break
            chain.append(nxt)
        if len(chain) > 1:
            chains[head] = chain
            taken.update(chain)
    return chains


# --------------------------------------------------------------------------- running
def _same_todo(a: Linear, b: Linear) -> bool:
    if isinstance(a, range) and isinstance(b, range):
        return a == b
    return len(a) == len(b) and bool(np.array_equal(np.asarray(a), np.asarray(b)))


async def run_chain_of(ctx: FusionContext, chain: list[PipeFunc]) -> None:
    """Run a planned chain: fused when its functions miss the same elements, else one by one."""
    jobs = [ctx.jobs.prepare(f) for f in chain]
    head = jobs[0]
    on_default_pool = all(j.deferred or (j.executor is not None and j.executor is ctx.executors.owned) for j in jobs)
    if any(j.deferred for j in jobs) and on_default_pool and len(head.todo) > 0 and all(_same_todo(j.todo, head.todo) for j in jobs):
        executor = ctx.executors.for_function(head.f)  # a fused chain goes to the default pool
        for job in jobs:
            job.executor, job.deferred = executor, False
    fusable = (
        len(head.todo) > 0
        and head.executor is not None
        and all(j.executor is head.executor and _same_todo(j.todo, head.todo) for j in jobs)
        and all(j.task.external_shape == head.task.external_shape for j in jobs)
    )
    if not fusable:
        for job in jobs:
            await ctx.jobs.run(job)
        return
    await _run_fused(ctx, jobs)
    for job in jobs:
        ctx.jobs.finish(job)


async def _run_fused(ctx: FusionContext, jobs: list[MappedJob]) -> None:
    prep = ctx.prep
    executor = jobs[0].executor
    assert executor is not None
    todo = jobs[0].todo
    head = jobs[0].f
    shares_memory = is_thread_or_sync(executor)
    in_worker = [route_outputs(job.task, shares_memory) for job in jobs]
    links: tuple[Link | None, ...] = (None, *(_link(prep, a.f, b.f) for a, b in zip(jobs, jobs[1:])))
    sizer = sizer_for(head.output_name, len(todo), prep.chunksizes, executor)
    tasks = tuple(job.task for job in jobs)
    if shares_memory:
        payload: Any = tasks
        fn: Any = run_chain
    else:
        payload = tuple(TaskRef(t, prep.run_info.run_folder) for t in tasks)
        fn = execute_chain

    def write(job: MappedJob, result: ChunkResult) -> None:
        for s, vals in zip(job.storages, result.values or ()):
            s.dump_many(result.linear, vals)

    def handle(chained: ChainResult) -> None:
        for job, writes, result in zip(jobs, in_worker, chained.results, strict=True):
            if not writes and result.values is not None:
                write(job, result)
            job.absorb(result)

    def on_dead(chunk: Linear, error: BaseException) -> None:
        """Continue mode: the head's elements become ErrorSnapshots, the rest propagate them
        (computed here, in the parent: an input that is an error never calls the function)."""
        upstream: tuple[list[object], ...] | None = None
        for job, link in zip(jobs, links, strict=True):
            if link is None:
                lost = lost_chunk_result(job.task, chunk, error)
            else:
                task = _with_column(job.task, link, chunk, upstream)  # type: ignore[arg-type]
                task.outputs, task.return_values, task.on_batch = None, True, None
                lost = run_chunk(task, chunk)
            upstream = lost.values
            write(job, lost)
            if not prep.return_results:
                lost.values = None
            job.absorb(lost)

    dispatcher = ChunkDispatcher(
        function=" -> ".join(job.f.__name__ for job in jobs),
        output_name=", ".join(name for job in jobs for name in job.f.output_names),
        executor=executor,
        submit=lambda ex, chunk: ex.submit(fn, payload, links, chunk),
        sizer=sizer,
        handle=handle,
        on_dead=on_dead if prep.error_handling == ErrorHandling.CONTINUE else None,
        renew=ctx.executors.renewer(executor),
        in_flight=prep.in_flight,
    )
    try:
        await dispatcher.run(todo)
    except BaseException as exc:
        snap = getattr(exc, "_pipemap_snapshot", None)
        if snap is not None:
            source = getattr(exc, "_pipemap_output", head.output_name)
            owner = next((j.f for j in jobs if j.f.output_name == source), head)
            attach_snapshot(owner, snap)
        raise
    finally:
        if not shares_memory:
            for ref in payload:
                ref.discard()



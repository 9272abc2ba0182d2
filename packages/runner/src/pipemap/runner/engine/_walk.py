"""The walk of one run: :func:`run_prepared` runs the pipeline generation by generation (or
eagerly, ``scheduling_strategy="eager"``) on one ``_scheduler._Runner``, fusing element-wise
chains in parallel runs, and releases what the run held (failure log, default pool) at the end.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from pipemap.runner.engine._eager import run_eager
from pipemap.runner.engine._events import RunFinished, RunStarted
from pipemap.runner.engine._fusion import plan_chains, run_chain_of
from pipemap.runner.engine._prepare import Prepared
from pipemap.runner.engine._results import in_pipeline_order
from pipemap.runner.engine._run_context import EagerContext, FusionContext
from pipemap.runner.engine._scheduler import _Runner
from pipemap.runner.engine._store import finish_stores, persist_all
from pipemap.runner.engine._summary import build_summary, report
from pipemap.runner.executors import _default_pool
from pipemap.runner.executors._event_loop import on_event_loop
from pipemap.runner.executors._inflight import gather_or_cancel
from pipemap.runner.worker._modes import SchedulingStrategy

if TYPE_CHECKING:
    from pipemap.runner.engine._results import ResultDict
    from pipemap.runner.model._pipefunc import PipeFunc

__all__ = ["run_prepared"]


def _summarize(runner: _Runner, prep: Prepared) -> None:
    """The run's one report of its failures (docs: "when elements fail"), kept on the results."""
    folder = prep.run_info.run_folder
    order = [f.__name__ for f in prep.pipeline.sorted_functions]
    summary = build_summary(runner.tally, str(folder) if folder is not None else None, order)
    summary.error_handling = prep.error_handling.value
    summary.resume_recomputed = prep.run_info.resume_changes
    prep.outputs.summary = summary
    if prep.keys is not None:
        summary.elements = prep.keys.counts()
    report(summary, retry_failed=prep.retry_failed)


async def run_prepared(
    prep: Prepared, *, scheduling_strategy: SchedulingStrategy = SchedulingStrategy.GENERATION
) -> ResultDict:
    """Execute a prepared run; returns its ``ResultDict``. Never suspends when sequential."""
    runner = _Runner(prep)
    if prep.events:
        folder = prep.run_info.run_folder
        recomputed = tuple(prep.run_info.resume_changes)
        prep.events.emit(RunStarted(runner.totals(), str(folder) if folder is not None else None, recomputed))
    error: BaseException | None = None
    try:
        generations = prep.pipeline.topological_generations.function_lists
        if not runner.parallel or scheduling_strategy != SchedulingStrategy.EAGER:
            chains = plan_chains(prep) if runner.parallel else {}
            fusion = FusionContext(prep, runner.executors, runner.jobs)
            fused = {f for chain in chains.values() for f in chain[1:]}  # run with their chain's head

            def run(f: PipeFunc) -> Coroutine[Any, Any, None]:
                return run_chain_of(fusion, chains[f]) if f in chains else runner.run_function(f)

            for generation in generations:
                todo = [f for f in generation if f not in fused]
                if runner.parallel and len(todo) > 1:
                    await on_event_loop()
                    await gather_or_cancel([run(f) for f in todo])
                else:
                    for f in todo:
                        await run(f)
        else:
            await on_event_loop()
            await run_eager(EagerContext(prep, runner.gating, runner.executors, runner.run_function))
        # pipefunc's order: generation by generation (parallel runs finish in any order)
        in_pipeline_order(prep.outputs, [n for gen in generations for f in gen for n in f.output_names])
        if prep.persist_memory:
            persist_all(prep.store, prep.pipeline)
        _summarize(runner, prep)
        if prep.keys is not None:
            prep.keys.report()
        if prep.reuse_plan is not None:
            prep.reuse_plan.finish(prep.keys)
    except BaseException as e:
        error = e
        raise
    finally:
        try:
            if error is not None:  # no chunk of this run may run on once it returns (or raises)
                prep.in_flight.stop(runner.executors.owned)
            finish_stores(prep.store, quiet=error is not None)
        finally:
            if runner.failures is not None:
                runner.failures.flush()  # also after a failure or cancellation: what ran is recorded
            if runner.executors.owned is not None:
                _default_pool.release(runner.executors.owned, healthy=error is None)
        if prep.events:
            prep.events.emit(RunFinished(error))
    return prep.outputs

"""The walk of one run: :func:`run_prepared` runs the pipeline generation by generation (or
eagerly, ``scheduling_strategy="eager"``) on one ``_scheduler._Runner``, fusing element-wise
chains in parallel runs, and releases what the run held (failure log, default pool) at the end.
"""

from __future__ import annotations

from typing import Any

from pipemap.runner.engine._eager import run_eager
from pipemap.runner.engine._events import RunFinished, RunStarted
from pipemap.runner.engine._fusion import plan_chains, run_chain_of
from pipemap.runner.engine._prepare import Prepared
from pipemap.runner.engine._scheduler import _Runner
from pipemap.runner.engine._store import persist_all
from pipemap.runner.executors import _default_pool
from pipemap.runner.executors._inflight import gather_or_cancel

__all__ = ["run_prepared"]


async def run_prepared(prep: Prepared, *, scheduling_strategy: str = "generation") -> Any:
    """Execute a prepared run; returns its ``ResultDict``. Never suspends when sequential."""
    runner = _Runner(prep)
    if prep.events:
        folder = prep.run_info.run_folder
        prep.events.emit(RunStarted(runner.totals(), str(folder) if folder is not None else None))
    error: BaseException | None = None
    try:
        generations = prep.pipeline.topological_generations.function_lists
        if not runner.parallel or scheduling_strategy != "eager":
            chains = plan_chains(runner) if runner.parallel else {}
            fused = {f for chain in chains.values() for f in chain[1:]}  # run with their chain's head

            def run(f: Any) -> Any:
                return run_chain_of(runner, chains[f]) if f in chains else runner.run_function(f)

            for generation in generations:
                todo = [f for f in generation if f not in fused]
                if runner.parallel and len(todo) > 1:
                    await gather_or_cancel([run(f) for f in todo])
                else:
                    for f in todo:
                        await run(f)
        else:
            await run_eager(runner)
        if prep.persist_memory:
            persist_all(prep.store, prep.pipeline)
    except BaseException as e:
        error = e
        raise
    finally:
        try:
            if error is not None:  # no chunk of this run may run on once it returns (or raises)
                prep.in_flight.stop(runner.owned_executor)
        finally:
            if runner.failures is not None:
                runner.failures.flush()  # also after a failure or cancellation: what ran is recorded
            if runner.owned_executor is not None:
                _default_pool.release(runner.owned_executor, healthy=error is None)
        if prep.events:
            prep.events.emit(RunFinished(error))
    return prep.outputs

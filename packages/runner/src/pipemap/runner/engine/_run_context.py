"""The typed run state shared by the scheduler and the code it delegates to.

The scheduler (:mod:`._scheduler`) keeps the state of one run; fusion, eager scheduling and
single-function runs receive only what they use, as the small objects below, never the
scheduler itself:

- :class:`RunExecutors`: the executor of each function (pipemap's own pool is taken on first
  use and replaced once after a worker died);
- :class:`MappedJob` and :class:`MappedJobs`: one mapped function between preparing and
  finishing it, and the three steps fusion runs jobs with;
- :class:`Gating`: eager scheduling's stored-element trackers and per-consumer gate sources;
- :class:`SingleContext`: what a single (non-mapped) function reads and writes;
- :class:`FusionContext` and :class:`EagerContext`: what fused chains and eager scheduling use.

>>> RunExecutors(parallel=False, executors=None).for_function(None) is None
True
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pipemap.runner.executors import _default_pool
from pipemap.runner.executors._executors import executor_for
from pipemap.runner.worker._modes import ErrorHandling

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from pipemap.storage import StorageBase

    from pipemap.runner.worker._chunk import ChunkResult, FunctionTask
    from pipemap.runner.model._pipefunc import PipeFunc
    from pipemap.runner.model._retry_policy import RetryPolicy
    from pipemap.runner.engine._prepare import Prepared
    from pipemap.runner.engine._readiness import StoredTracker
    from pipemap.runner.engine._results import ResultDict
    from pipemap.runner.engine._run_info import RunInfo
    from pipemap.runner.engine._summary import RunTally

__all__ = [
    "EagerContext", "FusionContext", "Gating", "MappedJob", "MappedJobs", "RunExecutors", "SingleContext",
]


class RunExecutors:
    """The executor of each function of one run (None: sequential, in the run's own thread)."""

    def __init__(self, *, parallel: bool, executors: dict[str | tuple[str, ...], Executor] | None) -> None:
        self.parallel = parallel
        self.executors = executors
        #: pipemap's own pool, once a function needed it (released by the scheduler at the end)
        self.owned: ProcessPoolExecutor | None = None

    def for_function(self, f: PipeFunc) -> Executor | None:
        """``f``'s executor: the one given for its output, else pipemap's own pool."""
        if not self.parallel:
            return None
        if self.executors is not None:
            return executor_for(self.executors, f.output_name)
        if self.owned is None:
            self.owned = _default_pool.acquire()
        return self.owned

    def uses_default_pool(self) -> bool:
        """A parallel run without any executor of the user's: every function may use pipemap's pool."""
        return self.parallel and self.executors is None

    def renew(self, broken: Executor) -> Executor:
        """Replace pipemap's own pool after a worker died (once, however many functions saw it)."""
        if self.owned is broken:
            self.owned = _default_pool.replace_broken(self.owned)
        assert self.owned is not None
        return self.owned

    def renewer(self, executor: Executor) -> Callable[[Executor], Executor] | None:
        """:meth:`renew` for pipemap's own pool; None for an executor the user passed."""
        return self.renew if executor is self.owned else None


@dataclass
class MappedJob:
    """One mapped function between :meth:`MappedJobs.prepare` and :meth:`MappedJobs.finish`."""

    f: PipeFunc
    task: FunctionTask
    todo: range | np.ndarray
    executor: Executor | None
    absorb: Callable[[ChunkResult], None]
    storages: tuple[StorageBase, ...]
    first_shape: list[tuple[int, ...] | None]
    flats: list[np.ndarray] | None
    filled: np.ndarray | None
    resumed: bool
    done_masks: list[np.ndarray] | None
    selected: range | np.ndarray
    kwargs: dict[str, Any]
    #: the default pool is not taken yet: the first elements run in the parent and decide
    #: (``engine/_inline.py``); ``executor`` is None until then
    deferred: bool = False


@dataclass(frozen=True)
class MappedJobs:
    """The steps of a mapped function, as fusion uses them: prepare (what is missing, the task,
    the executor), run (its chunks, then finish), finish (shapes, failure log, results)."""

    prepare: Callable[[PipeFunc], MappedJob]
    run: Callable[[MappedJob], Awaitable[None]]
    finish: Callable[[MappedJob], None]


@dataclass
class Gating:
    """Eager scheduling at chunk level: stored-element trackers of producer functions (None
    outside eager runs), and per consumer the producers it may read before they finished."""

    trackers: dict[PipeFunc, StoredTracker] | None = None
    sources: dict[PipeFunc, set[PipeFunc]] = field(default_factory=dict)


@dataclass(frozen=True)
class SingleContext:
    """What running a single (non-mapped) function reads and writes."""

    info: RunInfo
    store: dict[str, Any]  # output name -> its storage or single-value holder
    outputs: ResultDict
    error_handling: ErrorHandling
    return_results: bool
    #: called after a value resolved ``"?"`` shapes downstream (emits ``ShapeResolved``)
    on_resolved: Callable[[], None]
    retries: RetryPolicy | None = None  # the run's default retry policy
    #: resume with ``retry_failed=True``: a stored error snapshot is recomputed
    retry_failed: bool = False
    #: the run's retried and failed elements (for its summary)
    tally: RunTally | None = None


@dataclass(frozen=True)
class FusionContext:
    """What running a fused chain uses: the prepared run, the executors, the job steps."""

    prep: Prepared
    executors: RunExecutors
    jobs: MappedJobs


@dataclass(frozen=True)
class EagerContext:
    """What eager scheduling uses: the prepared run, the gating it fills, the executors, and
    the scheduler's entry point for one function."""

    prep: Prepared
    gating: Gating
    executors: RunExecutors
    run_function: Callable[[PipeFunc], Awaitable[None]]

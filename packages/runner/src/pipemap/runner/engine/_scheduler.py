"""The asynchronous scheduling core, written once (``run_map`` is a synchronous facade over it).

:class:`_Runner` holds one run's state (``_walk.run_prepared`` drives it), runs single
functions, and splits each mapped function's missing elements into chunks that go through
the executor boundary (or run inline when sequential: then the coroutine never suspends,
so the facade can drive it without an event loop). Results are written in bulk, ``"?"``
shapes resolved, progress events emitted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pipemap.mapspec import external_shape_from_mask, internal_shape_from_mask, shape_is_resolved

from pipemap.runner.worker._chunk import ChunkResult, FunctionTask, run_chunk
from pipemap.runner.executors._dispatch import ChunkDispatcher, describe_chunk, is_automatic, lost_chunk_result, route_outputs, sizer_for
from pipemap.runner.worker._gather import by_position
from pipemap.runner.worker._errors import attach_snapshot, error_types, raise_with_note
from pipemap.runner.worker._resources import map_resources, needs_resources
from pipemap.runner.engine._eager import gate_for
from pipemap.runner.engine._failure_log import FailureLog
from pipemap.runner.worker._guards import inconsistent_internal_error
from pipemap.runner.worker._modes import ErrorHandling
from pipemap.runner.engine._events import AlreadyStored, ChunkDone, FunctionDone, RanInline, ShapeResolved
from pipemap.runner.engine._inline import inline_reason, probe_inline, worth_probing
from pipemap.runner.executors._executors import is_thread_or_sync
from pipemap.runner.worker._pickling import note_unsendable
from pipemap.runner.engine._prepare import Prepared
from pipemap.runner.worker._task_ref import TaskRef, execute_ref
from pipemap.runner.engine._results import Result
from pipemap.runner.engine._run_context import Gating, MappedJob, MappedJobs, RunExecutors, SingleContext
from pipemap.runner.engine._single import run_single
from pipemap.runner.engine._ragged import finish_ragged, ragged_task
from pipemap.runner.engine._mapped import _ABSENT, _emit_failures, _loader, _mask_of, _merge, _n_retried, _placement, _without_errors
from pipemap.runner.engine._summary import RunTally
from pipemap.runner.engine._store import as_object_array, is_storage, is_value_holder, output_array
from pipemap.runner.engine._attempts import forget_attempts, lost_retrier, record_raised
from pipemap.runner.model._retry_policy import effective_policy
from pipemap.storage import write_attempts

if TYPE_CHECKING:
    from concurrent.futures import Executor


    from pipemap.runner.worker._chunk import Linear
    from pipemap.runner.model._pipefunc import PipeFunc


class _Runner:
    """State of one run while the coroutine executes."""

    def __init__(self, prep: Prepared) -> None:
        self.prep = prep
        self.info = prep.run_info
        self.store = prep.store
        self.pipeline = prep.pipeline
        self.inputs = prep.run_info.inputs
        self.defaults = self.pipeline.defaults
        self.events = prep.events
        self.executors = RunExecutors(parallel=prep.parallel, executors=prep.executor)
        self.parallel = prep.parallel
        folder = prep.run_info.run_folder
        self.failures = (
            FailureLog(Path(folder)) if folder is not None and prep.error_handling == ErrorHandling.CONTINUE else None
        )
        self.gating = Gating()
        self.tally = RunTally()
        self.jobs = MappedJobs(self.prepare_mapped, self.run_prepared_job, self.finish_mapped)
        self.single = SingleContext(
            self.info, self.store, prep.outputs, prep.error_handling, prep.return_results, self._emit_resolved,
            prep.retries,
            prep.retry_failed, self.tally,
        )

    # ------------------------------------------------------------------ arguments
    def arg_value(self, f: PipeFunc, p: str) -> Any:
        """Input, upstream output (mapped: storage; single: the value), pipeline default."""
        if p in self.inputs:
            return self.inputs[p]
        if p in self.store:
            holder = self.store[p]
            if is_value_holder(holder):
                return holder.load()
            return holder
        if p in self.defaults:
            return self.defaults[p]
        return _ABSENT

    # ------------------------------------------------------------------ mapped functions
    def _selected_indices(self, f: PipeFunc, ext_shape: tuple[int, ...]) -> np.ndarray | range:
        size = int(np.prod(ext_shape)) if ext_shape else 1
        fixed = self.prep.fixed_indices
        if not fixed:
            return range(size)
        spec = f.mapspec
        assert spec is not None  # a mapped function
        axes = [a for a in spec.output_indices if a in spec.external_indices]
        keys = []
        for axis, n in zip(axes, ext_shape):
            sel = fixed.get(axis, slice(None))
            keys.append(np.arange(n)[sel] if isinstance(sel, slice) else np.array([range(n)[sel]]))
        grids = np.meshgrid(*keys, indexing="ij")
        strides = np.array([int(np.prod(ext_shape[k + 1 :])) for k in range(len(ext_shape))], dtype=np.int64)
        lin = sum(g.astype(np.int64) * s for g, s in zip(grids, strides))
        return np.sort(np.asarray(lin, dtype=np.int64).reshape(-1))

    async def run_mapped(self, f: PipeFunc) -> None:
        await self.run_prepared_job(self.prepare_mapped(f))

    async def run_prepared_job(self, job: MappedJob) -> None:
        """Run the missing chunks of a prepared mapped function, then finish it."""
        if len(job.todo):
            try:
                if job.deferred:  # the default pool, taken only if the function is worth it
                    probed = probe_inline(job) if worth_probing(len(job.todo)) else None
                    if probed is not None and probed.seconds is not None:
                        self._ran_inline(job, probed.seconds)
                    elif probed is None or len(probed.rest):
                        if job.executor is None:
                            job.executor = self.executors.for_function(job.f)
                        job.deferred = False
                        assert job.executor is not None
                        rest, rate = (job.todo, None) if probed is None else (probed.rest, probed.per_element)
                        await self._run_parallel(job.f, job.task, rest, job.executor, job.absorb, per_element=rate)
                elif job.executor is None:
                    job.task.on_batch = job.absorb  # batches are written and reported as they finish
                    run_chunk(job.task, job.todo)
                else:
                    await self._run_parallel(job.f, job.task, job.todo, job.executor, job.absorb)
            except Exception as exc:
                record_raised(self.info.run_folder, job.f.output_names, exc)
                raise
        self.finish_mapped(job)

    def _defers_pool(self, f: PipeFunc) -> bool:
        """The function would run on pipemap's default pool (never an executor the user chose)
        with automatic chunk sizes (a size the user set is a choice for the pool, kept too) and has
        no ``timeout`` (enforced in pool workers, not always in the parent): its first elements
        run in the parent and decide (``engine/_inline.py``). Nor with a retry policy: an element
        that kills its process must kill a worker (one failed attempt), never the run."""
        return (
            self.executors.uses_default_pool()
            and is_automatic(f.output_name, self.prep.chunksizes)
            and not getattr(f, "timeout", None)
            and effective_policy(getattr(f, "retries", None), self.prep.retries) is None
        )

    def _ran_inline(self, job: MappedJob, seconds: float) -> None:
        reason = inline_reason(len(job.todo), seconds)
        self.tally.add_inline(job.f.__name__, reason)
        if self.events:
            self.events.emit(RanInline(job.f.output_names[0], reason))

    def prepare_mapped(self, f: PipeFunc) -> MappedJob:
        """Everything about one mapped function before its chunks run: what is missing, the
        task, the executor, the callback that absorbs finished chunks."""
        key = f.output_name
        full = self.info.resolved_shapes[key]
        mask = self.info.shape_masks[key]
        ext_shape = external_shape_from_mask(full, mask)
        if not shape_is_resolved(ext_shape):
            if self.prep.fixed_indices:
                msg = "Cannot mask fixed axes when unresolved dimensions are present in the external shape"
                raise ValueError(msg)
            msg = f"The external shape {ext_shape} of `{key}` is still unresolved when `{f.__name__}` runs."
            raise RuntimeError(msg)
        internal = internal_shape_from_mask(full, mask)
        storages = tuple(self.store[n] for n in f.output_names)
        for s in storages:
            s.shape = tuple(ext_shape)
        reused_internal, n_reused = self.prep.keys.prepare(f, storages) if self.prep.keys is not None else (None, 0)
        selected = self._selected_indices(f, ext_shape)
        todo: Linear = selected
        done_masks: list[np.ndarray] | None = None
        if self.info.run_folder is not None:
            known = None
            if self.prep.keys is not None:  # read by keys.prepare just now (one listing, not two)
                known, self.prep.keys.done_masks = self.prep.keys.done_masks, None
            done_masks = known if known is not None else [s.done_mask() for s in storages]
        resumed = done_masks is not None and any(m.any() for m in done_masks)
        if done_masks is not None and resumed and self.prep.retry_failed:
            before = done_masks
            done_masks = [_without_errors(s, m) for s, m in zip(storages, done_masks)]
            self.tally.add_retried(f.__name__, _n_retried(before, done_masks, selected))
        if done_masks is not None and resumed:
            done_all = np.logical_and.reduce(done_masks) if len(done_masks) > 1 else done_masks[0]
            if self.events:  # progress counts what earlier runs stored as completed from the start
                self.events.emit(AlreadyStored(f.output_names[0], int(np.count_nonzero(done_all)), n_reused))
            missing = np.flatnonzero(~done_all).astype(np.int64)
            if isinstance(selected, range) and len(selected) == len(done_all):
                todo = missing
            else:
                todo = np.intersect1d(missing, np.asarray(selected, dtype=np.int64))
            if isinstance(todo, np.ndarray) and len(todo) and todo[-1] - todo[0] + 1 == len(todo):
                todo = range(int(todo[0]), int(todo[-1]) + 1)
        mapped = {}
        const = {}
        for p in f.parameters:
            if p in f.bound:
                continue
            value = self.arg_value(f, p)
            if value is _ABSENT:
                continue
            if f.mapspec is not None and p in f.mapspec.input_names:
                mapped[p] = by_position(value)  # pandas objects: positions, not labels
            else:
                const[p] = value.to_array() if is_storage(value) else value
        failed = None
        if needs_resources(f):  # evaluated before anything is submitted (per-element ones: in the call)
            extra, failed = map_resources(f, {**mapped, **const}, continue_mode=self.prep.error_handling == ErrorHandling.CONTINUE)
            const.update(extra)
        keep = self.prep.return_results
        index_spec, task_mapped, rows = ragged_task(self.info, f, mapped)
        if index_spec is not None and self.prep.fixed_indices:
            msg = f"`fixed_indices` with ragged axes are not supported yet (function `{f.__name__}`, mapspec `{f.mapspec}`)"
            raise NotImplementedError(msg)
        task = FunctionTask(
            func=f,
            external_shape=tuple(int(d) for d in ext_shape),
            mapped=task_mapped,
            const=const,
            outputs=storages,
            return_values=keep,
            error_handling=self.prep.error_handling,
            n_internal=len(internal),
            check_internal=keep,
            internal_shape=tuple(internal),
            owner=self.prep.lock.ownership() if self.prep.lock is not None else None,
            retry=effective_policy(getattr(f, "retries", None), self.prep.retries),
            run_folder=None if self.info.run_folder is None else str(self.info.run_folder),
            index_spec=index_spec,
            ragged_rows=rows,
        )
        name = f.output_names[0]
        deferred = failed is None and self._defers_pool(f)
        # deferred: the default pool is taken (started when none is kept) only when the probes
        # send work to it, so a function run in the parent starts no process (engine/_inline.py)
        executor = self.executors.for_function(f) if failed is None and not deferred else None  # failed: nothing to submit
        size = int(np.prod(ext_shape)) if ext_shape else 1
        # values computed now go straight into the (flat) result buffers, batch by batch
        flats = [np.empty(size, dtype=object) for _ in f.output_names] if keep else None
        filled = np.zeros(size, dtype=bool) if keep else None
        first_shape: list[tuple[int, ...] | None] = [reused_internal]  # (an internal shape taken with reused values)

        def absorb(result: ChunkResult) -> None:
            if result.internal_shape is not None:
                if first_shape[0] is None:
                    first_shape[0] = result.internal_shape
                elif tuple(result.internal_shape) != tuple(first_shape[0]):  # "?" sizes fixed differently by two workers
                    raise inconsistent_internal_error(f, describe_chunk(result.linear), result.internal_shape, first_shape[0])
            if flats is not None and result.values is not None:
                place = _placement(result.linear)
                for flat, vals in zip(flats, result.values):
                    flat[place] = as_object_array(vals)
                if filled is not None:
                    filled[place] = True
            if result.failed_linear:
                self.tally.add_failed(f.__name__, storages[0], result.failed_linear)
                if self.failures is not None:
                    self.failures.record(f.output_names, result.failed_linear)
            if result.attempts and not result.attempts_written and task.run_folder is not None:
                write_attempts(task.run_folder, f.output_names, result.attempts)
            if self.events:
                if result.n_failed:
                    _emit_failures(self.events, name, result)
                self.events.emit(ChunkDone(name, result.n_done, result.n_failed, result.elapsed))

        if self.failures is not None:
            self.failures.begin(f.output_names, todo)
        if self.info.run_folder is not None and resumed:
            forget_attempts(self.info.run_folder, f.output_names, todo)
        if self.gating.trackers is not None and f in self.gating.trackers:
            self.gating.trackers[f].begin(size, None if len(todo) == size else ~_mask_of(todo, size))
        return MappedJob(
            f, task, todo, executor, absorb, storages, first_shape, flats, filled, resumed, done_masks, selected,
            {**mapped, **const}, deferred,
        )

    def finish_mapped(self, job: MappedJob) -> None:
        """After the chunks: internal shapes, the failure log, FunctionDone, the results."""
        f, task, storages, flats, filled = job.f, job.task, job.storages, job.flats, job.filled
        key, name, keep = f.output_name, f.output_names[0], self.prep.return_results
        if self.prep.keys is not None:
            self.prep.keys.finish(f, storages, job.todo)
        full = self.info.resolved_shapes[key]
        mask = self.info.shape_masks[key]
        ext_shape = external_shape_from_mask(full, mask)
        if task.n_internal:
            shape = job.first_shape[0]
            if shape is not None:
                for s in storages:
                    if not shape_is_resolved(s.internal_shape):
                        s.internal_shape = tuple(shape)
            if not shape_is_resolved(full) and shape is not None:
                new_full = _merge(ext_shape, tuple(shape), mask)
                self.info.resolve_downstream_shapes(name, self.store, shape=new_full)
                self._emit_resolved()
        whole = flats is not None and filled is not None and not job.resumed and bool(filled.all())
        if finish_ragged(self.info, self.store, f, flats if whole else None):
            self._emit_resolved()  # the flat sizes of the producer's consumers are known now
        if self.failures is not None:
            self.failures.flush()
        if self.events:
            self.events.emit(FunctionDone(name))
        if keep:
            internal_now = self.info.resolved_shapes[key]
            internal_now = internal_shape_from_mask(internal_now, mask)
            internal_arg = tuple(internal_now) if task.n_internal else None
            for k, (out_name, s) in enumerate(zip(f.output_names, storages)):
                comp = (flats[k], filled) if flats is not None and filled is not None else None
                if job.resumed:  # reused elements are read from storage on first access only
                    done = job.done_masks[k] if job.done_masks is not None else None
                    if done is not None and not isinstance(job.selected, range):
                        done = done & _mask_of(job.selected, len(done))  # docs/behaviour.md §4.5: None outside the fixed indices
                    loader = _loader(s, comp, internal_arg, done)
                    self.prep.outputs[out_name] = Result(f.__name__, job.kwargs, out_name, None, s, loader=loader)
                else:
                    arr = output_array(s, comp, internal_arg, None if job.done_masks is None else job.done_masks[k])
                    self.prep.outputs[out_name] = Result(f.__name__, job.kwargs, out_name, arr, s)

    async def _run_parallel(
        self, f: PipeFunc, task: FunctionTask, todo: Linear, executor: Executor, absorb: Callable[[ChunkResult], None],
        per_element: float | None = None,
    ) -> None:
        """Chunks go through a windowed, adaptive dispatcher (:mod:`._dispatch`); ``per_element``:
        the seconds per element the parent's probes measured (the first chunks are sized from it)."""
        shares_memory = is_thread_or_sync(executor)
        write_in_worker = route_outputs(task, shares_memory)
        sizer = sizer_for(f.output_name, len(todo), self.prep.chunksizes, executor)
        if per_element is not None:
            sizer.observe(1, per_element)
        if shares_memory:
            ref: Any = task
            fn: Any = run_chunk
        else:
            ref = TaskRef(task, self.info.run_folder)
            fn = execute_ref
        storages = tuple(self.store[n] for n in f.output_names)
        trackers = self.gating.trackers
        tracker = trackers.get(f) if trackers is not None else None
        gate = gate_for(self.gating, self.prep, f) if self.gating.sources else None

        def write(result: ChunkResult) -> None:
            for s, vals in zip(storages, result.values or ()):
                if task.n_internal:
                    s._put_many(s._check_linear(result.linear), vals)
                else:
                    s.dump_many(result.linear, vals)

        def handle(result: ChunkResult) -> None:
            if not write_in_worker and result.values is not None:
                write(result)
            absorb(result)
            if tracker is not None:
                tracker.mark(result.linear)  # written (by the parent above, or by the worker)

        def on_dead(chunk: Linear, error: BaseException) -> None:
            lost = lost_chunk_result(task, chunk, error)
            write(lost)
            if not self.prep.return_results:
                lost.values = None
            absorb(lost)

        dispatcher = ChunkDispatcher(
            function=f.__name__,
            output_name=", ".join(f.output_names),
            executor=executor,
            submit=(
                (lambda ex, chunk, *prior: ex.submit(fn, ref, chunk, *prior))
                if write_in_worker
                else (lambda ex, chunk, *prior: note_unsendable(ex.submit(fn, ref, chunk, *prior), f, describe_chunk(chunk)))
            ),
            sizer=sizer,
            handle=handle,
            on_dead=on_dead if self.prep.error_handling == ErrorHandling.CONTINUE else None,
            renew=self.executors.renewer(executor),
            gate=gate,
            in_flight=self.prep.in_flight,
            retry_lost=lost_retrier(task, storages, write_in_worker, handle),
        )
        try:
            await dispatcher.run(todo)
        except BaseException as exc:
            snap = getattr(exc, "_pipemap_snapshot", None)
            if snap is not None:
                attach_snapshot(f, snap)
            raise
        finally:
            if isinstance(ref, TaskRef):
                ref.discard()

    def _emit_resolved(self) -> None:
        if not self.events:
            return
        for key, shape in self.info.resolved_shapes.items():
            if isinstance(key, str) and shape_is_resolved(shape):
                mask = self.info.shape_masks.get(key)
                if mask is not None:
                    ext = external_shape_from_mask(shape, mask)
                    self.events.emit(ShapeResolved(key, int(np.prod(ext)) if ext else 1))

    # ------------------------------------------------------------------ single functions
    async def run_single_function(self, f: PipeFunc) -> None:
        executor = self.executors.for_function(f)
        kwargs: dict[str, Any] = {}
        for p in f.parameters:
            if p not in f.bound and (value := self.arg_value(f, p)) is not _ABSENT:
                kwargs[p] = value.to_array() if is_storage(value) else value
        try:
            await run_single(self.single, f, kwargs, executor)
        except Exception as exc:
            record_raised(self.info.run_folder, f.output_names, exc)
            raise
        name = f.output_names[0]
        if self.prep.keys is not None:
            self.prep.keys.computed[f.__name__] = self.prep.keys.computed.get(f.__name__, 0) + 1
        failed = self._single_failed(f)
        if self.failures is not None:
            self.failures.begin(f.output_names, range(1))
            if failed:
                self.failures.record(f.output_names, [0])
            self.failures.flush()
        if self.events:
            self.events.emit(ChunkDone(name, 1, int(failed), 0.0))
            self.events.emit(FunctionDone(name))

    def _single_failed(self, f: PipeFunc) -> bool:
        """docs/behaviour.md §4.9: a single function counts as failed when its output holds an error snapshot."""
        types = error_types()
        result = self.prep.outputs.get(f.output_names[0])
        return bool(types) and result is not None and isinstance(result.output, types)

    async def run_function(self, f: PipeFunc) -> None:
        if f.requires_mapping:
            await self.run_mapped(f)
        else:
            await self.run_single_function(f)

    def totals(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for f in self.pipeline.sorted_functions:
            name = f.output_names[0]
            if f.requires_mapping:
                full = self.info.resolved_shapes[f.output_name]
                ext = external_shape_from_mask(full, self.info.shape_masks[f.output_name])
                out[name] = int(np.prod(ext)) if shape_is_resolved(ext) and ext else (1 if not ext else None)
            else:
                out[name] = 1
        return out


__all__ = ["TaskRef", "execute_ref", "raise_with_note", "error_types", "time"]

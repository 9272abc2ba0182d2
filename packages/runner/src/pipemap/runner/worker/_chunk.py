"""THE chunk-executing code path: one chunk of one mapped function.

A :class:`FunctionTask` holds everything a worker needs for one mapped function of one run
(the PipeFunc, its mapspec, the resolved external shape, the inputs, the output storages); a
chunk is a ``range`` or an int64 array of linear indices. :func:`run_chunk` gathers the
chunk's inputs in bulk with the mapspec's :class:`~pipemap.mapspec.IndexPlan`, calls the
function once per element (through a call compiled for the chunk: no per-element dict), picks
the outputs, and writes them with one ``dump_many`` per output and batch (or returns them when
the parent must write). Sequential runs call it in-process with one big chunk; long chunks
write in batches bounded by time: a batch is flushed once it has run ``BATCH_SECONDS`` (the first
element of a chunk is always flushed on its own when it took that long), so a crash loses at most
the elements in flight plus ``BATCH_SECONDS`` of finished work (``docs/reliability.md``).

>>> from pipemap.runner import PipeFunc
>>> from pipemap.storage import DictArray
>>> f = PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")
>>> out = DictArray(None, (3,))
>>> task = FunctionTask(f, (3,), {"x": [1, 2, 3]}, {}, (out,))
>>> run_chunk(task, range(3)).n_done
3
>>> out.get_many(range(3))
[2, 4, 6]
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
from pipemap.mapspec import IndexPlan, MapSpec, shape_is_resolved

from pipemap.runner.worker._gather import gather_inputs
from pipemap.runner.worker._guards import guard_for, rows_guard
from pipemap.runner.worker._calls import call_block
from pipemap.runner.worker._errors import error_types, make_error_snapshot, scan_for_errors, short_repr
from pipemap.runner.worker._modes import ErrorHandling
from pipemap.runner.worker._resources import element_resources_call, needs_element_resources
from pipemap.runner.worker._value_shapes import value_internal_shape
from pipemap.storage import FileValue, stored_before_failure, write_attempts

if TYPE_CHECKING:
    from pipemap.storage import AttemptRecord, ErrorInfo, RunOwnership, StorageBase

    from pipemap.runner.model._pipefunc import PipeFunc
    from pipemap.runner.model._retry_policy import RetryPolicy

#: the linear indices of a chunk's elements: a contiguous ``range``, or a 1-D int64 array
Linear = range | np.ndarray

#: elements gathered for the first batch of a long chunk; later batches are sized from the
#: measured time per element (x4 growth at most) towards BATCH_SECONDS each
FIRST_BATCH = 64
#: a batch stops calling the function and is written once it has run this long: the most finished
#: work a crash can lose (beyond the elements in flight)
BATCH_SECONDS = 0.25
#: batches stay small enough that their transient buffers are a small part of a run's memory
MAX_BATCH = 16384


@dataclass
class FunctionTask:
    """Everything needed to run chunks of one mapped function (picklable, sent once per worker).

    ``mapped``: renamed mapspec input name -> indexable value (list, ndarray, storage, ...);
    ``const``: renamed name -> value for every other parameter the call needs;
    ``outputs``: the storages to write (one per output name), or None to return values;
    ``return_values``: also return the values (the parent keeps them for the results).
    """

    func: PipeFunc
    external_shape: tuple[int, ...]
    mapped: dict[str, object]
    const: dict[str, object]
    outputs: tuple[StorageBase, ...] | None
    return_values: bool = False
    error_handling: ErrorHandling = ErrorHandling.RAISE
    n_internal: int = 0
    check_internal: bool = False
    internal_shape: tuple[int | str, ...] = ()
    #: the run's :class:`~pipemap.storage.RunOwnership` (None without a run folder): a worker
    #: verifies it before each write, so a run that lost its folder never writes into it
    owner: RunOwnership | None = None
    #: the effective retry policy (None: one attempt, the call is not wrapped) and the run folder
    #: its attempts record goes to (written next to the values by whoever writes them)
    retry: RetryPolicy | None = None
    run_folder: str | None = None
    on_batch: Callable[[ChunkResult], None] | None = field(default=None, repr=False, compare=False)
    #: ragged axes (docs/concepts/ragged.md): the flat mapspec the function runs (None: its own),
    #: and whether it produces rows (every returned value must be a sequence)
    index_spec: MapSpec | None = None
    ragged_rows: bool = False

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["on_batch"] = None
        state.pop("_cache", None)
        return state


@dataclass
class ChunkResult:
    """What a chunk (or one batch of it) reports back: counts, optional values, first shape."""

    linear: Linear
    n_done: int
    n_failed: int = 0
    values: tuple[list[object], ...] | None = None
    internal_shape: tuple[int, ...] | None = None
    elapsed: float = 0.0
    failed_linear: tuple[int, ...] = ()
    #: linear index -> record, for elements that needed more than one attempt or failed (retry
    #: policies only); ``attempts_written``: the worker already wrote them with the values
    attempts: dict[int, AttemptRecord] | None = None
    attempts_written: bool = False


class TaskCache(TypedDict):
    """What a task computes once per process: the index plan, the mapped names in gather order,
    the compiled call, and (continue mode) the errors found among the constant arguments."""

    plan: IndexPlan
    names: list[str]
    call: Any  # the compiled call (it carries ``__positional__``)
    const_error: list[tuple[str, ErrorInfo]] | None


# --------------------------------------------------------------------------- running
def _task_cache(task: FunctionTask) -> TaskCache:
    cache = task.__dict__.get("_cache")
    if cache is None:
        pf = task.func
        assert pf.mapspec is not None  # a mapped function
        plan = IndexPlan(task.index_spec or pf.mapspec, task.external_shape)
        names = list(task.mapped)
        task.const = load_references(task.const)  # FileValue inputs: loaded here, in the worker
        guard = guard_for(pf, task.n_internal, task.internal_shape)
        if task.ragged_rows:
            guard = rows_guard(pf, guard)
        if needs_element_resources(pf):  # per-element resources: a wrapped call (only these functions)
            call = element_resources_call(pf, names, task.const, guard)
        else:
            call = pf.compile_call(names, task.const, guard)
        const_error = scan_for_errors(task.const) if task.error_handling == ErrorHandling.CONTINUE else None
        cache = TaskCache(plan=plan, names=names, call=call, const_error=const_error)
        task.__dict__["_cache"] = cache
    return cache


def load_references(kwargs: dict[str, object]) -> dict[str, object]:
    """Replace ``FileValue`` arguments (inputs passed by reference) by their loaded values."""
    if not any(isinstance(v, FileValue) for v in kwargs.values()):
        return kwargs
    return {k: v.load() if isinstance(v, FileValue) else v for k, v in kwargs.items()}


def _pick(task: FunctionTask, values: list[Any], cache: TaskCache) -> tuple[list[object], ...]:
    pf = task.func
    n_out = len(pf.output_names)
    if n_out == 1 and pf.output_picker is None and isinstance(pf.output_name, str):
        return (values,)
    pick = pf.pick_outputs
    try:
        picked = list(map(pick, values))
    except Exception:  # noqa: BLE001 - redo element by element to localise the failure
        if task.error_handling != ErrorHandling.CONTINUE:
            picked = []
            for v in values:
                try:
                    picked.append(pick(v))
                except Exception as exc:
                    exc.add_note(
                        f"While picking the outputs {tuple(pf.output_names)!r} of `{pf.__name__}` from the value"
                        f" {short_repr(v)} it returned, with its `output_picker`."
                    )
                    raise
        picked = []
        for v in values:
            try:
                picked.append(pick(v))
            except Exception:  # noqa: BLE001
                picked.append(_pick_each(pf, v))
    if not picked:
        return tuple([] for _ in range(n_out))
    return tuple(list(col) for col in zip(*picked))


def _pick_each(pf: PipeFunc, value: Any) -> tuple[object, ...]:
    """Pick outputs one by one, an ErrorSnapshot for each output whose picker raises."""
    out = []
    for k, name in enumerate(pf.output_names):
        try:
            if pf.output_picker is None:
                out.append(value[k])
            else:
                out.append(pf.output_picker(value, name))
        except Exception as exc:  # noqa: BLE001
            out.append(make_error_snapshot(pf, exc, {"output_name": name}))
    return tuple(out)


def _first_internal_shape(values: list[object], n_internal: int) -> tuple[int, ...] | None:
    types = error_types()
    for v in values:
        if types and isinstance(v, types):
            continue
        return value_internal_shape(v, n_internal)
    return None


def check_internal_shapes(task: FunctionTask, per_output: tuple[list[object], ...]) -> None:
    """docs/behaviour.md §2.4: every element's leading shape must equal the internal shape (first output's
    declared shape, or the first element's when it is ``"?"``)."""
    pf = task.func
    types = error_types()
    expected = task.internal_shape if task.internal_shape and shape_is_resolved(task.internal_shape) else None
    for name, values in zip(pf.output_names, per_output):
        for v in values:
            if types and isinstance(v, types):
                continue
            got = value_internal_shape(v, task.n_internal)
            if expected is None:
                expected = got
            if tuple(got) != tuple(expected):
                msg = (
                    f"Output shape {tuple(got)} of function '{pf.__name__}' (output '{name}') does not match"
                    f" the expected internal shape {tuple(expected)} used in the `mapspec`"
                    f" '{pf.mapspec}'. This error typically occurs when a `PipeFunc` returns values"
                    " with inconsistent shapes across different invocations. Ensure that the output"
                    " shape is consistent for all inputs."
                )
                raise ValueError(msg)


def describe_indices(linear: Linear) -> str:
    """``"3"``, ``"3..9"`` (a range) or ``"3, 5, 8 (3 elements)"`` for error messages."""
    n = len(linear)
    if n == 1:
        return str(int(linear[0]))
    if isinstance(linear, range) and linear.step == 1:
        return f"{linear.start}..{linear.stop - 1}"
    shown = ", ".join(str(int(v)) for v in list(linear[:5]))
    return f"{shown}{', ...' if n > 5 else ''} ({n} elements)"


def _write(task: FunctionTask, storage: StorageBase, linear: Linear, vals: list[object], shape: tuple[int, ...] | None) -> None:
    if task.n_internal:
        if shape is not None and not shape_is_resolved(storage.internal_shape):
            storage.internal_shape = shape
        # the engine checks internal shapes itself (docs/behaviour.md §2.4: only when results are
        # collected); error snapshots and declared-but-wrong shapes must still be stored
        storage._put_many(storage._check_linear(linear), vals)
    else:
        storage.dump_many(linear, vals)


def write_values(
    task: FunctionTask, name: str, storage: StorageBase, linear: Linear, vals: list[object], shape: tuple[int, ...] | None
) -> None:
    """Write one output's values in bulk. When the bulk write fails, the elements it did not
    store (all of them when the backend does not say, see ``stored_before_failure``) are
    written one by one (every good element is kept for resume) and the error names the
    function, the output and the first element that could not be written."""
    try:
        _write(task, storage, linear, vals, shape)
        return
    except Exception as exc:
        bulk_error = exc
    where = describe_indices(linear)
    retry = _not_stored(bulk_error, linear)
    if len(linear) > 1:
        for k in retry:
            try:
                _write(task, storage, linear[k : k + 1], vals[k : k + 1], shape)
            except Exception as exc:  # noqa: BLE001 - the culprit element
                bulk_error = exc
                where = str(int(linear[k]))
                break
    bulk_error.add_note(
        f"While writing element(s) {where} of `{name}` (function `{task.func.__name__}`) to its"
        f" `{getattr(storage, 'storage_id', type(storage).__name__)}` storage."
    )
    raise bulk_error


def _not_stored(error: BaseException, linear: Linear) -> list[int]:
    """Positions in ``linear`` that the failed bulk write raising ``error`` did not store."""
    stored = stored_before_failure(error)
    if stored is None or not len(stored):
        return list(range(len(linear)))
    as_array = np.arange(linear.start, linear.stop, linear.step) if isinstance(linear, range) else np.asarray(linear)
    return np.flatnonzero(~np.isin(as_array, stored)).tolist()


def run_batch(
    task: FunctionTask, linear: Linear, *, bounded: bool = False, per_element: float | None = None, prior: int = 0
) -> ChunkResult:
    """Run one batch: gather, call, pick, write (or keep) the values.

    ``bounded``: stop calling once the batch has run ``BATCH_SECONDS`` and write what finished
    (the result's ``linear`` then holds only those elements); ``per_element``: the seconds per
    element an earlier batch of the chunk took (the first block of calls is sized from it, see
    :class:`~pipemap.runner.worker._calls.Pace`); ``prior``: attempts each element already used
    (see :func:`run_chunk`). The cyclic garbage collector is
    paused for the batch: a batch allocates many short-lived objects and would otherwise trigger
    repeated full collections.
    """
    if gc.isenabled():
        gc.disable()
        try:
            return _run_batch(task, linear, bounded, per_element, prior)
        finally:
            gc.enable()
    return _run_batch(task, linear, bounded, per_element, prior)


def _run_batch(task: FunctionTask, linear: Linear, bounded: bool, per_element: float | None, prior: int = 0) -> ChunkResult:
    t0 = time.perf_counter()
    cache = _task_cache(task)
    _, columns = gather_inputs(task, cache["plan"], linear)
    deadline = t0 + BATCH_SECONDS if bounded else None
    records: dict[int, AttemptRecord] | None = None
    if task.retry is None:
        values, failed = call_block(task, cache, columns, linear, deadline, per_element)
    else:
        records = {}
        try:
            values, failed = call_block(task, cache, columns, linear, deadline, per_element, records, prior)
        except Exception as exc:
            exc._pipemap_attempts = records  # type: ignore[attr-defined] # the parent records the failed element
            raise
    if len(values) < len(linear):
        linear = linear[: len(values)]
    per_output = _pick(task, values, cache)
    shape = _first_internal_shape(per_output[0], task.n_internal) if task.n_internal else None
    if task.n_internal and task.check_internal:
        check_internal_shapes(task, per_output)
    if task.outputs is not None:
        owner = task.owner
        if owner is not None and owner.pid != os.getpid():
            owner.verify(f"elements {describe_indices(linear)} of `{', '.join(task.func.output_names)}`")
        for name, storage, vals in zip(task.func.output_names, task.outputs, per_output):
            write_values(task, name, storage, linear, vals, shape)
    keep = per_output if (task.return_values or task.outputs is None) else None
    failed_linear = tuple(int(linear[k]) for k in failed)
    result = ChunkResult(linear, len(values), len(failed), keep, shape, time.perf_counter() - t0, failed_linear)
    if records:
        result.attempts = records
        if task.outputs is not None and task.run_folder is not None:  # next to the values just written
            write_attempts(task.run_folder, task.func.output_names, records)
            result.attempts_written = True
    return result


def run_chunk(task: FunctionTask, linear: Linear, prior: int = 0) -> ChunkResult:
    """Run a whole chunk. When its values are written here (or reported via ``on_batch``) it runs
    in batches bounded by time, each written and reported as soon as it stops; when the parent
    writes them, in one batch. ``prior``: attempts each element already used up (the chunk is
    a resubmission after a worker died running it; only with a retry policy)."""
    n = len(linear)
    if task.on_batch is None and task.outputs is None:
        return run_batch(task, linear, prior=prior)
    start = 0
    size = FIRST_BATCH
    total_done = total_failed = 0
    failed_linear: list[int] = []
    attempts: dict[int, AttemptRecord] = {}
    written = True
    kept: list[list[object]] | None = None
    shape = None
    elapsed = 0.0
    per_element: float | None = None  # measured by the previous batch
    while start < n:
        part = linear[start : start + size]
        result = run_batch(task, part, bounded=True, per_element=per_element, prior=prior)
        if task.on_batch is not None:
            task.on_batch(result)
        if start == 0 and result.n_done == n:
            return result  # the whole chunk in one batch
        if result.attempts:
            attempts.update(result.attempts)
            written = written and result.attempts_written
        total_done += result.n_done
        total_failed += result.n_failed
        failed_linear.extend(result.failed_linear)
        elapsed += result.elapsed
        if shape is None:
            shape = result.internal_shape
        if result.values is not None and task.on_batch is None:  # the callback consumed them
            if kept is None:
                kept = [list(v) for v in result.values]
            else:
                for acc, v in zip(kept, result.values):
                    acc.extend(v)
        start += result.n_done
        per_element = result.elapsed / max(1, result.n_done)
        target = int(BATCH_SECONDS / per_element) if per_element > 0 else 1 << 20
        size = max(1, min(4 * size, MAX_BATCH, target))
    values = tuple(kept) if kept is not None else None
    out = ChunkResult(linear, total_done, total_failed, values, shape, elapsed, tuple(failed_linear))
    if attempts:
        out.attempts, out.attempts_written = attempts, written or task.on_batch is not None
    return out

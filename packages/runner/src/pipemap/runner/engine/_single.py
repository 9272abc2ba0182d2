"""Non-mapped functions (including generators ``... -> x[i]`` and full reductions), docs/behaviour.md §2.5/§4.6.

A single function is called once: storages among its arguments become ``to_array()`` (a full
reduction receives the object masked array), the outputs are stored as single values, and an
output that is an array name with ``"?"`` sizes resolves the downstream shapes.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import TYPE_CHECKING, Any

from pipemap.runner.worker._errors import (
    attach_snapshot,
    error_types,
    make_error_snapshot,
    propagated_snapshot,
    raise_with_note,
    scan_for_errors,
)
from pipemap.runner.worker._resources import RESOURCES_ERROR_KEY, failed_resources_snapshot, map_resources, needs_resources
from pipemap.runner.worker._modes import ErrorHandling
from pipemap.runner.engine._results import Result
from pipemap.runner.worker._timeout import with_timeout
from pipemap.runner.worker._retry import records_for, with_retries
from pipemap.runner.engine._attempts import forget_attempts
from pipemap.runner.model._retry_policy import effective_policy
from pipemap.storage import write_attempts
from pipemap.mapspec import shape_is_resolved
from pipemap.runner.executors._event_loop import on_event_loop
from pipemap.runner.executors._executors import is_thread_or_sync
from pipemap.runner.worker._chunk import _pick_each, load_references
from pipemap.runner.worker._guards import output_count_error
from pipemap.runner.worker._pickling import dumps_task, unpicklable_culprit, unpicklable_for_workers
from pipemap.runner.worker._value_shapes import full_shape_from_value

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from pipemap.runner.model._pipefunc import PipeFunc
    from pipemap.runner.model._retry_policy import RetryPolicy
    from pipemap.runner.engine._run_context import SingleContext


def _call_single(f: PipeFunc, kwargs: dict[str, object], error_handling: ErrorHandling, policy: RetryPolicy | None = None) -> Any:
    """Call ``f`` once; errors are re-raised with a note or returned as snapshots. With a retry
    ``policy``: ``(value, attempts records)``, the call retried (see ``worker._retry``)."""
    kwargs = load_references(kwargs)
    call = f.call_with_kwargs
    if f.timeout:
        call = with_timeout(call, f.timeout, f.__name__)
    if policy is not None:
        call, log = with_retries(call, policy, 0, f.__name__)
        try:
            value = _call_checked(f, call, kwargs, error_handling)
        except Exception as exc:
            exc._pipemap_attempts = records_for(log, None, [0])  # type: ignore[attr-defined]
            raise
        return value, records_for(log, None, [0])
    return _call_checked(f, call, kwargs, error_handling)


def _call_checked(f: PipeFunc, call: Any, kwargs: dict[str, object], error_handling: ErrorHandling) -> Any:
    if error_handling == ErrorHandling.CONTINUE:
        found = scan_for_errors(kwargs)
        if found:
            return propagated_snapshot(f, found, kwargs)
        try:
            return call(kwargs)
        except Exception as exc:  # noqa: BLE001
            return make_error_snapshot(f, exc, kwargs)
    try:
        return call(kwargs)
    except Exception as exc:  # noqa: BLE001
        raise_with_note(exc, f, kwargs, None)
        raise  # pragma: no cover


def _call_single_blob(blob: bytes) -> Any:
    """Worker entry point for a single function sent as one cloudpickle blob."""
    import cloudpickle

    f, kwargs, error_handling, policy = cloudpickle.loads(blob)
    return _call_single(f, kwargs, error_handling, policy)


def _pick(f: PipeFunc, value: Any, error_handling: ErrorHandling, kwargs: dict[str, object]) -> tuple[object, ...]:
    """The outputs of ``value``; a multi-output function must return one value per output."""
    types = error_types()
    if f.output_picker is None and isinstance(f.output_name, tuple) and not (types and isinstance(value, types)):
        error = output_count_error(f, value)
        if error is not None:
            if error_handling != ErrorHandling.CONTINUE:
                raise_with_note(error, f, kwargs, None)
            snapshot = make_error_snapshot(f, error, kwargs)
            return (snapshot,) * len(f.output_names)
    try:
        return f.pick_outputs(value)
    except Exception as exc:
        if error_handling != ErrorHandling.CONTINUE:
            raise
        del exc
        return _pick_each(f, value)


async def run_single(ctx: SingleContext, f: PipeFunc, kwargs: dict[str, object], executor: Executor | None) -> None:
    """Run (or reuse, when all outputs exist) one non-mapped function on its arguments ``kwargs``
    (by renamed parameter name; storages already turned into arrays)."""
    store = ctx.store
    holders = [store[n] for n in f.output_names]
    info = ctx.info
    error_handling = ctx.error_handling
    picked: tuple[object, ...] | None = None
    if all(h.exists() for h in holders):
        try:
            picked = tuple(h.load() for h in holders)
        except Exception as exc:  # noqa: BLE001 - a torn/corrupt file: recompute, as for a missing one
            warnings.warn(
                f"Could not load the stored output(s) `{', '.join(f.output_names)}` of `{f.__name__}`"
                f" ({type(exc).__name__}: {exc}); recomputing them.",
                UserWarning,
                stacklevel=2,
            )
            picked = None
        types = error_types()
        if picked is not None and ctx.retry_failed and types and any(isinstance(v, types) for v in picked):
            picked = None  # retry_failed: a stored (propagated) error is recomputed
            if ctx.tally is not None:
                ctx.tally.add_retried(f.__name__, 1)
    failed = None
    if picked is None and needs_resources(f):  # evaluated here, before anything is submitted
        extra, failed = map_resources(f, kwargs, continue_mode=error_handling == ErrorHandling.CONTINUE)
        kwargs = {**kwargs, **extra}
    if picked is None:
        policy = effective_policy(getattr(f, "retries", None), ctx.retries)
        if failed is not None:
            args = {k: v for k, v in kwargs.items() if k != RESOURCES_ERROR_KEY}
            value = failed_resources_snapshot(f, failed, args, scan_for_errors(args))
            policy = None  # nothing was called
        elif executor is None:
            value = _call_single(f, kwargs, error_handling, policy)
        else:
            await on_event_loop()  # (a run started without one gets it now)
            if is_thread_or_sync(executor):
                fut = executor.submit(_call_single, f, kwargs, error_handling, policy)
            else:  # one blob, user code by value: the worker may not import the user's module
                try:
                    blob = dumps_task((f, kwargs, error_handling, policy), [f.func])
                except Exception as exc:  # noqa: BLE001 - re-raised naming the input (found only now)
                    raise unpicklable_for_workers(exc, unpicklable_culprit(f.func, kwargs, f.__name__)) from exc
                fut = executor.submit(_call_single_blob, blob)
            try:
                value = await asyncio.wrap_future(fut)
            except BaseException as exc:
                snap = getattr(exc, "_pipemap_snapshot", None)
                if snap is not None:
                    attach_snapshot(f, snap)
                raise
        records = None
        if policy is not None:
            value, records = value  # type: ignore[attr-defined]  # (value, records) when a policy ran the call
        if info.run_folder is not None:
            forget_attempts(info.run_folder, f.output_names, range(1))
            if records:
                write_attempts(info.run_folder, f.output_names, records)
        picked = _pick(f, value, error_handling, kwargs)
        if ctx.tally is not None and error_handling == ErrorHandling.CONTINUE:
            types = error_types()
            errors_now = [v for v in picked if types and isinstance(v, types)]
            if errors_now:  # computed by this run (a kept earlier failure is not this run's)
                ctx.tally.add_failed_single(f.__name__, errors_now[0])
        for name, h, v in zip(f.output_names, holders, picked):
            try:
                h.dump(v)
            except Exception as exc:
                exc.add_note(f"While storing output `{name}` of `{f.__name__}`.")
                raise
    for name, v in zip(f.output_names, picked):
        if name in info.resolved_shapes and f.mapspec is not None:
            _resolve_from_value(ctx, f, name, v)
    if ctx.return_results:
        for name, h, v in zip(f.output_names, holders, picked):
            ctx.outputs[name] = Result(f.__name__, kwargs, name, v, h)


def _resolve_from_value(ctx: SingleContext, f: PipeFunc, name: str, value: object) -> None:
    info = ctx.info
    if shape_is_resolved(info.resolved_shapes[name]):
        return
    types = error_types()
    if types and isinstance(value, types):
        msg = f"Internal shape for '{name}' is too short."
        raise ValueError(msg)

    shape = full_shape_from_value(value, info.shape_masks[name], info.resolved_shapes[name], name)
    info.resolve_downstream_shapes(name, ctx.store, shape=shape)
    ctx.on_resolved()

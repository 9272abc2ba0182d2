"""Preparation of a run (docs/behaviour.md §4.1): every bad-input check, in the documented order, before any work.

>>> from pipemap.runner import Pipeline, PipeFunc
>>> p = Pipeline([PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]")])
>>> prepare_run(pipeline=p, inputs={}, run_folder=None, internal_shapes=None)
Traceback (most recent call last):
...
ValueError: Missing inputs: `x`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from pipemap.mapspec import validate_consistent_axes
from pipemap.storage import RunFolderLock

from pipemap.runner.engine._events import EventBus, HeadlessTracker
from pipemap.runner.executors._executors import executor_for, normalize_executors
from pipemap.runner.executors._inflight import InFlight
from pipemap.runner.engine._options import RunOptions, ShowProgress
from pipemap.runner.engine._results import ResultDict
from pipemap.runner.engine._run_info import RunInfo
from pipemap.runner.engine._reuse_setup import ReusePlan, plan_reuse, start_keys
from pipemap.runner.model._cached_call import with_cached_functions
from pipemap.runner.model._from_pipefunc import from_pipefunc
from pipemap.runner.model._pipeline import Pipeline
from pipemap.runner.model._scopes import flatten_scopes
from pipemap.runner.progress import make_display, resolve_mode
from pipemap.runner.worker._modes import ErrorHandling

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from pipemap.runner.engine._reuse import RunKeys
    from pipemap.runner.executors._chunksizes import Chunksizes
    from pipemap.runner.model._retry_policy import RetryPolicy


class InputsTypeError(TypeError, ValueError):
    """``inputs`` is neither a dict nor a pydantic model (a ``ValueError`` in pipefunc, so both)."""


@dataclass
class Prepared:
    """The outcome of preparation, consumed by the scheduler."""

    pipeline: Pipeline
    run_info: RunInfo
    store: dict[str, Any]
    outputs: ResultDict
    parallel: bool
    executor: dict[str | tuple[str, ...], Executor] | None
    chunksizes: Chunksizes
    events: EventBus
    tracker: HeadlessTracker | None
    fixed_indices: dict[str, int | slice] | None
    return_results: bool
    error_handling: ErrorHandling
    persist_memory: bool
    lock: RunFolderLock | None = None  # the run folder's lock, released when the run ends
    retries: RetryPolicy | None = None  # the run's default retry policy (``retries=``)
    retry_failed: bool = False  # resume: failed and propagated-error elements count as missing
    in_flight: InFlight = field(default_factory=InFlight)  # chunks submitted and not finished
    keys: RunKeys | None = None  # element keys and ``reuse_from`` (runs with a run folder)
    reuse_plan: ReusePlan | None = None  # the in-place grow to finish when the run succeeds


def inputs_to_dict(inputs: Any, pipeline: Pipeline) -> dict[str, Any]:
    """Pydantic models become dicts; scope dicts ``{"foo": {"a": 1}}`` flatten to ``"foo.a"``."""
    if hasattr(inputs, "model_dump") and not isinstance(inputs, dict):
        inputs = {name: getattr(inputs, name) for name in type(inputs).model_fields}
    if not isinstance(inputs, dict):
        msg = (
            "Unknown type, expected a Pydantic model or a dictionary."
            f" `inputs` must be a dict (or a pydantic model), got {type(inputs).__name__}."
        )
        raise InputsTypeError(msg)
    scopes = {p.split(".", 1)[0] for f in pipeline.functions for p in f.parameters if "." in p}
    return flatten_scopes(dict(inputs), scopes)


def normalize_output_names(output_names: object) -> set | None:
    """None, a name (str or tuple) or an iterable of names -> a set or None."""
    if output_names is None:
        return None
    if isinstance(output_names, str | tuple):
        return {output_names}
    if isinstance(output_names, Iterable):
        return set(output_names)
    msg = f"`output_names` must be a name, a tuple of names or an iterable of names, got {output_names!r}."
    raise TypeError(msg)


def _canonical_name(pipeline: Pipeline) -> Callable[[str | tuple[str, ...]], str | tuple[str, ...]]:
    def canonical(name: str | tuple[str, ...]) -> str | tuple[str, ...]:
        try:
            return pipeline[name].output_name
        except (KeyError, ValueError) as e:
            msg = f"Unknown output name `{name}`: the pipeline's outputs are {sorted(pipeline.all_output_names)}."
            raise ValueError(msg) from e

    return canonical


def expand_names(pipeline: Pipeline, dct: dict, which: str) -> dict:
    """Rewrite keys naming one element of a multi-output function to the tuple name."""
    canonical = _canonical_name(pipeline)
    out: dict = {}
    for name, value in dct.items():
        key = "" if name == "" else canonical(name)
        if key in out:
            msg = f"{which} for `output_name={key!r}` is already set."
            raise ValueError(msg)
        out[key] = value
    return out


def validate_complete_inputs(pipeline: Pipeline, inputs: Mapping[str, object]) -> None:
    """Missing root arguments or extra inputs (docs/behaviour.md §4.1 step 5)."""
    root_args = list(pipeline.topological_generations.root_args)
    given = set(inputs) | set(pipeline.defaults)
    if missing := [a for a in root_args if a not in given]:
        msg = f"Missing inputs: `{', '.join(missing)}`."
        raise ValueError(msg)
    if extra := sorted(set(given) - set(root_args)):
        msg = f"Got extra inputs: `{', '.join(extra)}` that are not accepted by this pipeline."
        raise ValueError(msg)


def reduced_axes(pipeline: Pipeline) -> dict[str, set[str]]:
    """{array: axes reduced by some consumer} (whole-array consumers and ``:`` slots)."""
    axes = pipeline.mapspec_axes
    out: dict[str, set[str]] = defaultdict(set)
    for name in pipeline.mapspec_names:
        for f in pipeline.functions:
            if name not in f.parameters:
                continue
            if f.mapspec is None or name not in f.mapspec.input_names:
                out[name].update(a for a in axes[name] if a is not None)
                continue
            spec = next(s for s in f.mapspec.inputs if s.name == name)
            out[name].update(a for a, s in zip(axes[name], spec.axes) if s is None and a is not None)
    return dict(out)


def validate_fixed_indices(fixed_indices: dict[str, int | slice] | None, inputs: dict[str, Any], pipeline: Pipeline) -> None:
    """docs/behaviour.md §4.5 checks: unknown axes, out-of-bounds values, reduced axes."""
    if fixed_indices is None:
        return
    extra = set(fixed_indices)
    for parameter, axes in pipeline.mapspec_axes.items():
        extra -= set(axes)
        if parameter in inputs:
            key: Any = tuple(fixed_indices.get(a, slice(None)) if a is not None else slice(None) for a in axes)
            if len(key) == 1:
                key = key[0]
            try:
                inputs[parameter][key]
            except IndexError as e:
                msg = f"Fixed index `{key}` for parameter `{parameter}` is out of bounds."
                raise IndexError(msg) from e
            except TypeError:
                pass
    if extra:
        msg = f"Got extra `fixed_indices`: `{extra}` that are not accepted by this map."
        raise ValueError(msg)
    for name, axes_set in reduced_axes(pipeline).items():
        if reduced := axes_set & set(fixed_indices):
            msg = f"Axis `{', '.join(sorted(reduced))}` in `{name}` is reduced and cannot be in `fixed_indices`."
            raise ValueError(msg)


def _cannot_be_parallelized(pipeline: Pipeline) -> bool:
    return all(f.mapspec is None for f in pipeline.functions) and all(
        len(fs) == 1 for fs in pipeline.topological_generations.function_lists
    )


def make_listeners(show_progress: ShowProgress, callbacks: list | None) -> tuple[EventBus, HeadlessTracker | None]:
    """The event bus: a headless tracker unless progress is off, plus any user callbacks."""
    listeners = list(callbacks or [])
    tracker = None
    mode = resolve_mode(show_progress)  # docs/behaviour.md §4.9; raises on invalid values
    if mode is not None:
        tracker = HeadlessTracker()
        listeners.append(tracker)
        display = make_display(mode, tracker)  # counts first, then the (throttled) display
        if display is not None:
            listeners.append(display)
    return EventBus(listeners), tracker


def prepare_run(options: RunOptions | None = None, /, **arguments: Any) -> Prepared:
    """Validate everything and create the run record and stores (docs/behaviour.md §4.1, in order).

    Takes the run's :class:`~._options.RunOptions` (or its fields as keywords, validated here).
    """
    if options is None:
        options = RunOptions(**arguments)
    o = options
    pipeline, run_folder, chunksizes, storage = o.pipeline, o.run_folder, o.chunksizes, o.storage
    pipeline = _as_pipemap_pipeline(pipeline)
    cache = pipeline.cache if any(f.cache for f in pipeline.functions) else None  # (a sub-pipeline shares it)
    inputs = inputs_to_dict(o.inputs, pipeline)
    names = normalize_output_names(o.output_names)
    if o.auto_subpipeline or names is not None:
        pipeline = pipeline.subpipeline(set(inputs), names)
    executors = normalize_executors(o.executor, _canonical_name(pipeline))
    validate_complete_inputs(pipeline, inputs)
    validate_consistent_axes(pipeline.mapspecs(ordered=False))
    validate_fixed_indices(o.fixed_indices, inputs, pipeline)
    if isinstance(chunksizes, dict):
        chunksizes = expand_names(pipeline, chunksizes, "Chunksize")
    if isinstance(storage, dict):
        storage = expand_names(pipeline, storage, "Storage")
    lock = RunFolderLock(run_folder).acquire() if run_folder is not None else None
    plan = None
    try:
        plan = plan_reuse(run_folder, o.reuse_from, resume=o.resume if o.cleanup is None else not o.cleanup)
        if plan is not None:
            plan.begin()
        run_info = RunInfo.create(
            run_folder,
            pipeline,
            inputs,
            o.internal_shapes,
            executor=executors,
            storage=storage,
            error_handling=o.error_handling.value,
            cleanup=o.cleanup,
            resume=o.resume,
            resume_validation=o.resume_validation.value,
        )
        if lock is not None:
            lock.restore()  # a fresh run (resume=False) wiped the folder, lock included
        keys = start_keys(plan, pipeline, run_info)
        outputs = ResultDict(_inputs_=inputs, _pipeline_=pipeline)
        store = run_info.init_store()
        events, tracker = make_listeners(o.show_progress, o.callbacks)
        parallel = o.parallel
        if executors is None and _cannot_be_parallelized(pipeline):
            parallel = False
        if parallel and any(getattr(f, "profile", False) for f in pipeline.functions):
            import warnings

            warnings.warn(
                "`profile=True` is not supported with `parallel=True` using process-based executors.",
                UserWarning,
                stacklevel=3,
            )
        if executors is not None:
            for f in pipeline.functions:  # every function must find an executor before work starts
                executor_for(executors, f.output_name)
        return Prepared(
            pipeline=with_cached_functions(pipeline, cache, o.error_handling.value, cast("RetryPolicy | None", o.retries)),
            run_info=run_info,
            store=store,
            outputs=outputs,
            parallel=parallel,
            executor=executors,
            chunksizes=chunksizes,
            events=events,
            tracker=tracker,
            fixed_indices=o.fixed_indices,
            return_results=o.return_results,
            error_handling=o.error_handling,
            persist_memory=o.persist_memory,
            lock=lock,
            retries=cast("RetryPolicy | None", o.retries),
            retry_failed=o.retry_failed,
            keys=keys,
            reuse_plan=plan,
        )
    except BaseException:
        if plan is not None:
            plan.abort()
        if lock is not None:
            lock.release()
        raise


def _as_pipemap_pipeline(pipeline: object) -> Pipeline:
    """Accept a pipemap Pipeline; a pipefunc Pipeline is converted (docs/porting.md §2)."""
    if isinstance(pipeline, Pipeline):
        return pipeline
    module = type(pipeline).__module__ or ""
    if module.startswith("pipefunc"):
        return from_pipefunc(pipeline)
    if module.startswith(("pipemap.", "runner.")) and hasattr(pipeline, "topological_generations"):
        return cast("Pipeline", pipeline)
    msg = f"`pipeline` must be a `pipemap.runner.Pipeline`, got {type(pipeline).__module__}.{type(pipeline).__name__}."
    raise TypeError(msg)

"""``RunInfo``: the run record of :mod:`pipemap.storage` plus how a run creates it (docs/behaviour.md §5).

>>> from pipemap.runner import Pipeline, PipeFunc
>>> p = Pipeline([PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")])
>>> info = RunInfo.create(None, p, {"x": [1, 2, 3]}, storage=None)
>>> info.shapes["y"], info.storage, info.run_folder
((3,), 'dict', None)
"""

from __future__ import annotations

import functools
import json
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipemap.mapspec import (
    MapSpec,
    RaggedPlan,
    external_shape_from_mask,
    internal_shape_from_mask,
    shape_is_resolved,
)
from pipemap.runner.engine._folder_guards import (
    check_safe_to_delete,
    refuse_unvouched_outputs,
)
from pipemap.runner.engine._resume import compare_to_previous
from pipemap.runner.engine._resume_checks import plan_resume
from pipemap.runner.engine._resume_plan import (
    ResumePlan,
    ResumeRecomputeWarning,
    ResumeUnverifiedWarning,
)
from pipemap.runner.engine._resume_records import function_records, input_digests
from pipemap.runner.engine._shapes import at_least_tuple, map_shapes, resolve_downstream
from pipemap.runner.worker._value_shapes import full_shape_from_value
from pipemap.storage import (
    DirectValue,
    FileValue,
    RunRecord,
    atomic_write_bytes,
    clear_outputs,
    clear_run_folder,
    get_storage_class,
    interrupted_clear,
    storage_class_for,
)

if TYPE_CHECKING:
    from pipemap.runner.engine._shapes import OutputKey
    from pipemap.runner.model._pipeline import Pipeline

CLEANUP_DEPRECATION = (
    "The 'cleanup' parameter is deprecated and will be removed in a future version. "
    "Use 'resume' instead: cleanup=False is equivalent to resume=True, "
    "cleanup=True is equivalent to resume=False"
)


@functools.lru_cache(maxsize=1024)
def _parse_spec(text: str) -> MapSpec:
    return MapSpec.from_string(text)


@functools.cache
def _version() -> str:
    """The installed pipemap-runner version (looked up once per process, not per run)."""
    try:
        from importlib.metadata import version

        return version("pipemap-runner")
    except Exception:  # noqa: BLE001
        return "unknown"


def resolve_cleanup(cleanup: bool | None, resume: bool, *, stacklevel: int = 3) -> bool:
    """``cleanup`` (deprecated) wins over ``resume`` as ``resume = not cleanup``."""
    if cleanup is not None:
        warnings.warn(CLEANUP_DEPRECATION, DeprecationWarning, stacklevel=stacklevel)
        return not cleanup
    return resume


def _requires_serialization(storage: str | dict) -> bool:
    if isinstance(storage, str):
        return get_storage_class(storage).requires_serialization
    return any(get_storage_class(s).requires_serialization for s in storage.values())


def resolve_storage_and_folder(run_folder: str | Path | None, storage: str | dict | None) -> tuple[str | dict, Path | None]:
    """docs/behaviour.md §4.3: ``file_array`` with a folder, ``dict`` without; a temporary folder when needed."""
    if run_folder is not None:
        return storage or "file_array", Path(run_folder).absolute()
    if storage is None:
        return "dict", None
    if _requires_serialization(storage):
        temp = Path(tempfile.mkdtemp(prefix="pipemap-"))
        warnings.warn(
            f"{storage} storage requires a `run_folder`. Using temporary folder: `{temp}`.",
            UserWarning,
            stacklevel=4,
        )
        return storage, temp
    return storage, None


def merged_internal_shapes(internal_shapes: dict | None, pipeline: Pipeline) -> dict | None:
    """User internal shapes, then each PipeFunc's ``internal_shape`` for outputs not given."""
    merged: dict[str, object] = dict(internal_shapes or {})
    for f in pipeline.functions:
        if f.output_name in merged or f.internal_shape is None:
            continue
        for name in f.output_names:
            merged.setdefault(name, f.internal_shape)
    return merged or None


def bound_values(pipeline: Pipeline) -> dict[str, dict[str, object]]:
    """The functions' bound values, ``{output name: {parameter: value}}`` (tuple names comma-joined).

    Keyed per function: two functions may bind the same parameter name to different values.

    >>> from pipemap.runner import Pipeline, PipeFunc
    >>> bound_values(Pipeline([PipeFunc(lambda x, c: x, ("a", "b"), bound={"c": 1})]))
    {'a,b': {'c': 1}}
    """
    result: dict[str, dict[str, object]] = {}
    for f in pipeline.functions:
        values = getattr(f, "bound", None)
        if values:
            name = f.output_name
            result[",".join(name) if isinstance(name, tuple) else name] = dict(values)
    return result


def check_input_ranks(pipeline: Pipeline, inputs: Mapping[str, object]) -> None:
    """Lists/tuples cannot feed a mapspec input of rank > 1 (docs/behaviour.md §4.1 step 7)."""
    dims = pipeline.mapspec_dimensions if hasattr(pipeline, "mapspec_dimensions") else {}
    for name, value in inputs.items():
        dim = dims.get(name, 0)
        if dim > 1 and isinstance(value, list | tuple):
            msg = f"Expected {dim}D `numpy.ndarray` for input `{name}`, got {type(value)}."
            raise ValueError(msg)


class DeferredStorage:
    """The storage of a flat ragged output before its size is known (``RunInfo.init_store``):
    every storage class gets its resolved shape at construction."""

    def __init__(self, cls: type, folder: Path | None) -> None:
        self.cls = cls
        self.folder = folder
        self.shape: tuple[Any, ...] = ("?",)
        self.internal_shape: tuple[Any, ...] = ()

    def create(self, shape: tuple[int, ...]) -> Any:
        """The real storage, of flat ``shape``."""
        return self.cls(self.folder, tuple(shape), None, None)


def _unverified_message(folder: Path) -> str:
    return (
        f"resume=True: the run in `{folder}` was written by pipefunc or an older pipemap and does not"
        " record the functions' code, so a function edited since then cannot be detected (its stored"
        " values would be served). This resume records it, so the next resume checks it; use"
        " `resume=False` if a function changed."
    )


def _warn(message: str, category: type[Warning]) -> None:
    from pipemap.runner.engine._summary import _caller_stacklevel

    warnings.warn(message, category, stacklevel=_caller_stacklevel())


class RunInfo(RunRecord):
    """The record of a ``run_map`` call; ``resolved_shapes`` changes as ``"?"`` sizes resolve.

    A ``pipemap.storage.RunRecord`` (the fields of pipefunc's ``RunInfo``) that the engine creates
    with ``RunInfo.create``; with a ``run_folder`` the record, inputs and defaults are written on
    creation. ``RunInfo.load(run_folder)`` reads one back.

    Parameters
    ----------
    inputs : dict
        The run's inputs by (scope-flattened) name; stored as ``inputs/<name>.cloudpickle``.
    defaults : dict
        The pipeline's defaults; stored as ``defaults/defaults.cloudpickle``.
    all_output_names : set of str
        Every output name of the pipeline.
    shapes : dict
        The shapes known before the run, by array name (a tuple key for a multi-output function),
        with ``"?"`` for sizes resolved at run time.
    resolved_shapes : dict
        The same shapes with every size resolved so far (updated during the run).
    internal_shapes : dict or None
        The ``internal_shapes`` the run was given, by output name.
    shape_masks : dict
        The shape mask of every mapped array (True = external axis).
    run_folder : Path or None
        The run folder (made absolute), or None for a run without one.
    mapspecs_as_strings : list of str
        The pipeline's mapspecs, in function order.
    storage : str or dict
        The storage id of every mapped output, or ``{output name | tuple | "": id}``.
    error_handling : {"raise", "continue"}, default "raise"
        The run's error handling; resume requires the same.
    pipemap_version : str, optional
        The writing pipemap's version (default: the installed one).
    created_at : str, optional
        ISO 8601 time the run started (default: now, UTC).
    bound : dict or None, optional
        The functions' bound values, ``{output name ("y1,y2" for tuples): {parameter: value}}``;
        None when not recorded (pipefunc and older pipemap run folders).
    functions : dict or None, optional
        Per function (keyed by output name), the digests its stored values depend on (code,
        bound values, used defaults, settings, inputs; see FORMAT.md, ``functions``); None when
        not recorded. ``resume=True`` compares them to find stale functions.

    Examples
    --------
    >>> import tempfile
    >>> from pipemap.runner import Pipeline, PipeFunc, run_map
    >>> folder = tempfile.mkdtemp()
    >>> p = Pipeline([PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")])
    >>> _ = run_map(p, {"x": [1, 2, 3]}, run_folder=folder, parallel=False)
    >>> info = RunInfo.load(folder)
    >>> info.mapspecs_as_strings, info.resolved_shapes["y"], info.storage
    (['x[i] -> y[i]'], (3,), 'file_array')
    """

    @classmethod
    def create(
        cls,
        run_folder: str | Path | None,
        pipeline: Pipeline,
        inputs: dict[str, Any],
        internal_shapes: dict | None = None,
        *,
        executor: object = None,
        storage: str | dict | None,
        error_handling: str = "raise",
        cleanup: bool | None = None,
        resume: bool = False,
        resume_validation: str = "auto",
    ) -> RunInfo:
        """Choose storage and folder, clean or validate a previous run, compute shapes, write files."""
        resume = resolve_cleanup(cleanup, resume)
        storage, folder = resolve_storage_and_folder(run_folder, storage)
        unchanged = False
        internal = merged_internal_shapes(internal_shapes, pipeline)
        check_input_ranks(pipeline, inputs)
        shapes, masks = map_shapes(pipeline, inputs, internal)
        bound = bound_values(pipeline)
        plan = ResumePlan()
        resumed: RunRecord | None = None  # the stored run this one resumes
        digests = input_digests(inputs) if folder is not None else {}
        records = function_records(pipeline, inputs, digests) if folder is not None else None
        if folder is not None:
            if interrupted_clear(folder):  # a fresh run was killed while replacing the old one
                clear_run_folder(folder)
            if not resume:
                check_safe_to_delete(folder)
                clear_run_folder(folder)  # everything but the run's lock file
            elif not RunRecord.path(folder).is_file():
                refuse_unvouched_outputs(folder)
            else:
                try:
                    old = RunRecord.load(folder)
                except Exception as e:  # noqa: BLE001
                    msg = f"Could not load previous run info: {e}, cannot use `resume=True`."
                    raise ValueError(msg) from None
                if old.functions is None:  # pipefunc or older pipemap: today's checks, code unseen
                    unchanged = compare_to_previous(
                        old,
                        error_handling=error_handling,
                        internal_shapes=internal,
                        mapspecs_as_strings=pipeline.mapspecs_as_strings,
                        shapes=shapes,
                        inputs=inputs,
                        defaults=pipeline.defaults,
                        resume_validation=resume_validation,  # type: ignore[arg-type]
                        bound=bound,
                    )
                    if resume_validation != "skip":
                        _warn(_unverified_message(folder), ResumeUnverifiedWarning)
                    resumed = old
                elif records is not None:
                    plan, unchanged = plan_resume(
                        old,
                        records,
                        pipeline=pipeline,
                        inputs=inputs,
                        digests=digests,
                        shapes=shapes,
                        internal=internal,
                        error_handling=error_handling,
                        bound=bound,
                        validation=resume_validation,  # type: ignore[arg-type]
                        folder=folder,
                    )
                    clear_outputs(folder, plan.clear)  # before the new record: a crash keeps the old one
                    if plan.recompute:
                        _warn(plan.message(folder), ResumeRecomputeWarning)
                    resumed = old
        info = cls(
            inputs=inputs,
            defaults=dict(pipeline.defaults),
            all_output_names={n for f in pipeline.functions for n in f.output_names},
            shapes=shapes,
            resolved_shapes=dict(shapes),
            internal_shapes=internal,
            shape_masks=masks,
            run_folder=folder,
            mapspecs_as_strings=list(pipeline.mapspecs_as_strings),
            storage=storage,
            error_handling=error_handling,
            pipemap_version=_version(),
            bound=bound,
            functions=None if records is None else {**plan.carried, **records},
        )
        info.__dict__["_resume_lines"] = plan.lines()
        if resumed is not None:
            info.resolve_kept_shapes(resumed, set(plan.clear))
        if folder is not None:
            if unchanged:  # resume with verified-equal inputs, defaults and bound values: their files stay
                info.dump_pipemap_json()
                info.dump_record()
            else:
                info.dump()
        return info

    def resolve_kept_shapes(self, old: RunRecord, cleared: set[str]) -> None:
        """A resume keeps stored outputs whose ``"?"`` sizes the stored run resolved: take those
        sizes (not of ``cleared`` outputs, whose new values may differ) and resolve downstream,
        as running their functions would have (they do not run again)."""
        known = {
            key: tuple(shape)
            for key, shape in old.resolved_shapes.items()
            if key in self.resolved_shapes
            and not shape_is_resolved(self.resolved_shapes[key])
            and shape_is_resolved(tuple(shape))
            and not set(at_least_tuple(key)) & cleared
        }
        if known:
            resolve_downstream(self.resolved_shapes, self.shape_masks, self.mapspecs, known)  # type: ignore[arg-type]

    @property
    def resume_changes(self) -> list[str]:
        """What this run's ``resume=True`` recomputes and why, one line per function
        ("function `f` (y): code changed"); empty when nothing (or not a resume).

        >>> from pipemap.runner import Pipeline, PipeFunc
        >>> RunInfo.create(None, Pipeline([PipeFunc(lambda x: x, "y")]), {"x": 1}, storage=None).resume_changes
        []
        """
        return list(self.__dict__.get("_resume_lines", []))

    @property
    def mapspecs(self) -> list[MapSpec]:
        """The parsed mapspecs, in topological order."""
        cached = self.__dict__.get("_mapspecs")
        if cached is None:
            cached = [_parse_spec(s) for s in self.mapspecs_as_strings]
            self.__dict__["_mapspecs"] = cached
        return cached

    @property
    def ragged(self) -> RaggedPlan:
        """The run's ragged arrays (empty without ``*`` axes); ``ragged_totals`` holds the element
        counts known so far, by producer output."""
        cached = self.__dict__.get("_ragged")
        if cached is None:
            cached = RaggedPlan.from_specs(self.mapspecs)
            self.__dict__["_ragged"] = cached
            self.__dict__["ragged_totals"] = {}
        return cached

    def storage_class(self, output_name: str | tuple[str, ...]) -> type:
        """The storage class for a (tuple) output name (docs/behaviour.md §3.3 lookup)."""
        return storage_class_for(self.storage, output_name)

    def init_store(self) -> dict[str, Any]:
        """A storage object per mapped output; ``FileValue``/``DirectValue`` for single outputs."""
        store: dict[str, Any] = {}
        for spec in self.mapspecs:
            if not spec.inputs:
                continue
            names = spec.output_names
            key = names if len(names) > 1 else names[0]
            cls = self.storage_class(key)
            shape = self.resolved_shapes[key]
            mask = self.shape_masks[key]
            external = external_shape_from_mask(shape, mask)
            internal = internal_shape_from_mask(shape, mask)
            for name in names:
                folder = None if self.run_folder is None else self.run_folder / "outputs" / name
                if name in self.ragged.arrays and not shape_is_resolved(external):
                    store[name] = DeferredStorage(cls, folder)  # a flat ragged output: made once its rows are known
                    continue
                store[name] = cls(folder, external, internal or None, mask if internal else None)
        for name in sorted(self.all_output_names):
            if name not in store:
                if self.run_folder is not None:
                    store[name] = FileValue(self.run_folder / "outputs" / f"{name}.cloudpickle", create_parents=False)
                else:
                    store[name] = DirectValue()
        return store

    def dump_record(self) -> None:
        """Rewrite only ``run_info.json`` (after a shape became resolved)."""
        if self.run_folder is None:
            return
        text = json.dumps(self.to_json_dict(), indent=4)
        atomic_write_bytes(self.path(self.run_folder), text.encode())

    def resolve_downstream_shapes(
        self,
        output_name: str,
        store: dict[str, Any],
        output: object = None,
        shape: tuple[int, ...] | None = None,
    ) -> list[OutputKey]:
        """``output_name``'s full shape became known (from ``output`` or ``shape``): recompute the
        unresolved shapes, update the storages' external/internal shapes; return changed keys."""
        if output_name not in self.resolved_shapes or shape_is_resolved(self.resolved_shapes[output_name]):
            return []
        if shape is None:
            mask = self.shape_masks[output_name]
            shape = full_shape_from_value(output, mask, self.resolved_shapes[output_name])
        changed = resolve_downstream(self.resolved_shapes, self.shape_masks, self.mapspecs, {output_name: tuple(shape)}, self.ragged, self.ragged_totals)
        self._resize_storages(changed, store)
        return changed

    @property
    def ragged_totals(self) -> dict[str, int]:
        """Element counts of the ragged arrays whose rows are known, by producer output."""
        _ = self.ragged
        return self.__dict__["ragged_totals"]

    def resolve_ragged(self, source: str, total: int, store: dict[str, Any]) -> list[OutputKey]:
        """The rows of the ragged producer output ``source`` are known (``total`` elements):
        resolve the flat shapes of its element-wise consumers (and what follows them)."""
        self.ragged_totals[source] = total
        changed = resolve_downstream(self.resolved_shapes, self.shape_masks, self.mapspecs, {}, self.ragged, self.ragged_totals)
        self._resize_storages(changed, store)
        return changed

    def _resize_storages(self, changed: list[OutputKey], store: dict[str, Any]) -> None:
        for key in changed:
            for name in at_least_tuple(key):
                storage = store.get(name)
                full = self.resolved_shapes[key]
                mask = self.shape_masks[key]
                if isinstance(storage, DeferredStorage) and shape_is_resolved(full):
                    store[name] = storage.create(external_shape_from_mask(full, mask))
                    continue
                if storage is not None and hasattr(storage, "get_many"):
                    storage.shape = external_shape_from_mask(full, mask)
                    storage.internal_shape = internal_shape_from_mask(full, mask)
        if any(shape_is_resolved(self.resolved_shapes[k]) for k in changed):
            self.dump_record()

"""The run parameters, declared once: :class:`RunOptions`, built and validated once per run.

``run_map``, ``run_map_async``, ``Pipeline.map`` and ``Pipeline.map_async`` keep their public
signatures and forward their arguments here (:meth:`RunOptions.from_arguments`); preparation
and the scheduler read the validated object instead of re-declaring the list.

>>> RunOptions(pipeline=None, inputs={}, error_handling="continue").error_handling
<ErrorHandling.CONTINUE: 'continue'>
>>> RunOptions(pipeline=None, inputs={}, scheduling_strategy="fast")
Traceback (most recent call last):
...
ValueError: Invalid scheduling type: fast
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from pipemap.runner.model._retry_policy import RetryPolicy, as_policy
from pipemap.runner.worker._modes import ErrorHandling, ResumeValidation, SchedulingStrategy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from pipemap.runner.executors._chunksizes import Chunksizes

__all__ = ["ErrorHandling", "ResumeValidation", "RunOptions", "SchedulingStrategy", "ShowProgress"]

ShowProgress = bool | Literal["rich", "ipywidgets", "headless"] | None


_Mode = TypeVar("_Mode", ErrorHandling, ResumeValidation, SchedulingStrategy)


def _enum_or_error(kind: type[_Mode], value: str, msg: str) -> _Mode:
    member = kind._value2member_map_.get(value) if isinstance(value, str) else None  # (a dict lookup)
    if member is None:
        raise ValueError(msg)
    return cast("_Mode", member)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Every argument of one run, validated once (messages as the facades always gave them).

    ``error_handling``, ``scheduling_strategy`` and ``resume_validation`` become enums; the
    values that depend on the pipeline (output names, executors and storage per output) are
    resolved later, by preparation.
    """

    pipeline: Any  # a pipemap Pipeline, or a pipefunc Pipeline (converted by preparation)
    inputs: Any  # a dict or a pydantic model
    run_folder: str | Path | None = None
    internal_shapes: dict[str, int | str | tuple[int | str, ...]] | None = None
    output_names: str | tuple[str, ...] | Iterable[str | tuple[str, ...]] | None = None
    parallel: bool = True
    executor: Any = None  # an Executor, a dask Client, or a dict per output with "" as default
    chunksizes: Chunksizes = None  # one size, or per output (a size or a callable of the count)
    storage: str | dict[str | tuple[str, ...], str] | None = None
    persist_memory: bool = True
    cleanup: bool | None = None
    resume: bool = False
    resume_validation: ResumeValidation = ResumeValidation.AUTO
    retry_failed: bool = False  # with resume: recompute failed and propagated-error elements
    fixed_indices: dict[str, int | slice] | None = None
    auto_subpipeline: bool = False
    show_progress: ShowProgress = None
    return_results: bool = True
    error_handling: ErrorHandling = ErrorHandling.RAISE
    scheduling_strategy: SchedulingStrategy = SchedulingStrategy.GENERATION
    callbacks: list[Callable[[object], None]] | None = None  # receive the events of ._events
    #: the run's default retry policy (an int: extra attempts); a function's own ``retries`` wins
    retries: int | RetryPolicy | None = None
    #: pipemap's own option: run folders whose finished elements are taken by element key
    reuse_from: str | Path | list[str | Path] | None = None

    def __post_init__(self) -> None:
        # the order of the checks is the order the facades always made them in
        strategy = self.scheduling_strategy
        msg = f"Invalid scheduling type: {strategy}"
        self._set("scheduling_strategy", _enum_or_error(SchedulingStrategy, strategy, msg))
        if not self.parallel and self.executor:
            msg = "Cannot use an executor without `parallel=True`."
            raise ValueError(msg)
        errors = self.error_handling
        msg = f"Invalid `error_handling={errors!r}`: use 'raise' or 'continue'."
        self._set("error_handling", _enum_or_error(ErrorHandling, errors, msg))
        check = self.resume_validation
        msg = f"Invalid `resume_validation={check!r}`: use 'auto', 'strict' or 'skip'."
        self._set("resume_validation", _enum_or_error(ResumeValidation, check, msg))
        self._set("retries", as_policy(self.retries, "`retries`"))
        resume = self.resume if self.cleanup is None else not self.cleanup  # (the deprecated spelling)
        if self.retry_failed and not resume:
            msg = (
                "`retry_failed=True` re-runs the failed elements of an earlier run and needs `resume=True`"
                " (nothing was run): pass `resume=True, retry_failed=True` with that run's `run_folder`."
            )
            raise ValueError(msg)
        if self.retry_failed and self.run_folder is None:
            msg = (
                "`retry_failed=True` needs the `run_folder` of the run whose failed elements it re-runs"
                " (nothing was run)."
            )
            raise ValueError(msg)

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any], **overrides: Any) -> RunOptions:
        """The options among a facade's ``locals()`` (other names, e.g. ``start``, are ignored).

        >>> RunOptions.from_arguments({"pipeline": None, "inputs": {}, "start": True}).parallel
        True
        """
        values = {name: arguments[name] for name in _FIELDS if name in arguments}
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)


_FIELDS = tuple(f.name for f in dataclasses.fields(RunOptions))

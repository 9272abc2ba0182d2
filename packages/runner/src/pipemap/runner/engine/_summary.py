"""The run's summary: one short report of the elements that failed, instead of one per element.

The scheduler tallies, per function, the linear indices that failed in this run (``ChunkResult``
already carries them; nothing is added per element) and how many failed elements a
``retry_failed`` resume recomputed. At the end of the run :func:`build_summary` reads the failed
elements' snapshots once (only those) to count them per exception type; :func:`report` emits a
single :class:`FailedElementsWarning` with the counts and the call that retries them.

>>> s = RunSummary(failures={"f": {"ValueError": 2}, "g": {SKIPPED: 2}}, examples={("f", "ValueError"): "bad 3"},
...                run_folder="/tmp/run")
>>> print(s)
4 element(s) failed in this run (error_handling='continue'):
  f: 2 x ValueError (e.g. 'bad 3')
  g: 2 x skipped (an input failed)
Fix the cause, then re-run only these elements (and nothing else) with:
  run_map(pipeline, inputs, run_folder='/tmp/run', error_handling='continue', resume=True, retry_failed=True)
Details per element: `pipemap errors /tmp/run` or `pipemap.io.load_status('/tmp/run')`.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipemap.runner.worker._errors import error_types

if TYPE_CHECKING:
    from pipemap.storage import StorageBase

__all__ = ["SKIPPED", "FailedElementsWarning", "NothingToRetryWarning", "RunSummary", "RunTally", "build_summary", "report"]

#: the "exception type" of elements skipped because an input held an error (PropagatedErrorSnapshot)
SKIPPED = "skipped (an input failed)"
#: at most this many failed elements of one function are read to count exception types
_MAX_READ = 20_000


class FailedElementsWarning(UserWarning):
    """Emitted once at the end of a ``error_handling="continue"`` run in which elements failed.

    Its message counts the failures per function and exception type and gives the call that
    re-runs only them (the same text as ``str(results.summary)``).

    Examples
    --------
    >>> import warnings
    >>> from pipemap.runner import Pipeline, PipeFunc, run_map
    >>> p = Pipeline([PipeFunc(lambda x: 1 / x, "y", mapspec="x[i] -> y[i]")])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = run_map(p, {"x": [1, 0]}, parallel=False, error_handling="continue")
    >>> [w.category.__name__ for w in caught]
    ['FailedElementsWarning']
    """


class NothingToRetryWarning(UserWarning):
    """``retry_failed=True`` found no failed element to recompute (nothing was retried).

    Examples
    --------
    >>> import tempfile, warnings
    >>> from pipemap.runner import Pipeline, PipeFunc, run_map
    >>> p = Pipeline([PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]")])
    >>> folder = tempfile.mkdtemp()
    >>> _ = run_map(p, {"x": [1]}, run_folder=folder, parallel=False, error_handling="continue")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = run_map(p, {"x": [1]}, run_folder=folder, parallel=False, error_handling="continue",
    ...                 resume=True, retry_failed=True)
    >>> [w.category.__name__ for w in caught]
    ['NothingToRetryWarning']
    """


@dataclass
class RunTally:
    """Per function: failed linear indices of this run (with the storage holding their snapshots),
    failed single outputs, and how many failed elements a ``retry_failed`` resume recomputes."""

    failed: dict[str, list[tuple[StorageBase, tuple[int, ...]]]] = field(default_factory=dict)
    failed_single: dict[str, Any] = field(default_factory=dict)
    retried: dict[str, int] = field(default_factory=dict)
    inline: dict[str, str] = field(default_factory=dict)

    def add_inline(self, function: str, reason: str) -> None:
        """``function`` ran in the parent although the run is parallel (see ``engine/_inline.py``)."""
        self.inline[function] = reason

    def add_failed(self, function: str, storage: StorageBase, linear: tuple[int, ...]) -> None:
        """Failed elements of one chunk (called only for chunks with failures)."""
        self.failed.setdefault(function, []).append((storage, linear))

    def add_failed_single(self, function: str, snapshot: Any) -> None:
        """A single (unmapped) function whose output is an error snapshot."""
        self.failed_single[function] = snapshot

    def add_retried(self, function: str, n: int) -> None:
        """``n`` stored failures of ``function`` are recomputed by this run."""
        if n:
            self.retried[function] = self.retried.get(function, 0) + n


@dataclass
class RunSummary:
    """What failed in one run, and the call that re-runs only that.

    ``results.summary`` of every run; its text is the ``FailedElementsWarning`` of a run with
    failures.

    Parameters
    ----------
    failures : dict, optional
        ``failures[function][exception type] = count`` (propagated errors under ``SKIPPED``).
    examples : dict, optional
        An example message per ``(function, exception type)``.
    retried : dict, optional
        How many stored failures this run retried, per function.
    run_folder : str, optional
        The run folder (None: nothing on disk to retry).
    error_handling : str, default "continue"
        The run's error handling.
    elements : dict, optional
        Per function, the elements taken from ``reuse_from`` folders and those computed by this
        run: ``{function: {"reused": n, "computed": m}}`` (empty for runs without a run folder).
    resume_recomputed : list of str, optional
        What this run's ``resume=True`` recomputed and why, one line per function.
    inline : dict, optional
        Functions that ran in the parent although ``parallel=True`` (too cheap for the default
        pool), with why.

    Examples
    --------
    >>> summary = RunSummary(failures={"f": {"ValueError": 2}}, examples={("f", "ValueError"): "bad"},
    ...                      run_folder="run")
    >>> summary.n_failed
    2
    >>> RunSummary(elements={"f": {"reused": 3, "computed": 1}}).n_reused
    3
    >>> summary.retry_call
    "run_map(pipeline, inputs, run_folder='run', error_handling='continue', resume=True, retry_failed=True)"
    """

    failures: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)
    retried: dict[str, int] = field(default_factory=dict)
    run_folder: str | None = None
    error_handling: str = "continue"
    #: per function: elements taken from ``reuse_from`` folders and elements computed by this run
    #: (``{function: {"reused": n, "computed": m}}``; empty for runs without a run folder)
    elements: dict[str, dict[str, int]] = field(default_factory=dict)

    #: what this run's ``resume=True`` recomputed and why, one line per function (`RunInfo.resume_changes`)
    resume_recomputed: list[str] = field(default_factory=list)

    #: functions that ran in the parent although ``parallel=True`` (too cheap for the default pool), with why
    inline: dict[str, str] = field(default_factory=dict)

    @property
    def n_reused(self) -> int:
        """Elements this run took from ``reuse_from`` folders instead of computing them."""
        return sum(c.get("reused", 0) for c in self.elements.values())

    @property
    def n_failed(self) -> int:
        """Failed elements (raised or skipped) of this run."""
        return sum(sum(c.values()) for c in self.failures.values())

    @property
    def n_retried(self) -> int:
        """Stored failures this run recomputed (``retry_failed=True``)."""
        return sum(self.retried.values())

    @property
    def retry_call(self) -> str | None:
        """The call that re-runs only the failed elements (None without a run folder)."""
        if self.run_folder is None:
            return None
        return (
            f"run_map(pipeline, inputs, run_folder={self.run_folder!r}, error_handling={self.error_handling!r},"
            " resume=True, retry_failed=True)"
        )

    def __str__(self) -> str:
        lines = [f"{self.n_failed} element(s) failed in this run (error_handling={self.error_handling!r}):"]
        for function, counts in self.failures.items():
            parts = []
            for kind, n in sorted(counts.items(), key=lambda item: (item[0] == SKIPPED, -item[1], item[0])):
                example = self.examples.get((function, kind))
                parts.append(f"{n} x {kind}" + (f" (e.g. {example!r})" if example else ""))
            lines.append(f"  {function}: " + ", ".join(parts))
        if self.n_retried:
            lines.append(f"({self.n_retried} stored failure(s) were retried by this run.)")
        if self.resume_recomputed:
            lines.append("This resume recomputed (stored values were stale): " + "; ".join(self.resume_recomputed))
        for function, reason in self.inline.items():
            lines.append(f"({function} {reason}.)")
        call = self.retry_call
        if call is None:
            lines.append(
                "The error snapshots are in the returned results; pass a `run_folder` to keep them and"
                " re-run only the failed elements later with `resume=True, retry_failed=True`."
            )
        else:
            lines.append("Fix the cause, then re-run only these elements (and nothing else) with:")
            lines.append(f"  {call}")
            lines.append(
                f"Details per element: `pipemap errors {self.run_folder}` or"
                f" `pipemap.io.load_status({self.run_folder!r})`."
            )
        return "\n".join(lines)


def _kind_and_message(value: Any) -> tuple[str, str]:
    if hasattr(value, "attempted_kwargs") or type(value).__name__ == "PropagatedErrorSnapshot":
        return SKIPPED, ""
    kind = getattr(value, "exception_type", None)
    if not isinstance(kind, str):
        kind = type(getattr(value, "exception", None)).__name__
    message = getattr(value, "message", None)
    return kind, message if isinstance(message, str) else ""


def _count(summary: RunSummary, function: str, values: list[Any]) -> None:
    types = error_types()
    counts = summary.failures.setdefault(function, {})
    for value in values:
        if types and not isinstance(value, types):
            kind, message = "unknown", ""  # (recomputed meanwhile or unreadable)
        else:
            kind, message = _kind_and_message(value)
        counts[kind] = counts.get(kind, 0) + 1
        if message:
            summary.examples.setdefault((function, kind), message if len(message) <= 80 else message[:77] + "...")


def build_summary(tally: RunTally, run_folder: str | None, function_order: list[str]) -> RunSummary:
    """Read the failed elements' snapshots (at most ``_MAX_READ`` per function) and count them."""
    summary = RunSummary(retried=dict(tally.retried), run_folder=run_folder, inline=dict(tally.inline))
    for function in function_order:
        if function in tally.failed_single:
            _count(summary, function, [tally.failed_single[function]])
            continue
        chunks = tally.failed.get(function)
        if not chunks:
            continue
        storage = chunks[0][0]
        linear = np.unique(np.concatenate([np.asarray(c, dtype=np.int64) for _, c in chunks]))
        read, rest = linear[:_MAX_READ], len(linear) - _MAX_READ
        try:
            values = storage.get_many(read)
        except Exception:  # noqa: BLE001 - the summary never fails a finished run
            values = [None] * len(read)
        _count(summary, function, values)
        if rest > 0:
            counts = summary.failures[function]
            counts["not read"] = counts.get("not read", 0) + rest
    return summary


_INTERNAL = (str(Path(__file__).resolve().parents[1]), str(Path(asyncio.__file__).resolve().parent))


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside pipemap's runner and asyncio (the user's call)."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        level, frame = level + 1, frame.f_back  # type: ignore[assignment]
    return level


def report(summary: RunSummary, *, retry_failed: bool) -> None:
    """Emit the run's one warning: the failures, or that ``retry_failed`` had nothing to retry."""
    if summary.n_failed:
        warnings.warn(str(summary), FailedElementsWarning, stacklevel=_caller_stacklevel())
    elif retry_failed and not summary.n_retried:
        msg = (
            f"`retry_failed=True`: the run folder `{summary.run_folder}` holds no failed elements;"
            " nothing to retry (no stored element was recomputed)."
        )
        warnings.warn(msg, NothingToRetryWarning, stacklevel=_caller_stacklevel())

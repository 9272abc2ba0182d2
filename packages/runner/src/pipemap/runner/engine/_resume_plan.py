"""``resume=True`` never serves stale results: which functions a resume recomputes, and why.

The run folder records, per function, what its values depend on (`_resume_records`). A resume
compares that record with the new run: a function whose code, bound values, used defaults,
settings or inputs changed (or that could not be fingerprinted) is recomputed, and so is every
function downstream of one; their stored values are removed first (`pipemap.storage.clear_outputs`,
crash-safe) and a `ResumeRecomputeWarning` names each function and the reason. Everything else
is kept as stored. Added functions are computed; functions no longer in the pipeline keep their
stored values (and record) unless what they were computed from changed. What cannot be
recomputed this way (a mapspec or shape of an existing output or input changed, another
pipeline's folder) is refused with the function, input, axis and old and new values, and the way on.

>>> from pipemap.runner import Pipeline, PipeFunc
>>> from pipemap.runner.engine._resume_records import function_records
>>> p = Pipeline([PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]"), PipeFunc(lambda y: 0, "s")])
>>> old = function_records(p, {"x": [1, 2]})
>>> plan = changed_functions(old, function_records(p, {"x": [1, 3]}), p, lambda name: True)
>>> plan
{'y': ['input `x` changed'], 's': ['upstream `y` recomputed']}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipemap.runner.engine._resume_records import function_key

if TYPE_CHECKING:
    from pipemap.runner.model._pipeline import Pipeline

__all__ = [
    "ResumePlan",
    "ResumeRecomputeWarning",
    "ResumeUnverifiedWarning",
    "carried_records",
    "changed_functions",
    "way_on",
]

Records = Mapping[str, Mapping[str, Any]]


class ResumeRecomputeWarning(UserWarning):
    """``resume=True`` found functions whose stored values are stale (code, bound values, defaults,
    settings or inputs changed, or no stable fingerprint) and recomputes them and everything
    downstream; the message names each function and the reason.

    Examples
    --------
    >>> issubclass(ResumeRecomputeWarning, UserWarning)
    True
    """


class ResumeUnverifiedWarning(UserWarning):
    """``resume=True`` on a run folder that does not record the functions' fingerprints (written by
    pipefunc or an older pipemap): a changed function body cannot be detected there.

    Examples
    --------
    >>> issubclass(ResumeUnverifiedWarning, UserWarning)
    True
    """


def way_on(folder: object) -> str:
    """The ways on after a refused resume.

    >>> way_on("run")[:45]
    'Use `resume=False` to start afresh in `run` ('
    """
    return (
        f"Use `resume=False` to start afresh in `{folder}` (deletes its stored results), or"
        f" `reuse_from={str(folder)!r}` to keep every stored element whose inputs are unchanged."
    )


def _differs(old: Mapping[str, Any], new: Mapping[str, Any], what: str) -> list[str]:
    return [f"{what} `{k}` changed" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def _own_reasons(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why one function's stored values are stale, from its own record (not its inputs)."""
    if new.get("unstable"):
        return [f"cannot be fingerprinted ({new['unstable']}), so stored values are never trusted"]
    if old.get("unstable") or old.get("code") is None:
        return ["the previous run could not fingerprint it"]
    reasons = ["code changed"] if old.get("code") != new.get("code") else []
    reasons += _differs(old.get("bound") or {}, new.get("bound") or {}, "bound value")
    reasons += _differs(old.get("defaults") or {}, new.get("defaults") or {}, "default")
    if not reasons and old.get("settings") != new.get("settings"):
        reasons.append("renames, output names or output picker changed")
    return reasons


def changed_functions(
    old: Records, new: Records, pipeline: Pipeline, input_changed: Callable[[str], bool]
) -> dict[str, list[str]]:
    """{function key: reasons} of the functions to recompute, in topological order.

    ``input_changed(name)`` decides whether a pipeline input differs from the stored run's.
    Functions without an old record (added) are not listed: they have nothing stored.
    """
    result: dict[str, list[str]] = {}
    stale: set[str] = set()  # outputs recomputed (or new) in this run
    for f in pipeline.sorted_functions:
        key = function_key(f.output_names)
        rec, before = new[key], old.get(key)
        if before is None:
            stale.update(f.output_names)
            continue
        reasons = _own_reasons(before, rec)
        old_inputs, new_inputs = before.get("inputs") or {}, rec.get("inputs") or {}
        for name in sorted(set(old_inputs) | set(new_inputs)):
            if name not in old_inputs or name not in new_inputs:
                reasons.append(f"input `{name}` {'added' if name in new_inputs else 'no longer given'}")
            elif old_inputs[name] is None or old_inputs[name] != new_inputs[name]:
                if input_changed(name):
                    reasons.append(f"input `{name}` changed")
        reasons += [f"upstream `{p}` recomputed" for p in f.parameters if p in stale]
        if reasons:
            result[key] = reasons
            stale.update(f.output_names)
    return result


def carried_records(old: Records, new: Records, invalid: set[str]) -> tuple[dict[str, Any], list[str]]:
    """Records of functions no longer in the pipeline: kept (their stored values stay valid) unless
    they consumed something ``invalid`` (recomputed outputs, changed inputs) or one of their outputs
    is now computed by another function; returns (kept records, outputs to clear)."""
    produced_now = {n for rec in new.values() for n in rec.get("outputs", ())}
    absent = {k: v for k, v in old.items() if k not in new}
    invalid = set(invalid)
    dropped: set[str] = set()
    changed = True
    while changed:  # follow chains of absent functions
        changed = False
        for key, rec in absent.items():
            outputs = set(rec.get("outputs") or key.split(","))
            if key in dropped:
                continue
            if outputs & produced_now or set(rec.get("parameters") or ()) & invalid:
                dropped.add(key)
                invalid |= outputs
                changed = True
    kept = {k: dict(v) for k, v in absent.items() if k not in dropped}
    clear = sorted({n for k in dropped for n in (absent[k].get("outputs") or k.split(","))})
    return kept, clear


@dataclass
class ResumePlan:
    """What a resume does with the stored run: ``recompute`` {function key: reasons}, ``names``
    {function key: function name}, ``clear`` the outputs whose stored values go, ``carried`` the
    records of absent functions that stay."""

    recompute: dict[str, list[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    clear: list[str] = field(default_factory=list)
    carried: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """One line per recomputed function: "function `f` (y): code changed".

        >>> ResumePlan({"y": ["code changed"]}, {"y": "f"}).lines()
        ['function `f` (y): code changed']
        """
        return [f"function `{self.names.get(k, k)}` ({k}): " + "; ".join(r) for k, r in self.recompute.items()]

    def message(self, folder: object) -> str:
        """The `ResumeRecomputeWarning` text."""
        body = "\n".join(f"  {line}" for line in self.lines())
        return (
            f"resume=True: stored results in `{folder}` are stale for {len(self.recompute)} function(s);"
            f" they are recomputed (their stored values were removed), everything else is kept:\n{body}"
        )

"""Element-level views for the command line: ``pipemap status RUN --elements`` (counts of
:func:`~pipemap.io.load_status` per output and state) and ``pipemap errors RUN`` (failures
grouped by exception type and message, with a few element indices and one example's inputs).

>>> from pipemap.io._load import ElementError
>>> import io
>>> out = io.StringIO()
>>> errs = [ElementError("y", (k,), "f", "ValueError: bad", {"x": k}, False, None) for k in range(7)]
>>> write_grouped_errors(errs, out)
>>> print(out.getvalue().rstrip())
7 x ValueError: bad  (raised by f)
  elements: y[0], y[1], y[2], y[3], y[4], ... (2 more)
  e.g. y[0]: f(x=0) raised ValueError: bad
<BLANKLINE>
7 failed element(s): 7 raised, 0 skipped because an input failed
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ._load import ElementError

__all__ = ["element_counts", "write_element_summary", "write_grouped_errors"]

#: element indices shown per group, groups shown in full
MAX_INDICES = 5
MAX_GROUPS = 20
_COUNTED = ("done", "failed", "propagated", "missing")


def _where(e: ElementError) -> str:
    return f"{e.output_name}[{', '.join(map(str, e.index))}]" if e.index is not None else e.output_name


def write_grouped_errors(errors: Sequence[ElementError], out: TextIO) -> None:
    """Failures grouped by (raised or skipped, exception type and message), largest first."""
    groups: dict[tuple[bool, str], list[ElementError]] = {}
    for e in errors:
        groups.setdefault((e.propagated, e.exception), []).append(e)
    ordered = sorted(groups.items(), key=lambda item: (item[0][0], -len(item[1]), item[0][1]))
    for (propagated, text), members in ordered[:MAX_GROUPS]:
        functions = ", ".join(dict.fromkeys(m.function for m in members))
        how = f"skipped because an input failed, in {functions}" if propagated else f"raised by {functions}"
        out.write(f"{len(members)} x {text}  ({how})\n")
        shown = ", ".join(_where(m) for m in members[:MAX_INDICES])
        more = f", ... ({len(members) - MAX_INDICES} more)" if len(members) > MAX_INDICES else ""
        out.write(f"  elements: {shown}{more}\n")
        out.write(f"  e.g. {members[0].describe()}\n")
    if len(ordered) > MAX_GROUPS:
        rest = sum(len(m) for _, m in ordered[MAX_GROUPS:])
        out.write(f"... {len(ordered) - MAX_GROUPS} more group(s) with {rest} element(s) (`--all` lists every element)\n")
    n_root = sum(not e.propagated for e in errors)
    out.write(
        f"\n{len(errors)} failed element(s): {n_root} raised, {len(errors) - n_root} skipped because an input failed\n"
    )


def element_counts(run_folder: str | Path) -> dict[str, Any]:
    """Per output: element counts per state and per error type (from :func:`load_status`)."""
    from ._element_status import load_status

    df = load_status(run_folder)
    outputs: dict[str, Any] = {}
    for name, rows in df.groupby("output", sort=False):
        states = rows["state"].value_counts()
        errors = rows.loc[rows["state"].isin(["failed", "propagated"]), "error_type"].value_counts()
        outputs[str(name)] = {
            "total": len(rows),
            **{s: int(states.get(s, 0)) for s in _COUNTED},
            "error_types": {str(k): int(v) for k, v in errors.items()},
        }
    return outputs


def write_element_summary(run_folder: str | Path, out: TextIO, *, as_json: bool) -> bool:
    """Print the counts of :func:`element_counts`; True when every element is done."""
    counts = element_counts(run_folder)
    complete = all(c["done"] == c["total"] for c in counts.values())
    if as_json:
        out.write(json.dumps({"run_folder": str(run_folder), "outputs": counts, "complete": complete}, indent=2) + "\n")
        return complete
    rows = [["OUTPUT", "TOTAL", "DONE", "FAILED", "PROPAGATED", "MISSING", "ERROR TYPES"]]
    for name, c in counts.items():
        types = ", ".join(f"{k} {v}" for k, v in c["error_types"].items()) or "-"
        rows.append([name, str(c["total"]), *(str(c[s]) for s in _COUNTED), types])
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")
    failed = sum(c["failed"] + c["propagated"] for c in counts.values())
    if failed:
        out.write(
            f"\n{failed} element(s) failed (propagated: not called because an input failed);"
            f" `pipemap errors {run_folder}` groups them. Re-run only these with"
            " `run_map(..., run_folder=..., resume=True, retry_failed=True)`.\n"
        )
    return complete

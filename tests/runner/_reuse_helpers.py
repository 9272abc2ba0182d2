"""Helpers of the ``reuse_from`` tests: functions that count their calls in a file (so calls in
worker processes are counted too), and the counts per function."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from pipemap.runner import PipeFunc, Pipeline

LOG = "PIPEMAP_TEST_REUSE_LOG"


def note(name: str, value: object) -> None:
    """Append ``name value`` to the call log (one ``write`` with ``O_APPEND``)."""
    fd = os.open(os.environ[LOG], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{name} {_plain(value)!r}\n".encode())
    finally:
        os.close(fd)


def _plain(value: object) -> object:
    """numpy scalars as Python numbers (the log shows ``1.0``, not ``np.float64(1.0)``)."""
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value.item() if hasattr(value, "item") and not isinstance(value, list) and getattr(value, "ndim", 1) == 0 else value


def calls(name: str | None = None) -> Counter:
    """Calls so far: per function (``name=None``) or per argument of function ``name``."""
    path = Path(os.environ[LOG])
    lines = path.read_text().splitlines() if path.exists() else []
    pairs = [line.split(" ", 1) for line in lines]
    if name is None:
        return Counter(f for f, _ in pairs)
    return Counter(v for f, v in pairs if f == name)


def reset() -> None:
    Path(os.environ[LOG]).write_text("")


def mul(x, y):
    note("mul", (x, y))
    return x * y


def row_sum(z):
    note("row_sum", len(z))
    return float(sum(z))


def col_sum(z):
    note("col_sum", len(z))
    return float(sum(z))


def grid_pipeline() -> Pipeline:
    """z[i, j] = x[i] * y[j]; row[i] = sum_j z (unchanged axis j), col[j] = sum_i z (over i)."""
    return Pipeline(
        [
            PipeFunc(mul, "z", mapspec="x[i], y[j] -> z[i, j]"),
            PipeFunc(row_sum, "row", mapspec="z[i, :] -> row[i]"),
            PipeFunc(col_sum, "col", mapspec="z[:, j] -> col[j]"),
        ]
    )

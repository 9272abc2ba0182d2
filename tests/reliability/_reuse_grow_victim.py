"""The pipeline of the in-place grow kill test (imported by the test and by its victim process).

``z[i, j] = x[i] * y[j]`` (slow enough to be killed midway) and ``row[i] = sum_j z[i, j]``;
every call of ``mul`` appends ``"<x> <y>"`` to ``$PIPEMAP_GROW_COUNTS`` (``O_APPEND``, one write).

Run as ``python -c "import _reuse_grow_victim as v; v.main(folder, n, storage)"`` with this
folder on ``sys.path`` (so the functions' module is the same as in the test process).
"""

from __future__ import annotations

import os
import time

import numpy as np
from pipemap.runner import PipeFunc, Pipeline, run_map

N_Y = 4


def mul(x, y):
    fd = os.open(os.environ["PIPEMAP_GROW_COUNTS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{float(x)} {float(y)}\n".encode())
    finally:
        os.close(fd)
    time.sleep(0.004)
    return float(x) * float(y)


def row_sum(z):
    return float(sum(z))


def pipeline() -> Pipeline:
    return Pipeline([PipeFunc(mul, "z", mapspec="x[i], y[j] -> z[i, j]"), PipeFunc(row_sum, "row", mapspec="z[i, :] -> row[i]")])


def inputs(n: int) -> dict:
    return {"x": np.arange(n, dtype=float), "y": np.arange(N_Y, dtype=float)}


def grow(folder: str, n: int, storage: str, **kwargs: object) -> object:
    """Grow ``folder`` in place to ``n`` rows (the call a user repeats after a crash)."""
    return run_map(pipeline(), inputs(n), run_folder=folder, reuse_from=folder, storage=storage, parallel=False, **kwargs)


def main(folder: str, n: int, storage: str) -> None:
    print("started", flush=True)
    grow(folder, n, storage)

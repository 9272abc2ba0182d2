"""The workloads of ``compare.py``: each one written once, run by pipefunc, pipemap and bare Python.

A pipeline builder takes the module that provides ``pipefunc`` and ``Pipeline`` (``pipefunc`` itself
or ``pipemap.runner``), so both engines run the same definitions. Functions live at module level so
that worker processes can import them (``compare.py`` puts this folder on ``sys.path``).

>>> import pipemap.runner as pm
>>> elementwise(pm).mapspecs_as_strings
['x[i] -> y[i]']
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

# -- element functions (module level: picklable by reference) -------------------------------------


def double(x: int) -> int:
    return 2 * x


def one(*args: Any, **kwargs: Any) -> int:
    return 1


def mul(x: float, y: float) -> float:
    return x * y


def plus_one(z: float) -> float:
    return z + 1.0


def row_sum(w: Any) -> float:
    return float(sum(w))


def busy_10ms(x: int) -> int:
    """About 10 ms of CPU work (a spin on the process clock: no sleeping, really busy)."""
    end = time.process_time() + 0.010
    while time.process_time() < end:
        pass
    return x


# -- pipelines ----------------------------------------------------------------------------------


def elementwise(mod: Any) -> Any:
    """``x[i] -> y[i]`` doubling."""
    return mod.Pipeline([mod.pipefunc(output_name="y", mapspec="x[i] -> y[i]")(double)])


def busy(mod: Any) -> Any:
    """``x[i] -> y[i]`` with 10 ms of CPU per element."""
    return mod.Pipeline([mod.pipefunc(output_name="y", mapspec="x[i] -> y[i]")(busy_10ms)])


def _f(a: Any, b: Any) -> int:
    return 1


def _g(b: Any, c: Any, x: Any, y: Any) -> int:
    return 1


def _h(d: Any) -> int:
    return 1


def overhead_3fn(mod: Any) -> Any:
    """pipefunc's documented overhead benchmark ("Overhead and Efficiency" page of its docs).

    Three functions with trivial bodies: ``a[k], b[k] -> c[k]``, ``c[k], x[i], y[j] -> d[i, j, k]``,
    ``d[i, j, :] -> e[i, j]``, inputs of length N each (N + N^3 + N^2 calls), ``storage="dict"``,
    ``parallel=False``; the docs use N = 50.
    """
    f = mod.pipefunc(output_name="c", mapspec="a[k], b[k] -> c[k]")(_f)
    g = mod.pipefunc(output_name="d", mapspec="c[k], x[i], y[j] -> d[i, j, k]")(_g)
    h = mod.pipefunc(output_name="e", mapspec="d[i, j, :] -> e[i, j]")(_h)
    return mod.Pipeline([f, g, h])


def outer_3stage(mod: Any) -> Any:
    """Outer product, element-wise, reduction: ``x[i], y[j] -> z[i, j]``, ``z -> w``, ``w[i, :] -> r[i]``."""
    return mod.Pipeline(
        [
            mod.pipefunc(output_name="z", mapspec="x[i], y[j] -> z[i, j]")(mul),
            mod.pipefunc(output_name="w", mapspec="z[i, j] -> w[i, j]")(plus_one),
            mod.pipefunc(output_name="r", mapspec="w[i, :] -> r[i]")(row_sum),
        ]
    )


# -- bare-Python floors ---------------------------------------------------------------------------


def floor_elementwise(xs: list[int]) -> list[int]:
    return [double(x) for x in xs]


def floor_overhead_3fn(n: int) -> Any:
    lst = list(range(n))
    c = [_f(a, b) for a, b in zip(lst, lst, strict=True)]
    d = [[[_g(lst[k], c[k], x, y) for k in range(n)] for y in lst] for x in lst]
    return [[_h(d[i][j]) for j in range(n)] for i in range(n)]


def floor_outer_3stage(xs: list[float], ys: list[float]) -> list[float]:
    z = [[mul(x, y) for y in ys] for x in xs]
    w = [[plus_one(v) for v in row] for row in z]
    return [row_sum(row) for row in w]


def floor_mapspec(n: int, shape: tuple[int, int, int]) -> list[Any]:
    """Pure-Python index math for ``x[i, j], y[j, :, k] -> z[i, j, k]``: what each engine computes."""
    s0, s1, s2 = shape
    out = []
    for lin in range(n):
        i, rest = divmod(lin, s1 * s2)
        j, k = divmod(rest, s2)
        out.append(((i, j), (j, slice(None), k), (i, j, k)))
    return out


def floor_write_files(folder: str, values: list[Any]) -> None:
    """One pickle file per element: the bare "pickle + write one file" cost."""
    import os
    import pickle

    for n, v in enumerate(values):
        with open(os.path.join(folder, f"__{n}__.pickle"), "wb") as fh:
            fh.write(pickle.dumps(v))


def floor_read_files(folder: str, n: int) -> list[Any]:
    import os
    import pickle

    out = []
    for k in range(n):
        with open(os.path.join(folder, f"__{k}__.pickle"), "rb") as fh:
            out.append(pickle.loads(fh.read()))
    return out

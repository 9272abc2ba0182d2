"""Side-by-side timing of pipefunc 0.93.2 and pipemap.runner in one process; prints ratios.

Run: ``uv run python tools/bench/compare_runner.py`` (``--quick`` for smaller sizes,
``--clock wall`` for wall-clock instead of process CPU time). All runs are sequential
(``parallel=False``), so CPU time equals wall time on an idle machine.
Benchmarks never assert on time; this script only reports.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np


def double(x: int) -> int:
    return 2 * x


def add(a: int, b: int) -> int:
    return a + b


def ident(c: int) -> int:
    return c


def total(d: Any) -> int:
    return int(np.sum(d))


CLOCK: Callable[[], float] = time.process_time


def _best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return min(times)


def one(a: Any, b: Any) -> int:
    return 1


def one4(b: Any, c: Any, x: Any, y: Any) -> int:
    return 1


def one_d(d: Any) -> int:
    return 1


def _pipelines(mod: Any) -> dict[str, Any]:
    pf = mod.pipefunc
    one = mod.Pipeline([pf("y", mapspec="x[i] -> y[i]")(double)])
    three = mod.Pipeline(
        [
            pf("c", mapspec="a[i], b[j] -> c[i, j]")(add),
            pf("d", mapspec="c[i, j] -> d[i, j]")(ident),
            pf("e")(total),
        ]
    )
    # the n-d sweep of pipefunc's FAQ (its benchmark suite runs it with n=15)
    nd = mod.Pipeline(
        [
            pf("c", mapspec="a[k], b[k] -> c[k]")(globals()["one"]),
            pf("d", mapspec="c[k], x[i], y[j] -> d[i, j, k]")(one4),
            pf("e", mapspec="d[i, j, :] -> e[i, j]")(one_d),
        ]
    )
    return {"one": one, "three": three, "nd": nd}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="cpu: process CPU time (robust on a shared machine, the default); wall: perf_counter",
    )
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    import pipefunc
    import pipefunc.map

    import pipemap.runner as pm

    n_one = 10_000 if args.quick else 100_000
    ref = _pipelines(pipefunc)
    new = _pipelines(pm)
    rows = []

    # 1. one element-wise function, dict storage, sequential
    x = list(range(n_one))
    t_ref = _best(lambda: pipefunc.map.run_map(ref["one"], {"x": x}, parallel=False, storage="dict"), 2)
    t_new = _best(lambda: pm.run_map(new["one"], {"x": x}, parallel=False, storage="dict"), 5)
    rows.append((f"element-wise, dict, {n_one} elements (us/elem)", t_ref / n_one * 1e6, t_new / n_one * 1e6))

    # 2. pipefunc's overhead benchmark: 3 functions, N=50 (2500 elements)
    a = list(range(50))
    b = list(range(50))
    t_ref = _best(lambda: ref["three"].map({"a": a, "b": b}, parallel=False, storage="dict"), 5)
    t_new = _best(lambda: new["three"].map({"a": a, "b": b}, parallel=False, storage="dict"), 20)
    rows.append(("3 functions, N=50 (ms/run)", t_ref * 1e3, t_new * 1e3))

    # 2b. pipefunc's FAQ n-d sweep: 3 functions, N=50 (125,000 + 2,500 + 50 elements)
    n_nd = 15 if args.quick else 50
    lst = list(range(n_nd))
    nd_inputs = {"a": lst, "b": lst, "x": lst, "y": lst}
    t_ref = _best(lambda: ref["nd"].map(nd_inputs, parallel=False, storage="dict"), 1)
    t_new = _best(lambda: new["nd"].map(nd_inputs, parallel=False, storage="dict"), 3)
    rows.append((f"FAQ n-d sweep, 3 functions, N={n_nd} (ms/run)", t_ref * 1e3, t_new * 1e3))

    # 3. 3-stage 300x300 outer product + element-wise + reduction
    if not args.quick:
        a3 = list(range(300))
        t_ref = _best(lambda: ref["three"].map({"a": a3, "b": a3}, parallel=False, storage="dict"), 1)
        t_new = _best(lambda: new["three"].map({"a": a3, "b": a3}, parallel=False, storage="dict"), 3)
        rows.append(("3 stages 300x300 (us/elem)", t_ref / 9e4 * 1e6, t_new / 9e4 * 1e6))

    # 4. resume of a finished 10^4-element file_array run
    n_res = 2_000 if args.quick else 10_000
    xr = list(range(n_res))
    d_ref = tempfile.mkdtemp()
    d_new = tempfile.mkdtemp()
    try:
        pipefunc.map.run_map(ref["one"], {"x": xr}, run_folder=d_ref, parallel=False)
        pm.run_map(new["one"], {"x": xr}, run_folder=d_new, parallel=False)
        t_ref = _best(lambda: pipefunc.map.run_map(ref["one"], {"x": xr}, run_folder=d_ref, parallel=False, resume=True), 2)
        t_new = _best(lambda: pm.run_map(new["one"], {"x": xr}, run_folder=d_new, parallel=False, resume=True), 3)
        rows.append((f"resume finished file_array run, {n_res} elements (us/elem)", t_ref / n_res * 1e6, t_new / n_res * 1e6))
    finally:
        shutil.rmtree(d_ref, ignore_errors=True)
        shutil.rmtree(d_new, ignore_errors=True)

    # 5. memory above the inputs: 10^5 int results, dict storage
    xm = list(range(1000, 1000 + n_one))
    mem = []
    for run in (
        lambda: pipefunc.map.run_map(ref["one"], {"x": xm}, parallel=False, storage="dict"),
        lambda: pm.run_map(new["one"], {"x": xm}, parallel=False, storage="dict"),
    ):
        gc.collect()
        tracemalloc.start()
        result = run()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        mem.append((current / n_one, peak / n_one))
        del result
    rows.append(("memory retained by result (bytes/elem)", mem[0][0], mem[1][0]))
    rows.append(("memory peak during run (bytes/elem)", mem[0][1], mem[1][1]))

    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'pipefunc':>10}  {'pipemap':>10}  {'ratio':>7}")
    for name, r, n in rows:
        print(f"{name:<{width}}  {r:>10.3f}  {n:>10.3f}  {r / n:>6.1f}x")



if __name__ == "__main__":
    main()

"""Side-by-side: pipefunc 0.93.2's MapSpec index math vs pipemap.mapspec, in one process.

Every workload runs ``--repeat`` times, interleaving pipefunc and pipemap; the table shows the
minimum and median cost in ns per call (scalar rows) or per linear index (batched rows) and the
ratio pipefunc / pipemap on medians (higher = pipemap faster). The issue-2 floors are checked at
the end: scalar calls at least 10x faster; the batched plan of a 3-D spec over 10^6 linear
indices at most 30 ns per index (all inputs' selectors included) and at least 100x faster than
pipefunc's ``input_keys`` in a loop.

    uv run python tools/bench/compare_mapspec.py
    uv run python tools/bench/compare_mapspec.py --repeat 11 --json results.json
    uv run python tools/bench/compare_mapspec.py --clock wall

Timings use process CPU time by default (``--clock cpu``), which other processes on a shared
machine disturb much less than wall time; ``--clock wall`` uses ``time.perf_counter``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import timeit
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

SEED = "x[i, j], y[j, :, k] -> z[i, j, k]"
OUTER3 = "a[i], b[j], c[k] -> r[i, j, k]"
ELEMENTWISE = "x[i] -> y[i]"


@dataclass
class Workload:
    """One comparison: two callables returning seconds for ``per`` units of work."""

    name: str
    unit: str  # "call" or "index"
    pipefunc: Callable[[], float]
    pipemap: Callable[[], float]
    floor_ratio: float | None = None
    floor_ns: float | None = None
    pipefunc_ns: list[float] = field(default_factory=list)
    pipemap_ns: list[float] = field(default_factory=list)


CLOCK: Callable[[], float] = time.process_time


def _per_call(stmt: str, calls: int, **names: Any) -> Callable[[], float]:
    """ns per execution of ``stmt`` (timeit, no wrapper function) over ``calls`` executions."""
    timer = timeit.Timer(stmt, timer=CLOCK, globals=names)

    def run() -> float:
        return timer.timeit(calls) / calls * 1e9

    return run


def _loop_over(fn: Callable[[int], Any], indices: range) -> Callable[[], float]:
    """ns per linear index of ``fn(n)`` called for each ``n`` in ``indices``."""

    def run() -> float:
        t0 = CLOCK()
        for n in indices:
            fn(n)
        return (CLOCK() - t0) / len(indices) * 1e9

    return run


def _batched(fn: Callable[[Any], Any], linear: Any, n: int) -> Callable[[], float]:
    """ns per linear index of one batched call."""

    def run() -> float:
        t0 = CLOCK()
        fn(linear)
        return (CLOCK() - t0) / n * 1e9

    return run


def build_workloads(calls: int, batch: int, loop_sample: int) -> list[Workload]:
    from pipefunc.map import MapSpec as PFMapSpec

    from pipemap.mapspec import IndexPlan, MapSpec

    workloads = []
    for text, shape, n in ((SEED, (5, 2, 3), 23), (ELEMENTWISE, (1000,), 777)):
        pf, pm = PFMapSpec.from_string(text), MapSpec.from_string(text)
        workloads.append(
            Workload(
                f"input_keys `{text}`",
                "call",
                _per_call("spec.input_keys(shape, n)", calls, spec=pf, shape=shape, n=n),
                _per_call("spec.input_keys(shape, n)", calls, spec=pm, shape=shape, n=n),
                floor_ratio=10,
            )
        )
        workloads.append(
            Workload(
                f"output_key `{text}`",
                "call",
                _per_call("spec.output_key(shape, n)", calls, spec=pf, shape=shape, n=n),
                _per_call("spec.output_key(shape, n)", calls, spec=pm, shape=shape, n=n),
                floor_ratio=10,
            )
        )

    side = round(batch ** (1 / 3))
    shape3 = (side, side, side)
    size = math.prod(shape3)
    sample = range(0, size, max(1, size // loop_sample))
    permuted = np.random.default_rng(0).permutation(size).astype(np.int64)
    for text in (SEED, OUTER3):
        pf, pm = PFMapSpec.from_string(text), MapSpec.from_string(text)
        plan = IndexPlan(pm, shape3)
        pf_loop = _loop_over(lambda n, pf=pf: pf.input_keys(shape3, n), sample)
        workloads.append(
            Workload(
                f"selectors, range of {size:.0e} `{text}`",
                "index",
                pf_loop,
                _batched(plan.input_selectors, range(size), size),
                floor_ratio=100,
                floor_ns=30,
            )
        )
        workloads.append(  # informational: output keys too (no floor)
            Workload(
                f"keys+selectors, range of {size:.0e} `{text}`",
                "index",
                pf_loop,
                _batched(plan.keys_and_selectors, range(size), size),
            )
        )
        workloads.append(
            Workload(
                f"selectors, shuffled array of {size:.0e} `{text}`",
                "index",
                pf_loop,
                _batched(plan.input_selectors, permuted, size),
                floor_ratio=100,
                floor_ns=30,
            )
        )
    return workloads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="interleaved repeats per workload")
    parser.add_argument("--calls", type=int, default=20_000, help="calls per scalar timing")
    parser.add_argument("--batch", type=int, default=1_000_000, help="linear indices per batch")
    parser.add_argument(
        "--loop-sample", type=int, default=20_000, help="pipefunc calls timed for the loop rows"
    )
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: process CPU time (user + system; robust on shared machines); wall: perf_counter",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    warnings.simplefilter("ignore")
    import pipefunc

    workloads = build_workloads(args.calls, args.batch, args.loop_sample)
    for _ in range(args.repeat):
        for w in workloads:
            w.pipefunc_ns.append(w.pipefunc())
            w.pipemap_ns.append(w.pipemap())

    print(
        f"pipefunc {pipefunc.__version__} vs pipemap; {args.clock} clock, repeat={args.repeat},"
        f" calls={args.calls}, batch={args.batch}; ratio = pipefunc median / pipemap median"
    )
    header = (
        f"{'workload':68} {'unit':>5} {'pipefunc min/med ns':>20} {'pipemap min/med ns':>19}"
        f" {'ratio':>7}  floor"
    )
    print(header)
    print("-" * len(header))
    rows = []
    all_ok = True
    for w in workloads:
        pf_med = statistics.median(w.pipefunc_ns)
        pm_med = statistics.median(w.pipemap_ns)
        ratio = pf_med / pm_med
        ok = (w.floor_ratio is None or ratio >= w.floor_ratio) and (
            w.floor_ns is None or pm_med <= w.floor_ns
        )
        all_ok &= ok
        floors = []
        if w.floor_ratio is not None:
            floors.append(f">={w.floor_ratio:g}x")
        if w.floor_ns is not None:
            floors.append(f"<={w.floor_ns:g} ns")
        verdict = ("ok " if ok else "MISSED ") + " ".join(floors) if floors else "(info)"
        pf_min, pm_min = min(w.pipefunc_ns), min(w.pipemap_ns)
        print(
            f"{w.name:68} {w.unit:>5} {pf_min:9.0f} /{pf_med:9.0f} {pm_min:8.1f} /{pm_med:8.1f}"
            f" {ratio:6.1f}x  {verdict}"
        )
        row = asdict(w)
        for key in ("pipefunc", "pipemap"):
            row.pop(key)
        row.update(
            pipefunc_median_ns=pf_med,
            pipemap_median_ns=pm_med,
            pipefunc_min_ns=pf_min,
            pipemap_min_ns=pm_min,
            ratio=ratio,
            ok=ok,
        )
        rows.append(row)
    print("all floors met" if all_ok else "SOME FLOORS MISSED")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {
                    "pipefunc_version": pipefunc.__version__,
                    "clock": args.clock,
                    "repeat": args.repeat,
                    "calls": args.calls,
                    "batch": args.batch,
                    "rows": rows,
                },
                handle,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Side-by-side comparison of pipefunc 0.93.2 and pipemap on a fixed list of workloads (issue 7).

Both engines run in this process, interleaved (pipefunc, pipemap, bare Python floor, then the next
repeat), and the table shows medians, the pipefunc/pipemap ratio (> 1: pipemap is faster), the
bare-Python floor, and the target the package issues set. Peak memory is measured in one
subprocess per engine. A workload whose pipemap feature is missing or fails prints ``n/a (reason)``.

    uv run python tools/bench/compare.py                 # full sizes, 3 repeats
    uv run python tools/bench/compare.py --quick         # smaller sizes, for a busy machine
    uv run python tools/bench/compare.py --only elementwise,resume --json out.json

Benchmarks never assert; this script only reports.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pipefunc  # noqa: E402
from suite import WORKLOADS, Ctx, Workload  # noqa: E402


# -- peak memory (one subprocess per engine) ------------------------------------------------------

_MEMORY_CHILD = """
import gc, json, sys, tracemalloc
sys.path.insert(0, {bench!r})
import workloads as w
engine, n = sys.argv[1], int(sys.argv[2])
xs = list(range(n))
if engine == "pipefunc":
    import pipefunc
    p = w.elementwise(pipefunc)
    run = lambda: p.map({{"x": xs}}, parallel=False, storage="dict")
elif engine == "pipemap":
    import pipemap.runner as pm
    p = w.elementwise(pm)
    run = lambda: pm.run_map(p, {{"x": xs}}, parallel=False, storage="dict")
else:
    run = lambda: w.floor_elementwise(xs)
gc.collect()
tracemalloc.start()
result = run()
current, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(json.dumps({{"peak": peak, "kept": current}}))
"""


def measure_memory(n: int) -> dict[str, Any]:
    """Peak traced allocation during a ``dict``-storage element-wise run of ``n`` elements, above the inputs."""
    code = _MEMORY_CHILD.format(bench=str(Path(__file__).resolve().parent))
    out: dict[str, Any] = {}
    for engine in ("pipefunc", "pipemap", "floor"):
        try:
            proc = subprocess.run(
                [sys.executable, "-c", code, engine, str(n)], capture_output=True, text=True, timeout=600, check=True
            )
            out[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
        except Exception as e:  # noqa: BLE001 - reported in the table
            out[engine] = {"error": _reason(e)}
    return out


# -- running and reporting ------------------------------------------------------------------------


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}"[:70]


def _time(fn: Callable[[], Any]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_workload(wl: Workload, repeats: int) -> dict[str, Any]:
    """Time the three callables interleaved; an engine that raises is reported, not fatal."""
    samples: dict[str, list[float]] = {"pipefunc": [], "pipemap": [], "floor": []}
    errors: dict[str, str] = {}
    fns = {"pipefunc": wl.pipefunc, "pipemap": wl.pipemap, "floor": wl.floor}
    if wl.warmup:  # one untimed call each: imports, caches and first-call costs stay out of the medians
        for engine, fn in fns.items():
            if fn is not None:
                try:
                    fn()
                except Exception as e:  # noqa: BLE001 - "n/a (reason)" in the table
                    errors[engine] = _reason(e)
    for _ in range(min(repeats, wl.max_repeats or repeats)):
        for engine, fn in fns.items():
            if fn is None or engine in errors:
                continue
            try:
                samples[engine].append(_time(fn))
            except Exception as e:  # noqa: BLE001 - "n/a (reason)" in the table
                errors[engine] = _reason(e)
            if engine == "pipefunc" and wl.settle is not None:
                wl.settle()
    med = {k: (statistics.median(v) if v and k not in errors else None) for k, v in samples.items()}
    row: dict[str, Any] = {
        "name": wl.name,
        "n": wl.n,
        "pipefunc_s": med["pipefunc"],
        "pipemap_s": med["pipemap"],
        "floor_s": med["floor"],
        "pipefunc_us": med["pipefunc"] * 1e6 / wl.n if med["pipefunc"] else None,
        "pipemap_us": med["pipemap"] * 1e6 / wl.n if med["pipemap"] else None,
        "floor_us": med["floor"] * 1e6 / wl.n if med["floor"] else None,
        "ratio": med["pipefunc"] / med["pipemap"] if med["pipefunc"] and med["pipemap"] else None,
        "pm_over_floor": med["pipemap"] / med["floor"] if med["pipemap"] and med["floor"] else None,
        "samples": samples,
        "errors": errors,
        "target": wl.target,
        "note": wl.note,
    }
    row["target_met"] = bool(wl.check(row)) if wl.check and med["pipemap"] is not None else None
    return row


def _fmt_time(seconds: float | None, us: float | None) -> str:
    if seconds is None:
        return "-"
    total = f"{seconds * 1e3:.1f}ms" if seconds < 10 else f"{seconds:.1f}s"
    return f"{total} ({us:.3g}us/el)" if us is not None else total


def format_table(rows: list[dict[str, Any]]) -> str:
    header = ["workload", "n", "pipefunc", "pipemap", "pf/pm", "floor", "pm/floor", "target", "met"]
    lines = []
    for r in rows:
        pm_cell = _fmt_time(r["pipemap_s"], r["pipemap_us"])
        pf_cell = _fmt_time(r["pipefunc_s"], r["pipefunc_us"])
        if "pipemap" in r["errors"]:
            pm_cell = f"n/a ({r['errors']['pipemap']})"
        if "pipefunc" in r["errors"]:
            pf_cell = f"n/a ({r['errors']['pipefunc']})"
        met = {True: "yes", False: "NO", None: "-"}[r["target_met"]]
        lines.append([
            r["name"], str(r["n"]), pf_cell, pm_cell,
            f"{r['ratio']:.1f}x" if r["ratio"] else "-",
            _fmt_time(r["floor_s"], r["floor_us"]),
            f"{r['pm_over_floor']:.2g}" if r["pm_over_floor"] else "-",
            r["target"] or "-", met,
        ])
    widths = [max(len(h), *(len(line[k]) for line in lines)) if lines else len(h) for k, h in enumerate(header)]
    out = [" | ".join(h.ljust(widths[k]) for k, h in enumerate(header)), "-+-".join("-" * x for x in widths)]
    out += [" | ".join(c.ljust(widths[k]) for k, c in enumerate(line)) for line in lines]
    return "\n".join(out)


def format_memory(mem: dict[str, Any], n: int) -> str:
    lines = [f"peak memory, element-wise dict run of {n} elements (tracemalloc, above the inputs):"]
    for engine, m in mem.items():
        if "error" in m:
            lines.append(f"  {engine:8s} n/a ({m['error']})")
        else:
            lines.append(f"  {engine:8s} peak {m['peak'] / 1e6:7.1f} MB = {m['peak'] / n:6.0f} B/element")
    pm_m = mem.get("pipemap", {})
    if "peak" in pm_m:
        lines.append(f"  target <=120 B/element (pipemap): {'yes' if pm_m['peak'] / n <= 120 else 'NO'}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pipefunc": pipefunc.__version__,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a busy or slow machine)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per engine (median reported)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument("--only", default="", help=f"comma-separated groups of {', '.join(WORKLOADS)}, memory")
    args = parser.parse_args(argv)
    groups = [g for g in args.only.split(",") if g] or [*WORKLOADS, "memory"]
    unknown = set(groups) - {*WORKLOADS, "memory"}
    if unknown:
        parser.error(f"unknown groups {sorted(unknown)}; choose from {', '.join(WORKLOADS)}, memory")
    info = machine()
    print(f"pipefunc {info['pipefunc']} vs pipemap | {info['date_utc']} UTC | {info['cpus']} cpus | "
          f"{info['platform']} | Python {info['python']} | load {info['load_average_1min']} | "
          f"repeats={args.repeats}{' quick' if args.quick else ''}")
    root = Path(tempfile.mkdtemp(prefix="pipemap-compare-"))
    ctx = Ctx(args.quick, root)
    rows: list[dict[str, Any]] = []
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            for group in groups:
                if group == "memory":
                    continue
                try:
                    workloads = WORKLOADS[group](ctx)
                except Exception as e:  # noqa: BLE001 - a group whose set-up fails is reported
                    rows.append(_failed_row(group, e))
                    continue
                for wl in workloads:
                    rows.append(run_workload(wl, args.repeats))
                    print(f"  done: {wl.name}", file=sys.stderr, flush=True)
        print(format_table(rows))
        print(f"load average at the end: {os.getloadavg()[0]:.2f} (a busy machine inflates parallel rows most)")
        mem = None
        if "memory" in groups:
            n_mem = ctx.size(100_000, 20_000)
            mem = measure_memory(n_mem)
            print(format_memory(mem, n_mem))
    finally:
        ctx.close()
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        payload = {"machine": info, "args": vars(args) | {"json": str(args.json)}, "rows": rows, "memory": mem}
        args.json.write_text(json.dumps(payload, indent=2, default=str))
        print(f"wrote {args.json}")
    return 0


def _failed_row(group: str, e: BaseException) -> dict[str, Any]:
    return {
        "name": f"{group} (set-up)", "n": 0, "pipefunc_s": None, "pipemap_s": None, "floor_s": None,
        "pipefunc_us": None, "pipemap_us": None, "floor_us": None, "ratio": None, "pm_over_floor": None,
        "samples": {}, "errors": {"pipemap": _reason(e)}, "target": "", "note": "", "target_met": None,
    }


if __name__ == "__main__":
    sys.exit(main())

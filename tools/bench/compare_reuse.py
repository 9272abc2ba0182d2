"""Benchmarks of element keys and ``reuse_from=`` (issue 14). Reports only, never asserts.

1. **keys**: computing the element keys of ``z[i, j] = f(x[i], y[j])`` for numeric inputs at
   10^6 elements, in µs per element (target <= 1 µs).
2. **grow**: a finished 100x100 ``file_array`` run grown in place to 200x100
   (``run_folder`` also in ``reuse_from``): the function is called exactly 10^4 times; the time
   is compared with running only those 10^4 elements in a fresh folder (target <= 1.3x), and
   with what pipefunc 0.93.2 can do (recompute all 200x100 with ``resume=False``).
3. **rerun**: a 10^6-element ``chunked`` run re-run with ``reuse_from`` itself and one changed
   value of ``x``: only that slice (1000 elements) is recomputed.

    uv run python tools/bench/compare_reuse.py            # full sizes
    uv run python tools/bench/compare_reuse.py --quick    # smaller sizes for a busy machine
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

CALLS = [0]


def mul(x: float, y: float) -> float:
    CALLS[0] += 1
    return x * y


def _pipemap_pipeline() -> Any:
    from pipemap.runner import PipeFunc, Pipeline

    return Pipeline([PipeFunc(mul, "z", mapspec="x[i], y[j] -> z[i, j]")])


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_keys(n: int, repeat: int) -> dict[str, Any]:
    from pipemap.runner.engine._element_keys import KeyBook
    from pipemap.runner.engine._run_info import RunInfo

    p = _pipemap_pipeline()
    inputs = {"x": np.random.default_rng(0).random(n), "y": np.random.default_rng(1).random(n)}
    info = RunInfo.create(None, p, inputs, storage=None)
    times = [_timed(lambda: KeyBook(p, info).element_keys(p["z"])) for _ in range(repeat)]
    return {"elements": n * n, "median_s": statistics.median(times), "us_per_element": statistics.median(times) / (n * n) * 1e6}


def bench_grow(n: int, repeat: int, root: Path) -> dict[str, Any]:
    import pipefunc
    from pipemap.runner import run_map

    p = _pipemap_pipeline()
    y = np.arange(n, dtype=float)
    base = root / "grow-base"
    run_map(p, {"x": np.arange(n, dtype=float), "y": y}, run_folder=base, parallel=False)
    grow_t, fresh_t, pf_t, calls = [], [], [], []
    pf_pipeline = pipefunc.Pipeline([pipefunc.PipeFunc(mul, "z", mapspec="x[i], y[j] -> z[i, j]")])
    for k in range(repeat):
        folder = root / f"grow-{k}"
        shutil.copytree(base, folder)
        fresh = root / f"fresh-{k}"
        for which in ("grow", "fresh") if k % 2 == 0 else ("fresh", "grow"):  # (alternating: no order bias)
            if which == "grow":
                CALLS[0] = 0
                grow_t.append(_timed(lambda: run_map(p, {"x": np.arange(2 * n, dtype=float), "y": y}, run_folder=folder, parallel=False, reuse_from=folder)))
                calls.append(CALLS[0])
            else:
                fresh_t.append(_timed(lambda: run_map(p, {"x": np.arange(n, 2 * n, dtype=float), "y": y}, run_folder=fresh, parallel=False)))
        pf_folder = root / f"pipefunc-{k}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pf_t.append(_timed(lambda: pf_pipeline.map({"x": list(np.arange(2 * n, dtype=float)), "y": list(y)}, run_folder=pf_folder, parallel=False, show_progress=False)))
    g, f, pf = statistics.median(grow_t), statistics.median(fresh_t), statistics.median(pf_t)
    return {
        "grid": f"{n}x{n} -> {2 * n}x{n}",
        "calls": calls,
        "grow_s": g,
        "fresh_new_elements_s": f,
        "grow_over_fresh": g / f,
        "pipefunc_recompute_all_s": pf,
        "pipefunc_over_grow": pf / g,
    }


def bench_rerun(n: int, root: Path) -> dict[str, Any]:
    from pipemap.runner import run_map

    p = _pipemap_pipeline()
    x, y = np.arange(n, dtype=float), np.arange(n, dtype=float)
    folder = root / "rerun"
    CALLS[0] = 0
    first = _timed(lambda: run_map(p, {"x": x, "y": y}, run_folder=folder, storage="chunked", parallel=False, return_results=False))
    first_calls = CALLS[0]
    x2 = x.copy()
    x2[n // 2] = -1.0
    CALLS[0] = 0
    again = _timed(lambda: run_map(p, {"x": x2, "y": y}, run_folder=folder, storage="chunked", parallel=False, return_results=False, reuse_from=folder))
    return {"elements": n * n, "first_run_s": first, "first_calls": first_calls, "rerun_s": again, "rerun_calls": CALLS[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (keys 300x300, grow 50x50, rerun 300x300)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pipemap-bench-reuse-"))
    try:
        out = {
            "keys": bench_keys(300 if args.quick else 1000, args.repeat),
            "grow": bench_grow(50 if args.quick else 100, args.repeat, root),
            "rerun": bench_rerun(300 if args.quick else 1000, root),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    k, g, r = out["keys"], out["grow"], out["rerun"]
    print(f"keys : {k['elements']:,} elements in {k['median_s'] * 1e3:.1f} ms = {k['us_per_element']:.3f} µs/element (target <= 1)")
    print(
        f"grow : {g['grid']} in place: {g['grow_s']:.2f} s, calls {g['calls']}; the new elements alone in a fresh folder:"
        f" {g['fresh_new_elements_s']:.2f} s -> {g['grow_over_fresh']:.2f}x (target <= 1.3);"
        f" pipefunc recomputing all: {g['pipefunc_recompute_all_s']:.2f} s ({g['pipefunc_over_grow']:.2f}x the grow)"
    )
    print(
        f"rerun: {r['elements']:,} chunked elements: first run {r['first_run_s']:.2f} s ({r['first_calls']:,} calls);"
        f" one x changed, reuse_from itself: {r['rerun_s']:.2f} s ({r['rerun_calls']:,} calls)"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

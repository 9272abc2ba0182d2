"""Ragged axes (issue 16): per-element cost of a ragged producer + element-wise consumer against the
same number of elements on a regular axis, and loading a ragged output as a DataFrame.

Run (pipemap only: pipefunc 0.93.2 has no ragged axes, so the comparison is ragged vs regular in
the same process, interleaved, medians of ``--repeats``)::

    uv run python tools/bench/compare_ragged.py            # 10^4 rows of 0-200 elements (~10^6)
    uv run python tools/bench/compare_ragged.py --rows 2000 --repeats 3 --json out.json

Workloads (sequential runs, ``storage`` chunked in a run folder, or dict in memory):

- ragged: ``t[i] -> w[i, j*]`` (row ``i`` is ``range(L_i)``, L_i uniform in 0..200) then
  ``w[i, j*] -> v[i, j*]`` (``w + 1``): one call per row plus one per element.
- regular: ``w[k] -> y[k]`` (``w + 1``) over ``range(sum L_i)``: one call per element.
- load: ``pipemap.io.load_dataframe("v")`` of the ragged run (chunked), one row per element.

Targets: ragged within 1.5x of regular per element; load <= 2 µs per element.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def make_row(t: int) -> list[int]:
    return list(range(t))


def plus_one(w: int) -> int:
    return w + 1


def _pipelines():
    from pipemap.runner import Pipeline, pipefunc

    ragged = Pipeline(
        [
            pipefunc("w", mapspec="t[i] -> w[i, j*]")(make_row),
            pipefunc("v", mapspec="w[i, j*] -> v[i, j*]")(plus_one),
        ]
    )
    regular = Pipeline([pipefunc("y", mapspec="w[k] -> y[k]")(plus_one)])
    return ragged, regular


def _run(pipeline, inputs: dict, storage: str) -> tuple[float, Path | None]:
    from pipemap.runner import run_map

    folder = Path(tempfile.mkdtemp(prefix="bench-ragged-")) if storage != "dict" else None
    t0 = time.perf_counter()
    run_map(pipeline, inputs, run_folder=folder, storage=storage, parallel=False, show_progress=False)
    return time.perf_counter() - t0, folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--max-length", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    rng = np.random.default_rng(16)
    lengths = rng.integers(0, args.max_length + 1, size=args.rows).tolist()
    total = int(sum(lengths))
    ragged, regular = _pipelines()
    results: dict[str, dict[str, float]] = {}
    print(f"{args.rows} rows, {total} elements")
    for storage in ("dict", "chunked"):  # warm-up: imports and first-use caches are not timed
        for pipeline, inputs in ((ragged, {"t": [3, 0, 2]}), (regular, {"w": range(5)})):
            _, folder = _run(pipeline, inputs, storage)
            if folder is not None:
                import pipemap.io as pio

                pio.load_dataframe(run_folder=folder)
                shutil.rmtree(folder, ignore_errors=True)
    for storage in ("dict", "chunked"):
        times: dict[str, list[float]] = {"ragged": [], "regular": [], "load": []}
        for _ in range(args.repeats):
            t, folder = _run(ragged, {"t": lengths}, storage)
            times["ragged"].append(t)
            if folder is not None:
                import pipemap.io as pio

                t0 = time.perf_counter()
                df = pio.load_dataframe("v", run_folder=folder, load_intermediate=False)
                times["load"].append(time.perf_counter() - t0)
                assert len(df) == total
                shutil.rmtree(folder, ignore_errors=True)
            t, folder = _run(regular, {"w": range(total)}, storage)
            times["regular"].append(t)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        med = {k: statistics.median(v) for k, v in times.items() if v}
        row = {f"{k}_us_per_element": 1e6 * v / total for k, v in med.items()}
        row["ragged_over_regular"] = med["ragged"] / med["regular"]
        results[storage] = row
        load = f", load_dataframe {row['load_us_per_element']:.2f} µs/element" if "load" in med else ""
        print(
            f"{storage:8s} ragged {row['ragged_us_per_element']:.2f} µs/element, regular"
            f" {row['regular_us_per_element']:.2f} µs/element, ratio {row['ragged_over_regular']:.2f}x{load}"
        )
    if args.json:
        args.json.write_text(json.dumps({"rows": args.rows, "elements": total, "results": results}, indent=2))


if __name__ == "__main__":
    main()

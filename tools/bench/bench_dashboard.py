"""Dashboard render and refresh times on a large run folder (issue 18), beside `pipemap status`.

Writes a 1000 x 1000 (10^6-element) `chunked` run folder (numeric values, a failed stripe listed
in failures.json) and a `file_array` one (default 300 x 300, `--file-array-side`) with the storage
API, starts the dashboard on a free port and times over HTTP:

* first page: the first ``GET /`` (opens the folder, scans it, renders the HTML);
* state / grid: ``GET /api/state`` and ``GET /api/grid`` (1000 x 1000 binned to 334 x 334 cells);
* refresh, nothing changed: a forced refresh (directories stat-ed, nothing listed or read);
* refresh after one more write batch: only the touched chunk is listed and its new pack read
  (``file_array``: the folder is listed again, only the new files are stat-ed; measured without
  the pause the dashboard keeps between two listings of a big folder, ``_scan.LISTING_PAUSE``);
* `pipemap status` on the same folder (a full mask read), for scale.

    uv run python tools/bench/bench_dashboard.py [--side 1000] [--repeats 3]

Benchmarks never assert; this script only reports medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pipemap.io._status import run_status
from pipemap.io.dashboard import DashboardServer, _scan
from pipemap.storage import RunRecord, open_store


def write_run(folder: Path, side: int, storage: str) -> RunRecord:
    """A finished ``a[i], b[j] -> y[i, j]`` run of side x side elements; row 7 failed."""
    shapes: dict[Any, Any] = {"a": (side,), "b": (side,), "y": (side, side)}
    record = RunRecord(
        inputs={"a": list(range(side)), "b": list(range(side))}, defaults={}, all_output_names={"y"},
        shapes=shapes, resolved_shapes=shapes, internal_shapes=None, shape_masks={"y": (True, True)},
        run_folder=folder, mapspecs_as_strings=["a[i], b[j] -> y[i, j]"], storage=storage,
        error_handling="continue",
    )
    record.dump()
    store = open_store(record, "y")
    n = side * side
    batch = 100_000 if storage == "chunked" else 5_000
    for start in range(0, n - side, batch):  # the last row stays missing
        idx = np.arange(start, min(start + batch, n - side))
        store.dump_many(idx, list(idx.astype(np.float64)))
    failed = list(range(7 * side, 8 * side))
    (folder / "failures.json").write_text(json.dumps({"version": 1, "outputs": {"y": failed}}))
    return record


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = func()
    return time.perf_counter() - start, value


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as resp:
        return resp.read()


def age(folder: Path) -> None:
    """Make every directory look untouched for a minute (as in a run that writes elsewhere)."""
    stamp = time.time() - 60
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            os.utime(path, (stamp, stamp))


def measure(side: int, storage: str, repeats: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    root = Path(tempfile.mkdtemp(prefix="pipemap_dash_bench_"))
    try:
        folder = root / "run"
        record = write_run(folder, side, storage)
        store = open_store(record, "y")
        for repeat in range(repeats):
            age(folder)
            server = DashboardServer(folder, port=0).start()
            try:
                t_page, html = timed(lambda: get(server.url))
                results.setdefault("first page (scan + HTML)", []).append(t_page)
                t_state, _ = timed(lambda: get(server.url + "api/state"))
                results.setdefault("GET /api/state", []).append(t_state)
                t_grid, grid = timed(lambda: json.loads(get(server.url + "api/grid?output=y")))
                results.setdefault(f"GET /api/grid ({grid['ny']} x {grid['nx']} cells)", []).append(t_grid)
                t_same, snap = timed(lambda: server.state.refresh(force=True))
                results.setdefault("refresh, nothing changed", []).append(t_same)
                results.setdefault("  listings/reads, nothing changed", []).append(snap["refresh"]["reads"])
                start = side * side - side + 100 * repeat  # new elements of the missing last row each time
                last_row = np.arange(start, start + 100)
                store.dump_many(last_row, list(last_row.astype(np.float64)))
                scan = server.state.outputs["y"].scan
                if isinstance(scan, _scan.FileArrayScan):
                    scan._next_listing = 0.0  # measure the listing itself, not the pause after the last one
                t_new, snap = timed(lambda: server.state.refresh(force=True))
                results.setdefault("refresh after one write batch", []).append(t_new)
                results.setdefault("  listings/reads after one batch", []).append(snap["refresh"]["reads"])
                t_grid2, _ = timed(lambda: get(server.url + "api/grid?output=y"))
                results.setdefault("GET /api/grid after the batch", []).append(t_grid2)
            finally:
                server.close()
            t_status, _ = timed(lambda: run_status(folder))
            results.setdefault("pipemap status (for scale)", []).append(t_status)
            del html
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1000, help="chunked run: side x side elements")
    parser.add_argument("--file-array-side", type=int, default=300, help="file_array run: side x side element files")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for storage, side in (("chunked", args.side), ("file_array", args.file_array_side)):
        print(f"\n{storage}: {side} x {side} = {side * side:,} elements, median of {args.repeats}")
        for label, values in measure(side, storage, args.repeats).items():
            median = statistics.median(values)
            shown = f"{median:8.0f}" if label.startswith("  ") else f"{median * 1000:8.1f} ms"
            print(f"  {label:<45} {shown}")


if __name__ == "__main__":
    main()

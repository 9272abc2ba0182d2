"""Eager (chunk-level) vs generation scheduling on a 2-stage chain of CPU-bound elements.

    uv run python tools/bench/eager_chain.py [n_elements] [ms_per_element] [straggler_ms]

x[i] -> y[i] -> z[i], every element ~``ms`` of CPU work, on a warm 2-worker process pool with
``file_array`` storage in a temporary run folder (worker-written, so eager can start z chunks
while y still runs). With ``straggler_ms`` the last y element takes that long instead (an unbalanced upstream: the
generation strategy leaves a worker idle until it finishes, eager runs z chunks meanwhile).
Since element-wise chains are fused (one task per chunk computes y then z), the generation
strategy no longer waits for all of y here; eager scheduling matters for the dependencies fusion
does not cover (other axes, several producers).
Prints the best of 3 wall times per strategy.
"""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

from pipemap.runner import Pipeline, pipefunc, run_map


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pipefunc("y", mapspec="x[i] -> y[i]")
def stage_one(x: int, ms: float, straggler: int, straggler_ms: float) -> int:
    _spin((straggler_ms if x == straggler else ms) / 1000)
    return x + 1


@pipefunc("z", mapspec="y[i] -> z[i]")
def stage_two(y: int, ms: float) -> int:
    _spin(ms / 1000)
    return 2 * y


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    ms = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    straggler_ms = float(sys.argv[3]) if len(sys.argv) > 3 else ms
    pipeline = Pipeline([stage_one, stage_two])
    inputs = {"x": list(range(n)), "ms": ms, "straggler": n - 1, "straggler_ms": straggler_ms}
    with ProcessPoolExecutor(max_workers=2) as pool:
        run_map(pipeline, {**inputs, "x": [0, 1], "ms": 0.0, "straggler_ms": 0.0}, executor=pool)  # warm the pool
        for strategy in ("generation", "eager"):
            best = float("inf")
            for _ in range(3):
                with tempfile.TemporaryDirectory() as folder:
                    t0 = time.perf_counter()
                    r = run_map(pipeline, inputs, run_folder=folder, executor=pool, storage="file_array",
                                scheduling_strategy=strategy)
                    best = min(best, time.perf_counter() - t0)
                    assert r["z"].output.tolist() == [2 * (x + 1) for x in range(n)]
            ideal = max((2 * n * ms + straggler_ms - ms) / 1000 / 2, (straggler_ms + ms) / 1000)
            print(f"{strategy:>10}: {best:.3f} s  (ideal {ideal:.3f} s on 2 workers)")


if __name__ == "__main__":
    main()

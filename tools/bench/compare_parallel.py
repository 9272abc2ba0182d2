"""Parallel execution, side by side: pipemap vs pipefunc 0.93.2 in one process, printing ratios.

    uv run python tools/bench/compare_parallel.py            # everything
    uv run python tools/bench/compare_parallel.py trivial cpu chain dask memory progress

Cases (2 workers everywhere):
  trivial  - 10^4 trivial elements on a warm 2-worker process pool: µs per element, ratio
  cpu      - 200 x 10 ms CPU-bound elements: speedup over sequential with a warm pool and with
             each engine's own default pool: the first parallel run of a fresh process (pool
             start-up included; with and without a live thread) and repeated runs
  dask     - the same 200 x 10 ms through a dask LocalCluster of 2 worker processes
  chain    - a 3-function element-wise chain (x -> y -> z -> w) on a warm pool: pipemap fused
             (one task per chunk), pipemap function by function, pipefunc; trivial elements and
             elements carrying a 8 KB array
  memory   - 10^6 elements, return_results=False, chunked storage: peak RSS of parent + workers
  progress - 10^5 elements with show_progress="rich" vs False (cost of progress)
Numbers are medians of --repeats runs; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor


def trivial(x):
    return x + 1


def _calibrate() -> int:
    """Loop count of :func:`cpu_loops` that takes about 10 ms here."""
    n = 20_000
    while True:
        t0 = time.perf_counter()
        cpu_loops(0, n)
        dt = time.perf_counter() - t0
        if dt > 0.002:
            return int(n * 0.010 / dt)
        n *= 4


def cpu_loops(x, loops):
    acc = 0
    for k in range(loops):
        acc += k * k % 7
    return x + (acc & 1)


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_medians(runs: dict, repeats: int) -> dict[str, float]:
    """Median seconds per named run, over rounds that run each once (so drift hits all alike)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(max(3, repeats)):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def engines():
    import pipefunc as pf

    import pipemap.runner as pm

    return pf, pm


def pipelines(mod, func, mapspec="x[i] -> y[i]"):
    return mod.Pipeline([mod.PipeFunc(func, "y", mapspec=mapspec)])


def case_trivial(repeats: int, pool) -> None:
    pf, pm = engines()
    n = 10_000
    inputs = {"x": list(range(n))}
    p_pf, p_pm = pipelines(pf, trivial), pipelines(pm, trivial)
    t_pf = median_time(lambda: p_pf.map(inputs, executor=pool, show_progress=False), repeats)
    t_pm = median_time(lambda: pm.run_map(p_pm, inputs, executor=pool, show_progress=False), repeats)
    print(
        f"trivial 10^4 on warm 2-worker pool: pipefunc {1e6 * t_pf / n:.2f} us/el, "
        f"pipemap {1e6 * t_pm / n:.2f} us/el, pipemap is {t_pf / t_pm:.1f}x faster"
    )


def case_cpu(repeats: int, pool, loops: int) -> None:
    """Rounds interleave pipefunc, pipemap and the sequential run, so both engines see the same
    machine (its speed drifts by 10-20% over minutes here); speedups use the rounds' medians."""
    pf, pm = engines()
    inputs = {"x": list(range(200)), "loops": loops}
    spec = "x[i] -> y[i]"
    p_pf = pf.Pipeline([pf.PipeFunc(cpu_loops, "y", mapspec=spec)])
    p_pm = pm.Pipeline([pm.PipeFunc(cpu_loops, "y", mapspec=spec)])
    kw = {"parallel": True} if pool is None else {"executor": pool}
    runs = {
        "sequential": lambda: pm.run_map(p_pm, inputs, parallel=False, show_progress=False),
        "pipefunc": lambda: p_pf.map(inputs, show_progress=False, **kw),
        "pipemap": lambda: pm.run_map(p_pm, inputs, show_progress=False, **kw),
    }
    medians = interleaved_medians(runs, repeats)
    seq = medians["sequential"]
    what = "default pool, repeated runs" if pool is None else "warm pool"
    for name in ("pipefunc", "pipemap"):
        t = medians[name]
        print(f"cpu 200 x 10 ms [{name}]: sequential {seq:.3f} s, {what} {t:.3f} s (speedup {seq / t:.2f})")


FIRST_RUN = """
import sys, threading, time
sys.path.insert(0, {here!r})
from compare_parallel import cpu_loops, engines, median_time
engine, loops, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "threads"
pf, pm = engines()
mod = pf if engine == "pipefunc" else pm
p = mod.Pipeline([mod.PipeFunc(cpu_loops, "y", mapspec="x[i] -> y[i]")])
inputs = {{"x": list(range(200)), "loops": loops}}
run = (lambda **kw: p.map(inputs, show_progress=False, **kw)) if engine == "pipefunc" else (
    lambda **kw: pm.run_map(p, inputs, show_progress=False, **kw))
run(parallel=False)  # warm-up: imports and first-call costs are not sequential work
seq = median_time(lambda: run(parallel=False), 3)
if threads:  # a live thread (a progress bar, a dask client, ...) rules out a plain fork
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
t0 = time.perf_counter()
run(parallel=True)
print(seq, time.perf_counter() - t0)
"""


def case_first_run(repeats: int, loops: int) -> None:
    """The first parallel run of a fresh process: the default pool's start-up is included."""
    import subprocess

    script = FIRST_RUN.format(here=os.path.dirname(os.path.abspath(__file__)))
    for threads in ("no-threads", "threads"):
        for name in ("pipefunc", "pipemap"):
            speedups, times = [], []
            for _ in range(repeats):
                out = subprocess.run(
                    [sys.executable, "-c", script, name, str(loops), threads],
                    check=True, capture_output=True, text=True,
                ).stdout.split()
                seq, par = float(out[-2]), float(out[-1])
                speedups.append(seq / par)
                times.append(par)
            how = "fork" if threads == "no-threads" else "a thread is running (pipemap: forkserver)"
            print(f"cpu 200 x 10 ms [{name}]: first parallel run of a process, {how}: "
                  f"{statistics.median(times):.3f} s (speedup {statistics.median(speedups):.2f})")


def chain_head(x, size):
    import numpy as np

    return np.full(size, x, dtype=np.float64) if size else x


def chain_mid(y):
    return y * 2


def chain_tail(z, x):
    return z - x


def case_chain(repeats: int, pool) -> None:
    import pipemap.runner.engine._walk as scheduler

    pf, pm = engines()

    def build(mod):
        return mod.Pipeline([
            mod.PipeFunc(chain_head, "y", mapspec="x[i] -> y[i]"),
            mod.PipeFunc(chain_mid, "z", mapspec="y[i] -> z[i]"),
            mod.PipeFunc(chain_tail, "w", mapspec="z[i], x[i] -> w[i]"),
        ])

    p_pf, p_pm = build(pf), build(pm)
    planner = scheduler.plan_chains
    for n, size in [(10_000, 0), (2_000, 1024)]:
        inputs = {"x": list(range(n)), "size": size}
        fused = median_time(lambda: pm.run_map(p_pm, inputs, executor=pool, show_progress=False), repeats)
        scheduler.plan_chains = lambda runner: {}
        try:
            apart = median_time(lambda: pm.run_map(p_pm, inputs, executor=pool, show_progress=False), repeats)
        finally:
            scheduler.plan_chains = planner
        t_pf = median_time(lambda: p_pf.map(inputs, executor=pool, show_progress=False, storage="dict"), repeats)
        what = "trivial" if not size else f"{8 * size // 1024} KB arrays"
        print(
            f"chain x->y->z->w, {n} elements ({what}), warm pool: pipemap fused {1e3 * fused:.1f} ms, "
            f"function by function {1e3 * apart:.1f} ms ({apart / fused:.2f}x), pipefunc {1e3 * t_pf:.1f} ms "
            f"({t_pf / fused:.1f}x)"
        )


def case_dask(repeats: int, loops: int) -> None:
    import distributed

    pf, pm = engines()
    inputs = {"x": list(range(200)), "loops": loops}
    spec = "x[i] -> y[i]"
    p_pf = pf.Pipeline([pf.PipeFunc(cpu_loops, "y", mapspec=spec)])
    p_pm = pm.Pipeline([pm.PipeFunc(cpu_loops, "y", mapspec=spec)])
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=40
    ) as cluster, distributed.Client(cluster) as client:
        pm.run_map(p_pm, {"x": [0, 1], "loops": 1}, executor=client)  # warm the workers
        ex = client.get_executor()
        runs = {  # interleaved rounds: the machine's speed drifts
            "seq": lambda: pm.run_map(p_pm, inputs, parallel=False),
            "pm": lambda: pm.run_map(p_pm, inputs, executor=client),
            "pf": lambda: p_pf.map(inputs, executor=ex, show_progress=False),
        }
        medians = interleaved_medians(runs, repeats)
        seq, t_pm, t_pf = medians["seq"], medians["pm"], medians["pf"]
    print(
        f"dask LocalCluster(2) 200 x 10 ms: sequential {seq:.3f} s, pipemap {t_pm:.3f} s "
        f"(speedup {seq / t_pm:.2f}), pipefunc via get_executor() {t_pf:.3f} s (speedup {seq / t_pf:.2f})"
    )


class PeakRSS:
    """Sample the RSS of this process and all its children every 20 ms."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _total(self) -> int:
        total = self.me.memory_info().rss
        for c in self.me.children(recursive=True):
            try:
                total += c.memory_info().rss
            except Exception:  # noqa: BLE001 - a child that just exited
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._total())
            time.sleep(0.02)

    def __enter__(self) -> PeakRSS:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join()


MEMORY_RUN = """
import sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor
sys.path.insert(0, {here!r})
from compare_parallel import PeakRSS, pipelines, trivial
import pipemap.runner as pm

p = pipelines(pm, trivial)
n = 1_000_000
with ProcessPoolExecutor(max_workers=2) as pool, tempfile.TemporaryDirectory() as d:
    list(pool.map(abs, range(2)))
    with PeakRSS() as rss:
        base = rss._total()
        t0 = time.perf_counter()
        pm.run_map(p, {{"x": list(range(n))}}, run_folder=d, executor=pool, storage="chunked",
                   return_results=False, show_progress=False)
        dt = time.perf_counter() - t0
print(dt, rss.peak, base)
"""


def case_memory() -> None:
    """In a fresh process, so nothing from the other cases (kept pools, caches) is counted."""
    import subprocess

    script = MEMORY_RUN.format(here=os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout.split()
    dt, peak, base = float(out[-3]), int(out[-2]), int(out[-1])
    print(
        f"memory 10^6 elements, chunked, return_results=False, 2 workers (fresh process): {dt:.2f} s, "
        f"peak RSS parent+workers {peak / 2**20:.0f} MB (before the run {base / 2**20:.0f} MB)"
    )


def case_progress(repeats: int, pool) -> None:
    import io

    _, pm = engines()
    p = pipelines(pm, cpu_loops)
    inputs = {"x": list(range(100_000)), "loops": 20}
    # one-off costs (importing rich, compiling its regexes) are not per-run costs: pay them first
    _time_in_listeners(lambda: pm.run_map(p, {"x": [1], "loops": 1}, show_progress="rich", parallel=False))

    for label, kw in [("sequential", {"parallel": False}), ("2-worker pool", {"executor": pool})]:
        off = median_time(lambda kw=kw: pm.run_map(p, inputs, show_progress=False, return_results=False, **kw), repeats)
        # rich writes to stderr; silence it without changing what it computes
        saved = sys.stderr
        sys.stderr = io.StringIO()
        try:
            on = median_time(lambda kw=kw: pm.run_map(p, inputs, show_progress="rich", return_results=False, **kw), repeats)
        finally:
            sys.stderr = saved
        inside = statistics.median(
            _time_in_listeners(lambda kw=kw: pm.run_map(p, inputs, show_progress="rich", return_results=False, **kw))
            for _ in range(repeats)
        )
        print(
            f"progress 10^5 elements [{label}]: off {off:.3f} s, rich {on:.3f} s ({100 * (on - off) / off:+.1f}%, "
            f"noise included); time inside the progress listeners {1e3 * inside:.2f} ms = {100 * inside / off:.2f}% of the run"
        )


def _time_in_listeners(run) -> float:
    """Seconds spent in the event listeners (tracker + display) during ``run()``."""
    import io

    from pipemap.runner.engine._events import EventBus

    spent = [0.0]
    original = EventBus.emit

    def timed(self, event):
        t0 = time.perf_counter()
        original(self, event)
        spent[0] += time.perf_counter() - t0

    EventBus.emit = timed
    saved = sys.stderr
    sys.stderr = io.StringIO()
    try:
        run()
    finally:
        EventBus.emit = original
        sys.stderr = saved
    return spent[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", default=["trivial", "cpu", "chain", "dask", "memory", "progress"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    loops = _calibrate()
    if "cpu" in args.cases:
        case_first_run(args.repeats, loops)
        case_cpu(args.repeats, None, loops)  # default pools first, while no thread is running
    with ProcessPoolExecutor(max_workers=2) as pool:
        list(pool.map(abs, range(4)))  # warm
        for case in args.cases:
            if case == "trivial":
                case_trivial(args.repeats, pool)
            elif case == "cpu":
                case_cpu(args.repeats, pool, loops)
            elif case == "progress":
                case_progress(args.repeats, pool)
            elif case == "chain":
                case_chain(args.repeats, pool)
    if "dask" in args.cases:
        case_dask(args.repeats, loops)
    if "memory" in args.cases:
        case_memory()


if __name__ == "__main__":
    main()

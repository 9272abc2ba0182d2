"""Closing numbers of issue 17 on the local SLURM cluster (tools/slurm/local_slurm.sh, 2 CPUs).

    uv run python tools/bench/slurm_timings.py [--skip-long]

1. submit: ``run_map(..., SlurmExecutor(wait=False))`` of a 3-function pipeline (element-wise,
   outer product, reduction) over 10^5 elements: seconds from the call to "all jobs queued",
   and how many jobs were queued;
2. per-task start-up: the array-task entry point run by hand on one element (interpreter start,
   imports, loading the pipeline and the run record), and the wall time per task of a 20-task
   array of one trivial element each on the cluster;
3. 10^4 trivial elements end to end (submit + run + load the results), default sizing;
4. 200 x 1 s elements end to end with ``seconds_per_element=1, task_seconds=50``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pipemap.runner import Pipeline, pipefunc, run_map
from pipemap.runner.slurm import SlurmExecutor


@pipefunc("y", mapspec="x[i] -> y[i]")
def double(x):
    return 2 * x


@pipefunc("z", mapspec="y[i], w[j] -> z[i, j]")
def outer(y, w):
    return y * w


@pipefunc("s")
def total(z):
    return float(np.sum(z))


@pipefunc("y", mapspec="x[i] -> y[i]")
def one_second(x):
    time.sleep(1.0)
    return x


def _wait(run: Path) -> None:
    jobs = json.loads((run / "slurm" / "jobs.json").read_text())
    ids = [r["job_id"] for r in jobs["functions"]]
    while subprocess.run(["squeue", "-h", "-j", ",".join(ids)], capture_output=True, text=True).stdout.strip():
        time.sleep(0.2)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="pipemap-slurm-bench-"))
    pipe = Pipeline([double, outer, total])
    # 1. submit 10^5 elements
    run = tmp / "submit"
    t = time.perf_counter()
    run_map(pipe, {"x": np.arange(100_000), "w": [1.0]}, run_folder=run, executor=SlurmExecutor(wait=False))
    submit = time.perf_counter() - t
    jobs = json.loads((run / "slurm" / "jobs.json").read_text())["functions"]
    print(f"submit 10^5 elements: {submit:.2f} s to all queued; {len(jobs)} jobs: "
          + ", ".join(f"{r['function']} {r['kind']} x{r['n_tasks']}" for r in jobs))
    subprocess.run(["scancel", *[r["job_id"] for r in jobs]], check=False)
    # 2. start-up of one task
    run = tmp / "startup"
    one = Pipeline([double])
    run_map(one, {"x": np.arange(20)}, run_folder=run, executor=SlurmExecutor(wait=False, elements_per_task=1))
    subprocess.run(["scancel", json.loads((run / "slurm" / "jobs.json").read_text())["functions"][0]["job_id"]], check=False)
    time.sleep(1)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipemap.runner.slurm.task", str(run), "y", "0:1"], check=True)
    print(f"array-task entry point by hand, one element: {time.perf_counter() - t:.2f} s")
    run = tmp / "startup2"
    t = time.perf_counter()
    run_map(one, {"x": np.arange(20)}, run_folder=run, executor=SlurmExecutor(elements_per_task=1, poll_interval=0.2))
    wall = time.perf_counter() - t
    print(f"20 one-element array tasks on 2 CPUs: {wall:.1f} s end to end = {wall / 10:.2f} s per task per CPU")
    # 3. 10^4 trivial elements
    for per in (None, 2500):
        run = tmp / f"1e4-{per}"
        t = time.perf_counter()
        r = run_map(pipe, {"x": np.arange(10_000), "w": [1.0]}, run_folder=run,
                    executor=SlurmExecutor(elements_per_task=per, poll_interval=0.2))
        assert r["s"].output == float(2 * np.arange(10_000).sum())
        n = json.loads((run / "slurm" / "jobs.json").read_text())["functions"][0]["n_tasks"]
        print(f"10^4 trivial elements x 2 functions + reduction, {n} tasks per array: {time.perf_counter() - t:.1f} s end to end")
    if "--skip-long" in sys.argv:
        return
    # 4. 200 x 1 s
    run = tmp / "200x1s"
    t = time.perf_counter()
    r = run_map(Pipeline([one_second]), {"x": np.arange(200)}, run_folder=run,
                executor=SlurmExecutor(seconds_per_element=1.0, task_seconds=50, poll_interval=0.5))
    assert r["y"].output.tolist() == list(range(200))
    print(f"200 x 1 s elements, 4 tasks of 50 on 2 CPUs: {time.perf_counter() - t:.1f} s end to end (ideal 100 s)")


if __name__ == "__main__":
    main()

"""The default pool is started only when the inline probes send work to it (issue 20): a run
decided inline starts no process; a function that goes to the pool finds no worker started
before its probes ran, and the fork-or-forkserver choice is made when the pool starts (a thread
the probes started rules out a plain fork). Checked with real processes (``/proc``), in fresh
interpreters where the start method matters (threads left by other tests would decide it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipemap.runner import Pipeline, pipefunc, run_map, shutdown_default_pool
from pipemap.runner.executors import _default_pool

pytestmark = pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
    reason="needs Linux's /proc/<pid>/task/<tid>/children",
)


def children(pid: int | None = None) -> set[int]:
    """The live child processes of ``pid`` (this process), read from ``/proc``."""
    pid = os.getpid() if pid is None else pid
    found: set[int] = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as fh:
            found.update(int(p) for p in fh.read().split())
    return found


@pipefunc(output_name="y", mapspec="x[i] -> y[i]")
def cheap(x: int) -> int:
    return 2 * x


@pytest.fixture
def no_pool():
    shutdown_default_pool(wait=True)
    yield
    shutdown_default_pool(wait=True)


@pytest.fixture
def generous(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thresholds far above this cheap function's cost, so a busy machine cannot tip the decision
    (the decision rules are tested in test_inline_decision.py)."""
    from pipemap.runner.engine import _inline

    monkeypatch.setattr(_inline, "INLINE_MAX_SECONDS", 2.0)
    monkeypatch.setattr(_inline, "PROBE_SECONDS", 2.0)
    monkeypatch.setattr(_inline, "RELIABLE_PROBE_SECONDS", 2.0)


def test_a_run_decided_inline_starts_no_process(no_pool: None, generous: None) -> None:
    before = children()
    result = run_map(Pipeline([cheap]), {"x": list(range(10_000))}, parallel=True, storage="dict")
    assert "cheap" in result.summary.inline
    assert result["y"].output.tolist() == [2 * x for x in range(10_000)]
    assert children() <= before, "a worker process was started for a run that ran in the parent"
    assert _default_pool._pool is None  # and none is kept for later


def test_a_warm_pool_is_kept_but_not_used_by_a_run_decided_inline(no_pool: None, generous: None) -> None:
    warm = run_map(Pipeline([cheap]), {"x": [1, 2, 3]}, parallel=True, chunksizes=1, storage="dict")  # starts the pool
    assert warm["y"].output.tolist() == [2, 4, 6]
    pool = _default_pool._pool
    assert pool is not None
    workers = set(pool._processes)
    result = run_map(Pipeline([cheap]), {"x": list(range(10_000))}, parallel=True, storage="dict")
    assert "cheap" in result.summary.inline
    assert _default_pool._pool is pool and set(pool._processes) == workers  # still warm, untouched
    assert _default_pool._users.get(pool, 0) == 0


SCRIPT = """
import json, os, sys, threading, time
from pipemap.runner import Pipeline, pipefunc, run_map
from pipemap.runner.executors import _default_pool

PARENT = os.getpid()
START_THREAD = sys.argv[1:] == ["thread"]


def children():
    found = set()
    for tid in os.listdir(f"/proc/{{PARENT}}/task"):
        with open(f"/proc/{{PARENT}}/task/{{tid}}/children") as fh:
            found.update(int(p) for p in fh.read().split())
    return sorted(found)


@pipefunc(output_name="y", mapspec="x[i] -> y[i]")
def slow(x):
    seen = None
    if os.getpid() == PARENT:  # a probe: what processes does the parent have now?
        seen = children()
        if START_THREAD:  # the user's own thread, still running when the pool starts
            threading.Thread(target=time.sleep, args=(5,), name="user-thread", daemon=True).start()
    end = time.process_time() + 0.01  # 10 ms of CPU: the pool pays
    while time.process_time() < end:
        pass
    return [os.getpid(), seen]


if __name__ == "__main__":
    before = children()
    result = run_map(Pipeline([slow]), {{"x": list(range(200))}}, parallel=True, storage="dict")
    pool = _default_pool._pool
    values = result["y"].output.tolist()
    print(json.dumps({{
        "before": before,
        "probes": [seen for pid, seen in values if pid == PARENT],
        "worker_pids": sorted({{pid for pid, _ in values if pid != PARENT}}),
        "pool_workers": sorted(pool._processes) if pool is not None else None,
        "start_method": pool._mp_context.get_start_method() if pool is not None else None,
        "inline": result.summary.inline,
    }}))
    _default_pool.shutdown_default_pool()
"""


def run_fresh(tmp_path: Path, mode: str) -> dict:
    script = tmp_path / "run_pool.py"
    script.write_text(textwrap.dedent(SCRIPT.format()))
    out = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_pool_starts_after_the_probes_and_forks(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("fork is the default start method on Linux only")
    seen = run_fresh(tmp_path, "plain")
    assert seen["inline"] == {}
    assert seen["probes"], "no element ran in the parent"
    assert all(probe == seen["before"] for probe in seen["probes"]), "a worker was started before the probes ran"
    assert seen["start_method"] == "fork"
    assert seen["worker_pids"] and set(seen["worker_pids"]) <= set(seen["pool_workers"])


def test_a_thread_started_by_a_probe_rules_out_fork(tmp_path: Path) -> None:
    seen = run_fresh(tmp_path, "thread")
    assert seen["inline"] == {}
    assert seen["probes"] and all(probe == seen["before"] for probe in seen["probes"])
    assert seen["start_method"] != "fork"  # forkserver (spawn where there is none)
    assert seen["worker_pids"] and set(seen["worker_pids"]) <= set(seen["pool_workers"])

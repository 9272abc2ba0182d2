"""``run_map(parallel=True)`` inside a worker of another process pool (issue 13, item 9).

adaptive's ``Runner`` calls ``run_map`` in ``ProcessPoolExecutor`` or loky workers. Such a
worker joins its child processes when it exits, before the ``concurrent.futures`` exit hook would
stop a kept pool, so a pool pipemap kept there hung the worker, the outer pool's ``shutdown()``
and the interpreter forever (pipefunc, which starts a new pool per run, exits at once).

Each case runs a script in a subprocess (its own session, killed as a group on timeout) so that a
hang fails the test instead of the suite, and checks it exits promptly with the right result and
without leaving a process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

#: generous: the machine may be loaded; a hang never ends
TIMEOUT = 120.0

JOB = '''
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor

def job(n, keep_pool_hook_only):
    """run_map(parallel=True) of a pipefunc pipeline in a pool worker, next to pipefunc's sequential map."""
    import pipefunc
    from pipemap.runner import run_map
    from pipemap.runner.executors import _default_pool
    if keep_pool_hook_only:  # the exit finalizer alone must keep a kept pool from hanging exit
        _default_pool.in_pool_worker = lambda: False
    assert multiprocessing.parent_process() is not None

    @pipefunc.pipefunc(output_name="y", mapspec="x[i] -> y[i]")
    def double(x):
        return 2 * x

    pipeline = pipefunc.Pipeline([double])
    ours = run_map(pipeline, {"x": list(range(n))}, parallel=True, storage="dict")["y"].output
    theirs = pipeline.map({"x": list(range(n))}, parallel=False, storage="dict")["y"].output
    kept = _default_pool._pool is not None
    return list(ours), list(theirs), kept, len(multiprocessing.active_children())
'''


def _run_script(tmp_path: Path, body: str) -> tuple[str, float]:
    script = tmp_path / "outer.py"
    script.write_text(JOB + textwrap.dedent(body))
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the script hung for {TIMEOUT} s (run_map in a pool worker blocks exit)")
    assert proc.returncode == 0, err
    return out, time.monotonic() - start


STDLIB = """
if __name__ == "__main__":
    with ProcessPoolExecutor(1) as ex:
        print(ex.submit(job, 5, {hook_only}).result(), flush=True)
    print("shut down", flush=True)
"""

LOKY = """
if __name__ == "__main__":
    from loky import get_reusable_executor
    ex = get_reusable_executor(max_workers=1)
    print(ex.submit(job, 5, {hook_only}).result(), flush=True)
    ex.shutdown(wait=True)
    print("shut down", flush=True)
"""

EXPECTED = "([0, 2, 4, 6, 8], [0, 2, 4, 6, 8], False, 0)"


@pytest.mark.parametrize("outer", ["stdlib", "loky"])
def test_run_map_in_pool_worker_exits(tmp_path: Path, outer: str) -> None:
    """The worker keeps no pool (none left, no child process) and everything exits at once."""
    if outer == "loky":
        pytest.importorskip("loky")
    out, _ = _run_script(tmp_path, (STDLIB if outer == "stdlib" else LOKY).format(hook_only=False))
    assert out.splitlines() == [EXPECTED, "shut down"]


@pytest.mark.parametrize("outer", ["stdlib", "loky"])
def test_kept_pool_never_blocks_exit(tmp_path: Path, outer: str) -> None:
    """Even a pool kept in a worker (one-shot rule switched off) is stopped at the worker's exit."""
    if outer == "loky":
        pytest.importorskip("loky")
    out, _ = _run_script(tmp_path, (STDLIB if outer == "stdlib" else LOKY).format(hook_only=True))
    ours, theirs, kept, children = eval(out.splitlines()[0])  # noqa: S307 -- our own script's repr
    assert (ours, theirs, kept) == ([0, 2, 4, 6, 8], [0, 2, 4, 6, 8], True)
    assert children > 0  # the kept pool's workers were alive when the job returned
    assert out.splitlines()[1] == "shut down"


def test_main_process_still_keeps_its_pool(tmp_path: Path) -> None:
    """Outside a pool worker the pool is kept between runs (and still lets the interpreter exit)."""
    body = """
    if __name__ == "__main__":
        from pipemap.runner import Pipeline, pipefunc, run_map
        from pipemap.runner.executors import _default_pool

        @pipefunc("y", mapspec="x[i] -> y[i]")
        def double(x):
            return 2 * x

        run_map(Pipeline([double]), {"x": [1, 2]}, parallel=True)
        first = _default_pool._pool
        run_map(Pipeline([double]), {"x": [1, 2]}, parallel=True)
        print(first is not None and _default_pool._pool is first, flush=True)
    """
    out, _ = _run_script(tmp_path, body)
    assert out.splitlines() == ["True"]

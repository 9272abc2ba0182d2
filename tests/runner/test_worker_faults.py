"""Faults in parallel runs: a worker process that dies mid-chunk (``os._exit``, SIGKILL) and
Ctrl-C (SIGINT to the whole process group, as a terminal sends it). The run fails with an error
naming the function and the chunk's index range, or records those elements as failed
(``error_handling="continue"``); the pool shuts down without hanging; the run folder stays resumable."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from pipemap.runner import Pipeline, pipefunc, run_map
from pipemap.runner.executors._dispatch import WorkerDiedError

pytestmark = pytest.mark.reliability


@pipefunc("y", mapspec="x[i] -> y[i]")
def fragile(x, touch_dir, die_at, how):
    """Append one char to ``<touch_dir>/<x>.txt`` per computation; die at ``die_at`` until a flag exists."""
    flag = Path(touch_dir) / "died.flag"
    if x == die_at and (how == "always" or not flag.exists()):
        flag.touch()
        if how == "always":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(3)
    with open(Path(touch_dir) / f"{x}.txt", "a") as f:
        f.write("1")
    return 10 * x


@pipefunc("z", mapspec="y[i] -> z[i]")
def plus_one(y):
    return y + 1


def _counts(touch: Path, n: int) -> list[int]:
    return [len(p.read_text()) if (p := touch / f"{x}.txt").exists() else 0 for x in range(n)]


def test_worker_death_names_function_and_chunk_and_run_resumes(tmp_path) -> None:
    n = 40
    touch = tmp_path / "touch"
    touch.mkdir()
    inputs = {"x": list(range(n)), "touch_dir": str(touch), "die_at": 13, "how": "once"}
    p = Pipeline([fragile])
    folder = tmp_path / "run"
    with ProcessPoolExecutor(max_workers=2) as pool:
        with pytest.raises(WorkerDiedError) as info:
            run_map(p, inputs, run_folder=folder, executor=pool, chunksizes=5)
    message = str(info.value)
    assert "`fragile`" in message and "`y`" in message
    assert "[10, 15)" in message  # the chunk holding x=13
    assert "resume=True" in message
    lost = [tuple(map(int, m)) for m in re.findall(r"\[(\d+), (\d+)\)", message)]
    before = _counts(touch, n)
    r = run_map(p, inputs, run_folder=folder, resume=True, parallel=False)
    assert r["y"].output.tolist() == [10 * x for x in range(n)]
    after = _counts(touch, n)
    recomputed = [x for x in range(n) if before[x] and after[x] > before[x]]
    # only elements of the chunks that went down with the worker may run twice
    assert all(any(a <= x < b for a, b in lost) for x in recomputed), (recomputed, lost)
    assert max(after) <= 2


def test_worker_death_continue_mode_records_chunk_as_failed(tmp_path) -> None:
    """pipemap's own pool is replaced after the death; the killer chunk is isolated and recorded."""
    from pipemap.storage import ErrorSnapshot, PropagatedErrorSnapshot

    n = 30
    touch = tmp_path / "touch"
    touch.mkdir()
    inputs = {"x": list(range(n)), "touch_dir": str(touch), "die_at": 13, "how": "always"}
    r = run_map(
        Pipeline([fragile, plus_one]),
        inputs,
        run_folder=tmp_path / "run",
        parallel=True,
        chunksizes=5,
        error_handling="continue",
    )
    y = r["y"].output
    failed = [x for x in range(n) if isinstance(y[x], ErrorSnapshot)]
    assert failed == list(range(10, 15))
    assert isinstance(y[13].exception, WorkerDiedError)
    assert "[10, 15)" in str(y[13].exception)
    assert [y[x] for x in range(n) if x not in failed] == [10 * x for x in range(n) if x not in failed]
    z = r["z"].output
    assert all(isinstance(z[x], PropagatedErrorSnapshot) for x in failed)
    assert z[0] == 1 and z[29] == 291


CTRL_C_SCRIPT = """
import sys, time
from pathlib import Path
from pipemap.runner import Pipeline, pipefunc, run_map

@pipefunc("y", mapspec="x[i] -> y[i]")
def slow(x, touch_dir):
    time.sleep(0.05)
    with open(Path(touch_dir) / f"{x}.txt", "a") as f:
        f.write("1")
    return x * x

if __name__ == "__main__":
    try:
        run_map(Pipeline([slow]), {"x": list(range(200)), "touch_dir": sys.argv[2]},
                run_folder=sys.argv[1], parallel=True, chunksizes=2)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
"""


def test_ctrl_c_shuts_pool_down_and_run_resumes(tmp_path) -> None:
    psutil = pytest.importorskip("psutil")
    script = tmp_path / "ctrl_c.py"
    script.write_text(textwrap.dedent(CTRL_C_SCRIPT))
    touch = tmp_path / "touch"
    touch.mkdir()
    folder = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(folder), str(touch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(touch.iterdir())) < 10:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)  # no hang
    finally:
        if proc.poll() is None:  # the test failed: leave nothing of the script running
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, err
    assert "interrupted" in out
    time.sleep(0.5)
    leftovers = [q for q in psutil.process_iter(["pid"]) if _pgid(q.pid) == proc.pid]
    assert not leftovers, leftovers  # the pool's workers are gone too
    done_before = {p.stem for p in touch.iterdir()}
    assert 10 <= len(done_before) < 200
    r = run_map(
        Pipeline([fragile_free]), {"x": list(range(200)), "touch_dir": str(touch)},
        run_folder=folder, resume=True, parallel=False,
    )
    assert r["y"].output.tolist() == [x * x for x in range(200)]
    counts = _counts(touch, 200)
    assert min(counts) == 1 and max(counts) <= 2
    assert counts.count(2) <= 10  # only chunks in flight at Ctrl-C may be recomputed


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


@pipefunc("y", mapspec="x[i] -> y[i]")
def fragile_free(x, touch_dir):
    with open(Path(touch_dir) / f"{x}.txt", "a") as f:
        f.write("1")
    return x * x


def test_worker_death_continue_mode_with_users_pool(tmp_path) -> None:
    """A user's pool cannot be replaced: every chunk it lost (and any later one) is recorded as
    failed, the run still completes, and a resume with a fresh pool fills in only those."""
    from pipemap.storage import ErrorSnapshot

    n = 30
    touch = tmp_path / "touch"
    touch.mkdir()
    inputs = {"x": list(range(n)), "touch_dir": str(touch), "die_at": 13, "how": "once"}
    p = Pipeline([fragile])
    with ProcessPoolExecutor(max_workers=2) as pool:
        r = run_map(p, inputs, run_folder=tmp_path / "run", executor=pool, chunksizes=5, error_handling="continue")
    y = r["y"].output
    failed = [x for x in range(n) if isinstance(y[x], ErrorSnapshot)]
    assert set(range(10, 15)) <= set(failed)
    assert all(isinstance(y[x].exception, WorkerDiedError) for x in failed)
    assert [y[x] for x in range(n) if x not in failed] == [10 * x for x in range(n) if x not in failed]
    with ProcessPoolExecutor(max_workers=2) as pool:
        again = run_map(
            p, inputs, run_folder=tmp_path / "run", executor=pool, resume=True, error_handling="continue",
            retry_failed=True,  # issue 15: a plain resume keeps failed elements (as pipefunc)
        )
    assert again["y"].output.tolist() == [10 * x for x in range(n)]  # the flag exists now: no death
    counts = _counts(touch, n)
    assert all(counts[x] == 1 for x in range(n) if x not in failed)  # finished elements not recomputed

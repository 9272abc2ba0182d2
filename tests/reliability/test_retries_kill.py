"""Issue 15, must hold: SIGKILL (the whole process group: the run and its workers) while an
element is being retried leaves a resumable run folder; a resumed run loses no finished element
and recomputes none of them (sequential and the default process pool)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pipemap.storage import RunRecord, open_store

pytestmark = pytest.mark.reliability

N = 12
SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from pipemap.runner import PipeFunc, Pipeline, RetryPolicy, run_map

    def work(x, d):
        path = Path(d) / f"{x}.txt"
        with open(path, "a") as fh:
            fh.write("1")
        attempt = len(path.read_text())
        if x == 5 and (Path(d) / "hang").exists():
            if attempt == 1:
                raise OSError("flaky")
            (Path(d) / "retrying").touch()  # the second attempt: the test kills us now
            time.sleep(60)
        time.sleep(0.3)  # each element is stored on its own before the next one starts
        return 10 * x

    if __name__ == "__main__":
        folder, d, parallel, resume = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
        p = Pipeline([PipeFunc(work, "y", mapspec="x[i] -> y[i]", retries=RetryPolicy(3, on=("OSError",)))])
        r = run_map(p, {"x": list(range(%d)), "d": d}, folder, parallel=parallel, chunksizes=1, resume=resume)
        print(r["y"].output.tolist())
    """
    % N
)


def _load_session_alive() -> Callable[[int], bool]:
    """``session_alive`` of ``tools/reliability/kill_loss.py`` (one copy of the /proc scan)."""
    path = Path(__file__).resolve().parents[2] / "tools" / "reliability" / "kill_loss.py"
    spec = importlib.util.spec_from_file_location("_kill_loss", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.session_alive  # type: ignore[no-any-return]


_session_alive = _load_session_alive()


def _counts(d: Path) -> list[int]:
    return [len(p.read_text()) if (p := d / f"{x}.txt").exists() else 0 for x in range(N)]


@pytest.mark.parametrize("parallel", [False, True])
def test_sigkill_during_a_retry_leaves_a_resumable_folder(tmp_path, parallel) -> None:
    script = tmp_path / "victim.py"
    script.write_text(SCRIPT)
    folder, d = tmp_path / "run", tmp_path / "counts"
    d.mkdir()
    (d / "hang").touch()
    args = [sys.executable, str(script), str(folder), str(d), "1" if parallel else "0"]
    proc = subprocess.Popen([*args, "0"], start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (d / "retrying").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the retry never started"
            time.sleep(0.02)
        time.sleep(1.0)  # the other worker finishes and stores a few more elements
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 30
        while _session_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
    done = open_store(RunRecord.load(folder), "y", read_only=True).done_mask()
    assert not done[5]  # the element being retried was not stored
    assert done.any()  # finished work was stored before the kill
    before = _counts(d)
    (d / "hang").unlink()
    out = subprocess.run([*args, "1"], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == str([10 * x for x in range(N)])
    after = _counts(d)
    for x in range(N):
        if done[x]:
            assert after[x] == before[x], f"finished element {x} was recomputed"
        else:
            assert after[x] == before[x] + 1, f"element {x}: {before[x]} -> {after[x]}"

"""kill -9 of a ragged run (producer or element-wise consumer half done), then resume: the rows and
elements stored before the kill are neither lost nor computed again, the rest is computed once
more at most, and the finished run equals plain Python."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pipemap.storage import RunRecord, open_store, read_ragged_lengths

pytestmark = pytest.mark.reliability

VICTIM = Path(__file__).parent / "_ragged_victim.py"
N_ROWS = 40


def row_of(i: int) -> list[int]:
    return [i * 1000 + x for x in range((i * 7) % 23)]


FLAT = [v for i in range(N_ROWS) for v in row_of(i)]


def _counts(log: Path) -> Counter:
    try:
        return Counter(log.read_text().splitlines())
    except FileNotFoundError:
        return Counter()


def _run(folder: Path, log: Path, storage: str, parallel: bool, resume: bool) -> subprocess.Popen:
    args = [sys.executable, str(VICTIM), str(folder), str(log), storage, str(int(parallel)), str(int(resume))]
    return subprocess.Popen(args, start_new_session=True)


def _reliability_conftest() -> Any:
    """tests/reliability/conftest.py, loaded by path: the name ``conftest`` may be another
    folder's conftest in a whole-suite run."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_reliability_conftest", Path(__file__).with_name("conftest.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _kill_session(victim: subprocess.Popen) -> None:
    """SIGKILL the victim's whole session (the run and its pool's workers), wait until none runs."""
    session_pids = _reliability_conftest().session_pids

    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    deadline = time.monotonic() + 30
    while alive := session_pids(victim.pid):
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert time.monotonic() < deadline, f"processes of the killed run still alive: {alive}"
        time.sleep(0.01)


def _stored(folder: Path) -> tuple[list[int], list[int]]:
    """Rows and flat elements the storages report as stored (read-only)."""
    if not (folder / "run_info.json").exists():
        return [], []
    record = RunRecord.load(folder)
    rows = np.flatnonzero(open_store(record, "rows", read_only=True).done_mask()).tolist()
    try:
        return rows, np.flatnonzero(open_store(record, "out", read_only=True).done_mask()).tolist()
    except ValueError:  # the flat size ('?') is unknown until every row is stored
        return rows, []


@pytest.mark.parametrize("storage", ["file_array", "chunked"])
@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("phase", ["producer", "consumer"])
def test_kill_then_resume(storage, parallel, phase, tmp_path) -> None:
    rng = random.Random(f"{storage}{parallel}{phase}")
    folder, log = tmp_path / "run", tmp_path / "calls.log"
    victim = _run(folder, log, storage, parallel, resume=False)
    prefix = "P " if phase == "producer" else "C "
    target = rng.randint(3, 25) if phase == "producer" else rng.randint(20, len(FLAT) // 2)
    deadline = time.monotonic() + 120
    while sum(n for k, n in _counts(log).items() if k.startswith(prefix)) < target:
        assert victim.poll() is None, "the run finished before the kill"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    _kill_session(victim)
    rows, elements = _stored(folder)
    before = _counts(log)
    resumed = _run(folder, log, storage, parallel=False, resume=True)
    assert resumed.wait(timeout=300) == 0
    after = _counts(log)
    for i in rows:
        assert after[f"P {i}"] == before[f"P {i}"], f"row {i} was stored before the kill and computed again"
    for k in elements:
        key = f"C {FLAT[k]}"
        assert after[key] == before[key], f"element {k} was stored before the kill and computed again"
    assert all(after[f"P {i}"] >= 1 for i in range(N_ROWS))
    assert all(after[f"C {v}"] >= 1 for v in FLAT)
    record = RunRecord.load(folder)
    out = open_store(record, "out", read_only=True)
    assert out.get_many(np.arange(len(FLAT))) == [2 * v for v in FLAT]
    assert read_ragged_lengths(folder, "rows").tolist() == [len(row_of(i)) for i in range(N_ROWS)]
    if phase == "consumer":
        assert rows == list(range(N_ROWS)), "every row was stored before the consumer started"

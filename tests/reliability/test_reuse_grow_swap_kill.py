"""The folder swap of an in-place grow (``pipemap.storage._grow_swap``) survives a crash at every step.

The victim grows a finished ``file_array`` run in place so that the swap has every kind of step:
rows 0 and 1 trade places (renames through temporary names), one old row is dropped (deletes),
one moves up (a plain rename) and new rows are added. The victim process counts every deleting
or renaming call and every directory fsync of the swap and dies (``os._exit``, no clean-up, like
a SIGKILL) before the k-th one, for every k until the grow finishes; a second test SIGKILLs
victims whose swap steps are slowed down at random moments.

Invariant after every crash: the folder holds the new run's record and every stored value is right
for the new inputs (never an old value at an index whose key does not match). Then the grow is
repeated (or resumed): the result is complete and right, and the elements of old rows that keep
their index are never computed again.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pipemap.storage import grow_copies, open_run_folder

import _reuse_grow_victim as victim

pytestmark = pytest.mark.reliability

HERE = Path(__file__).parent
OLD_X = list(range(8))
NEW_X = [1, 0, 2, 3, 4, 5, 7, 8, 9]  # 6 dropped, 7 moves up, 8 and 9 new
KEPT = {2.0, 3.0, 4.0, 5.0}  # rows that keep their index: never computed again

VICTIM = """
import os, sys, time, types
sys.path.insert(0, {here!r})
import numpy as np
import _reuse_grow_victim as v
from pipemap.storage import _grow_swap as g
mode, limit = {mode!r}, {limit}
count = [0]
def step():
    if mode == "exit" and count[0] >= limit:
        os._exit(137)
    count[0] += 1
    if mode == "slow":
        time.sleep(0.004)
def wrap(fn):
    def wrapped(*args, **kwargs):
        step()
        return fn(*args, **kwargs)
    return wrapped
proxy = types.ModuleType("os")
proxy.__dict__.update(os.__dict__)
for name in ("rename", "replace", "unlink", "rmdir"):
    setattr(proxy, name, wrap(getattr(os, name)))
g.os = proxy
g._fsync_dir = wrap(g._fsync_dir)
print("started", flush=True)
inputs = {{"x": np.array({new_x!r}, dtype=float), "y": np.arange(v.N_Y, dtype=float)}}
v.run_map(v.pipeline(), inputs, run_folder={folder!r}, reuse_from={folder!r}, storage="file_array", parallel=False)
print("steps", count[0], flush=True)
"""


def inputs(x: list[int]) -> dict:
    return {"x": np.asarray(x, dtype=float), "y": np.arange(victim.N_Y, dtype=float)}


def counts(path: Path) -> Counter:
    return Counter(path.read_text().splitlines()) if path.exists() else Counter()


@pytest.fixture
def base(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("PIPEMAP_GROW_COUNTS", str(log))
    folder = tmp_path / "base"
    victim.run_map(victim.pipeline(), inputs(OLD_X), run_folder=folder, storage="file_array", parallel=False)
    return folder, log


def start(folder: Path, mode: str, limit: int) -> subprocess.Popen:
    code = VICTIM.format(here=str(HERE), mode=mode, limit=limit, new_x=NEW_X, folder=str(folder))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True, env=os.environ.copy())


def assert_stored_values_right(folder: Path) -> None:
    assert (folder / "run_info.json").exists(), sorted(os.listdir(folder))
    record, stores = open_run_folder(folder, read_only=True)
    x, y = np.asarray(record.inputs["x"]), np.asarray(record.inputs["y"])
    z = stores["z"]
    done = np.asarray(z.done_mask()).reshape(len(x), len(y))
    values = z.to_array()
    for i, j in zip(*np.nonzero(done)):
        assert float(values[i, j]) == x[i] * y[j], f"z[{i}, {j}] = {values[i, j]} is wrong for x={x[i]}, y={y[j]}"
    row = stores["row"]
    row_done = np.asarray(row.done_mask())
    row_values = row.to_array()
    for i in np.flatnonzero(row_done):
        assert float(row_values[i]) == x[i] * y.sum(), f"row[{i}] = {row_values[i]} is wrong for x={x[i]}"


def finish_and_check(folder: Path, log: Path, resume: bool) -> None:
    kwargs = {"resume": True} if resume else {"reuse_from": folder}
    r = victim.run_map(victim.pipeline(), inputs(NEW_X), run_folder=folder, storage="file_array", parallel=False, **kwargs)
    expected = np.outer(np.asarray(NEW_X, dtype=float), np.arange(victim.N_Y, dtype=float))
    np.testing.assert_array_equal(np.asarray(r["z"].output, dtype=float), expected)
    np.testing.assert_array_equal(np.asarray(r["row"].output, dtype=float), expected.sum(1))
    assert not grow_copies(folder)
    z_files = [n for n in os.listdir(folder / "outputs" / "z") if n != "shape.json"]
    assert len(z_files) == expected.size, sorted(z_files)  # no dropped, stale or temporary file left
    again = {k: n for k, n in counts(log).items() if float(k.split()[0]) in KEPT and n > 1}
    assert not again, f"elements of rows that keep their index were computed again: {again}"


def test_a_crash_before_every_step_of_the_swap(tmp_path, base):
    folder0, log = base
    base_calls = log.read_text()
    finished = False
    limit = 0
    for limit in range(200):
        folder = tmp_path / f"step-{limit}"
        shutil.copytree(folder0, folder)
        log.write_text(base_calls)
        proc = start(folder, "exit", limit)
        out, _ = proc.communicate(timeout=120)
        if proc.returncode == 0:
            finished = True
            assert "steps" in out
            finish_and_check(folder, log, resume=False)  # (nothing to do but delete nothing)
            break
        assert proc.returncode == 137, out
        assert_stored_values_right(folder)
        finish_and_check(folder, log, resume=limit % 2 == 1)
        shutil.rmtree(folder)
    assert finished
    assert limit > 20  # (deletes, renames and fsyncs of both outputs: each interrupted once)


def test_sigkill_while_the_swap_is_slowed(tmp_path, base):
    folder0, log = base
    base_calls = log.read_text()
    rng = random.Random(20261206)
    for trial in range(5):
        folder = tmp_path / f"kill-{trial}"
        shutil.copytree(folder0, folder)
        log.write_text(base_calls)
        proc = start(folder, "slow", 0)
        try:
            assert proc.stdout is not None
            proc.stdout.readline()  # imported and about to run
            time.sleep(rng.uniform(0.0, 0.8))
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
        if (folder / "run_info.json").exists():
            assert_stored_values_right(folder)
        finish_and_check(folder, log, resume=False)

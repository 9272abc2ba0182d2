"""Growing a run folder in place (``run_folder`` also in ``reuse_from``) survives a SIGKILL at any moment.

Invariant after every kill: the folder holds either the old complete run, or a new run whose
stored values are all right for its inputs (never a mix that loads wrong values), or, when the
kill came between moving the old run aside and writing the new record, no record at all with
the complete old run kept aside (the next run on the folder puts it back). Repeating the grow
call then finishes the new run, computing none of the old elements again.

Kills at random moments hit the short windows of the swap rarely, so every step of the swap is
also interrupted deterministically (an ``os.rename`` that raises after k renames).
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
from pipemap.storage import begin_grow, grow_copies, open_run_folder, repair_grow

import _reuse_grow_victim as victim

pytestmark = pytest.mark.reliability

HERE = Path(__file__).parent
N_OLD, N_NEW = 12, 30
STORAGES = ["file_array", "chunked", "zarr_file_array"]


def counts(path: Path) -> Counter:
    return Counter(path.read_text().splitlines()) if path.exists() else Counter()


def check_folder(folder: Path) -> str:
    """The invariant; returns the state seen ("old", "new" or "aside")."""
    if not (folder / "run_info.json").exists():  # readers refuse it (no record): nothing wrong is served
        copies = grow_copies(folder)
        moving = [p for p in folder.iterdir() if p.name.startswith(".pipemap.grow-moving-")]
        assert copies or moving, f"{folder} has neither a record nor an old run kept aside: {sorted(os.listdir(folder))}"
        if copies and not moving:
            assert_values(copies[-1], complete=True)
        return "aside"
    n = assert_values(folder, complete=False)
    if n == N_OLD:
        assert_values(folder, complete=True)
        return "old"
    return "new"


def assert_values(folder: Path, *, complete: bool) -> int:
    record, stores = open_run_folder(folder, read_only=True)
    x, y = record.inputs["x"], record.inputs["y"]
    z = stores["z"]
    done = np.asarray(z.done_mask()).reshape(len(x), len(y))
    if complete:
        assert done.all(), f"{folder}: the old run is incomplete"
    values = z.to_array()
    for i, j in zip(*np.nonzero(done)):
        assert float(values[i, j]) == x[i] * y[j], f"{folder}: z[{i}, {j}] = {values[i, j]} is wrong for x={x[i]}, y={y[j]}"
    return len(x)


def finish_and_check(folder: Path, log: Path, storage: str, state: str) -> None:
    kwargs = {"resume": True} if state == "new" and random.random() < 0.5 else {}
    if kwargs:  # a vouched new run: resume=True continues it (the old copy is still a source)
        r = victim.run_map(victim.pipeline(), victim.inputs(N_NEW), run_folder=folder, storage=storage, parallel=False, resume=True)
    else:
        r = victim.grow(str(folder), N_NEW, storage)
    expected = np.outer(np.arange(N_NEW, dtype=float), np.arange(victim.N_Y, dtype=float))
    np.testing.assert_array_equal(np.asarray(r["z"].output, dtype=float), expected)
    np.testing.assert_array_equal(np.asarray(r["row"].output, dtype=float), expected.sum(1))
    assert not grow_copies(folder)
    calls = counts(log)
    again = {k: v for k, v in calls.items() if float(k.split()[0]) < N_OLD and v > 1}  # (the log starts with the base run's calls)
    assert not again, f"old elements computed again: {again}"
    assert set(calls) == {f"{float(i)} {float(j)}" for i in range(N_NEW) for j in range(victim.N_Y)}


@pytest.fixture
def grown_once(tmp_path, monkeypatch):
    """A finished run of N_OLD rows per storage, and the call log."""
    log = tmp_path / "calls.log"
    monkeypatch.setenv("PIPEMAP_GROW_COUNTS", str(log))
    made = {}
    for storage in STORAGES:
        folder = tmp_path / f"base-{storage}"
        log.write_text("")
        victim.grow(str(folder), N_OLD, storage)  # (a first grow of a new folder is a plain run)
        made[storage] = folder
    return made, log


@pytest.mark.parametrize("storage", STORAGES)
def test_sigkill_during_an_in_place_grow_then_grow_again(tmp_path, grown_once, storage):
    bases, log = grown_once
    rng = random.Random(1234 + STORAGES.index(storage))
    seen = Counter()
    base_calls = log.read_text()
    for trial in range(6):
        folder = tmp_path / f"{storage}-{trial}"
        shutil.copytree(bases[storage], folder)
        log.write_text(base_calls)  # (one line per old element: the base run)
        code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import _reuse_grow_victim as v; v.main({str(folder)!r}, {N_NEW}, {storage!r})"
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True, env=os.environ.copy())
        try:
            assert proc.stdout is not None
            proc.stdout.readline()  # imported and about to run
            time.sleep(rng.choice([0.0, 0.01, 0.03]) if trial % 3 == 0 else rng.uniform(0.0, 0.5))
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
        state = check_folder(folder)
        seen[state] += 1
        finish_and_check(folder, log, storage, state)
    assert sum(seen.values()) == 6
    print(f"\n{storage}: states seen after the kills: {dict(seen)}")


def test_every_step_of_the_swap_interrupted(tmp_path, grown_once, monkeypatch):
    """A crash after each rename of begin_grow, and after each rename of the repair itself."""
    bases, log = grown_once
    base_calls = log.read_text()
    real_rename = os.rename
    for limit in range(12):
        folder = tmp_path / f"step-{limit}"
        shutil.copytree(bases["file_array"], folder)
        log.write_text(base_calls)
        done = [0]

        def failing_rename(src, dst, _limit=limit, _done=done):
            if _done[0] >= _limit:
                raise KeyboardInterrupt("simulated crash")
            _done[0] += 1
            return real_rename(src, dst)

        monkeypatch.setattr(os, "rename", failing_rename)
        try:
            begin_grow(folder)
            finished = True
        except KeyboardInterrupt:
            finished = False
        monkeypatch.setattr(os, "rename", real_rename)
        assert check_folder(folder) in ("old", "aside")
        if finished:
            break
        # the repair itself interrupted once, then repeated
        monkeypatch.setattr(os, "rename", failing_rename)
        done[0] = max(0, limit - 1)
        try:
            repair_grow(folder)
        except KeyboardInterrupt:
            pass
        monkeypatch.setattr(os, "rename", real_rename)
        repair_grow(folder)
        assert check_folder(folder) == "old"
        finish_and_check(folder, log, "file_array", "old")
    assert limit > 3  # (begin_grow took several renames, each interrupted once)

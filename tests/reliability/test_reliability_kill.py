"""kill -9 of the whole run at random moments, then resume: nothing lost, nothing computed twice.

Each victim is a forked child (new session) of a pre-imported zygote subprocess; the test
SIGKILLs the victim's whole session (the run, its process pool, its forkserver) after a random
delay, reads what the storage reports as stored *before* resuming, and checks on every later
observation that those elements are still stored and were never computed again (each call
appends its index to a per-output log with ``O_APPEND``). After a run completes, results (the
returned ``ResultDict`` and the stores on disk) must equal the plain-Python evaluation.
"""

from __future__ import annotations

import pickle
import random
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from pipemap.storage import open_run_folder

pytestmark = pytest.mark.reliability

N = 150
N_K = 3
MAPPED = ("y", "z", "w")
BACKENDS = ["file_array", "chunked", "zarr_file_array"]
#: kills per (backend, mode) in the default run: 12 + 5 + 4 = 21 per backend
KILLS = {"sequential": 12, "pool": 5, "dask": 4}
SLOW_KILLS = 30
TOTAL = N + N + N * N_K
STATS = {"kills": 0, "kills_with_partial_store": 0, "completed_runs": 0, "lost": 0}


def _expected(n: int) -> dict:
    y = [x * x + 1 for x in range(n)]
    z = [(y[x] * 7) % 1000 + x for x in range(n)]
    w = [[z[i] * 10 + k for k in range(N_K)] for i in range(n)]
    return {"y": y, "z": z, "w": w, "s": sum(sum(r) for r in w)}


def _flat(name: str, values: list) -> list:
    return [v for row in values for v in row] if name == "w" else list(values)


class Ledger:
    """What storage reported as stored at each kill, and how often each element had been computed."""

    def __init__(self, folder: Path, counts: Path, call_counts) -> None:
        self.folder = folder
        self.counts = counts
        self.call_counts = call_counts
        self.frozen: dict[str, dict[int, int]] = {name: {} for name in MAPPED}

    def observe(self) -> int:
        """Check the invariants against the store on disk now; freeze newly stored elements."""
        if not (self.folder / "run_info.json").exists():
            assert not any(self.frozen.values()), "run_info.json disappeared after elements were stored"
            return 0
        _, stores = open_run_folder(self.folder)
        n_stored = 0
        for name in MAPPED:
            done = np.asarray(stores[name].done_mask(), dtype=bool)
            counts = self.call_counts(self.counts, name)
            frozen = self.frozen[name]
            lost = [i for i in frozen if not done[i]]
            STATS["lost"] += len(lost)
            assert not lost, f"{name}: elements {lost[:10]} were stored before a kill and are gone now"
            again = {i: (frozen[i], counts[i]) for i in frozen if counts[i] != frozen[i]}
            assert not again, f"{name}: stored elements computed again after resume (index: (then, now)): {again}"
            for i in np.flatnonzero(done):
                i = int(i)
                assert counts[i] >= 1, f"{name}[{i}] is stored but was never computed"
                frozen.setdefault(i, counts[i])
            n_stored += int(done.sum())
        return n_stored

    def check_complete(self, result_file: Path, n: int) -> None:
        exp = _expected(n)
        with result_file.open("rb") as fh:
            returned = pickle.load(fh)
        for name in ("y", "z", "w", "s"):
            assert returned[name] == exp[name], f"returned {name} differs from an uninterrupted run"
        _, stores = open_run_folder(self.folder)
        for name in MAPPED:
            size = len(_flat(name, exp[name]))
            assert stores[name].get_many(range(size)) == _flat(name, exp[name]), f"stored {name} differs"
        assert stores["s"].load() == exp["s"]


def _run_once(tmp_path: Path, zygote, storage: str, mode: str, folder: Path, counts: Path, tag: str, dask_processes: bool) -> tuple[int, int, Path]:
    """Start a victim; returns (pid, 0, marker path) once it is about to call run_map."""
    marker = tmp_path / f"marker-{tag}"
    pid = zygote.start(
        mode=mode, storage=storage, run_folder=str(folder), counts=str(counts), n=N,
        marker=str(marker), result=str(tmp_path / f"result-{folder.name}.pkl"), log=str(tmp_path / "victim.log"),
        dask_processes=dask_processes, preload=["pipemap.storage._zarr"] if storage.startswith("zarr") else [],
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    return pid, 0, marker


def _log_tail(tmp_path: Path) -> str:
    log = tmp_path / "victim.log"
    return log.read_text()[-3000:] if log.exists() else ""


def _kill_cycles(tmp_path: Path, zygote, call_counts, storage: str, mode: str, kills: int, dask_processes: bool = False) -> None:
    rng = random.Random(f"{storage}-{mode}-{kills}")
    # an uninterrupted run first: the reference results and the time a whole run takes
    ref, ref_counts = tmp_path / "reference", tmp_path / "counts-ref"
    ref_counts.mkdir()
    pid, _, marker = _run_once(tmp_path, zygote, storage, mode, ref, ref_counts, "ref", dask_processes)
    assert zygote.wait(pid) == 0, _log_tail(tmp_path)
    result = tmp_path / f"result-{ref.name}.pkl"
    duration = max(result.stat().st_mtime - marker.stat().st_mtime, 0.01)
    Ledger(ref, ref_counts, call_counts).check_complete(result, N)
    for name in MAPPED:  # an uninterrupted run computes every element exactly once
        assert set(call_counts(ref_counts, name).values()) == {1}
    done_kills = cycle = attempts = 0
    while done_kills < kills:
        cycle += 1
        folder, counts = tmp_path / f"run{cycle}", tmp_path / f"counts{cycle}"
        counts.mkdir()
        ledger = Ledger(folder, counts, call_counts)
        status = None
        while done_kills < kills:
            attempts += 1
            assert attempts < kills * 6, "the victim keeps finishing before the kill"
            pid, _, _ = _run_once(tmp_path, zygote, storage, mode, folder, counts, str(attempts), dask_processes)
            time.sleep(rng.uniform(0.0, 0.6 * duration))
            zygote.kill_session(pid)
            status = zygote.wait(pid)
            if status == 0:  # finished before the kill
                break
            assert status == -9, f"the victim failed on its own (status {status}):\n{_log_tail(tmp_path)}"
            done_kills += 1
            STATS["kills"] += 1
            stored = ledger.observe()
            STATS["kills_with_partial_store"] += 0 < stored < TOTAL
        if status != 0:  # finish the cycle with an uninterrupted resume
            pid, _, _ = _run_once(tmp_path, zygote, storage, mode, folder, counts, f"final{cycle}", dask_processes)
            status = zygote.wait(pid)
            assert status == 0, _log_tail(tmp_path)
        ledger.observe()
        ledger.check_complete(tmp_path / f"result-{folder.name}.pkl", N)
        STATS["completed_runs"] += 1
        shutil.rmtree(folder, ignore_errors=True)


def _extras(storage: str, mode: str) -> list[str]:
    extras = []
    if storage.startswith("zarr"):
        extras.append("zarr")
    if mode == "dask":
        extras.append("dask")
    return extras


@pytest.mark.parametrize("mode", ["sequential", "pool", "dask"])
@pytest.mark.parametrize("storage", BACKENDS)
def test_kill9_and_resume(tmp_path: Path, zygote_factory, call_counts, storage: str, mode: str) -> None:
    if mode == "dask":
        pytest.importorskip("distributed")
    zygote = zygote_factory(_extras(storage, mode))
    _kill_cycles(tmp_path, zygote, call_counts, storage, mode, KILLS[mode])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sequential", "pool", "dask-processes"])
@pytest.mark.parametrize("storage", BACKENDS)
def test_kill9_and_resume_long(tmp_path: Path, zygote_factory, call_counts, storage: str, mode: str) -> None:
    dask_processes = mode == "dask-processes"
    mode = "dask" if dask_processes else mode
    if mode == "dask":
        pytest.importorskip("distributed")
    zygote = zygote_factory(_extras(storage, mode))
    _kill_cycles(tmp_path, zygote, call_counts, storage, mode, SLOW_KILLS, dask_processes)


def test_kill_statistics_report() -> None:
    """Runs last in this file: prints the figures (kills survived, elements lost)."""
    print(f"\nreliability kill figures: {STATS}")
    assert STATS["lost"] == 0

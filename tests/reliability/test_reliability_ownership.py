"""Kills that used to lose finished work or serve wrong data (issue: reliability, second pass).

* Finished elements are stored as they finish: a kill loses at most the elements in flight
  (each call logs ``done <x>`` just before it returns; at most one such element per worker may
  still be on its way to storage when the kill lands).
* A fresh run killed while it replaces an old run never lets ``resume=True`` serve the old run's
  values; outputs that no ``run_info.json`` vouches for are refused.
* When only a run's process dies, its pool's workers never write into the run that takes the
  folder over: pipemap's own workers exit within a second, and any other worker's write is
  refused because the run no longer owns the folder.

Victims run ``_ownership_victim.py`` in a new session; every process of that session is killed
and reaped at teardown, whatever the outcome.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pipemap.io import load_outputs
from pipemap.runner import PipeFunc, Pipeline, run_map
from pipemap.storage import RunFolderError, open_run_folder

pytestmark = pytest.mark.reliability

VICTIM = Path(__file__).with_name("_ownership_victim.py")


def _session_pids(sid: int) -> list[int]:
    """Live (non-zombie) processes whose session id is ``sid``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] not in {"Z", "X"}:
            out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return fields[0] not in {"Z", "X"}


class Victim:
    """A victim run in a new session; :meth:`reap` kills whatever is left of that session."""

    def __init__(self, **params: object) -> None:
        self.params = params
        self.proc = subprocess.Popen([sys.executable, str(VICTIM), json.dumps(params)], start_new_session=True)
        self.sid = self.proc.pid

    def lines(self, kind: str) -> list[int]:
        try:
            text = Path(str(self.params["log"])).read_text()
        except FileNotFoundError:
            return []
        return [int(line.split()[1]) for line in text.splitlines() if line.startswith(kind + " ")]

    def wait_for(self, kind: str, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.lines(kind)) < count:
            assert self.proc.poll() is None, f"victim exited early with {self.proc.returncode}"
            assert time.monotonic() < deadline, f"victim logged fewer than {count} '{kind}' lines"
            time.sleep(0.01)

    def kill_session(self) -> None:
        try:
            os.killpg(self.sid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.reap()

    def reap(self) -> None:
        deadline = time.monotonic() + 30
        while pids := _session_pids(self.sid):
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            assert time.monotonic() < deadline, f"processes {pids} survive SIGKILL"
            time.sleep(0.01)
        self.proc.wait()


@pytest.fixture
def victims():
    """``start(**params)`` -> a :class:`Victim`; all are killed and reaped at teardown."""
    started: list[Victim] = []

    def start(**params: object) -> Victim:
        v = Victim(**params)
        started.append(v)
        return v

    yield start
    for v in started:
        v.kill_session()


def _stored(folder: Path) -> set[int]:
    _, stores = open_run_folder(folder)
    return {int(i) for i in np.flatnonzero(np.asarray(stores["y"].done_mask(), dtype=bool))}


def _times(factor: int):
    def f(x: int) -> int:
        return x * factor

    return Pipeline([PipeFunc(f, "y", mapspec="x[i] -> y[i]")])


# --------------------------------------------------------------------------- finished work
@pytest.mark.parametrize(
    ("storage", "mode"),
    [
        ("file_array", "sequential"),
        ("chunked", "sequential"),
        ("zarr_file_array", "sequential"),
        ("file_array", "pool"),
        ("chunked", "pool"),
    ],
)
def test_a_kill_loses_at_most_the_elements_in_flight(tmp_path: Path, victims, storage: str, mode: str) -> None:
    """200 elements of 0.25 s, the whole session killed after some finished: every finished
    element but those still on their way to storage (one per worker) is stored."""
    if storage.startswith("zarr"):
        pytest.importorskip("zarr")
    folder, log = tmp_path / "run", tmp_path / "calls.log"
    v = victims(folder=str(folder), log=str(log), n=200, seconds=0.25, factor=3, storage=storage, mode=mode)
    v.wait_for("done", 6)
    time.sleep(random.uniform(0.0, 0.25))
    v.kill_session()
    finished = set(v.lines("done"))
    lost = finished - _stored(folder)
    workers = 1 if mode == "sequential" else os.cpu_count() or 1
    assert len(lost) <= workers, f"{len(lost)} of {len(finished)} finished elements lost: {sorted(lost)}"
    result = run_map(_times(3), {"x": list(range(200))}, run_folder=folder, storage=storage, resume=True,
                     parallel=False, show_progress=False)  # fmt: skip
    assert list(result["y"].output) == [3 * x for x in range(200)]


# --------------------------------------------------------------------------- replacing a run
def test_resume_refuses_outputs_no_run_record_vouches_for(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    run_map(_times(1), {"x": list(range(20))}, run_folder=folder, parallel=False, show_progress=False)
    (folder / "run_info.json").unlink()  # e.g. a fresh run killed by an older pipemap while wiping
    with pytest.raises(ValueError, match=r"no `run_info.json`.*refusing to resume"):
        run_map(_times(1000), {"x": list(range(20))}, run_folder=folder, resume=True, parallel=False, show_progress=False)
    result = run_map(_times(1000), {"x": list(range(20))}, run_folder=folder, resume=False, parallel=False,
                     show_progress=False)  # fmt: skip
    assert list(result["y"].output) == [1000 * x for x in range(20)]


@pytest.mark.parametrize("storage", ["file_array", "chunked"])
def test_an_interrupted_replacement_is_finished_not_served(tmp_path: Path, storage: str) -> None:
    """The state a kill leaves inside the clearing (marker present, the record already moved
    to the trash, outputs not yet): readers refuse it; the next run replaces it."""
    folder = tmp_path / "run"
    run_map(_times(1), {"x": list(range(20))}, run_folder=folder, storage=storage, parallel=False, show_progress=False)
    trash = folder / ".pipemap.trash-interrupted"
    trash.mkdir()
    (folder / ".pipemap.clearing").touch()
    (folder / "run_info.json").rename(trash / "run_info.json")
    with pytest.raises(RunFolderError, match="interrupted"):
        load_outputs("y", run_folder=folder)
    result = run_map(_times(1000), {"x": list(range(20))}, run_folder=folder, storage=storage, resume=True,
                     parallel=False, show_progress=False)  # fmt: skip
    assert list(result["y"].output) == [1000 * x for x in range(20)]
    assert list(load_outputs("y", run_folder=folder)) == [1000 * x for x in range(20)]
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".pipemap")) == []


def test_kills_during_a_fresh_run_never_serve_the_old_run(tmp_path: Path, victims) -> None:
    """A fresh run (other inputs) over a 3000-element folder, killed at random moments (many
    inside its replacement of the old run); ``resume=True`` must then return only new values."""
    folder = tmp_path / "run"
    n = 3000
    rng = random.Random(7)
    for attempt in range(4):
        run_map(_times(1), {"x": list(range(n))}, run_folder=folder, parallel=False, show_progress=False)
        log = tmp_path / f"calls{attempt}.log"
        v = victims(folder=str(folder), log=str(log), n=n, seconds=0, factor=1000, storage="file_array",
                    mode="sequential", resume=False)  # fmt: skip
        while not (folder / ".pipemap.lock").exists() or json.loads((folder / ".pipemap.lock").read_text() or "{}").get(
            "pid"
        ) != v.proc.pid:
            assert v.proc.poll() is None
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.05))
        v.kill_session()
        result = run_map(_times(1000), {"x": list(range(n))}, run_folder=folder, resume=True, parallel=False,
                         show_progress=False)  # fmt: skip
        assert list(result["y"].output) == [1000 * x for x in range(n)], f"attempt {attempt}: old values served"


# --------------------------------------------------------------------------- parent-only kills
def _worker_pids(v: Victim) -> list[int]:
    return [pid for pid in _session_pids(v.sid) if pid != v.proc.pid]


@pytest.mark.parametrize("storage", ["file_array", "chunked"])
def test_default_pool_workers_exit_when_their_parent_dies(tmp_path: Path, victims, storage: str) -> None:
    folder, log = tmp_path / "run", tmp_path / "calls.log"
    v = victims(folder=str(folder), log=str(log), n=8, seconds=1.0, factor=1, storage=storage, mode="pool", chunksize=1)
    v.wait_for("start", 2)
    workers = _worker_pids(v)
    assert workers
    os.kill(v.proc.pid, signal.SIGKILL)  # the parent only: the OOM killer's way
    v.proc.wait()
    died_at = time.monotonic()
    result = run_map(_times(1000), {"x": list(range(8))}, run_folder=folder, storage=storage, parallel=False,
                     show_progress=False)  # fmt: skip
    assert list(result["y"].output) == [1000 * x for x in range(8)]
    while any(_alive(p) for p in workers):
        assert time.monotonic() - died_at < 2.0, f"orphaned workers {[p for p in workers if _alive(p)]} still run"
        time.sleep(0.02)
    time.sleep(1.2)  # what an orphan was computing would be written by now
    assert list(load_outputs("y", run_folder=folder)) == [1000 * x for x in range(8)]


def test_writes_from_a_run_that_lost_its_folder_are_refused(tmp_path: Path, victims) -> None:
    """A user's ProcessPoolExecutor: its workers outlive the parent and run its queued chunks;
    none of their writes may land in the run that took the folder over."""
    folder, log = tmp_path / "run", tmp_path / "calls.log"
    v = victims(folder=str(folder), log=str(log), n=8, seconds=1.0, factor=1, storage="file_array", mode="user_pool",
                chunksize=1)  # fmt: skip
    v.wait_for("start", 2)
    os.kill(v.proc.pid, signal.SIGKILL)
    v.proc.wait()
    done_before = len(v.lines("done"))
    run_map(_times(1000), {"x": list(range(8))}, run_folder=folder, parallel=False, show_progress=False)
    deadline = time.monotonic() + 10
    while len(v.lines("done")) <= done_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(v.lines("done")) > done_before, "the orphaned workers finished nothing: the test proves nothing"
    time.sleep(0.3)
    assert list(load_outputs("y", run_folder=folder)) == [1000 * x for x in range(8)]


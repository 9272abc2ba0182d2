"""One writer per run folder: ``pipemap.storage._lock.RunFolderLock`` and its use by ``run_map``."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pipemap.storage import clear_run_folder
from pipemap.storage._lock import LOCK_NAME, RunFolderLock, RunFolderLockedError

pytestmark = pytest.mark.reliability


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(folder: Path, **owner) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps(owner))


def test_lock_file_holds_owner_json_and_is_released(tmp_path: Path) -> None:
    lock = RunFolderLock(tmp_path / "run").acquire()
    owner = json.loads((tmp_path / "run" / LOCK_NAME).read_text())
    assert owner["pid"] == os.getpid()
    assert owner["host"] == socket.gethostname()
    assert owner["started"]
    lock.release()
    assert not (tmp_path / "run" / LOCK_NAME).exists()
    lock.release()  # idempotent


def test_released_on_exception(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError), RunFolderLock(tmp_path):
        1 / 0  # noqa: B018
    assert not (tmp_path / LOCK_NAME).exists()


def _hold(folder: str, ready, stop) -> None:
    lock = RunFolderLock(folder).acquire()  # noqa: F841 - held (a dropped lock object releases)
    ready.set()
    stop.wait(30)


def test_live_owner_in_another_process_refuses_with_clear_message(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(tmp_path), ready, stop))
    proc.start()
    try:
        assert ready.wait(30)
        with pytest.raises(RunFolderLockedError) as info:
            RunFolderLock(tmp_path).acquire()
        msg = str(info.value)
        assert f"process {proc.pid}" in msg and socket.gethostname() in msg and str(tmp_path) in msg
        with pytest.raises(RunFolderLockedError):
            RunFolderLock(tmp_path, timeout=0.2).acquire()  # waiting a little does not help either
    finally:
        stop.set()
        proc.join(10)
    # the holder exited without releasing (its finalizer does not run after fork): stale now
    lock = RunFolderLock(tmp_path).acquire()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()


def test_stale_lock_of_dead_process_is_taken_over(tmp_path: Path) -> None:
    _write_lock(tmp_path, pid=_dead_pid(), host=socket.gethostname(), started="2020-01-01T00:00:00")
    with RunFolderLock(tmp_path) as lock:
        assert RunFolderLock.read_owner(tmp_path)["token"] == lock.token


def test_reused_pid_is_detected_by_start_time(tmp_path: Path) -> None:
    # our own (alive) pid, but a start time that is not ours: the pid was reused
    _write_lock(tmp_path, pid=os.getpid(), host=socket.gethostname(), started="x", proc_start="1")
    with RunFolderLock(tmp_path) as lock:
        assert lock.held


def test_lock_of_another_host_is_never_broken(tmp_path: Path) -> None:
    _write_lock(tmp_path, pid=_dead_pid(), host="some-other-host", started="2020-01-01T00:00:00")
    with pytest.raises(RunFolderLockedError, match="another host.*delete"):
        RunFolderLock(tmp_path).acquire()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["host"] == "some-other-host"


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]"])
def test_torn_lock_file_is_treated_as_stale(tmp_path: Path, content: str) -> None:
    (tmp_path / LOCK_NAME).write_text(content)
    with RunFolderLock(tmp_path) as lock:
        assert lock.held


def test_release_never_removes_someone_elses_lock(tmp_path: Path) -> None:
    lock = RunFolderLock(tmp_path).acquire()
    _write_lock(tmp_path, pid=12345, host="elsewhere", started="now", token="theirs")
    lock.release()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["token"] == "theirs"


def _race(folder: str, barrier, results) -> None:
    barrier.wait(30)
    try:
        lock = RunFolderLock(folder).acquire()
    except RunFolderLockedError:
        results.put("refused")
        return
    results.put("won")
    time.sleep(0.3)  # hold it while the others try
    lock.release()


def test_racing_takeovers_of_a_stale_lock_have_one_winner(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    rounds, racers = 10, 4
    for _ in range(rounds):
        _write_lock(tmp_path, pid=_dead_pid(), host=socket.gethostname(), started="old")
        barrier, results = ctx.Barrier(racers), ctx.Queue()
        procs = [ctx.Process(target=_race, args=(str(tmp_path), barrier, results)) for _ in range(racers)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=30) for _ in procs]
        for p in procs:
            p.join(10)
        assert outcomes.count("won") == 1, outcomes
        assert not (tmp_path / LOCK_NAME).exists()


def test_clear_run_folder_keeps_the_lock(tmp_path: Path) -> None:
    (tmp_path / "outputs" / "y").mkdir(parents=True)
    (tmp_path / "run_info.json").write_text("{}")
    with RunFolderLock(tmp_path):
        clear_run_folder(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_NAME]


# --------------------------------------------------------------------------- through run_map
SLOW_RUN = textwrap.dedent(
    """
    import sys, time
    from pipemap.runner import PipeFunc, Pipeline, run_map

    def slow(x):
        time.sleep(0.02)
        return x + 1

    if __name__ == "__main__":
        p = Pipeline([PipeFunc(slow, "y", mapspec="x[i] -> y[i]")])
        r = run_map(p, {"x": list(range(100))}, run_folder=sys.argv[1], parallel=False)
        assert r["y"].output.tolist() == list(range(1, 101))
    """
)


def test_second_run_map_on_the_same_folder_refuses(tmp_path: Path) -> None:
    from pipemap.runner import PipeFunc, Pipeline, run_map

    folder = tmp_path / "run"
    script = tmp_path / "slow_run.py"
    script.write_text(SLOW_RUN)
    first = subprocess.Popen([sys.executable, str(script), str(folder)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (folder / "outputs" / "y").exists() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.01)
    assert first.poll() is None, first.communicate()[1]
    assert (folder / LOCK_NAME).exists()
    p = Pipeline([PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]")])
    for resume in (False, True):
        with pytest.raises(RuntimeError, match=f"is in use by process {first.pid}"):
            run_map(p, {"x": list(range(100))}, run_folder=folder, parallel=False, resume=resume)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err  # the refused runs did not wipe or touch the first one's folder
    assert not (folder / LOCK_NAME).exists()
    # free again: resuming finds everything stored ("skip": this counting function's code differs
    # from the first run's, which a checked resume would recompute)
    calls = []
    p2 = Pipeline([PipeFunc(lambda x: calls.append(x) or x + 1, "y", mapspec="x[i] -> y[i]")])
    r = run_map(p2, {"x": list(range(100))}, run_folder=folder, parallel=False, resume=True, resume_validation="skip")
    assert r["y"].output.tolist() == list(range(1, 101)) and calls == []


def test_run_map_releases_the_lock_on_errors(tmp_path: Path) -> None:
    from pipemap.runner import PipeFunc, Pipeline, run_map

    def boom(x: int) -> int:
        raise ValueError("boom")

    p = Pipeline([PipeFunc(boom, "y", mapspec="x[i] -> y[i]")])
    with pytest.raises(ValueError, match="boom"):
        run_map(p, {"x": [1, 2]}, run_folder=tmp_path, parallel=False)
    assert not (tmp_path / LOCK_NAME).exists()
    with pytest.raises(ValueError, match="Missing inputs"):  # fails during preparation
        run_map(p, {}, run_folder=tmp_path, parallel=False)
    assert not (tmp_path / LOCK_NAME).exists()
    r = run_map(Pipeline([PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]")]), {"x": [1]}, run_folder=tmp_path)
    assert r["y"].output.tolist() == [1]
    assert not (tmp_path / LOCK_NAME).exists()


def test_killed_run_leaves_a_stale_lock_that_resume_takes_over(tmp_path: Path) -> None:
    from pipemap.runner import PipeFunc, Pipeline, run_map

    folder = tmp_path / "run"
    script = tmp_path / "slow_run.py"
    script.write_text(SLOW_RUN)
    proc = subprocess.Popen([sys.executable, str(script), str(folder)])
    deadline = time.monotonic() + 60
    while not any((folder / "outputs" / "y").glob("*")) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == proc.pid
    p = Pipeline([PipeFunc(lambda x: x + 1, "y", mapspec="x[i] -> y[i]")])
    r = run_map(p, {"x": list(range(100))}, run_folder=folder, parallel=False, resume=True)
    assert r["y"].output.tolist() == list(range(1, 101))
    assert not (folder / LOCK_NAME).exists()


def test_guard_left_by_a_process_killed_mid_takeover_does_not_block(tmp_path: Path) -> None:
    _write_lock(tmp_path, pid=_dead_pid(), host=socket.gethostname(), started="old")
    guard = tmp_path / (LOCK_NAME + ".takeover")
    guard.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "time": time.time()}))
    with RunFolderLock(tmp_path) as lock:
        assert lock.held
    assert not guard.exists()


def test_torn_guard_is_cleared_after_a_moment(tmp_path: Path) -> None:
    _write_lock(tmp_path, pid=_dead_pid(), host=socket.gethostname(), started="old")
    guard = tmp_path / (LOCK_NAME + ".takeover")
    guard.write_text("")
    os.utime(guard, (time.time() - 5, time.time() - 5))
    with RunFolderLock(tmp_path) as lock:
        assert lock.held


@pytest.mark.parametrize("resume", [False, True])
def test_lock_is_held_while_functions_run(tmp_path: Path, resume: bool) -> None:
    from pipemap.runner import PipeFunc, Pipeline, run_map

    folder = tmp_path / "run"
    lock_file = folder / LOCK_NAME

    def held(x: int) -> int:
        owner = json.loads(lock_file.read_text())
        return int(owner["pid"] == os.getpid())

    p = Pipeline([PipeFunc(held, "y", mapspec="x[i] -> y[i]")])
    run_map(p, {"x": [1, 2, 3]}, run_folder=folder, parallel=False, fixed_indices={"i": 0})  # an old, partial run
    r = run_map(p, {"x": [1, 2, 3]}, run_folder=folder, parallel=False, resume=resume)
    assert r["y"].output.tolist() == [1, 1, 1]
    assert not lock_file.exists()

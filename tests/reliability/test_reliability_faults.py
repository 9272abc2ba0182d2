"""Worker faults, failing storage writes, a full disk: clear errors, nothing stored is lost, resume works.

A full disk is simulated two ways: a patched ``_put_many`` that stores what "fits" and then
raises ``OSError(ENOSPC)`` (every backend), and, where ``mount`` works (root in a container),
a real 1 MB tmpfs as the run folder. chmod cannot make a folder read-only for root, so the
read-only case is a patched writer raising ``OSError(EROFS)``.
"""

from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from pipemap.runner import PipeFunc, Pipeline, run_map
from pipemap.storage import CorruptElementWarning, ErrorSnapshot, get_storage_class, open_run_folder

pytestmark = pytest.mark.reliability

BACKENDS = ["file_array", "chunked", "zarr_file_array"]
N = 40


def _counted(log: Path, fn):
    """``fn`` wrapped to append its first argument to ``log`` (one O_APPEND write per call)."""

    def counted(x):
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"{x}\n".encode())
        os.close(fd)
        return fn(x)

    return counted


def _calls(log: Path) -> list[int]:
    return [int(v) for v in log.read_text().split()] if log.exists() else []


# --------------------------------------------------------------------------- worker death
def test_worker_that_dies_is_reported_and_resume_completes(tmp_path: Path) -> None:
    log, flag = tmp_path / "calls.log", tmp_path / "die"
    flag.touch()

    def fragile(x: int) -> int:
        if x == 23 and os.path.exists(flag):
            os._exit(3)
        return x * 2

    p = Pipeline([PipeFunc(_counted(log, fragile), "y", mapspec="x[i] -> y[i]")])
    folder = tmp_path / "run"
    with pytest.raises(RuntimeError) as info:
        run_map(p, {"x": list(range(N))}, run_folder=folder, parallel=True, chunksizes=4)
    msg = str(info.value)
    assert "worker process died" in msg and "counted" in msg and "`y`" in msg and "resume=True" in msg
    _, stores = open_run_folder(folder)
    done = stores["y"].done_mask()
    assert not done[23]
    stored_before = {int(i) for i in np.flatnonzero(done)}
    calls_before = _calls(log)
    flag.unlink()
    r = run_map(p, {"x": list(range(N))}, run_folder=folder, parallel=True, chunksizes=4, resume=True)
    assert r["y"].output.tolist() == [2 * x for x in range(N)]
    recomputed = _calls(log)[len(calls_before) :]
    assert not stored_before & set(recomputed), "stored elements were computed again"
    assert 23 in recomputed


def test_worker_that_dies_with_continue_stores_error_snapshots(tmp_path: Path) -> None:
    def fragile(x: int) -> int:
        if x == 5:
            os._exit(3)
        return x + 1

    p = Pipeline([PipeFunc(fragile, "y", mapspec="x[i] -> y[i]")])
    r = run_map(p, {"x": list(range(12))}, run_folder=tmp_path, parallel=True, chunksizes=1, error_handling="continue")
    out = r["y"].output
    assert isinstance(out[5], ErrorSnapshot)
    assert "fragile" in str(out[5]) or out[5].function.__name__ == "fragile"
    assert [out[i] for i in range(12) if i != 5] == [i + 1 for i in range(12) if i != 5]


def _hang_at_two(x: int) -> int:
    if x == 2:
        import time

        time.sleep(3600)
    return x


@pytest.mark.parametrize("parallel", [False, True])
def test_function_hanging_past_its_timeout_is_reported(tmp_path: Path, parallel: bool) -> None:
    p = Pipeline([PipeFunc(_hang_at_two, "y", mapspec="x[i] -> y[i]", timeout=0.5)])
    kwargs = {"chunksizes": 1} if parallel else {}
    with pytest.raises(TimeoutError, match="_hang_at_two") as info:
        run_map(p, {"x": [0, 1, 2, 3]}, run_folder=tmp_path, parallel=parallel, **kwargs)
    assert "timeout of 0.5 s" in str(info.value)
    assert any("x=2" in note for note in getattr(info.value, "__notes__", []))
    # continue mode: the hanging element becomes an error snapshot, the rest completes
    r = run_map(
        p, {"x": [0, 1, 2, 3]}, run_folder=tmp_path, parallel=parallel, error_handling="continue", **kwargs
    )
    out = r["y"].output
    assert isinstance(out[2], ErrorSnapshot)
    assert out[2].exception_type == "FunctionTimeoutError"
    assert [out[i] for i in (0, 1, 3)] == [0, 1, 3]


def test_timeout_is_validated() -> None:
    with pytest.raises(ValueError, match="`timeout` of `_hang_at_two` must be a positive number"):
        PipeFunc(_hang_at_two, "y", timeout=-1)


# --------------------------------------------------------------------------- failing writes
def _break_writes(monkeypatch: pytest.MonkeyPatch, storage: str, fits: int, err: int) -> dict:
    """Patch the backend's writer: the first ``fits`` elements are stored, then ``OSError(err)``."""
    cls = get_storage_class(storage)
    original = cls._put_many
    state = {"stored": 0, "raised": 0}

    def put_many(self, indices, values):
        room = max(fits - state["stored"], 0)
        if room:
            original(self, indices[:room], list(values)[:room])
            state["stored"] += min(room, len(indices))
        if len(indices) > room:
            state["raised"] += 1
            raise OSError(err, os.strerror(err), str(self.folder))

    monkeypatch.setattr(cls, "_put_many", put_many)
    return state


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS, errno.EIO])
@pytest.mark.parametrize("storage", BACKENDS)
def test_failing_storage_write_is_clear_keeps_earlier_elements_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage: str, err: int
) -> None:
    log = tmp_path / "calls.log"
    p = Pipeline([PipeFunc(_counted(log, lambda x: {"x": x, "sq": x * x}), "y", mapspec="x[i] -> y[i]")])
    folder = tmp_path / "run"
    with monkeypatch.context() as m:  # the "disk" takes 17 elements, then every write fails
        state = _break_writes(m, storage, fits=17, err=err)
        with pytest.raises(OSError) as info:
            run_map(p, {"x": list(range(N))}, run_folder=folder, storage=storage, parallel=False, chunksizes=1)
    assert info.value.errno == err and state["raised"] >= 1
    assert os.strerror(err) in str(info.value)
    _, stores = open_run_folder(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptElementWarning)  # nothing half-written
        done = stores["y"].done_mask()
        stored = [int(i) for i in np.flatnonzero(done)]
        assert stored == list(range(17)), stored
        assert stores["y"].get_many(stored) == [{"x": i, "sq": i * i} for i in stored]
    before = len(_calls(log))
    r = run_map(p, {"x": list(range(N))}, run_folder=folder, storage=storage, parallel=False, resume=True)
    assert r["y"].output.tolist() == [{"x": i, "sq": i * i} for i in range(N)]
    assert not set(_calls(log)[before:]) & set(stored), "elements stored before the failure were recomputed"


def test_failing_storage_write_names_function_and_elements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def square(x: int) -> int:
        return x * x

    p = Pipeline([PipeFunc(square, "y", mapspec="x[i] -> y[i]")])
    _break_writes(monkeypatch, "file_array", fits=0, err=errno.ENOSPC)
    with pytest.raises(OSError) as info:
        run_map(p, {"x": list(range(5))}, run_folder=tmp_path, parallel=False)
    text = str(info.value) + " ".join(getattr(info.value, "__notes__", []))
    assert "square" in text and "`y`" in text and "element" in text


@pytest.mark.parametrize("storage", ["file_array", "chunked"])
def test_real_full_disk_gives_a_clear_error_and_keeps_earlier_elements(tiny_tmpfs: Path, storage: str) -> None:
    def blob(x: int) -> bytes:
        return bytes([x % 256]) * 60_000

    p = Pipeline([PipeFunc(blob, "y", mapspec="x[i] -> y[i]")])
    folder = tiny_tmpfs / "run"
    with pytest.raises(OSError) as info:
        run_map(p, {"x": list(range(40))}, run_folder=folder, storage=storage, parallel=False, chunksizes=1)
    assert info.value.errno == errno.ENOSPC
    _, stores = open_run_folder(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptElementWarning)
        done = stores["y"].done_mask()
        stored = [int(i) for i in np.flatnonzero(done)]
        for i, v in zip(stored, stores["y"].get_many(stored)):
            assert v == blob(i)
    leftovers = [p for p in folder.rglob("*") if ".tmp-" in p.name]
    assert not leftovers, f"temporary files left behind on a full disk: {leftovers[:5]}"

"""The dashboard's incremental refresh: what it re-reads, and the rate / ETA from the folder's times."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from pipemap.io.dashboard import DashboardServer, FolderState
from pipemap.io.dashboard._rate import rate_and_eta
from pipemap.io.dashboard._scan import ChunkedScan, FileArrayScan, read_pack_indices
from pipemap.storage import ChunkedArray, FileArray

sys.path.insert(0, str(Path(__file__).parent))
from _dashboard_helpers import start_writer, wait_for  # noqa: E402


def _age(*paths: Path, seconds: float = 60) -> None:
    """Move mtimes into the past, as for a folder nothing wrote to lately."""
    stamp = time.time() - seconds
    for path in paths:
        os.utime(path, (stamp, stamp))


def test_file_array_lists_the_folder_only_when_it_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipemap.io.dashboard import _scan

    monkeypatch.setattr(_scan, "LISTING_PAUSE", 0.0)
    arr = FileArray(tmp_path / "y", (1000,))
    arr.dump_many(np.arange(0, 1000, 2), list(range(500)))
    _age(tmp_path / "y")
    scan = FileArrayScan(tmp_path / "y", 1000)
    assert scan.refresh() and scan.mask.sum() == 500 and scan.last_reads >= 1
    np.testing.assert_array_equal(scan.mask, arr.done_mask())
    assert not scan.refresh() and scan.last_reads == 0  # unchanged folder: not even listed
    arr.dump_many([1, 3], ["a", "b"])
    assert scan.refresh() and scan.mask.sum() == 502 and scan.mask[[1, 3]].all()
    # its write times come from the new files alone
    assert sum(w for _, w in scan.events) == 502


def test_a_big_folder_is_not_listed_at_every_refresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipemap.io.dashboard import _scan

    arr = FileArray(tmp_path / "y", (100,))
    arr.dump_many([0], [0])
    scan = FileArrayScan(tmp_path / "y", 100)
    monkeypatch.setattr(_scan, "LISTING_PAUSE", 1e9)  # as if the listing had been very long
    assert scan.refresh() and scan.mask.sum() == 1
    arr.dump_many([1], [1])
    assert not scan.refresh() and scan.last_reads == 0  # changed, but listed too recently
    scan._next_listing = 0.0  # the pause is over
    assert scan.refresh() and scan.mask.sum() == 2


def test_chunked_reads_only_the_changed_chunk(tmp_path: Path) -> None:
    arr2 = ChunkedArray(tmp_path / "y2", (20_000,), chunk_size=1000)
    keep = np.setdiff1d(np.arange(20_000), [5, 17_003])
    arr2.dump_many(keep, [float(i) for i in keep])
    folder = tmp_path / "y2"
    _age(folder, *folder.glob("c*"))
    scan = ChunkedScan(folder, 20_000)
    assert scan.refresh()
    np.testing.assert_array_equal(scan.mask, arr2.done_mask())
    assert scan.refresh() is False and scan.last_reads == 0  # nothing changed: stats only
    arr2.dump_many([17_003], [1.0])
    assert scan.refresh() and scan.mask.sum() == 20_000 - 1
    assert 1 <= scan.last_reads <= 4  # one chunk listed (twice) and its new pack read; not 20 chunks


def test_damaged_pack_names_its_problem(tmp_path: Path) -> None:
    arr = ChunkedArray(tmp_path / "y", (10,))
    arr.dump_many(range(10), list(range(10)))
    pack = next((tmp_path / "y").glob("c*/*.pack"))
    assert read_pack_indices(str(pack)).tolist() == list(range(10))
    pack.write_bytes(b"PMPACK01" + b"\xff" * 16)
    with pytest.raises(ValueError, match="damaged pack: header announces"):
        read_pack_indices(str(pack))
    pack.write_bytes(b"XXXXXXXX" + bytes(16))
    with pytest.raises(ValueError, match="not b'PMPACK01'"):
        read_pack_indices(str(pack))


def test_rate_and_eta_from_the_file_times(tmp_path: Path) -> None:
    arr = FileArray(tmp_path / "y", (100,))
    arr.dump_many(np.arange(60), list(range(60)))
    base = time.time() - 100
    for k in range(60):  # 60 elements written over 30 s: 2 per second
        stamp = base + k * 0.5
        os.utime(tmp_path / "y" / f"__{k}__.pickle", (stamp, stamp))
    scan = FileArrayScan(tmp_path / "y", 100)
    scan.refresh()
    rate, eta = rate_and_eta(scan.events, base, 40, running=True, now=base + 30)
    assert rate == pytest.approx(2.0, rel=0.05) and eta == pytest.approx(20.0, rel=0.05)
    rate, eta = rate_and_eta(scan.events, base, 40, running=False)  # stopped: no ETA
    assert rate == pytest.approx(2.0, rel=0.05) and eta is None


def test_chunked_pack_names_give_the_times(tmp_path: Path) -> None:
    arr = ChunkedArray(tmp_path / "y", (50,), chunk_size=10)
    for k in range(5):
        arr.dump_many(np.arange(10 * k, 10 * k + 10), list(range(10)))
        time.sleep(0.02)
    scan = ChunkedScan(tmp_path / "y", 50)
    scan.refresh()
    assert sum(w for _, w in scan.events) == 50
    times = sorted(t for t, _ in scan.events)
    assert abs(times[0] - time.time()) < 60 and times[-1] - times[0] >= 0.08


def test_a_run_written_by_another_process(tmp_path: Path) -> None:
    """The state follows a live run: counts grow, rate and ETA appear while it runs, the end is seen."""
    folder = tmp_path / "live"
    proc = start_writer(folder, storage="file_array", seconds=0.03, n_a=10, n_b=8)
    server = DashboardServer(folder, port=0).start()
    try:
        def state() -> dict:
            with urllib.request.urlopen(server.url + "api/state", timeout=30) as resp:
                return json.load(resp)

        seen: list[int] = []
        with_eta = []
        while proc.poll() is None:
            snap = state()
            y = snap["outputs"][0]
            seen.append(y["done"])
            if snap["running"] and y["eta"] is not None and 0 < y["done"] < 80:
                with_eta.append((y["rate"], y["eta"]))
            time.sleep(0.3)
        assert proc.returncode == 0
        final = wait_for(lambda: (s := state()) and not s["running"] and s["outputs"][0]["done"] == 80 and s, what="the end of the run")
        assert final["outputs"][0]["missing"] == 0
        assert len(set(seen)) >= 3, seen  # it saw the run progress
        assert seen == sorted(seen)
        assert with_eta and all(rate > 0 and eta >= 0 for rate, eta in with_eta)
    finally:
        server.close()
        if proc.poll() is None:
            proc.kill()


def test_state_of_an_unstarted_output_and_of_a_single_output(tmp_path: Path) -> None:
    import pipemap.io as pio

    folder = pio.example_run_folder(tmp_path / "run", missing=[0, 1, 2])
    state = FolderState(folder).refresh()
    by_name = {o["name"]: o for o in state["outputs"]}
    assert (by_name["y"]["done"], by_name["y"]["missing"]) == (0, 3)
    assert (by_name["t"]["kind"], by_name["t"]["total"]) == ("single", 1)
    assert [o["name"] for o in state["outputs"]] == ["y", "z", "s", "t"]  # pipeline order


def test_failures_of_a_running_function_are_found_before_failures_json(tmp_path: Path) -> None:
    """While a run holds the folder, or without failures.json (pipefunc's folders), newly seen
    elements are read for error records; a finished run's failures.json is trusted."""
    import socket

    from _dashboard_helpers import FAIL_ROWS, finished_run

    folder = finished_run(tmp_path / "run", storage="chunked")
    n_bad = len(FAIL_ROWS) * 6

    def z_failed() -> tuple[int, int]:
        snap = FolderState(folder).refresh(force=True)
        z = {o["name"]: o for o in snap["outputs"]}["z"]
        return z["failed"], z["done"]

    (folder / "failures.json").write_text('{"version": 1, "outputs": {}}')  # as during a run's first function
    assert z_failed() == (0, 48)  # no run holds the folder: the record is trusted, nothing is read
    lock = {"pid": os.getpid(), "host": socket.gethostname(), "started": "now", "token": "t"}
    (folder / ".pipemap.lock").write_text(json.dumps(lock))
    assert z_failed() == (n_bad, 48 - n_bad)  # a run holds it: the stored elements are read
    state = FolderState(folder)
    assert state.refresh(force=True)["running"]
    codes = state.codes("w")
    assert set(np.unique(codes[list(FAIL_ROWS)])) == {2}  # skipped: their input failed
    assert set(np.unique(np.delete(codes, list(FAIL_ROWS), axis=0))) == {0}
    (folder / ".pipemap.lock").unlink()
    (folder / "failures.json").unlink()  # a folder without the record (pipefunc's, a killed run)
    assert z_failed() == (n_bad, 48 - n_bad)


def test_probe_reads_at_most_its_limit_per_refresh(tmp_path: Path) -> None:
    from pipemap.io.dashboard import _probe

    arr = ChunkedArray(tmp_path / "y", (12_000,))
    arr.dump_many(np.arange(12_000), [float(i) for i in range(12_000)])
    probe = _probe.Probe()
    probe.queue(np.arange(12_000))
    probe.run(arr)
    assert probe.pending == 12_000 - _probe.PROBE_LIMIT
    probe.run(arr)
    probe.run(arr)
    assert probe.pending == 0 and not probe.failed

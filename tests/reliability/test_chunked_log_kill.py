"""SIGKILL during `chunked` log appends and during compaction (issue 20).

A victim process writes with single dumps (values derived from the index, so any torn or mixed-up
value is detected), reporting its progress in a side file; the test kills it at a random moment
and reopens the folder with a fresh reader:

* appends: every element the victim reported as flushed (``flush()`` returned) is present, every
  element reported dumped more than a second before the kill is present (the background flush),
  and every present element holds its own value;
* compaction: the victim dumps rounds of elements, closes its logs and compacts, over and over;
  every element of a closed round is present and right after the kill, and a last compaction by
  the reader folds everything into one pack per chunk.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipemap.storage import ChunkedArray

N = 100_000
CHUNK = 512

_APPENDS = textwrap.dedent(
    """
    import sys, time
    from pipemap.storage import ChunkedArray
    folder, progress, n, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = ChunkedArray(folder, (n,), chunk_size=chunk)
    with open(progress, "a", buffering=1) as out:
        out.write("ready\\n")
        for i in range(n):
            store.dump(i, {"i": i, "s": "x" * (i % 50)})
            if i % 997 == 0:
                out.write(f"dumped {i} {time.time()}\\n")
            if i % 5003 == 0:
                store.flush()
                out.write(f"flushed {i}\\n")
    out.close()
    time.sleep(60)
    """
)

_COMPACTION = textwrap.dedent(
    """
    import sys
    from pipemap.storage import ChunkedArray
    folder, progress, n, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = ChunkedArray(folder, (n,), chunk_size=chunk, max_packs=4)
    rounds = 40
    with open(progress, "a", buffering=1) as out:
        out.write("ready\\n")
        for r in range(rounds):
            for i in range(r, n, rounds):
                store.dump(i, ("v", i))
            store.dump_many(range(r, n, rounds * 7), [("v", i) for i in range(r, n, rounds * 7)])
            store.close()
            out.write(f"closed {r}\\n")
            store.compact()
    """
)


def _kill_victim(script: str, folder: Path, progress: Path, n: int, kill_after: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(folder), str(progress), str(n), str(CHUNK)], start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while "ready" not in (progress.read_text() if progress.exists() else ""):
            assert proc.poll() is None, "the victim died before starting"
            assert time.monotonic() < deadline, "the victim did not start"
            time.sleep(0.01)
        time.sleep(kill_after)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _check_values(reader: ChunkedArray, present: list[int], value_of) -> None:  # noqa: ANN001
    got = reader.get_many(present)
    bad = [i for i, v in zip(present, got) if v != value_of(i)]
    assert not bad, f"elements with wrong values after the kill: {bad[:10]}"


@pytest.mark.parametrize("kill_after", [0.3, 0.8, 1.5, 2.5])
def test_kill_during_appends(tmp_path: Path, kill_after: float) -> None:
    folder, progress = tmp_path / "out", tmp_path / "progress.txt"
    kill_after += random.uniform(0, 0.2)
    _kill_victim(_APPENDS, folder, progress, N, kill_after)
    killed_at = time.time()
    lines = progress.read_text().splitlines()
    flushed = [int(line.split()[1]) for line in lines if line.startswith("flushed")]
    dumped_early = [int(w[1]) for w in (line.split() for line in lines) if w[0] == "dumped" and float(w[2]) < killed_at - 1.0]
    reader = ChunkedArray(folder, (N,), chunk_size=CHUNK)
    mask = reader.done_mask()
    present = [int(i) for i in mask.nonzero()[0]]
    _check_values(reader, present, lambda i: {"i": i, "s": "x" * (i % 50)})
    must = max(flushed + dumped_early, default=-1)
    missing = [i for i in range(must + 1) if not mask[i]]
    assert not missing, f"lost {len(missing)} elements reported flushed (first {missing[:5]}; flushed up to {must})"
    assert present == list(range(len(present))), "a hole: a record after a missing one was served"
    reader.compact()
    assert ChunkedArray(folder, (N,), chunk_size=CHUNK).get_many(present[-3:]) == [{"i": i, "s": "x" * (i % 50)} for i in present[-3:]]


@pytest.mark.parametrize("seed", range(6))
def test_kill_during_compaction(tmp_path: Path, seed: int) -> None:
    n = 20_000
    folder, progress = tmp_path / "out", tmp_path / "progress.txt"
    _kill_victim(_COMPACTION, folder, progress, n, random.Random(seed).uniform(0.2, 2.0))
    closed = [int(line.split()[1]) for line in progress.read_text().splitlines() if line.startswith("closed")]
    reader = ChunkedArray(folder, (n,), chunk_size=CHUNK)
    mask = reader.done_mask()
    present = [int(i) for i in mask.nonzero()[0]]
    _check_values(reader, present, lambda i: ("v", i))
    lost = [i for i in range(n) if i % 40 in set(closed) and not mask[i]]
    assert not lost, f"lost {len(lost)} elements of closed rounds {closed} (first {lost[:5]})"
    reader.compact()  # the killed compaction's leftovers (duplicates, hidden temporary files) fold away
    for chunk_dir in folder.glob("c[0-9]*"):
        visible = [p.name for p in chunk_dir.iterdir() if not p.name.startswith(".")]
        assert len(visible) == 1 and visible[0].endswith(".pack"), visible
    again = ChunkedArray(folder, (n,), chunk_size=CHUNK)
    assert again.done_mask().tolist() == mask.tolist()
    _check_values(again, present, lambda i: ("v", i))

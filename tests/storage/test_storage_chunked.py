"""ChunkedArray specifics: bounded file count, concurrent writers with merging, layout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from pipemap.storage import ChunkedArray
from pipemap.storage.testing import shared_process_pool, write_in_small_batches


def _count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def test_small_batches_do_not_make_a_file_per_element(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path, (3000,), chunk_size=1024, max_packs=8)
    for start in range(0, 3000, 4):
        store.dump_many(range(start, start + 4), list(range(start, start + 4)))
    assert _count_files(tmp_path) <= 3 * 9 + 2  # <= max_packs + 1 packs per chunk, plus chunked.json, shape.json
    assert store.get_many(range(3000)) == list(range(3000))
    store.compact()
    assert _count_files(tmp_path) == 3 + 2
    assert ChunkedArray(tmp_path, (3000,)).to_array().tolist() == list(range(3000))


def test_concurrent_writers_and_merges_lose_nothing(tmp_path: Path) -> None:
    size = 600
    store = ChunkedArray(tmp_path, (size,), chunk_size=50, max_packs=2)  # merge aggressively, concurrently
    pool = shared_process_pool()
    futures = [pool.submit(write_in_small_batches, store, list(range(w, size, 4))) for w in range(4)]
    assert sum(f.result() for f in futures) == size
    store = ChunkedArray(tmp_path, (size,))
    assert store.chunk_size == 50  # the folder's own chunk size wins
    assert store.done_mask().all()
    assert store.get_many(range(size)) == [("w", i) for i in range(size)]
    assert _count_files(tmp_path) <= 12 * 4 + 1  # merges kept every chunk at a few packs


def test_layout_and_typed_segments(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path, (2, 5), chunk_size=4)
    store.dump_many(range(10), list(np.arange(10, dtype=np.float32)))
    assert json.loads((tmp_path / "chunked.json").read_text()) == {"format": "pipemap-chunked", "version": 1, "chunk_size": 4}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c0", "c1", "c2", "chunked.json", "shape.json"]
    value = ChunkedArray(tmp_path, (2, 5))[1, 4]
    assert type(value) is np.float32 and value == 9


def test_chunk_directory_removed_behind_our_back(tmp_path: Path) -> None:
    import shutil

    store = ChunkedArray(tmp_path, (10,), chunk_size=4)
    store.dump((1,), "a")
    store.flush()  # single dumps are buffered (issue 20): "a" reaches its log before the removal
    shutil.rmtree(tmp_path / "c0")
    store.dump((2,), "b")
    assert store.get_many([1, 2]) == [np.ma.masked, "b"]


def test_numpy_string_and_datetime_scalars_roundtrip(tmp_path: Path) -> None:
    values = [np.str_("a"), np.str_("abcdef")]
    times = [np.datetime64("2024-01-01"), np.datetime64("2024-01-01T10:00:01")]
    store = ChunkedArray(tmp_path, (4,))
    store.dump_many(range(4), values + times)
    got = ChunkedArray(tmp_path, (4,)).get_many(range(4))
    assert got == values + times
    assert [type(v) for v in got] == [np.str_, np.str_, np.datetime64, np.datetime64]
    assert got[3].dtype == times[1].dtype


def test_packs_and_merges_reach_the_disk_before_their_name(tmp_path, monkeypatch) -> None:
    """Power-loss safety: every pack (and every merged pack) is fsynced before the rename that
    makes it visible, and before a merge deletes the packs it replaces."""
    import os

    from pipemap.storage import ChunkedArray

    log: list[tuple[str, object]] = []
    real_fsync, real_replace, real_unlink = os.fsync, os.replace, os.unlink
    monkeypatch.setattr(os, "fsync", lambda fd: (log.append(("fsync", fd)), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (log.append(("replace", b)), real_replace(a, b))[1])
    monkeypatch.setattr(os, "unlink", lambda p, *a, **k: (log.append(("unlink", p)), real_unlink(p, *a, **k))[1])
    arr = ChunkedArray(tmp_path / "c", (100,), max_packs=2)
    for k in range(4):  # the third pack in one chunk triggers a merge
        arr.dump_many([k], [k])
    packs = [(i, e) for i, e in enumerate(log) if e[0] == "replace" and str(e[1]).endswith(".pack")]
    assert len(packs) >= 5  # 4 writes + at least one merge
    for i, _ in packs:
        assert log[i - 1][0] == "fsync"
    first_unlink = next(i for i, e in enumerate(log) if e[0] == "unlink" and str(e[1]).endswith(".pack"))
    merged = max(i for i, e in enumerate(log[:first_unlink]) if e[0] == "replace")
    assert "-m" in os.path.basename(str(log[merged][1]))  # the merged pack was in place first
    assert arr.to_array().tolist() == [0, 1, 2, 3] + [None] * 96

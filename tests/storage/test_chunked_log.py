"""`chunked` single dumps go to per-chunk, per-process append-only logs (issue 20).

Covers the record framing (torn and corrupt tails never served), buffering and its flush
points, log/pack ordering, compaction around logs that a writer still holds open, concurrent
writer processes, fork safety and the `__main__`/lambda encoding fallback.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import pickle
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from pipemap.storage import ChunkedArray
from pipemap.storage._chunklog import LOG_MAGIC, LOG_SUFFIX, _frame, encode_value, parse_log


def _logs(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"c*/*{LOG_SUFFIX}"))


def _packs(folder: Path) -> list[Path]:
    return sorted(folder.glob("c*/*.pack"))


def _fresh(store: ChunkedArray) -> ChunkedArray:
    return ChunkedArray(store.folder, store.shape, chunk_size=store.chunk_size)


def test_single_dumps_append_to_one_log_per_chunk(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path, (10,), chunk_size=4)
    for i in range(10):
        store.dump(i, {"i": i})
    store.flush()
    logs = _logs(tmp_path)
    assert [p.parent.name for p in logs] == ["c0", "c1", "c2"]
    assert _packs(tmp_path) == []
    for path in logs:
        assert path.read_bytes()[:8] == LOG_MAGIC
    assert _fresh(store).get_many(range(10)) == [{"i": i} for i in range(10)]
    assert _fresh(store).done_mask().all()


def test_records_are_buffered_until_a_flush_point(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path, (4,))
    store.dump(1, "x")
    assert store[1] == "x"  # own reads see own writes (they flush first)
    head, crc = _frame(1, pickle.dumps("x", protocol=5))
    assert os.path.getsize(_logs(tmp_path)[0]) == 8 + len(head) + len(pickle.dumps("x", protocol=5)) + len(crc)
    store.dump(2, "y")
    store.persist()
    assert _fresh(store).get_many([1, 2]) == ["x", "y"]


def test_background_flush_makes_dumps_visible_within_a_fraction_of_a_second(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path, (4,))
    store.dump(3, "late")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if _fresh(store).done_mask()[3]:
            break
        time.sleep(0.02)
    assert _fresh(store).get_many([3]) == ["late"]


def test_torn_tail_is_ignored_never_served(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path, (8,))
    for i in range(3):
        store.dump(i, f"v{i}")
    store.close()
    log = _logs(tmp_path)[0]
    head, crc = _frame(3, pickle.dumps("torn"))
    full = head + pickle.dumps("torn") + crc
    for cut in (1, len(head), len(full) - 1):  # every kind of partial record
        original = log.read_bytes()
        log.write_bytes(original + full[:cut])
        reader = _fresh(store)
        assert reader.done_mask().tolist() == [True] * 3 + [False] * 5
        assert reader.get_many(range(4)) == ["v0", "v1", "v2", np.ma.masked]
        log.write_bytes(original)


def test_corrupt_record_stops_the_log(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path, (8,))
    for i in range(4):
        store.dump(i, f"value-{i}")
    store.close()
    log = _logs(tmp_path)[0]
    data = bytearray(log.read_bytes())
    position = data.index(pickle.dumps("value-2")[-4:])  # a byte inside the third payload
    data[position] ^= 0xFF
    log.write_bytes(bytes(data))
    reader = _fresh(store)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a torn/corrupt log tail is expected after a crash: no warning
        assert reader.get_many(range(4)) == ["value-0", "value-1", np.ma.masked, np.ma.masked]
    assert reader.done_mask().tolist()[:4] == [True, True, False, False]


def test_parse_log_rejects_a_foreign_file() -> None:
    head, crc = _frame(0, pickle.dumps(1))
    assert parse_log(b"NOTALOG!" + head + pickle.dumps(1) + crc) == ([], [])


def test_log_and_pack_order_later_write_wins(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path, (4,))
    store.dump(1, "log-1")
    store.dump_many([1], ["pack"])
    assert _fresh(store)[1] == "pack"
    store.dump(1, "log-2")
    store.flush()
    assert _fresh(store)[1] == "log-2"
    assert store[1] == "log-2"
    store.compact()
    assert [p.suffix for p in sorted((tmp_path / "c0").iterdir())] == [".pack"]
    assert _fresh(store)[1] == "log-2"


def test_compaction_folds_closed_logs_and_leaves_open_ones(tmp_path: Path) -> None:
    writer = ChunkedArray(tmp_path, (20,), chunk_size=20)
    other = ChunkedArray(tmp_path, (20,), chunk_size=20)
    for i in range(10):
        writer.dump(i, i * 10)
    writer.flush()  # written but its log still open
    for i in range(10, 20):
        other.dump(i, i * 10)
    other.close()
    compactor = _fresh(writer)
    compactor.compact()
    names = sorted(p.name for p in (tmp_path / "c0").iterdir())
    assert sum(n.endswith(LOG_SUFFIX) for n in names) == 1  # the writer's, still open
    assert sum(n.endswith(".pack") for n in names) == 1  # the other's, folded
    assert compactor.get_many(range(20)) == [i * 10 for i in range(20)]
    writer.dump(5, "after")
    writer.close()
    compactor.compact()
    assert [p.suffix for p in (tmp_path / "c0").iterdir()] == [".pack"]
    assert compactor.get_many([4, 5, 19]) == [40, "after", 190]


def test_many_files_trigger_compaction_on_bulk_writes(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path, (50,), chunk_size=50, max_packs=3)
    for i in range(10):
        store.dump(i, i)
        store.dump_many([i + 20], [i + 20])  # closes the chunk's log each time: many files
    assert len(list((tmp_path / "c0").iterdir())) <= 4
    assert _fresh(store).get_many(list(range(10)) + list(range(20, 30))) == list(range(10)) + list(range(20, 30))


def _dump_in_worker(store: ChunkedArray, indices: list[int]) -> int:
    for i in indices:
        store.dump(i, ("w", i))
    store.close()
    return os.getpid()


def test_concurrent_writer_processes_each_append_to_their_own_log(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path, (60,), chunk_size=64)
    ctx = multiprocessing.get_context("fork")  # (this test module is not importable by name in spawned workers)
    with concurrent.futures.ProcessPoolExecutor(3, mp_context=ctx) as pool:
        pids = list(pool.map(_dump_in_worker, [store] * 3, [list(range(k, 60, 3)) for k in range(3)]))
    logs = _logs(tmp_path)
    assert sorted(int(p.name.split("-")[1]) for p in logs) == sorted(pids)  # one log per task's process
    assert store.get_many(range(60)) == [("w", i) for i in range(60)]


def test_pickling_flushes_and_the_clone_writes_its_own_log(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path, (4,))
    store.dump(0, "parent")
    clone = pickle.loads(pickle.dumps(store))
    assert clone[0] == "parent"
    clone.dump(1, "clone")
    clone.flush()
    assert len(_logs(tmp_path)) == 2
    assert _fresh(store).get_many(range(2)) == ["parent", "clone"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_does_not_write_the_parents_buffer(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path, (4,))
    store.dump(0, "parent")  # still buffered in the parent when it forks
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            store.dump(1, "child")
            store.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    store.flush()
    reader = _fresh(store)
    assert reader.get_many(range(2)) == ["parent", "child"]
    counts: dict[int, int] = {}
    for log in _logs(tmp_path):
        for index in parse_log(log.read_bytes())[0]:
            counts[index] = counts.get(index, 0) + 1
    assert counts == {0: 1, 1: 1}


def test_values_pickle_like_cloudpickle() -> None:
    lam = pickle.loads(encode_value(lambda x: x + 1))
    assert lam(1) == 2

    class Local:
        pass

    assert type(pickle.loads(encode_value(Local()))).__name__ == "Local"
    assert pickle.loads(encode_value({"a": np.arange(3)}))["a"].tolist() == [0, 1, 2]


def test_slices_and_internal_shapes_still_work(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path, (2, 3))
    store.dump((0, slice(None)), "row")
    store.dump((1, -1), "neg")  # negative keys take the validated path
    assert store.get_many(range(6)) == ["row"] * 3 + [np.ma.masked, np.ma.masked, "neg"]
    inner = ChunkedArray(tmp_path / "i", (2,), (3,), (True, False))
    inner.dump((1,), np.arange(3))
    assert inner.get_many([1])[0].tolist() == [0, 1, 2]


def test_bad_keys_are_named(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path, (3,))
    with pytest.raises(IndexError, match="Index 3 is out of bounds for axis 0 with size 3"):
        store.dump(3, "x")
    with pytest.raises(TypeError, match="must be an int or a slice"):
        store.dump("a", "x")
    with pytest.raises(TypeError, match="cannot pickle"):
        store.dump(0, __import__("threading").Lock())
    assert not store.done_mask().any()


def test_deleted_output_folder_is_named(tmp_path: Path) -> None:
    import shutil

    store = ChunkedArray(tmp_path / "out", (3,))
    shutil.rmtree(tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="out"):
        store.dump(0, "x")


def test_numpy_and_negative_keys_and_internal_shapes_append_to_the_log(tmp_path: Path) -> None:
    store = ChunkedArray(tmp_path / "a", (2, 3))
    store.dump((np.int64(1), np.int32(2)), "np")
    store.dump((-1, -2), "neg")
    inner = ChunkedArray(tmp_path / "b", (2,), (3,), (True, False))
    inner.dump((1,), np.arange(3))
    with pytest.raises(ValueError, match="internal_shape"):
        inner.dump((0,), np.arange(2))
    for s in (store, inner):
        s.flush()
        assert _packs(s.folder) == [] and len(_logs(s.folder)) == 1
    assert _fresh(store).get_many([4, 5]) == ["neg", "np"]
    assert ChunkedArray(tmp_path / "b", (2,), (3,), (True, False)).get_many([0, 1])[1].tolist() == [0, 1, 2]
    assert not ChunkedArray(tmp_path / "b", (2,), (3,), (True, False)).done_mask()[0]

"""Crash safety: SIGKILLed writers never leave torn elements; corrupt files read as missing."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import signal
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from pipemap.storage import (
    ChunkedArray,
    CorruptElementWarning,
    FileArray,
    get_storage_class,
)

SIZE = 400
BACKENDS = ["file_array", "chunked", "zarr_file_array"]


def _value(i: int, round_: int) -> dict:
    seed = hashlib.sha256(f"{i}-{round_}".encode()).digest()
    return {"i": i, "round": round_, "blob": seed * (200 + (i * 37) % 800)}  # 6-32 kB


def _intact(i: int, value: object) -> bool:
    return (
        isinstance(value, dict)
        and value["i"] == i
        and value["blob"] == hashlib.sha256(f"{i}-{value['round']}".encode()).digest() * (200 + (i * 37) % 800)
    )


def _writer(storage_id: str, folder: str, round_: int, lo: int, hi: int, started) -> None:
    store = get_storage_class(storage_id)(folder, (SIZE,))
    rng = random.Random(round_)
    started.set()
    while True:
        start = rng.randrange(lo, hi)
        batch = list(range(start, min(hi, start + rng.randrange(1, 12))))
        store.dump_many(batch, [_value(i, round_) for i in batch])


@pytest.mark.reliability
@pytest.mark.parametrize("storage_id", BACKENDS)
def test_sigkill_mid_stream_never_tears_elements(tmp_path: Path, storage_id: str) -> None:
    folder = str(tmp_path / storage_id)
    get_storage_class(storage_id)(folder, (SIZE,))  # create the layout once
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(1234)
    for round_ in range(30):
        # two concurrent writers on overlapping ranges, each killed at a random instant
        procs = []
        for lo, hi in ((0, 250), (150, SIZE)):
            started = ctx.Event()
            proc = ctx.Process(target=_writer, args=(storage_id, folder, round_ * 2 + lo, lo, hi, started), daemon=True)
            proc.start()
            procs.append((proc, started))
        for proc, started in procs:
            assert started.wait(30)
        time.sleep(rng.uniform(0.0, 0.03))
        for proc, _ in procs:
            os.kill(proc.pid, signal.SIGKILL)
            time.sleep(rng.uniform(0.0, 0.005))
        for proc, _ in procs:
            proc.join(10)
            assert proc.exitcode == -signal.SIGKILL
    store = get_storage_class(storage_id)(folder, (SIZE,))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptElementWarning)  # no torn element anywhere
        done = store.done_mask()
        values = store.get_many(range(SIZE))
        arr = store.to_array()
    assert done.sum() > 10
    for i in range(SIZE):
        if done[i]:
            assert _intact(i, values[i]), f"element {i} is torn"
        else:
            assert values[i] is np.ma.masked
    assert np.ma.getmaskarray(arr).tolist() == (~done).tolist()


def test_corrupt_file_array_element_is_masked_with_warning(tmp_path: Path) -> None:
    arr = FileArray(tmp_path, (4,))
    arr.dump_many(range(4), ["a", "b", "c", "d"])
    (tmp_path / "__1__.pickle").write_bytes(b"\x80\x05\x95")  # truncated pickle
    (tmp_path / "__2__.pickle").write_bytes(b"")  # empty file
    with pytest.warns(CorruptElementWarning) as record:
        out = arr.to_array()
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2
    assert "__1__.pickle" in messages[0] and "__2__.pickle" in messages[1]
    assert np.ma.getmaskarray(out).tolist() == [False, True, True, False]
    assert out[0] == "a" and out[3] == "d"
    # the read moved both files aside (bytes kept): now they are plainly missing, so a resume
    # recomputes them
    assert sorted(p.name.split("-")[1] for p in tmp_path.glob(".corrupt-*")) == ["__1__.pickle", "__2__.pickle"]
    assert arr.done_mask().tolist() == [True, False, False, True]
    assert arr[2] is np.ma.masked
    with pytest.raises(FileNotFoundError):
        arr.get_from_index(1)


def test_corrupt_element_in_a_read_only_folder_stays_in_place(tmp_path: Path, monkeypatch) -> None:
    """Moving aside fails (read-only mount): the read still warns and treats it as missing."""
    import errno
    import os

    arr = FileArray(tmp_path, (2,))
    arr.dump_many(range(2), ["a", "b"])
    (tmp_path / "__1__.pickle").write_bytes(b"")

    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system", src)

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.warns(CorruptElementWarning, match="treating it as missing.$"):
        assert arr.to_array().mask.tolist() == [False, True]
    assert (tmp_path / "__1__.pickle").exists()


def test_corrupt_chunked_pack_is_masked_with_warning(tmp_path: Path) -> None:
    arr = ChunkedArray(tmp_path, (6,), chunk_size=3)
    arr.dump_many(range(6), list("abcdef"))
    pack = next((tmp_path / "c1").iterdir())
    pack.write_bytes(pack.read_bytes()[:-5])
    fresh = ChunkedArray(tmp_path, (6,))
    with pytest.warns(CorruptElementWarning, match=pack.name):
        done = fresh.done_mask()
    assert done.tolist() == [True, True, True, False, False, False]
    with pytest.warns(CorruptElementWarning, match=pack.name):
        out = fresh.to_array()
    assert out.tolist() == ["a", "b", "c", None, None, None]


def test_temporary_files_are_ignored(tmp_path: Path) -> None:
    arr = FileArray(tmp_path, (3,))
    arr.dump((0,), 1)
    (tmp_path / ".__1__.pickle.tmp-99-0").write_bytes(b"partial")
    assert arr.done_mask().tolist() == [True, False, False]
    chunked = ChunkedArray(tmp_path / "c", (3,))
    chunked.dump((0,), 1)
    (tmp_path / "c" / "c0" / ".x.pack.tmp-1-2").write_bytes(b"partial")
    assert chunked.done_mask().tolist() == [True, False, False]


def test_failed_serialization_writes_nothing(tmp_path: Path) -> None:
    import threading

    for cls in (FileArray, ChunkedArray):
        arr = cls(tmp_path / cls.__name__, (3,))
        with pytest.raises(TypeError):
            arr.dump_many([0, 1], ["ok", threading.Lock()])
        assert not arr.done_mask().any()

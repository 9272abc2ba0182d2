"""pytest-benchmark suite for pipemap.storage (never asserts on time).

    uv run pytest tools/bench/bench_storage.py --benchmark-enable -q
    uv run pytest tools/bench/bench_storage.py --benchmark-enable -q -k chunked

Per-element numbers = reported time / N (N is in each test's name).
"""

from __future__ import annotations

import shutil
import tempfile

import cloudpickle
import pytest
from pipemap.storage import ChunkedArray, FileArray, ZarrFileArray

N_FILES = 2_000
N_SMALL = 100_000
N_MASK = 100_000


def _values(n: int) -> list[dict]:
    return [{"i": i, "x": float(i)} for i in range(n)]


@pytest.fixture
def fresh_dir():
    made: list[str] = []

    def make() -> str:
        made.append(tempfile.mkdtemp(prefix="bench_storage_"))
        return made[-1]

    yield make
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


def _pedantic(benchmark, setup, target, rounds: int = 5) -> None:
    benchmark.pedantic(target, setup=setup, rounds=rounds, iterations=1)


# -------------------------------------------------------------------- file_array vs the floor
def test_floor_pickle_and_write_one_file_2000(benchmark, fresh_dir) -> None:
    """The bare floor: cloudpickle.dumps + open/write one file per element."""
    values = _values(N_FILES)

    def setup():
        return (fresh_dir(),), {}

    def run(folder: str) -> None:
        for i, value in enumerate(values):
            with open(f"{folder}/__{i}__.pickle", "wb") as handle:
                handle.write(cloudpickle.dumps(value))

    _pedantic(benchmark, setup, run)


def test_file_array_bulk_write_2000(benchmark, fresh_dir) -> None:
    values = _values(N_FILES)

    def setup():
        return (FileArray(fresh_dir(), (N_FILES,)),), {}

    _pedantic(benchmark, setup, lambda store: store.dump_many(range(N_FILES), values))


def test_file_array_read_2000(benchmark, fresh_dir) -> None:
    store = FileArray(fresh_dir(), (N_FILES,))
    store.dump_many(range(N_FILES), _values(N_FILES))
    benchmark(store.to_array)


# -------------------------------------------------------------------- chunked, 10^5 small objects
def test_chunked_bulk_write_100000(benchmark, fresh_dir) -> None:
    values = _values(N_SMALL)

    def setup():
        return (ChunkedArray(fresh_dir(), (N_SMALL,)),), {}

    _pedantic(benchmark, setup, lambda store: store.dump_many(range(N_SMALL), values))


def test_chunked_write_in_batches_of_64_100000(benchmark, fresh_dir) -> None:
    """Runner-like: many small batches (exercises pack merging)."""
    values = _values(N_SMALL)

    def setup():
        return (ChunkedArray(fresh_dir(), (N_SMALL,)),), {}

    def run(store: ChunkedArray) -> None:
        for start in range(0, N_SMALL, 64):
            store.dump_many(range(start, min(N_SMALL, start + 64)), values[start : start + 64])

    _pedantic(benchmark, setup, run, rounds=3)


def test_chunked_read_100000(benchmark, fresh_dir) -> None:
    folder = fresh_dir()
    ChunkedArray(folder, (N_SMALL,)).dump_many(range(N_SMALL), _values(N_SMALL))

    def setup():
        return (ChunkedArray(folder, (N_SMALL,)),), {}  # cold caches

    _pedantic(benchmark, setup, lambda store: store.get_many(range(N_SMALL)))


def test_chunked_to_array_100000(benchmark, fresh_dir) -> None:
    folder = fresh_dir()
    ChunkedArray(folder, (N_SMALL,)).dump_many(range(N_SMALL), _values(N_SMALL))

    def setup():
        return (ChunkedArray(folder, (N_SMALL,)),), {}

    _pedantic(benchmark, setup, lambda store: store.to_array())


# -------------------------------------------------------------------- bulk masks of 10^5
@pytest.fixture(scope="module")
def file_array_100000():
    folder = tempfile.mkdtemp(prefix="bench_storage_mask_")
    store = FileArray(folder, (N_MASK,))
    store.dump_many(range(0, N_MASK, 2), [0] * (N_MASK // 2))  # half present
    yield store
    shutil.rmtree(folder, ignore_errors=True)


def test_file_array_done_mask_100000(benchmark, file_array_100000) -> None:
    benchmark(file_array_100000.done_mask)


def test_chunked_done_mask_100000_cold(benchmark, fresh_dir) -> None:
    folder = fresh_dir()
    ChunkedArray(folder, (N_MASK,)).dump_many(range(0, N_MASK, 2), [0] * (N_MASK // 2))

    def setup():
        return (ChunkedArray(folder, (N_MASK,)),), {}

    _pedantic(benchmark, setup, lambda store: store.done_mask(), rounds=10)


def test_chunked_done_mask_100000_warm(benchmark, fresh_dir) -> None:
    store = ChunkedArray(fresh_dir(), (N_MASK,))
    store.dump_many(range(0, N_MASK, 2), [0] * (N_MASK // 2))
    store.done_mask()
    benchmark(store.done_mask)


# -------------------------------------------------------------------- zarr
def test_zarr_file_array_bulk_write_2000(benchmark, fresh_dir) -> None:
    values = _values(N_FILES)

    def setup():
        return (ZarrFileArray(fresh_dir(), (N_FILES,)),), {}

    _pedantic(benchmark, setup, lambda store: store.dump_many(range(N_FILES), values))


def test_zarr_file_array_read_2000(benchmark, fresh_dir) -> None:
    store = ZarrFileArray(fresh_dir(), (N_FILES,))
    store.dump_many(range(N_FILES), _values(N_FILES))
    benchmark(store.to_array)


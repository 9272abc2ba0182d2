"""A conformance suite every storage backend passes by subclassing (pytest).

Subclass :class:`StorageConformance` in a test module (its name must start with ``Test``), set
``storage_class`` and, if needed, ``extra_kwargs`` and the capability switches; capability
properties of the class (``dump_in_subprocess``, ``supports_persist``) decide what else runs::

    from pipemap.storage import FileArray
    from pipemap.storage.testing import StorageConformance

    class TestFileArray(StorageConformance):
        storage_class = FileArray

Requires pytest (only imported by test code). The subprocess test sends the storage to spawned
workers, so a backend with ``dump_in_subprocess=True`` must be importable by module name (defined
in a package, not in the test file itself).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import multiprocessing
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from ._base import StorageBase
from ._registry import get_storage_class

__all__ = ["SHAPE_CASES", "StorageConformance", "shared_process_pool", "write_chunk_in_worker", "write_in_small_batches"]

# (external shape, internal shape, shape mask)
SHAPE_CASES: list[tuple[tuple[int, ...], tuple[int, ...], tuple[bool, ...] | None]] = [
    ((5,), (), None),
    ((2, 3), (), None),
    ((2, 3, 4), (), None),
    ((2,), (3,), (True, False)),
    ((2, 2), (3, 3, 4), (True, True, False, False, False)),
    ((2, 2), (3, 3, 4), (False, True, True, False, False)),
    ((1, 1), (2,), (True, True, False)),
]


def _ids(case: Any) -> str:
    shape, internal, mask = case
    return f"{shape}-{internal}-{''.join('T' if m else 'F' for m in mask) if mask else 'all'}"


def _value_for(index: int, internal: tuple[int, ...]) -> Any:
    if internal:
        return np.arange(int(np.prod(internal)), dtype=np.int64).reshape(internal) + 1000 * index
    return {"i": index, "s": str(index)}


def write_chunk_in_worker(store: StorageBase, indices: list[int], internal: tuple[int, ...]) -> int:
    """Worker-side helper: write ``indices`` into a pickled ``store`` (for subprocess tests)."""
    store.dump_many(indices, [_value_for(i, internal) for i in indices])
    return len(indices)


_POOL: list[concurrent.futures.ProcessPoolExecutor] = []


def shared_process_pool() -> concurrent.futures.ProcessPoolExecutor:
    """One spawn-based pool of 2 workers reused by subprocess tests (recreated if broken).

    Functions sent to it must live in an importable module (such as this one), not in a test file.
    """
    if _POOL and not getattr(_POOL[0], "_broken", False):
        return _POOL[0]
    if _POOL:
        _POOL.pop().shutdown(wait=False, cancel_futures=True)
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
    if not _POOL_EXIT_REGISTERED:
        atexit.register(_shutdown_pool)
        _POOL_EXIT_REGISTERED.append(True)
    _POOL.append(pool)
    return pool


_POOL_EXIT_REGISTERED: list[bool] = []


def _shutdown_pool() -> None:
    while _POOL:
        _POOL.pop().shutdown(wait=True, cancel_futures=True)


def write_in_small_batches(store: StorageBase, indices: list[int], batch: int = 3) -> int:
    """Worker-side helper: write ``("w", i)`` for ``indices`` in batches of ``batch`` (concurrency tests)."""
    for k in range(0, len(indices), batch):
        part = indices[k : k + batch]
        store.dump_many(part, [("w", i) for i in part])
    return len(indices)


def _is_missing_cell(value: Any) -> bool:
    return value is np.ma.masked or value is None


def _cells_missing(result: Any) -> np.ndarray:
    if isinstance(result, np.ma.MaskedArray):
        return np.ma.getmaskarray(result)
    flat = [_is_missing_cell(v) for v in np.asarray(result, dtype=object).ravel()]
    return np.array(flat, dtype=bool).reshape(np.shape(result))


class StorageConformance:
    """Behaviour every backend must have (docs/behaviour.md §3.1, edge cases §8.58-8.67, bulk members, atomicity)."""

    storage_class: ClassVar[type[StorageBase]]
    extra_kwargs: ClassVar[dict[str, Any]] = {}
    #: the backend accepts ``"?"`` in shapes at construction (zarr does not)
    supports_unresolved_shape: ClassVar[bool] = True
    #: slices with negative steps work (zarr: no)
    supports_negative_step: ClassVar[bool] = True
    #: ``to_array(splat_internal=False)`` works with internal axes (zarr: no)
    supports_unsplatted_internal: ClassVar[bool] = True
    #: a stored list comes back as the same list (zarr turns regular lists into arrays)
    preserves_sequences: ClassVar[bool] = True

    # ------------------------------------------------------------ factory hooks
    def make(self, folder: Path, shape: tuple[Any, ...], internal: tuple[int, ...] = (), mask: Any = None) -> StorageBase:
        """Create a storage in ``folder`` (override for backends with other constructors)."""
        return self.storage_class(folder, shape, internal or None, mask, **self.extra_kwargs)

    def reopen(self, store: StorageBase) -> StorageBase:
        """A new instance on the same folder and shapes (persistence / visibility checks)."""
        return self.make(store.folder, store.shape, store.internal_shape, store.shape_mask if store.internal_shape else None)  # type: ignore[arg-type]

    def _fill(self, store: StorageBase, indices: list[int]) -> None:
        internal = store.resolved_internal_shape
        for i in indices:
            key = np.unravel_index(i, store.resolved_shape)
            store.dump(tuple(int(k) for k in key), _value_for(i, internal))

    # ------------------------------------------------------------ capabilities
    def test_capabilities_are_declared(self) -> None:
        cls = self.storage_class
        assert isinstance(cls.storage_id, str)
        assert isinstance(cls.requires_serialization, bool)
        assert get_storage_class(cls.storage_id) is cls

    def test_constructor_validates_mask(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="shape_mask must be provided if internal_shape is provided"):
            self.storage_class(tmp_path / "a", (2,), (3,), None, **self.extra_kwargs)
        with pytest.raises(ValueError, match="shape_mask must have the same length as shape"):
            self.storage_class(tmp_path / "b", (2,), (3,), (True,), **self.extra_kwargs)

    # ------------------------------------------------------------ element round trips
    @pytest.mark.parametrize("case", SHAPE_CASES, ids=_ids)
    @pytest.mark.parametrize("bulk", [False, True], ids=["single", "bulk"])
    def test_roundtrip(self, tmp_path: Path, case: Any, bulk: bool) -> None:
        shape, internal, mask = case
        store = self.make(tmp_path / "s", shape, internal, mask)
        size = int(np.prod(shape))
        written = list(range(0, size, 2))
        if bulk:
            store.dump_many(written, [_value_for(i, internal) for i in written])
        else:
            self._fill(store, written)
        done = store.done_mask()
        assert done.dtype == bool and done.shape == (size,)
        assert np.flatnonzero(done).tolist() == written
        assert store.missing_indices().tolist() == [i for i in range(size) if i not in written]
        assert store.mask_linear() == [i not in written for i in range(size)]
        assert np.ma.getmaskarray(store.mask).tolist() == np.array([i not in written for i in range(size)]).reshape(shape).tolist()
        got = store.get_many(range(size))
        for i in range(size):
            if i in written:
                np.testing.assert_equal(got[i], _value_for(i, internal))
                assert store.has_index(i)
            else:
                assert got[i] is np.ma.masked
                assert not store.has_index(i)
        arr = store.to_array()
        full = store.full_shape
        assert arr.shape == (full if internal else shape)
        if not internal:
            for i in written:
                key = np.unravel_index(i, shape)
                assert arr[key] == _value_for(i, internal)
            assert np.ma.getmaskarray(arr).ravel().tolist() == [i not in written for i in range(size)]
        else:
            ext_axes = [a for a, m in enumerate(mask) if m]
            for full_index in np.ndindex(*full):
                ext = tuple(full_index[a] for a in ext_axes)
                inner = tuple(full_index[a] for a, m in enumerate(mask) if not m)
                linear = int(np.ravel_multi_index(ext, shape))
                if linear in written:
                    assert arr[full_index] == _value_for(linear, internal)[inner]
                    assert store[full_index] == arr[full_index]
                else:
                    assert np.ma.getmaskarray(arr)[full_index]
                    assert _is_missing_cell(store[full_index])

    def test_missing_element_is_masked(self, tmp_path: Path) -> None:  # edge case 58
        store = self.make(tmp_path / "s", (2, 3))
        store.dump((0, 0), "a")
        store.dump((1, 2), "b")
        assert store[0, 1] is np.ma.masked
        arr = store.to_array(splat_internal=False)
        assert np.ma.getmaskarray(arr).sum() == 4
        assert (arr[0, 0], arr[1, 2]) == ("a", "b")

    def test_negative_key(self, tmp_path: Path) -> None:  # edge case 59
        store = self.make(tmp_path / "s", (2, 3))
        store.dump((-1, -1), 42)
        assert store[1, 2] == 42
        assert store.get_from_index(5) == 42

    def test_slices(self, tmp_path: Path) -> None:  # edge case 60
        store = self.make(tmp_path / "s", (2, 3, 4))
        self._fill(store, [0, 8])  # (0,0,0) and (0,2,0)
        sliced = store[0, ::2, 0]
        assert np.shape(sliced) == (2,)
        assert not _cells_missing(sliced).any()
        part = store[0, :, 0]
        assert _cells_missing(part).tolist() == [False, True, False]
        if self.supports_negative_step:
            rev = store[0, ::-1, 0]
            assert _cells_missing(rev).tolist() == [False, True, False]
            assert rev[0] == _value_for(8, ())

    def test_internal_slice(self, tmp_path: Path) -> None:  # edge case 61
        mask = (True, True, False, False, False)
        store = self.make(tmp_path / "s", (2, 2), (3, 3, 4), mask)
        value = np.arange(36).reshape(3, 3, 4)
        store.dump((0, 0), value)
        got = store[0, :, 1, 1, 1]
        assert np.shape(got) == (2,)
        assert got[0] == value[1, 1, 1]
        assert _cells_missing(got).tolist() == [False, True]
        assert store.to_array().shape == (2, 2, 3, 3, 4)
        other = self.make(tmp_path / "t", (2, 2), (3, 3, 4), (False, True, True, False, False))
        assert other.to_array().shape == (3, 2, 2, 3, 4)

    def test_splat_without_internal_raises(self, tmp_path: Path) -> None:  # edge case 62
        store = self.make(tmp_path / "s", (2,))
        with pytest.raises(ValueError, match="internal_shape must be provided if splat_internal is True"):
            store.to_array(splat_internal=True)

    def test_list_of_arrays(self, tmp_path: Path) -> None:  # edge case 63
        store = self.make(tmp_path / "s", (1,))
        value = [np.ones((4, 4)), np.zeros((4, 4))]
        store.dump((0,), value)
        got = store[0]
        if self.preserves_sequences:
            assert isinstance(got, list) and len(got) == 2
        np.testing.assert_array_equal(np.asarray(got), np.asarray(value))

    def test_dump_slice_with_internal(self, tmp_path: Path) -> None:  # edge case 64
        store = self.make(tmp_path / "s", (1, 1), (2,), (True, True, False))
        store.dump((0, slice(None)), [1, 2])
        assert store[0, 0, 1] == 2

    def test_dump_slice_repeats_value(self, tmp_path: Path) -> None:
        store = self.make(tmp_path / "s", (2, 3))
        store.dump((slice(None), 1), "v")
        assert np.flatnonzero(store.done_mask()).tolist() == [1, 4]

    def test_unsplatted_internal(self, tmp_path: Path) -> None:
        store = self.make(tmp_path / "s", (2,), (3,), (True, False))
        store.dump((1,), [7, 8, 9])
        if not self.supports_unsplatted_internal:
            with pytest.raises(NotImplementedError):
                store.to_array(splat_internal=False)
            return
        arr = store.to_array(splat_internal=False)
        assert arr.shape == (2,)
        assert list(arr[1]) == [7, 8, 9]
        assert np.ma.getmaskarray(arr).tolist() == [True, False]

    def test_unsorted_bulk_with_repeats(self, tmp_path: Path) -> None:
        store = self.make(tmp_path / "s", (2, 3))
        store.dump_many([5, 0, 3, 0], ["f", "first", "d", "last"])
        assert store.get_many([0, 3, 5, 1]) == ["last", "d", "f", np.ma.masked]
        assert store.missing_indices().tolist() == [1, 2, 4]

    def test_threaded_writes(self, tmp_path: Path) -> None:
        store = self.make(tmp_path / "s", (40,))
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda k: store.dump_many(range(k, 40, 4), [i * i for i in range(k, 40, 4)]), range(4)))
        assert store.done_mask().all()
        assert store.get_many(range(40)) == [i * i for i in range(40)]

    def test_overwrite(self, tmp_path: Path) -> None:
        store = self.make(tmp_path / "s", (3,))
        store.dump((1,), "old")
        store.dump_many([1], ["new"])
        assert store[1] == "new"

    # ------------------------------------------------------------ bad input
    def test_key_errors(self, tmp_path: Path) -> None:
        store = self.make(tmp_path / "s", (2, 3))
        with pytest.raises(IndexError, match="Too many indices for array: array is 2-dimensional, but 3 were indexed"):
            store.dump((0, 0, 0), 1)
        with pytest.raises(IndexError, match="Index 5 is out of bounds for axis 1 with size 3"):
            store.dump((0, 5), 1)
        with pytest.raises(IndexError, match="Index 2 is out of bounds for axis 0 with size 2"):
            store[2, 0]
        with pytest.raises(IndexError, match="out of bounds") as info:
            store.dump_many([0, 6], ["a", "b"])
        assert type(store).__name__ in str(info.value)
        assert not store.done_mask().any()

    def test_value_shape_error_writes_nothing(self, tmp_path: Path) -> None:
        store = self.make(tmp_path / "s", (2,), (3,), (True, False))
        with pytest.raises(ValueError, match=r"internal_shape \(3,\)") as info:
            store.dump((0,), [1, 2])
        assert type(store).__name__ in str(info.value)
        with pytest.raises(ValueError):
            store.dump_many([0, 1], [[1, 2, 3], [1, 2]])
        assert not store.done_mask().any()

    def test_get_from_index_out_of_range(self, tmp_path: Path) -> None:  # edge case 66
        store = self.make(tmp_path / "s", (2, 2))
        with pytest.raises((ValueError, FileNotFoundError)):
            store.get_from_index(1_000_000)

    # ------------------------------------------------------------ shapes
    def test_shape_resolved_later(self, tmp_path: Path) -> None:
        if not self.supports_unresolved_shape:
            pytest.skip("backend needs resolved shapes at construction")
        store = self.make(tmp_path / "s", ("?",))
        assert not store.full_shape_is_resolved()
        store.shape = (4,)
        assert store.full_shape_is_resolved()
        assert store.size == 4 and store.strides == (1,)
        store.dump((3,), "x")
        assert store.mask_linear() == [True, True, True, False]

    def test_derived_shapes(self, tmp_path: Path) -> None:
        store = self.make(tmp_path / "s", (3, 4, 5))
        assert (store.size, store.rank, store.strides) == (60, 3, (20, 5, 1))
        store.dump((1, 2, 3), "x")
        assert store.get_from_index(33) == "x"

    # ------------------------------------------------------------ persistence and processes
    def test_persist_and_reopen(self, tmp_path: Path) -> None:  # edge case 65
        store = self.make(tmp_path / "s", (2, 3))
        self._fill(store, [0, 4, 5])
        before = store.to_array()
        if not (store.supports_persist or store.dump_in_subprocess):
            pytest.skip("memory-only backend without persistence")
        store.persist()
        again = self.reopen(store)
        after = again.to_array()
        assert np.ma.getmaskarray(after).tolist() == np.ma.getmaskarray(before).tolist()
        assert after.compressed().tolist() == before.compressed().tolist()

    def test_pickle_is_light(self, tmp_path: Path) -> None:
        store = self.make(tmp_path / "s", (200,))
        self._fill(store, range(200))  # type: ignore[arg-type]
        if not store.dump_in_subprocess:
            pytest.skip("not written from subprocesses")
        blob = pickle.dumps(store)
        assert len(blob) < 20_000
        clone = pickle.loads(blob)
        assert clone.get_many([5]) == [_value_for(5, ())]

    def test_subprocess_writes(self, tmp_path: Path) -> None:
        store = self.make(tmp_path / "s", (6, 5))
        if not store.dump_in_subprocess:
            pytest.skip("dump_in_subprocess is False")
        chunks = [list(range(k, 30, 3)) for k in range(3)]
        pool = shared_process_pool()
        counts = list(pool.map(write_chunk_in_worker, [store] * 3, chunks, [()] * 3))
        assert sum(counts) == 30
        assert store.done_mask().all()
        assert store.get_many(range(30)) == [_value_for(i, ()) for i in range(30)]

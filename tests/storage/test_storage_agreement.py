"""All built-in backends agree with each other (edge case 67) and with a dict model (hypothesis)."""

from __future__ import annotations

import tempfile
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipemap.storage import get_storage_class

BACKENDS = ["file_array", "dict", "chunked", "zarr_file_array", "zarr_memory"]


def _fill(storage_id: str, folder: str, shape, internal, mask):
    store = get_storage_class(storage_id)(folder, shape, internal or None, mask)
    size = int(np.prod(shape))
    for i in range(0, size, 3):
        key = tuple(int(k) for k in np.unravel_index(i, shape))
        value = np.arange(int(np.prod(internal))).reshape(internal) + 10 * i if internal else ("v", i)
        store.dump(key, value)
    return store


@pytest.mark.parametrize(
    ("shape", "internal", "mask"),
    [((3, 4), (), None), ((2, 3), (2,), (True, False, True))],
)
def test_backends_agree(tmp_path, shape, internal, mask) -> None:
    stores = {sid: _fill(sid, str(tmp_path / sid), shape, internal, mask) for sid in BACKENDS}
    ref = stores.pop("file_array")
    ref_arr = ref.to_array()
    full = ref.full_shape
    slices = [tuple(slice(None) for _ in full), tuple(slice(1, None) if n > 1 else 0 for n in full)]
    for sid, store in stores.items():
        assert store.full_shape == ref.full_shape, sid
        assert store.strides == ref.strides, sid
        assert store.mask_linear() == ref.mask_linear(), sid
        assert np.ma.getmaskarray(store.mask).tolist() == np.ma.getmaskarray(ref.mask).tolist(), sid
        arr = store.to_array()
        assert np.ma.getmaskarray(arr).tolist() == np.ma.getmaskarray(ref_arr).tolist(), sid
        assert arr.compressed().tolist() == ref_arr.compressed().tolist(), sid
        for key in slices:
            got, want = store[key], ref[key]
            want_missing = np.ma.getmaskarray(want)
            got_values = np.asarray(got, dtype=object)
            assert got_values.shape == want.shape, sid
            for idx in np.ndindex(*want.shape):
                if want_missing[idx]:
                    assert got_values[idx] is np.ma.masked or got_values[idx] is None, sid
                else:
                    assert got_values[idx] == want[idx], sid


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@st.composite
def scenarios(draw):
    shape = draw(shapes)
    size = int(np.prod(shape))
    batches = draw(
        st.lists(st.lists(st.integers(0, size - 1), min_size=1, max_size=size), min_size=1, max_size=5)
    )
    return shape, batches


@pytest.mark.parametrize("storage_id", BACKENDS + ["shared_memory_dict"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios(), chunk=st.integers(1, 5))
def test_matches_dict_model(storage_id: str, scenario, chunk: int) -> None:
    shape, batches = scenario
    size = int(np.prod(shape))
    kwargs = {"chunk_size": chunk, "max_packs": 2} if storage_id == "chunked" else {}
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("error")
        store = get_storage_class(storage_id)(folder, shape, **kwargs)
        model: dict[int, object] = {}
        for n, batch in enumerate(batches):
            values = [(n, i) for i in batch]
            store.dump_many(batch, values)
            model.update(zip(batch, values))
            assert np.flatnonzero(store.done_mask()).tolist() == sorted(model)
        expected = [model.get(i, np.ma.masked) for i in range(size)]
        assert store.get_many(range(size)) == expected
        if store.dump_in_subprocess or store.supports_persist:
            store.persist()
            again = get_storage_class(storage_id)(folder, shape, **kwargs)
            assert again.get_many(range(size)) == expected


def _axis_key(size: int):
    ints = st.integers(-size, size - 1)
    bounds = st.one_of(st.none(), st.integers(-size - 1, size + 1))
    steps = st.one_of(st.none(), st.integers(1, 3), st.integers(-3, -1))
    return st.one_of(ints, st.builds(slice, bounds, bounds, steps))


FULL = (2, 2, 3)  # external (2, 3) with an internal axis of 2 in the middle
MASK = (True, False, True)


@pytest.mark.parametrize("storage_id", ["file_array", "dict", "chunked", "zarr_file_array"])
@settings(max_examples=25, deadline=None)
@given(key=st.tuples(*(_axis_key(n) for n in FULL)))
def test_indexing_matches_numpy(storage_id: str, key) -> None:
    """``store[key]`` equals numpy indexing of the splatted reference, missing cells included."""
    with tempfile.TemporaryDirectory() as folder:
        store = get_storage_class(storage_id)(folder, (2, 3), (2,), MASK)
        reference = np.empty(FULL, dtype=object)
        missing = np.ones(FULL, dtype=bool)
        for i, j in [(0, 0), (0, 2), (1, 1)]:
            value = [f"{i}{j}a", f"{i}{j}b"]
            store.dump((i, j), value)
            reference[i, :, j] = value
            missing[i, :, j] = False
        got = store[key]
        want, want_missing = reference[key], missing[key]
        if np.ndim(want) == 0:
            if want_missing:
                assert got is np.ma.masked or got is None
            else:
                assert got == want
            return
        got_values = np.asarray(got, dtype=object)
        assert got_values.shape == want.shape
        for idx in np.ndindex(*want.shape):
            if want_missing[idx]:
                assert got_values[idx] is np.ma.masked or got_values[idx] is None
            else:
                assert got_values[idx] == want[idx]

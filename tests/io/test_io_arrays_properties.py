"""Property tests of the array helpers against naive references."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipemap.io._arrays import splat_internal, typed_values

scalars = st.one_of(st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=3))


@settings(max_examples=60, deadline=None)
@given(
    external=st.lists(st.integers(1, 3), min_size=1, max_size=2),
    internal=st.lists(st.integers(1, 3), min_size=1, max_size=2),
    data=st.data(),
)
def test_splat_matches_reference(external: list[int], internal: list[int], data: st.DataObject) -> None:
    n_ext, n_int = len(external), len(internal)
    mask_positions = data.draw(st.permutations([True] * n_ext + [False] * n_int))
    size = int(np.prod(external))
    present = np.array(sorted(data.draw(st.sets(st.integers(0, size - 1)))), dtype=np.int64)
    values = [np.arange(int(np.prod(internal))).reshape(internal) * 10 + k for k in present.tolist()]
    if data.draw(st.booleans()):
        values = [v.tolist() for v in values]
    out = splat_internal(values, present, tuple(external), tuple(internal), mask_positions)
    full = []
    ext_it, int_it = iter(external), iter(internal)
    for m in mask_positions:
        full.append(next(ext_it) if m else next(int_it))
    assert out.shape == tuple(full)
    by_linear = dict(zip(present.tolist(), values))
    for index in itertools.product(*map(range, full)):
        ext = tuple(i for i, m in zip(index, mask_positions) if m)
        inner = tuple(i for i, m in zip(index, mask_positions) if not m)
        linear = int(np.ravel_multi_index(ext, external))
        if linear in by_linear:
            assert not out.mask[index]
            assert out.data[index] == np.asarray(by_linear[linear])[inner]
        else:
            assert out.mask[index]


@settings(max_examples=80, deadline=None)
@given(values=st.lists(scalars, min_size=1, max_size=12), data=st.data())
def test_typed_values_keeps_every_value(values: list[object], data: st.DataObject) -> None:
    mask = data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    out = typed_values(np.ma.MaskedArray(arr, mask=mask))
    numeric = all(isinstance(v, (int, float)) for v, m in zip(values, mask) if not m) and not all(mask)
    if numeric:
        assert out.dtype.kind in "if"
    else:
        assert out.dtype == object
    for v, m, o in zip(values, mask, out.tolist()):
        if m:
            assert isinstance(o, float) and np.isnan(o)
        else:
            assert o == v

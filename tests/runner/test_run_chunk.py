"""The chunk path's bulk gathering agrees with element-by-element indexing."""

from __future__ import annotations

import numpy as np
import pytest
from pipemap.runner import Pipeline, pipefunc, run_map
from pipemap.runner.worker._calls import compile_call
from pipemap.runner.worker._gather import _gather_slow, _gather_storage_slices
from pipemap.storage import DictArray, FileArray


def _cells(a):
    data = a.data if isinstance(a, np.ma.MaskedArray) else np.asarray(a, dtype=object)
    return list(data.ravel())


@pytest.mark.parametrize("cls", [DictArray, FileArray])
def test_bulk_slices_equal_per_element_reads(cls, tmp_path) -> None:
    s = cls(None if cls is DictArray else tmp_path, (3, 4, 2))
    s.dump_many([0, 1, 2, 5, 9, 23], [[1, 2], "a", (3,), 4, 5, np.arange(3)])
    for sel in (np.array([[0, -1, 1], [2, -1, 0], [1, -1, 1]]), np.array([[-1, 1, -1], [-1, 3, -1]])):
        fast = _gather_storage_slices(s, sel)
        slow = _gather_slow(s, sel)
        for a, b in zip(fast, slow):
            assert type(a) is type(b)
            assert a.shape == b.shape
            assert np.array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
            for x, y in zip(_cells(a), _cells(b)):
                assert x is y or (x is np.ma.masked and y is np.ma.masked) or np.array_equal(
                    np.asarray(x, dtype=object), np.asarray(y, dtype=object)
                )


def test_compiled_call_applies_renames_bound_and_defaults() -> None:
    from pipemap.runner import PipeFunc

    def f(a, b, c=5, d=7):
        return (a, b, c, d)

    pf = PipeFunc(f, "y", renames={"a": "x"}, bound={"b": 2}, defaults={"c": 50})
    call = compile_call(pf, ["x"], {"d": 70})
    assert call(1) == (1, 2, 50, 70)
    assert call(1) == pf._call_with_renamed_kwargs({"x": 1, "d": 70})


def test_reduction_over_storage_slices_in_a_run() -> None:
    @pipefunc("d", mapspec="x[i], y[j] -> d[i, j]")
    def prod(x, y):
        return x * y

    @pipefunc("e", mapspec="d[i, :] -> e[i]")
    def row(d):
        assert isinstance(d, np.ndarray) and d.shape == (3,)
        return int(sum(d))

    r = run_map(Pipeline([prod, row]), {"x": [1, 2], "y": [1, 2, 3]}, parallel=False)
    assert r["e"].output.tolist() == [6, 12]

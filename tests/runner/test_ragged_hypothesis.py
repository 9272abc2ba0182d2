"""Random row lengths (empty rows, an empty outer axis, two outer axes) against a plain-Python
reference: producer, element-wise consumer with a broadcast input, zip, reductions of both the
per-row and the flat storage."""

from __future__ import annotations

import shutil
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipemap.runner import Pipeline, pipefunc, run_map


@pipefunc("w", mapspec="a[i], b[k] -> w[i, k, j*]")
def make(a, b):
    return [a * 100 + b * 10 + x for x in range((a * 7 + b * 3) % 5 + (a == b))]


@pipefunc("v", mapspec="a[i], w[i, k, j*] -> v[i, k, j*]")
def shift(a, w):
    return w - a


@pipefunc("z", mapspec="w[i, k, j*], v[i, k, j*] -> z[i, k, j*]")
def zipped(w, v):
    return w * 1000 + v


@pipefunc("s", mapspec="z[i, k, :] -> s[i, k]")
def total(z):
    return int(np.sum(z))


@pipefunc("c", mapspec="w[i, k, :] -> c[i, k]")
def count(w):
    return len(w)


PIPELINE = Pipeline([make, shift, zipped, total, count])


def reference(a: list[int], b: list[int]) -> dict[str, list]:
    rows = [[make.func(x, y) for y in b] for x in a]
    flat_v = [e - x for x, row in zip(a, rows) for r in row for e in r]
    flat_w = [e for row in rows for r in row for e in r]
    z = [w * 1000 + v for w, v in zip(flat_w, flat_v)]
    s = [[sum(e * 1000 + (e - x) for e in r) for r in row] for x, row in zip(a, rows)]
    c = [[len(r) for r in row] for row in rows]
    return {"v": flat_v, "z": z, "s": s, "c": c}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a=st.lists(st.integers(0, 9), min_size=0, max_size=6),
    b=st.lists(st.integers(0, 9), min_size=1, max_size=4),
    parallel=st.booleans(),
    storage=st.sampled_from(["file_array", "dict", "chunked"]),
)
def test_against_plain_python(a, b, parallel, storage) -> None:
    folder = tempfile.mkdtemp(prefix="ragged-hyp-")
    try:
        r = run_map(PIPELINE, {"a": a, "b": b}, run_folder=folder, storage=storage, parallel=parallel, chunksizes=3)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    want = reference(a, b)
    assert r["v"].output.tolist() == want["v"]
    assert r["z"].output.tolist() == want["z"]
    assert np.asarray(r["s"].output).reshape(len(a), len(b)).tolist() == want["s"]
    assert np.asarray(r["c"].output).reshape(len(a), len(b)).tolist() == want["c"]

"""Ragged axes through the runner (issue 16): the syntax end to end, every storage, resume, errors."""

from __future__ import annotations

import numpy as np
import pytest
from pipemap.mapspec import MapSpecError, ShapeError
from pipemap.runner import Pipeline, pipefunc, run_map
from pipemap.storage import read_ragged_lengths

from tests.runner._ragged_pipeline import N, TEXT, check, pipeline, reference

STORAGES = ["file_array", "dict", "shared_memory_dict", "chunked", "zarr_file_array", "zarr_memory", "zarr_shared_memory"]


def need_storage(name: str) -> None:
    from pipemap.storage import get_storage_class

    try:
        get_storage_class(name)
    except (ValueError, ImportError) as e:
        pytest.skip(f"storage `{name}` unavailable: {e}")


def test_sequential_file_array(tmp_path) -> None:
    r = run_map(pipeline(), {"text": TEXT, "n": N}, run_folder=tmp_path, parallel=False)
    check(r)
    lengths = [len(t.split()) for t in TEXT]
    for name in ("words", "upper", "tagged", "paired"):
        assert read_ragged_lengths(tmp_path, name).tolist() == lengths
    # nothing padded on disk: the flat output has one element per existing element
    assert r["upper"].store.shape == (sum(lengths),)
    assert r["words"].store.shape == (len(TEXT),)


def test_calls_only_existing_elements(tmp_path) -> None:
    calls = []

    @pipefunc("w", mapspec="t[i] -> w[i, j*]")
    def make(t):
        return list(range(t))

    @pipefunc("v", mapspec="w[i, j*] -> v[i, j*]")
    def visit(w):
        calls.append(w)
        return w * 2

    r = run_map(Pipeline([make, visit]), {"t": [3, 0, 2]}, run_folder=tmp_path, parallel=False)
    assert sorted(calls) == [0, 0, 1, 1, 2]
    assert r["v"].output.tolist() == [0, 2, 4, 0, 2]


@pytest.mark.parametrize("storage", STORAGES)
def test_every_storage(storage, tmp_path) -> None:
    need_storage(storage)
    r = run_map(pipeline(), {"text": TEXT, "n": N}, run_folder=tmp_path, storage=storage, parallel=False)
    check(r)


def test_without_run_folder() -> None:
    check(run_map(pipeline(), {"text": TEXT, "n": N}, parallel=False))


@pytest.mark.parametrize("storage", ["file_array", "chunked", "zarr_file_array"])
def test_resume_recomputes_only_missing(storage, tmp_path) -> None:
    need_storage(storage)
    calls = []

    @pipefunc("upper", mapspec="words[i, j*] -> upper[i, j*]")
    def shout_counted(words):
        calls.append(words)
        return words.upper()

    # the same functions in both runs (a changed function is recomputed on resume: issue 14)
    funcs = [f if f.output_name != "upper" else shout_counted for f in pipeline().functions]
    run_map(Pipeline(funcs), {"text": TEXT, "n": N}, run_folder=tmp_path, storage=storage, parallel=False)
    assert calls
    calls.clear()
    again = run_map(Pipeline(funcs), {"text": TEXT, "n": N}, run_folder=tmp_path, storage=storage, resume=True, parallel=False)
    check(again)
    assert calls == []


def test_empty_outer_axis_and_empty_rows(tmp_path) -> None:
    r = run_map(pipeline(), {"text": [], "n": []}, run_folder=tmp_path, parallel=False)
    assert r["upper"].output.tolist() == []
    assert r["count"].output.tolist() == []
    r = run_map(pipeline(), {"text": ["", ""], "n": [1, 2]}, run_folder=tmp_path / "b", parallel=False)
    assert r["upper"].output.tolist() == []
    assert r["count"].output.tolist() == [0, 0]
    assert r["joined"].output.tolist() == ["", ""]


def test_two_outer_axes_and_broadcast(tmp_path) -> None:
    @pipefunc("w", mapspec="a[i], b[k] -> w[i, k, j*]")
    def make(a, b):
        return list(range(a * b))

    @pipefunc("v", mapspec="b[k], w[i, k, j*] -> v[i, k, j*]")
    def add(b, w):
        return 100 * b + w

    @pipefunc("s", mapspec="v[i, k, :] -> s[i, k]")
    def total(v):
        return int(np.sum(v))

    r = run_map(Pipeline([make, add, total]), {"a": [1, 2], "b": [0, 1, 3]}, run_folder=tmp_path, parallel=False)
    want = [100 * b + x for a in [1, 2] for b in [0, 1, 3] for x in range(a * b)]
    assert r["v"].output.tolist() == want
    assert r["s"].output.tolist() == [[sum(100 * b + x for x in range(a * b)) for b in [0, 1, 3]] for a in [1, 2]]


def test_reduction_receives_each_row_with_its_length(tmp_path) -> None:
    seen = []

    @pipefunc("w", mapspec="t[i] -> w[i, j*]")
    def make(t):
        return [t] * t

    @pipefunc("m", mapspec="w[i, :] -> m[i]")
    def mean(w):
        seen.append(len(w))
        return float(np.mean(w)) if len(w) else 0.0

    r = run_map(Pipeline([make, mean]), {"t": [2, 0, 5]}, run_folder=tmp_path, parallel=False)
    assert sorted(seen) == [0, 2, 5]
    assert r["m"].output.tolist() == [2.0, 0.0, 5.0]


@pytest.mark.parametrize("bad", [3, "text", None, {"a": 1}])
def test_producer_returning_a_non_sequence_names_function_and_element(bad, tmp_path) -> None:
    @pipefunc("w", mapspec="t[i] -> w[i, j*]")
    def make_rows(t):
        return [1] if t == 0 else bad

    with pytest.raises(TypeError, match="make_rows") as info:
        run_map(Pipeline([make_rows]), {"t": [0, 1]}, run_folder=tmp_path, parallel=False)
    text = str(info.value) + "".join(getattr(info.value, "__notes__", []))
    assert "ragged output `w`" in text
    assert "t=1" in text or "(1,)" in text or "index 1" in text, text


def test_zip_of_two_ragged_arrays_with_different_rows_names_the_row(tmp_path) -> None:
    @pipefunc("a", mapspec="t[i] -> a[i, j*]")
    def make_a(t):
        return list(range(t))

    @pipefunc("b", mapspec="t[i] -> b[i, j*]")
    def make_b(t):
        return list(range(t + (t == 2)))

    @pipefunc("c", mapspec="a[i, j*], b[i, j*] -> c[i, j*]")
    def both(a, b):
        return a + b

    with pytest.raises(ShapeError, match=r"row \(1,\) has length 2 in `a` and 3 in `b`"):
        run_map(Pipeline([make_a, make_b, both]), {"t": [1, 2]}, run_folder=tmp_path, parallel=False)
    ok = run_map(Pipeline([make_a, make_b, both]), {"t": [1, 3]}, run_folder=tmp_path / "ok", parallel=False)
    assert ok["c"].output.tolist() == [0, 0, 2, 4]


def test_star_axis_that_no_function_produces_is_rejected() -> None:
    @pipefunc("v", mapspec="w[i, j*] -> v[i, j*]")
    def visit(w):
        return w

    @pipefunc("q", mapspec="x[i] -> q[i]")
    def other(x):
        return x

    with pytest.raises(MapSpecError, match=r"'j\*'.*`visit`.*no function"):
        Pipeline([visit, other])


def test_consumer_must_mark_the_ragged_axis() -> None:
    @pipefunc("w", mapspec="t[i] -> w[i, j*]")
    def make(t):
        return [t]

    @pipefunc("v", mapspec="w[i, j] -> v[i, j]")
    def plain(w):
        return w

    with pytest.raises(MapSpecError, match=r"`w\[i, j\]`.*`plain`.*j\*"):
        Pipeline([make, plain])


def test_flat_results_match_reference_element_order(tmp_path) -> None:
    r = run_map(pipeline(), {"text": TEXT, "n": N}, run_folder=tmp_path, parallel=False)
    assert r["tagged"].output.tolist() == reference(TEXT, N)["tagged"]


def test_progress_learns_the_flat_size_when_the_rows_are_known(tmp_path) -> None:
    from pipemap.runner.engine._events import ShapeResolved

    events = []
    run_map(pipeline(), {"text": TEXT, "n": N}, run_folder=tmp_path, parallel=False, callbacks=[events.append])
    sizes = {e.output_name: e.total for e in events if isinstance(e, ShapeResolved)}
    assert sizes.get("upper") == sum(len(t.split()) for t in TEXT)

"""Errors that name the culprit: wrong internal shapes and wrong output counts.

A function that returns something of the wrong structure (an element spanning 5 items where the
mapspec declares ``internal_shapes=3``, 3 values for ``output_name=("a", "b")``) must fail with an
error naming the function, the element and both shapes/counts, on every storage and executor,
and must never store truncated or padded data. With ``error_handling="continue"`` the element
becomes an ``ErrorSnapshot`` like any other failed call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pipemap.io import load_outputs
from pipemap.runner import PipeFunc, Pipeline
from pipemap.storage import ErrorSnapshot


def _text(exc: BaseException) -> str:
    return " ".join([str(exc), *getattr(exc, "__notes__", [])])


# --------------------------------------------------------------------------- item 8: internal shapes
def _wrong_length_at_one(n: int):
    def spread(x: int) -> list[int]:
        """Three items per element, except ``n`` items for x == 1."""
        return list(range(n)) if x == 1 else [10 * x, 10 * x + 1, 10 * x + 2]

    return spread


# (storage, needs a run folder) pairs: the defaults with and without a folder, chunked and zarr
STORAGES = [("file_array", True), ("dict", False), ("dict", True), ("chunked", True), ("zarr_file_array", True)]


@pytest.mark.parametrize("return_results", [True, False])
@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize(("storage", "with_folder"), STORAGES)
@pytest.mark.parametrize("n", [5, 1])
def test_wrong_internal_length_is_an_error_naming_function_element_and_shapes(
    tmp_path: Path, n: int, storage: str, with_folder: bool, parallel: bool, return_results: bool
) -> None:
    p = Pipeline([PipeFunc(_wrong_length_at_one(n), "y", mapspec="x[i] -> y[i, j]")])
    folder = tmp_path / "run" if with_folder else None
    with pytest.raises(ValueError, match="internal shape") as info:
        p.map(
            {"x": [0, 1, 2]},
            run_folder=folder,
            storage=storage,
            parallel=parallel,
            internal_shapes={"y": 3},
            return_results=return_results,
        )
    text = _text(info.value)
    assert "'spread'" in text and "(output 'y')" in text, text
    assert f"({n},)" in text and "(3,)" in text, text  # returned and declared shapes
    assert "linear index 1" in text, text  # the element
    assert "x=1" in text, text
    if folder is not None and storage != "dict":
        # nothing truncated or padded was stored for the bad element (the others may be)
        from pipemap.storage import open_run_folder

        _, stores = open_run_folder(folder)
        assert not stores["y"].done_mask()[1]


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize(("storage", "with_folder"), STORAGES)
@pytest.mark.parametrize("n", [5, 1])
def test_wrong_internal_length_in_continue_mode_is_an_error_snapshot(
    tmp_path: Path, n: int, storage: str, with_folder: bool, parallel: bool
) -> None:
    p = Pipeline([PipeFunc(_wrong_length_at_one(n), "y", mapspec="x[i] -> y[i, j]")])
    folder = tmp_path / "run" if with_folder else None
    r = p.map(
        {"x": [0, 1, 2]},
        run_folder=folder,
        storage=storage,
        parallel=parallel,
        internal_shapes={"y": 3},
        error_handling="continue",
    )
    out = r["y"].output
    assert out.shape == (3, 3)
    assert out[0].tolist() == [0, 1, 2] and out[2].tolist() == [20, 21, 22]
    bad = out[1, 0]
    assert isinstance(bad, ErrorSnapshot), out
    assert bad.exception_type == "ValueError" and f"({n},)" in str(bad.exception) and "(3,)" in str(bad.exception)
    assert bad.kwargs == {"x": 1}
    if folder is not None and storage != "dict":
        from pipemap.storage import open_run_folder

        _, stores = open_run_folder(folder)
        stored = stores["y"].get_many([1])[0]  # stored like any failed call (zarr: in every cell)
        cells = list(stored.ravel()) if hasattr(stored, "ravel") else [stored]
        assert cells and all(isinstance(c, ErrorSnapshot) for c in cells), stored
        loaded = load_outputs("y", run_folder=folder)
        assert loaded[2].tolist() == [20, 21, 22] and loaded[0].tolist() == [0, 1, 2]


# --------------------------------------------------------------------------- item 16: output counts
def _returns(value: Any):
    def two_outputs(x: int) -> Any:
        return value if x == 1 else (x, -x)

    return two_outputs


WRONG = [((1, 2, 3), "tuple of length 3"), ((1,), "tuple of length 1"), (5, "int"), (None, "NoneType")]


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize(("value", "described"), WRONG)
def test_mapped_multi_output_wrong_count_names_function_element_and_outputs(
    tmp_path: Path, value: Any, described: str, parallel: bool
) -> None:
    p = Pipeline([PipeFunc(_returns(value), ("a", "b"), mapspec="x[i] -> a[i], b[i]")])
    with pytest.raises(ValueError, match="2 outputs") as info:
        p.map({"x": [0, 1, 2]}, run_folder=tmp_path, parallel=parallel)
    text = _text(info.value)
    assert "`two_outputs`" in text and "('a', 'b')" in text and described in text, text
    assert "linear index 1" in text and "x=1" in text, text


@pytest.mark.parametrize("storage", ["dict", "file_array"])
@pytest.mark.parametrize(("value", "described"), WRONG)
def test_mapped_multi_output_wrong_count_in_continue_mode_is_an_error_snapshot(
    tmp_path: Path, value: Any, described: str, storage: str
) -> None:
    p = Pipeline([PipeFunc(_returns(value), ("a", "b"), mapspec="x[i] -> a[i], b[i]")])
    r = p.map({"x": [0, 1, 2]}, run_folder=tmp_path, storage=storage, parallel=False, error_handling="continue")
    a, b = r["a"].output, r["b"].output
    assert [a[0], a[2], b[0], b[2]] == [0, 2, 0, -2]
    for snap in (a[1], b[1]):
        assert isinstance(snap, ErrorSnapshot), (a, b)
        assert described in str(snap.exception) and snap.kwargs == {"x": 1}


def test_multi_output_returning_an_array_of_the_right_length_still_works(tmp_path: Path) -> None:
    import numpy as np

    p = Pipeline([PipeFunc(lambda x: np.array([x, 2 * x]), ("a", "b"), mapspec="x[i] -> a[i], b[i]")])
    r = p.map({"x": [1, 2]}, run_folder=tmp_path, parallel=False)
    assert r["a"].output.tolist() == [1, 2] and r["b"].output.tolist() == [2, 4]


@pytest.mark.parametrize(("value", "described"), WRONG)
def test_single_multi_output_wrong_count_is_clear(value: Any, described: str) -> None:
    def two_outputs(x: int) -> Any:
        return value

    p = Pipeline([PipeFunc(two_outputs, ("a", "b"))])
    with pytest.raises(ValueError, match="2 outputs") as info:
        p.map({"x": 1}, parallel=False)
    text = _text(info.value)
    assert "`two_outputs`" in text and "('a', 'b')" in text and described in text, text
    r = p.map({"x": 1}, parallel=False, error_handling="continue")
    for name in ("a", "b"):
        snap = r[name].output
        assert isinstance(snap, ErrorSnapshot) and described in str(snap.exception)


def test_output_picker_failure_names_function_outputs_and_value(tmp_path: Path) -> None:
    def pick(value: dict, name: str) -> Any:
        return value[name]

    def partial(x: int) -> dict:
        return {"a": x} if x == 1 else {"a": x, "b": -x}

    p = Pipeline([PipeFunc(partial, ("a", "b"), mapspec="x[i] -> a[i], b[i]", output_picker=pick)])
    with pytest.raises(KeyError) as info:
        p.map({"x": [0, 1, 2]}, run_folder=tmp_path, parallel=False)
    text = _text(info.value)
    assert "`partial`" in text and "('a', 'b')" in text and "{'a': 1}" in text and "output_picker" in text, text


def _ragged(n: int) -> list[int]:
    return list(range(n))


@pytest.mark.parametrize("storage", ["file_array", "chunked"])
def test_unresolved_internal_size_fixed_differently_in_a_parallel_run_is_an_error(tmp_path: Path, storage: str) -> None:
    """``"?"`` internal sizes: every chunk must agree with the first, also when the chunks ran in
    different worker processes (one process per chunk here), which fix them independently."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    p = Pipeline([PipeFunc(_ragged, "y", mapspec="n[k] -> y[k, j]")])
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx, max_tasks_per_child=1) as ex:
        # caught by the parent's check, or already by the worker that finds the output folder's
        # shape record (written by the first chunk) at odds with the size it fixed
        pattern = "does not match the expected internal shape|holds elements of internal shape"
        with pytest.raises(ValueError, match=pattern) as info:
            p.map({"n": [2, 3]}, run_folder=tmp_path, storage=storage, executor=ex, chunksizes=1, return_results=False)
    text = _text(info.value)
    assert "(3,)" in text and "(2,)" in text and "_ragged" in text, text

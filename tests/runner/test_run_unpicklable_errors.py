"""Unpicklable values: the error names the input (and element) or the output, function and
element that could not be pickled, with the original pickling error chained as ``__cause__``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from pipemap.runner import PipeFunc, Pipeline
from pipemap.storage import DictArray, output_folder


def _text(exc: BaseException) -> str:
    return " ".join([str(exc), *getattr(exc, "__notes__", [])])


def _ident(x: Any) -> Any:
    return 1


def _lock_at_two(x: int) -> Any:
    return threading.Lock() if x == 2 else x


def _assert_chained(exc: BaseException) -> None:
    cause = exc.__cause__
    assert cause is not None and "cannot pickle '_thread.lock' object" in str(cause), repr(cause)


@pytest.mark.parametrize("with_folder", [False, True])
def test_unpicklable_mapped_input_names_the_input_and_element(tmp_path: Path, with_folder: bool) -> None:
    p = Pipeline([PipeFunc(_ident, "y", mapspec="x[i] -> y[i]")])
    folder = tmp_path / "run" if with_folder else None
    with pytest.raises(TypeError) as info:
        p.map({"x": [1, threading.Lock(), 3]}, run_folder=folder, parallel=True, chunksizes=1)  # (a set size: the pool, issue 20)
    text = _text(info.value)
    assert "Input `x`" in text and "element 1" in text, text
    if not with_folder:  # sent to the workers: the function is named too
        assert "`_ident`" in text, text
    _assert_chained(info.value)


def test_unpicklable_constant_input_names_the_input() -> None:
    def scaled(x: int, c: Any) -> int:
        return x

    p = Pipeline([PipeFunc(scaled, "y", mapspec="x[i] -> y[i]")])
    with pytest.raises(TypeError) as info:
        p.map({"x": [1, 2], "c": {"ok": 1, "lock": threading.Lock()}}, parallel=True, chunksizes=1)  # (the pool, issue 20)
    text = _text(info.value)
    assert "Input `c` of `scaled`" in text and "key 'lock'" in text, text
    _assert_chained(info.value)


def test_unpicklable_value_in_dict_storage_names_output_function_and_element(tmp_path: Path) -> None:
    def fine(x: int) -> int:
        return 2 * x

    p = Pipeline(
        [PipeFunc(_lock_at_two, "y", mapspec="x[i] -> y[i]"), PipeFunc(fine, "z", mapspec="x[i] -> z[i]")]
    )
    with pytest.raises(TypeError) as info:
        p.map({"x": [1, 2, 3]}, run_folder=tmp_path, storage="dict", parallel=False)
    text = _text(info.value)
    assert "output `y`" in text and "`_lock_at_two`" in text and "linear index 1" in text, text
    _assert_chained(info.value)
    # the other in-memory output was still saved
    assert DictArray(output_folder(tmp_path, "z"), (3,)).get_many(range(3)) == [2, 4, 6]


def test_unpicklable_value_returned_by_a_worker_names_function_output_and_elements() -> None:
    p = Pipeline([PipeFunc(_lock_at_two, "y", mapspec="x[i] -> y[i]")])
    with pytest.raises(TypeError) as info:
        p.map({"x": [1, 2, 3]}, parallel=True, chunksizes=1)
    text = _text(info.value)
    assert "`_lock_at_two`" in text and "`y`" in text and "[1, 2)" in text, text


def test_unpicklable_single_output_names_the_output(tmp_path: Path) -> None:
    def make_lock() -> Any:
        return threading.Lock()

    p = Pipeline([PipeFunc(make_lock, "lock")])
    with pytest.raises(TypeError) as info:
        p.map({}, run_folder=tmp_path, parallel=False)
    text = _text(info.value)
    assert "output `lock` of `make_lock`" in text, text
    _assert_chained(info.value)

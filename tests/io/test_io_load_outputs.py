"""load_outputs / load_all_outputs / load_errors on run folders written with the storage API."""

from __future__ import annotations

import doctest
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pipemap.io import load_all_outputs, load_errors, load_outputs


def test_doctests_of_every_module() -> None:
    for name in ["", "._arrays", "._model", ".xarray", "._dataframe", "._folder", "._read", "._load", "._status", "._export", ".cli", "._results", "._example"]:
        module = importlib.import_module("pipemap.io" + name)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, name


def test_finished_run_every_backend(example_run: Path) -> None:
    y = load_outputs("y", run_folder=example_run)
    assert isinstance(y, np.ma.MaskedArray)
    assert y.dtype == object
    assert y.tolist() == [2, 4, 6]
    assert not np.ma.getmaskarray(y).any()
    z, s = load_outputs("z", "s", run_folder=example_run)
    assert z.shape == (3, 2)
    assert z.tolist() == [[12, 22], [14, 24], [16, 26]]
    assert s.tolist() == [42, 72]
    assert load_outputs(run_folder=example_run) == []
    assert load_outputs("t", run_folder=example_run) == 114
    everything = load_all_outputs(example_run)
    assert list(everything) == ["s", "t", "y", "z"]
    assert everything["t"] == 114
    assert everything["z"].tolist() == z.tolist()


def test_partial_run_masks_missing(tmp_path: Path, backend: str, write_run: Callable[..., Any]) -> None:
    folder = tmp_path / "partial"
    write_run(folder, backend, skip_y=[1])
    y, z, s, t = load_outputs("y", "z", "s", "t", run_folder=folder)
    assert np.ma.getmaskarray(y).tolist() == [False, True, False]
    assert y.compressed().tolist() == [2, 6]
    assert np.ma.getmaskarray(z).tolist() == [[False, False], [True, True], [False, False]]
    assert np.ma.getmaskarray(s).all()
    assert t is None


def test_failed_elements_are_masked_and_listed(tmp_path: Path, backend: str, write_run: Callable[..., Any]) -> None:
    folder = tmp_path / "failed"
    write_run(folder, backend, fail_y=[2])
    y = load_outputs("y", run_folder=folder, mask_errors=True)
    assert np.ma.getmaskarray(y).tolist() == [False, False, True]
    assert y.compressed().tolist() == [2, 4]
    z = load_outputs("z", run_folder=folder, mask_errors=True)
    assert np.ma.getmaskarray(z)[2].all() and not np.ma.getmaskarray(z)[:2].any()
    errors = load_errors(run_folder=folder)
    assert [(e.output_name, e.index, e.propagated) for e in errors] == [
        ("y", (2,), False),
        ("z", (2, 0), True),
        ("z", (2, 1), True),
    ]
    assert errors[0].kwargs == {"x": 3}
    assert "ValueError: x=3 is bad" in errors[0].exception
    assert "ValueError: x=3 is bad" in errors[1].exception  # root cause of the propagated one
    assert errors[0].describe() == "y[2]: _fail(x=3) raised ValueError: x=3 is bad"
    assert [e.index for e in load_errors("y", run_folder=folder)] == [(2,)]


def test_internal_axes_are_splatted(make_run: Callable[..., Path], backend: str) -> None:
    # x[i] -> g[i, k]: each call returns a list of 2 values; element 1 is missing
    folder = make_run(
        ["x[i] -> g[i, k]"],
        {"x": [1, 2, 3]},
        {"g": ((3, 2), (True, False), {0: [1, -1], 2: [3, -3]})},
        storage=backend,
    )
    g = load_outputs("g", run_folder=folder)
    assert g.shape == (3, 2)
    assert g.tolist() == [[1, -1], [None, None], [3, -3]]
    assert np.ma.getmaskarray(g).tolist() == [[False, False], [True, True], [False, False]]


def test_internal_axis_before_external(make_run: Callable[..., Path]) -> None:
    # mask (False, True): the internal axis k comes first in the output axes
    folder = make_run(
        ["x[i] -> g[k, i]"],
        {"x": [1, 2]},
        {"g": ((3, 2), (False, True), {0: [1, 2, 3], 1: [4, 5, 6]})},
    )
    assert load_outputs("g", run_folder=folder).tolist() == [[1, 4], [2, 5], [3, 6]]


def test_nested_elements_stay_objects(make_run: Callable[..., Path], backend: str) -> None:
    folder = make_run(
        ["x[i] -> y[i]"],
        {"x": [1, 2]},
        {"y": ((2,), (True,), {0: [1, 2], 1: np.arange(3)})},
        storage=backend,
    )
    y = load_outputs("y", run_folder=folder)
    assert y.shape == (2,)
    assert y[0] == [1, 2]
    np.testing.assert_array_equal(y[1], np.arange(3))


def test_empty_output(make_run: Callable[..., Path]) -> None:
    folder = make_run(["x[i] -> y[i]"], {"x": []}, {"y": ((0,), (True,), {})})
    y = load_outputs("y", run_folder=folder)
    assert y.shape == (0,) and y.dtype == object


def test_unresolved_shape_loads_as_empty(make_run: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    from pipemap.io.cli import main

    # `... -> n[k]` never ran, so `n[k] -> m[k]` still has shape ("?",)
    folder = make_run(["... -> n[k]", "n[k] -> m[k]"], {}, {"m": (("?",), (True,), {})}, shapes={"n": ("?",)})
    m = load_outputs("m", run_folder=folder)
    assert m.shape == (0,) and m.dtype == object
    assert main(["status", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "shape not resolved yet" in out and "status: incomplete" in out


def test_internal_axes_with_nested_cells(make_run: Callable[..., Path]) -> None:
    # cells of the internal axis are lists themselves (ragged and regular)
    folder = make_run(
        ["x[i] -> g[i, k]"],
        {"x": [1, 2]},
        {"g": ((2, 2), (True, False), {0: [[1], [2, 3]], 1: [[4, 5], [6, 7]]})},
    )
    g = load_outputs("g", run_folder=folder)
    assert g.shape == (2, 2)
    assert g[0, 0] == [1] and g[0, 1] == [2, 3]
    assert list(g[1, 1]) == [6, 7]

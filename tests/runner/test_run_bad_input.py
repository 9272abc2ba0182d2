"""Bad input is refused before any work starts, naming the culprit (issue 4, docs/behaviour.md §4.1)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from pipemap.runner import Pipeline, PipeFunc, pipefunc, run_map


def _pipeline(calls: list) -> Pipeline:
    @pipefunc("y", mapspec="x[i] -> y[i]")
    def double(x):
        calls.append(x)
        return 2 * x

    return Pipeline([double])


def test_missing_and_extra_inputs() -> None:
    calls: list = []
    p = _pipeline(calls)
    with pytest.raises(ValueError, match="Missing inputs: `x`."):
        run_map(p, {}, parallel=False)
    with pytest.raises(ValueError, match="Got extra inputs: `not_used` that are not accepted by this pipeline."):
        run_map(p, {"x": [1], "not_used": 1}, parallel=False)
    assert calls == []


def test_not_array_like_and_tuple() -> None:
    calls: list = []
    p = _pipeline(calls)
    with pytest.raises(TypeError, match="No array shape defined for `x`") as info:
        run_map(p, {"x": (1, 2)}, parallel=False)
    assert "mapped over by `double` (x[i] -> y[i])" in " ".join(info.value.__notes__)
    with pytest.raises(TypeError, match="No array shape defined for `x`"):
        run_map(p, {"x": 5}, parallel=False)
    assert run_map(p, {"x": range(3)}, parallel=False)["y"].output.tolist() == [0, 2, 4]


def test_list_for_2d_spec() -> None:
    p = Pipeline([PipeFunc(lambda x: x, "y", mapspec="x[i, j] -> y[i, j]")])
    with pytest.raises(ValueError, match=r"Expected 2D `numpy.ndarray` for input `x`, got <class 'list'>."):
        run_map(p, {"x": [[1, 2], [3, 4]]}, parallel=False)
    assert run_map(p, {"x": np.array([[1, 2], [3, 4]])}, parallel=False)["y"].output.shape == (2, 2)
    with pytest.raises(ValueError, match=r"Expecting array of rank 2, but got array of shape \(3,\)"):
        run_map(p, {"x": np.arange(3)}, parallel=False)


def test_zipped_length_mismatch_names_axis() -> None:
    calls: list = []
    p = Pipeline([PipeFunc(lambda x, y: calls.append(1), "z", mapspec="x[i], y[i] -> z[i]")])
    with pytest.raises(ValueError, match=r"Dimension mismatch for arrays `x, y` along `i` axis") as info:
        run_map(p, {"x": [1, 2, 3], "y": [1, 2]}, parallel=False)
    assert "function `<lambda>`" in " ".join(info.value.__notes__)
    assert calls == []


def test_executor_without_parallel() -> None:
    with pytest.raises(ValueError, match="Cannot use an executor without `parallel=True`."):
        run_map(_pipeline([]), {"x": [1]}, parallel=False, executor=ThreadPoolExecutor(1))


def test_executor_dict_missing_function() -> None:
    @pipefunc(("y1", "y2"), mapspec="x[i] -> y1[i], y2[i]")
    def f(x):
        return x, x

    @pipefunc("z", mapspec="y1[i] -> z[i]")
    def g(y1):
        return y1

    with ThreadPoolExecutor(1) as ex, pytest.raises(ValueError, match=r"No executor found for output `\('y1', 'y2'\)`."):
        run_map(Pipeline([f, g]), {"x": [1]}, executor={"z": ex})


def test_storage_dict_missing_default() -> None:
    @pipefunc(("y1", "y2"), mapspec="x[i] -> y1[i], y2[i]")
    def f(x):
        return x, x

    @pipefunc("z", mapspec="y1[i] -> z[i]")
    def g(y1):
        return y1

    with pytest.raises(ValueError, match="Cannot find storage class for `z`"):
        run_map(Pipeline([f, g]), {"x": [1]}, storage={"y1": "dict"}, parallel=False)
    with pytest.raises(ValueError, match=r"Storage for `output_name=\('y1', 'y2'\)` is already set."):
        run_map(Pipeline([f, g]), {"x": [1]}, storage={"y1": "dict", "y2": "dict", "": "dict"}, parallel=False)
    with pytest.raises(ValueError, match="Storage class `nope` not found"):
        run_map(Pipeline([f, g]), {"x": [1]}, storage="nope", parallel=False)


def test_fixed_indices_errors() -> None:
    p = Pipeline([PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]"), PipeFunc(lambda y: 0, "s")])
    with pytest.raises(IndexError, match="Fixed index `2000` for parameter `x` is out of bounds."):
        run_map(p, {"x": [1, 2]}, fixed_indices={"i": 2000}, parallel=False)
    with pytest.raises(ValueError, match="Got extra `fixed_indices`"):
        run_map(p, {"x": [1, 2]}, fixed_indices={"not_an_index": 0}, parallel=False)
    with pytest.raises(ValueError, match="Axis `i` in `y` is reduced and cannot be in `fixed_indices`."):
        run_map(p, {"x": [1, 2]}, fixed_indices={"i": 0}, parallel=False)


def test_run_folder_of_other_pipeline_is_replaced(tmp_path) -> None:
    """resume=True refuses the run of another pipeline; resume=False replaces it (as pipefunc does)."""
    other = Pipeline([PipeFunc(lambda a: a, "b", mapspec="a[i] -> b[i]")])
    run_map(other, {"a": [1, 2]}, run_folder=tmp_path, parallel=False)
    calls: list = []
    with pytest.raises(ValueError, match="`MapSpec`s do not match previous run"):
        run_map(_pipeline(calls), {"x": [1]}, run_folder=tmp_path, parallel=False, resume=True)
    assert calls == []
    assert len(list((tmp_path / "outputs" / "b").iterdir())) == 2 + 1  # + shape.json
    r = run_map(_pipeline(calls), {"x": [1]}, run_folder=tmp_path, parallel=False)
    assert r["y"].output.tolist() == [2] and calls == [1]
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == ["y"]


def test_non_run_folder_is_not_deleted(tmp_path) -> None:
    keep = tmp_path / "precious.txt"
    keep.write_text("data")
    with pytest.raises(ValueError, match="not a pipemap run folder"):
        run_map(_pipeline([]), {"x": [1]}, run_folder=tmp_path, parallel=False)
    assert keep.read_text() == "data"


def test_invalid_modes() -> None:
    with pytest.raises(ValueError, match="Invalid `error_handling"):
        run_map(_pipeline([]), {"x": [1]}, parallel=False, error_handling="ignore")
    with pytest.raises(ValueError, match="Invalid scheduling type: foo"):
        run_map(_pipeline([]), {"x": [1]}, parallel=False, scheduling_strategy="foo")
    with pytest.raises(ValueError, match="Invalid chunksize -1 for y"):
        run_map(_pipeline([]), {"x": [1, 2]}, chunksizes=-1, executor=ThreadPoolExecutor(1))

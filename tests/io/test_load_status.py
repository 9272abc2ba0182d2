"""issue 15, "Status as data": ``pipemap.io.load_status`` gives one row per element of every mapped
output with its index per axis, input coordinates, state, attempts and error type."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from pipemap.io import RunFolderError, load_status
from pipemap.runner import PipeFunc, Pipeline, pipefunc, run_map


@pipefunc("y", mapspec="x[i] -> y[i]")
def fragile(x: int) -> int:
    if x % 4 == 3:
        raise ValueError(f"bad {x}")
    return 2 * x


@pipefunc("z", mapspec="y[i], w[j] -> z[i, j]")
def grid(y: int, w: int) -> int:
    if w == 20 and y == 0:
        raise ZeroDivisionError("w=20, y=0")
    return y + w


PIPELINE = Pipeline([fragile, grid])
INPUTS = {"x": list(range(6)), "w": [10, 20]}


def _run(folder: Path, **kw: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_map(PIPELINE, INPUTS, run_folder=folder, parallel=False, error_handling="continue", **kw)


@pytest.mark.parametrize("storage", ["file_array", "chunked", "dict"])
def test_rows_states_coordinates_and_error_types(tmp_path: Path, storage: str) -> None:
    _run(tmp_path, storage=storage)
    df = load_status(tmp_path)
    assert list(df.columns) == ["output", "i", "j", "x", "w", "state", "attempts", "error_type"]
    y = df[df.output == "y"]
    assert y["i"].tolist() == list(range(6)) and y["x"].tolist() == list(range(6))
    assert y["state"].tolist() == ["done", "done", "done", "failed", "done", "done"]
    assert y["error_type"].fillna("").tolist() == ["", "", "", "ValueError", "", ""]
    assert y["attempts"].tolist() == [1, 1, 1, 1, 1, 1]
    assert y["j"].isna().all()  # y has no j axis
    z = df[df.output == "z"].set_index(["i", "j"])
    assert len(z) == 12
    assert z.loc[(3, 0), "state"] == "propagated" and z.loc[(3, 0), "error_type"] == "ValueError"  # root cause
    assert z.loc[(3, 0), "attempts"] == 0  # never called: its input had failed
    assert z.loc[(0, 1), "state"] == "failed" and z.loc[(0, 1), "error_type"] == "ZeroDivisionError"
    assert (z.loc[(2, 1), "x"], z.loc[(2, 1), "w"]) == (2, 20)
    assert df["state"].value_counts().to_dict() == {"done": 14, "propagated": 2, "failed": 2, "missing": 0, "reused": 0}


def test_missing_elements_and_polars(tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    _run(tmp_path, fixed_indices={"i": slice(0, 2)})  # only i in 0, 1 computed
    df = load_status(tmp_path, backend="polars")
    assert isinstance(df, pl.DataFrame)
    y = df.filter(pl.col("output") == "y")
    assert y["state"].to_list() == ["done", "done", "missing", "missing", "missing", "missing"]
    assert y["attempts"].to_list() == [1, 1, 0, 0, 0, 0]
    assert y["j"].null_count() == 6 and y["x"].to_list() == list(range(6))


def test_retry_updates_the_states(tmp_path: Path) -> None:
    _run(tmp_path)
    assert (load_status(tmp_path)["state"] != "done").sum() == 4

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def fixed(x: int) -> int:
        return 2 * x

    @pipefunc("z", mapspec="y[i], w[j] -> z[i, j]")
    def grid_fixed(y: int, w: int) -> int:
        return y + w

    run_map(
        Pipeline([fixed, grid_fixed]), INPUTS, run_folder=tmp_path, parallel=False, error_handling="continue",
        resume=True, retry_failed=True, resume_validation="skip",
    )
    assert set(load_status(tmp_path)["state"]) == {"done"}


def test_stale_failure_record_and_verify(tmp_path: Path) -> None:
    _run(tmp_path)
    (tmp_path / "failures.json").write_text('{"version": 1, "outputs": {}}')  # as after a killed run
    assert (load_status(tmp_path)["state"] == "failed").sum() == 0  # trusts the record: reads nothing
    assert (load_status(tmp_path, verify=True)["state"] == "failed").sum() == 2
    (tmp_path / "failures.json").unlink()  # no record (pipefunc, older pipemap): the elements are read
    assert (load_status(tmp_path)["state"] == "failed").sum() == 2


def test_parity_pipefunc_run_folder_same_failures_as_pipefunc_loaders(tmp_path: Path) -> None:
    """A folder written by pipefunc 0.93.2 (no failures.json): the states match what pipefunc's
    own ``load_outputs`` holds (ErrorSnapshot / PropagatedErrorSnapshot per element)."""
    import pipefunc as pf
    from pipefunc.exceptions import ErrorSnapshot, PropagatedErrorSnapshot

    @pf.pipefunc("y", mapspec="x[i] -> y[i]")
    def f(x: int) -> int:
        if x == 1:
            raise ValueError("one")
        return x

    @pf.pipefunc("z", mapspec="y[i] -> z[i]")
    def g(y: int) -> int:
        return y

    pipeline = pf.Pipeline([f, g])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.map({"x": [0, 1, 2]}, run_folder=tmp_path, parallel=False, error_handling="continue")
    from pipefunc.map import load_outputs

    expected = []
    for name in ("y", "z"):
        for v in load_outputs(name, run_folder=tmp_path):
            expected.append(
                "failed" if isinstance(v, ErrorSnapshot) else "propagated" if isinstance(v, PropagatedErrorSnapshot) else "done"
            )
    assert load_status(tmp_path)["state"].tolist() == expected == ["done", "failed", "done", "done", "propagated", "done"]


def test_many_elements_are_vectorised(tmp_path: Path) -> None:
    @pipefunc("y", mapspec="x[i] -> y[i]")
    def rare_failure(x: int) -> int:
        if x % 1000 == 7:
            raise ValueError("rare")
        return x

    n = 20_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_map(Pipeline([rare_failure]), {"x": np.arange(n)}, run_folder=tmp_path, storage="chunked",
                parallel=False, error_handling="continue")
    t0 = time.perf_counter()
    df = load_status(tmp_path)
    elapsed = time.perf_counter() - t0
    assert len(df) == n and (df["state"] == "failed").sum() == n // 1000
    assert df.loc[df.state == "failed", "i"].tolist()[:2] == [7, 1007]
    assert elapsed < 30  # (about 0.1 s here; a per-element Python path took minutes)


def test_bad_input(tmp_path: Path) -> None:
    _run(tmp_path)
    with pytest.raises(ValueError, match="Invalid `backend='arrow'`: use 'pandas' or 'polars'"):
        load_status(tmp_path, backend="arrow")  # type: ignore[arg-type]
    with pytest.raises(RunFolderError):
        load_status(tmp_path / "nope")


def test_attempts_come_from_the_retry_record(tmp_path: Path) -> None:
    """An element a retry policy tried three times shows 3 attempts; the others 1."""
    marks = tmp_path / "marks"
    marks.mkdir()

    def flaky(x: int, marks: str) -> int:
        mark = Path(marks) / f"{x}"
        tries = int(mark.read_text()) + 1 if mark.exists() else 1
        mark.write_text(str(tries))
        if x == 2 and tries < 3:
            raise OSError("flaky disk")
        return 10 * x

    pipeline = Pipeline([PipeFunc(flaky, "y", mapspec="x[i] -> y[i]", retries=2)])
    run_map(pipeline, {"x": [0, 1, 2, 3], "marks": str(marks)}, tmp_path / "run", parallel=False)
    status = load_status(tmp_path / "run")
    assert status["attempts"].tolist() == [1, 1, 3, 1]
    assert status["state"].astype(str).tolist() == ["done"] * 4

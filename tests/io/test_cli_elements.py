"""issue 15: ``pipemap status RUN --elements`` (element counts per state) and ``pipemap errors RUN``
(failures grouped by exception type and message)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from pipemap.io.cli import main
from pipemap.runner import Pipeline, pipefunc, run_map


@pipefunc("y", mapspec="x[i], w[j] -> y[i, j]")
def solve(x: int, w: int) -> int:
    if x % 3 == 1:
        raise RuntimeError("did not converge")
    if w == 0 and x == 2:
        raise ValueError("negative pressure")
    return x + w


@pipefunc("z", mapspec="y[i, j] -> z[i, j]")
def post(y: int) -> int:
    return -y


def _run(folder: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_map(Pipeline([solve, post]), {"x": list(range(6)), "w": [0, 1]}, run_folder=folder, parallel=False,
                error_handling="continue")


def test_errors_are_grouped_by_type_and_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(tmp_path)
    assert main(["errors", str(tmp_path)]) == 1
    text = capsys.readouterr().out
    lines = text.splitlines()
    # x in (1, 4), both w: 4 elements; one per group line, the largest group first
    assert lines[0] == "4 x RuntimeError: did not converge  (raised by solve)"
    assert lines[1] == "  elements: y[1, 0], y[1, 1], y[4, 0], y[4, 1]"
    assert lines[2] == "  e.g. y[1, 0]: solve(x=1, w=0) raised RuntimeError: did not converge"
    assert "1 x ValueError: negative pressure  (raised by solve)" in text
    assert "  elements: y[2, 0]" in text
    assert "4 x RuntimeError: did not converge  (skipped because an input failed, in post)" in text
    assert "10 failed element(s): 5 raised, 5 skipped because an input failed" in text
    assert text.count("e.g.") == 4  # one example per group, not one line per element
    assert main(["errors", str(tmp_path), "--all"]) == 1
    assert len([ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(("y[", "z["))]) == 10


def test_status_elements_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(tmp_path)
    assert main(["status", str(tmp_path), "--elements"]) == 1
    text = capsys.readouterr().out
    rows = {ln.split()[0]: ln.split() for ln in text.splitlines() if ln.startswith(("y ", "z "))}
    assert rows["y"][:6] == ["y", "12", "7", "5", "0", "0"]
    assert rows["z"][:6] == ["z", "12", "7", "0", "5", "0"]
    assert "RuntimeError 4, ValueError 1" in text
    assert "retry_failed=True" in text
    assert main(["status", str(tmp_path), "--elements", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["outputs"]["z"] == {
        "total": 12, "done": 7, "failed": 0, "propagated": 5, "missing": 0,
        "error_types": {"RuntimeError": 4, "ValueError": 1},
    }
    assert data["complete"] is False


def test_complete_run_and_pipefunc_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A pipefunc 0.93.2 run folder (no failure record) reads the same way."""
    import pipefunc as pf

    @pf.pipefunc("y", mapspec="x[i] -> y[i]")
    def f(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf.Pipeline([f]).map({"x": [0, 1, 2]}, run_folder=tmp_path / "pf", parallel=False, error_handling="continue")
    capsys.readouterr()  # (pipefunc prints each failure)
    assert main(["status", str(tmp_path / "pf"), "--elements", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["outputs"]["y"]["failed"] == 1
    assert main(["errors", str(tmp_path / "pf")]) == 1
    assert "1 x ValueError: two  (raised by f)" in capsys.readouterr().out
    run_map(Pipeline([post]), {"y": np.array([[1, 2]])}, run_folder=tmp_path / "ok", parallel=False)
    assert main(["status", str(tmp_path / "ok"), "--elements"]) == 0
    assert main(["errors", str(tmp_path / "ok")]) == 0
    assert "no failed elements" in capsys.readouterr().out


def test_bad_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(tmp_path / "nope"), "--elements"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1

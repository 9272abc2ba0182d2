"""``failures.json``: continue-mode runs record failed elements so `pipemap status` can count them."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipemap.io.cli import main as io_main
from pipemap.runner import Pipeline, pipefunc, run_map


@pipefunc(output_name="y", mapspec="x[i] -> y[i]")
def fragile(x: int) -> int:
    if x % 4 == 3:
        raise ValueError(f"bad {x}")
    return 2 * x


@pipefunc(output_name="z", mapspec="y[i] -> z[i]")
def downstream(y: int) -> int:
    return y + 1


@pipefunc(output_name="total")
def total(z: object) -> int:
    return 0


def _failures(folder: Path) -> dict[str, list[int]]:
    return json.loads((folder / "failures.json").read_text())["outputs"]


@pytest.mark.parametrize("parallel", [False, True])
def test_continue_run_writes_failed_indices(tmp_path: Path, parallel: bool) -> None:
    pipeline = Pipeline([fragile, downstream, total])
    kwargs = {"executor": ThreadPoolExecutor(2), "chunksizes": 3} if parallel else {"parallel": False}
    run_map(pipeline, {"x": list(range(10))}, run_folder=tmp_path, error_handling="continue", **kwargs)
    failures = _failures(tmp_path)
    assert failures["y"] == [3, 7]
    assert failures["z"] == [3, 7]  # propagated errors count as failed too
    assert failures["total"] == [0]  # the full reduction sees errors in its input


def test_status_counts_failures_and_resume_updates_the_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = Pipeline([fragile, downstream])
    run_map(pipeline, {"x": list(range(8))}, run_folder=tmp_path, error_handling="continue", parallel=False)
    assert io_main(["status", str(tmp_path), "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    failed = {o["name"]: o["failed"] for o in status["outputs"]}
    assert failed == {"y": 2, "z": 2}
    assert status["has_failures"] is True

    # resume with the failure gone: the retried elements leave the record
    @pipefunc(output_name="y", mapspec="x[i] -> y[i]")
    def fixed(x: int) -> int:
        return 2 * x

    run_map(
        Pipeline([fixed, downstream]),
        {"x": list(range(8))},
        run_folder=tmp_path,
        error_handling="continue",
        parallel=False,
        resume=True,
        retry_failed=True,  # (issue 15: a plain resume keeps failed elements, as pipefunc)
        resume_validation="skip",
    )
    assert _failures(tmp_path) == {}


def test_raise_mode_writes_no_failure_record(tmp_path: Path) -> None:
    run_map(Pipeline([downstream]), {"y": [1, 2]}, run_folder=tmp_path, parallel=False)
    assert not (tmp_path / "failures.json").exists()

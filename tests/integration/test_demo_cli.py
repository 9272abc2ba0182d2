"""The main job: ``pipemap demo`` runs the example sweep and prints its summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipemap.cli import main
from pipemap.demo import demo_inputs, demo_pipeline, run_demo


def test_demo_command_runs_and_stores_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "demo"
    assert main(["demo", "--run-folder", str(folder), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "3000 simulations" in out
    assert "resonance peak at omega" in out
    info = json.loads((folder / "run_info.json").read_text())
    assert info["shapes"]["amplitude"] == [60, 50]


def test_demo_summary_matches_a_plain_python_evaluation() -> None:
    inputs = demo_inputs(5, 3)
    summary = run_demo(None, n_omega=5, n_gamma=3, show_progress=False)
    pipeline = demo_pipeline()
    f = pipeline.output_to_func["amplitude"].func
    grid = np.array([[f(w, g) for g in inputs["gamma"]] for w in inputs["omega"]])
    peaks = inputs["omega"][np.argmax(grid, axis=0)]
    assert summary["peak_at_lightest"] == pytest.approx(peaks[0])
    assert summary["peak_at_heaviest"] == pytest.approx(peaks[-1])


def test_console_script_help_lists_demo() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pipemap.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "demo" in out.stdout

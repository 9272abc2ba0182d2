"""The pipelines in examples/ run and give sensible results."""

from __future__ import annotations

import importlib.util
import runpy
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_text_stats_script_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(EXAMPLES / "text_stats.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "words per document: [13, 12, 11, 10]" in out
    assert (tmp_path / "examples_runs" / "text" / "run_info.json").exists()


def test_ising_pipeline_on_a_small_grid(tmp_path: Path) -> None:
    module = _load("ising_sweep")
    inputs = {"temperature": np.array([1.0, 5.0]), "field": np.array([0.0]), "seed": np.arange(2)}
    results = module.pipeline.map(inputs, run_folder=tmp_path, parallel=False, show_progress=False)
    m = np.asarray(results["mean_magnetisation"].output, dtype=float)
    assert m.shape == (2, 1)
    assert m[0, 0] > m[1, 0]  # ordered at low temperature, disordered at high temperature

"""What a ``reuse_from`` run says about itself: the progress counters, ``pipemap status``,
``run_status(...).elements`` and the record in ``pipemap.json``."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from pipemap.io import cli
from pipemap.io._status import run_status
from pipemap.runner import run_map
from pipemap.runner.engine._events import HeadlessTracker

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from _reuse_helpers import LOG, grid_pipeline

os.environ.setdefault(LOG, os.path.join(tempfile.mkdtemp(prefix="pipemap-reuse-log-"), "calls.log"))


def inputs(n: int) -> dict:
    return {"x": np.arange(n, dtype=float), "y": np.arange(3, dtype=float)}


def test_progress_counts_reused_elements(tmp_path):
    run_map(grid_pipeline(), inputs(2), run_folder=tmp_path / "a", parallel=False)
    tracker = HeadlessTracker()
    run_map(grid_pipeline(), inputs(5), run_folder=tmp_path / "b", parallel=False, reuse_from=tmp_path / "a", callbacks=[tracker])
    counts = tracker.as_dict()
    assert counts["z"]["reused"] == 6 and counts["z"]["completed"] == 15
    assert counts["row"]["reused"] == 2
    assert "reused" not in counts["col"]  # a reduction over the grown axis is recomputed
    assert tracker.progress["z"].computed == 9


def test_status_shows_reused_and_computed_per_function(tmp_path, capsys):
    run_map(grid_pipeline(), inputs(2), run_folder=tmp_path / "a", parallel=False)
    run_map(grid_pipeline(), inputs(4), run_folder=tmp_path / "a", parallel=False, reuse_from=tmp_path / "a")
    assert run_status(tmp_path / "a").elements == {
        "mul": {"reused": 6, "computed": 6},
        "row_sum": {"reused": 2, "computed": 2},
        "col_sum": {"reused": 0, "computed": 3},
    }
    assert cli.main(["status", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "REUSED" in out
    assert [line.split() for line in out.splitlines() if line.startswith("mul ")] == [["mul", "6", "6"]]


def test_a_run_without_reuse_records_computed_counts_only(tmp_path, capsys):
    run_map(grid_pipeline(), inputs(2), run_folder=tmp_path / "a", parallel=False)
    assert run_status(tmp_path / "a").elements["mul"] == {"reused": 0, "computed": 6}
    cli.main(["status", str(tmp_path / "a")])
    assert "REUSED" not in capsys.readouterr().out

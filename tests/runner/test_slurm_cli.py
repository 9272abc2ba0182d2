"""``pipemap submit FILE.py:pipeline --run-folder DIR [--resume]`` queues and returns;
``pipemap status DIR`` shows the SLURM jobs per function; the results equal the sequential run.
"""

from __future__ import annotations

import importlib.util
import io
import json
import textwrap
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from pipemap.cli import main
from pipemap.io import load_outputs

_spec = importlib.util.spec_from_file_location("_slurm_helpers", Path(__file__).with_name("_slurm_helpers.py"))
assert _spec is not None and _spec.loader is not None
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

pytestmark = pytest.mark.slurm

SWEEP = textwrap.dedent(
    """
    from pipemap.runner import Pipeline, pipefunc

    @pipefunc(output_name="y", mapspec="x[i] -> y[i]")
    def double(x):
        return 2 * x

    @pipefunc(output_name="s")
    def total(y):
        return int(sum(y))

    sweep = Pipeline([double, total])
    inputs = {"x": list(range(30))}
    """
)


def _run(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(argv)
    return code, buf.getvalue()


def test_submit_status_resume(tmp_path: Path) -> None:
    helpers.need_cluster()
    (tmp_path / "sweep.py").write_text(SWEEP)
    run = tmp_path / "run"
    try:
        code, out = _run(["submit", f"{tmp_path / 'sweep.py'}:sweep", "--run-folder", str(run), "--elements-per-task", "10"])
        assert code == 0, out
        jobs = json.loads((run / "slurm" / "jobs.json").read_text())
        assert f"double: job {jobs['functions'][0]['job_id']} (array, 3 task(s))" in out
        helpers.wait_done(run)
        code, out = _run(["status", str(run), "--json"])
        data = json.loads(out)
        assert code == 0 and [(r["function"], r["done"], r["failed"]) for r in data["slurm"]] == [("double", 3, 0), ("total", 1, 0)]
        code, out = _run(["status", str(run)])
        assert "SLURM jobs" in out and "double" in out
        assert load_outputs("s", run_folder=run) == sum(2 * x for x in range(30))
        code, out = _run(["submit", f"{tmp_path / 'sweep.py'}:sweep", "--run-folder", str(run), "--resume"])
        assert code == 0 and "nothing to submit" in out
    finally:
        helpers.cancel_and_wait(run)


def test_submit_names_a_missing_variable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sweep.py").write_text(SWEEP)
    assert main(["submit", f"{tmp_path / 'sweep.py'}:nope", "--run-folder", str(tmp_path / "run")]) == 2
    assert "defines no variable `nope`" in capsys.readouterr().err

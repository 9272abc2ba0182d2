"""Shared by the bad-run-folder tests (``test_reliability_badfolders*.py``): a small pipeline, every
reader of a run folder, and the check that an error is clear. One module, so the figures in
``STATS`` add up over both files (``conftest.py`` puts this folder on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
from pipemap.runner import PipeFunc, Pipeline, run_map
from pipemap.storage import RunRecord, open_run_folder

STATS = {"bad_inputs": 0}


def pipeline() -> Pipeline:
    return Pipeline(
        [
            PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]"),
            PipeFunc(lambda y, w: y * w, "z", mapspec="y[i], w[j] -> z[i, j]"),
            PipeFunc(lambda z: int(np.sum(z)), "s"),
        ]
    )


INPUTS = {"x": [1, 2, 3], "w": [10, 20]}


def all_readers(folder: Path) -> list[tuple[str, object]]:
    """Run every reader; returns [(reader, outcome)] where outcome is a value or the exception."""
    import pipemap.io as pio
    from pipemap.io.cli import main as cli_main

    outcomes: list[tuple[str, object]] = []
    readers = {
        "RunRecord.load": lambda: RunRecord.load(folder),
        "open_run_folder": lambda: open_run_folder(folder),
        "load_all_outputs": lambda: pio.load_all_outputs(run_folder=folder),
        "load_outputs(z)": lambda: pio.load_outputs("z", run_folder=folder),
        "resume": lambda: run_map(pipeline(), INPUTS, run_folder=folder, parallel=False, resume=True),
    }
    for name, fn in readers.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcomes.append((name, fn()))
        except Exception as exc:  # noqa: BLE001 - classified by the caller
            outcomes.append((name, exc))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main(["status", str(folder)])
        except SystemExit as e:
            code = e.code
        except Exception as exc:  # noqa: BLE001
            code = exc
    outcomes.append(("pipemap status", code))
    return outcomes


CLEAR_WORDS = ("run_info", "run folder", "run at", "previous run", ".cloudpickle", "not found", "unexpected shape", "`")


def assert_clear(outcomes: list[tuple[str, object]], what: str) -> None:
    """Errors must be ValueError/LookupError/TypeError with a message that names the culprit;
    ``pipemap status`` must exit with a code, never raise."""
    STATS["bad_inputs"] += 1
    for reader, outcome in outcomes:
        if reader == "pipemap status":
            assert isinstance(outcome, int), f"{what}: `pipemap status` crashed with {outcome!r}"
            continue
        if isinstance(outcome, BaseException):
            kind = type(outcome).__name__
            assert isinstance(outcome, ValueError | LookupError | TypeError), f"{what}: {reader} raised {kind}: {outcome}"
            msg = str(outcome)
            assert any(w in msg for w in CLEAR_WORDS), f"{what}: {reader}: unclear message {kind}: {msg!r}"

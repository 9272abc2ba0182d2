"""Issue 15, "failures a person can read", the command line: `pipemap status` tells a live run
from a dead one, `pipemap errors | head` ends quietly, `--json` gives JSON-native inputs, and the
text form shows numbers as numbers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pipemap.io.cli import main
from pipemap.runner import Pipeline, pipefunc, run_map
from pipemap.storage import RunFolderLock


@pipefunc(output_name="y", mapspec="x[i] -> y[i]")
def _too_big(x: float) -> float:
    if x > 0.5:
        raise ValueError(f"too big {x}")
    return x


def _continue_run(folder: Path, n: int = 6) -> None:
    run_map(Pipeline([_too_big]), {"x": np.linspace(0, 2, n)}, folder, parallel=False,
            error_handling="continue", show_progress=False)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipemap.io.cli", *args], capture_output=True, text=True, check=False)


def test_status_tells_a_live_run_from_a_dead_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "run"
    _continue_run(folder)
    main(["status", str(folder)])
    assert "running    : no (the folder is not locked)" in capsys.readouterr().out

    lock = RunFolderLock(folder).acquire()  # a live holder: this process
    try:
        main(["status", str(folder)])
        assert f"running    : yes: process {os.getpid()} on this host" in capsys.readouterr().out
        main(["status", str(folder), "--json"])
        data = json.loads(capsys.readouterr().out)
        assert data["lock"]["pid"] == os.getpid() and data["lock"]["alive"] is True
    finally:
        lock.release()

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    pid = int(dead.stdout)  # a process that has exited (a killed run leaves its lock behind)
    owner = {"pid": pid, "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00", "token": "t"}
    (folder / ".pipemap.lock").write_text(json.dumps(owner))
    main(["status", str(folder)])
    out = capsys.readouterr().out
    assert f"running    : no: process {pid} on this host held the lock but is gone" in out
    assert "resume=True" in out

    (folder / ".pipemap.lock").write_text(json.dumps({**owner, "host": "node-17.cluster.invalid"}))
    main(["status", str(folder), "--json"])
    assert json.loads(capsys.readouterr().out)["lock"]["alive"] is None
    main(["status", str(folder)])
    out = capsys.readouterr().out
    assert f"running    : unknown: locked by process {pid} on host 'node-17.cluster.invalid'" in out

    (folder / ".pipemap.lock").write_text("")  # being written by a run that is starting
    main(["status", str(folder)])
    assert "running    : unknown: the lock file is being written or is unreadable" in capsys.readouterr().out


def test_errors_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    """Before: a BrokenPipeError message ("it may be damaged") and exit code 2."""
    folder = tmp_path / "many"
    _continue_run(folder, n=3000)  # ~2250 failed elements: far more than a pipe buffer
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipemap.io.cli", "errors", str(folder), "--all"],  # one line per element
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # `| head -1` exits
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert first.startswith("y[")
    assert err == "", err
    assert proc.returncode == 141


def test_errors_json_inputs_are_json_native(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    _continue_run(folder)
    result = _cli("errors", str(folder), "--json")
    records = json.loads(result.stdout)
    assert records and all(isinstance(r["inputs"]["x"], float) for r in records)  # before: "np.float64(1.2)"
    assert records[0]["inputs"]["x"] == pytest.approx(0.8)
    text = _cli("errors", str(folder)).stdout
    assert "y[2]: _too_big(x=0.8) raised ValueError: too big 0.8" in text


def test_to_jsonable_values() -> None:
    from pipemap.storage import to_jsonable

    value = {"f": np.float32(0.5), "i": np.int16(3), "a": np.arange(4).reshape(2, 2), "s": {2, 1}, "t": ("a", None)}
    assert to_jsonable(value) == {"f": 0.5, "i": 3, "a": [[0, 1], [2, 3]], "s": [1, 2], "t": ["a", None]}
    assert json.dumps(to_jsonable({"n": float("inf"), "o": object()}))  # always serializable

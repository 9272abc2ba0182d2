"""Issue 15, "failures a person can read": what a newcomer sees when a run stops.

Scripts run in a subprocess, as a person runs them, and the tests check their stderr: the user's
frame and exception first, no chained ``RuntimeError: no running event loop``, no scheduler
frames, the element named per axis, one line on what is kept and how to continue; Ctrl-C says
what was kept; an unguarded script under ``forkserver`` gets one clear error; a resumed run's
progress counts what earlier runs stored.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pipemap.runner import Pipeline, pipefunc, run_map, run_map_async, shutdown_default_pool
from pipemap.runner.engine._events import AlreadyStored, ChunkDone, FunctionDone, HeadlessTracker, RunStarted
from pipemap.runner.executors._main_guard import _guarded_lines
from pipemap.runner.progress.base import summary_line

FAILING = """
import sys
from {module} import Pipeline, pipefunc

@pipefunc(output_name="y", mapspec="x[i] -> y[i]")
def f(x):
    if x == 3:
        raise ValueError("bad x")
    return x * 2

if __name__ == "__main__":
    mode, kwargs = sys.argv[1], {{}}
    if mode == "thread":
        from concurrent.futures import ThreadPoolExecutor
        kwargs["executor"] = ThreadPoolExecutor(2)
    elif mode == "dask":
        from dask.distributed import Client, LocalCluster
        client = Client(LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None))
        kwargs["executor"] = client
    Pipeline([f]).map({{"x": list(range(6))}}, run_folder=sys.argv[2], parallel=mode != "seq", show_progress=False, **kwargs)
"""


def _run_script(tmp_path: Path, source: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    script = tmp_path / f"script_{abs(hash(source)) % 10**8}.py"
    script.write_text(textwrap.dedent(source))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


@pytest.mark.parametrize("mode", ["seq", "par", "thread", "dask"])
def test_element_error_shows_the_users_frame_first(tmp_path: Path, mode: str) -> None:
    """Before: 39 lines sequentially, 79 in parallel, starting with `no running event loop`."""
    if mode == "dask":
        pytest.importorskip("dask.distributed")
    ours = _run_script(tmp_path, FAILING.format(module="pipemap.runner"), mode, str(tmp_path / "run"))
    err = ours.stderr
    assert ours.returncode == 1, err
    if mode == "dask":  # (Dask's own worker log "Compute Failed" comes first; not pipemap's)
        err = err[err.index("pipemap.runner.WorkerTraceback") :]
    lines = err.splitlines()
    assert len(lines) <= 20, err
    assert "no running event loop" not in err and "During handling" not in err, err
    for internal in ("_scheduler.py", "_dispatch.py", "asyncio", "_chunk.py", "_calls.py", "concurrent/futures"):
        assert internal not in err, (internal, err)
    # the user's frame and exception come first (in parallel: the worker's frames are the cause)
    assert 'raise ValueError("bad x")' in err
    assert err.index('raise ValueError("bad x")') < err.index("ValueError: bad x")
    assert "ValueError: bad x" in lines[-3]
    assert "<dynamic-code>" not in err  # a function pickled by value is shown from its source file
    # the note pipefunc adds, the element per axis, and one line on what is kept
    if mode in ("seq", "par"):
        theirs = _run_script(tmp_path, FAILING.format(module="pipefunc"), mode, str(tmp_path / "run_pf"))
        assert "Error occurred while executing function `f(x=3)`." in theirs.stderr
    assert "Error occurred while executing function `f(x=3)`. (element `y[3]`" in lines[-2]
    assert lines[-1].startswith("Run stopped: finished elements are kept in")
    assert "resume=True" in lines[-1] and "/6 elements" in lines[-1]


def test_in_process_error_has_no_internal_context(tmp_path: Path) -> None:
    shutdown_default_pool()  # the pool starts during the run (forked while the run is driven)

    @pipefunc(output_name="y", mapspec="x[i] -> y[i]")
    def g(x: int) -> int:
        if x == 5:
            raise ValueError("five")
        return x

    with pytest.raises(ValueError, match="five") as info:
        run_map(Pipeline([g]), {"x": list(range(8))}, tmp_path / "r", parallel=True, show_progress=False)
    text = "".join(traceback.format_exception(info.value))
    assert "no running event loop" not in text
    assert info.value.__context__ is None or info.value.__suppress_context__
    assert "(element `y[5]`, linear index 5)" in str(info.value.__notes__)


GRID = """
import sys
import numpy as np
from pipemap.runner import Pipeline, pipefunc

@pipefunc(output_name="center", mapspec="a[i], b[j], c[k] -> center[i, j, k]")
def locate(a, b, c):
    if a == 2 and b == 1.5:
        raise ArithmeticError("no convergence")
    return a + b + c

if __name__ == "__main__":
    Pipeline([locate]).map({"a": np.arange(4), "b": np.array([0.5, 1.5]), "c": [0]}, run_folder=sys.argv[1],
                            parallel=False, show_progress=False)
"""


def test_raise_note_names_element_per_axis_and_cli_lists_it(tmp_path: Path) -> None:
    folder = tmp_path / "grid"
    result = _run_script(tmp_path, GRID, str(folder))
    assert "(element `center[2, 1, 0]`, linear index 5)" in result.stderr, result.stderr
    record = json.loads((folder / "raised.json").read_text())
    assert record["element"] == "center[2, 1, 0]" and record["index"] == [2, 1, 0]
    assert record["inputs"] == {"a": 2, "b": 1.5, "c": 0}  # JSON-native, not "np.float64(1.5)"
    errors = subprocess.run(
        [sys.executable, "-m", "pipemap.io.cli", "errors", str(folder)], capture_output=True, text=True, check=False
    )
    assert errors.returncode == 1
    assert "center[2, 1, 0]: locate(a=2, b=1.5, c=0) raised ArithmeticError: no convergence" in errors.stdout
    assert "no failed elements" not in errors.stdout
    status = subprocess.run(
        [sys.executable, "-m", "pipemap.io.cli", "status", str(folder)], capture_output=True, text=True, check=False
    )
    assert "the last run stopped on an error in center[2, 1, 0]" in status.stdout
    # a new run in the folder forgets it
    @pipefunc(output_name="center", mapspec="a[i], b[j], c[k] -> center[i, j, k]")
    def locate(a: int, b: float, c: int) -> float:
        return a + b + c

    import numpy as np

    run_map(Pipeline([locate]), {"a": np.arange(4), "b": np.array([0.5, 1.5]), "c": [0]}, folder,
            parallel=False, resume=True, show_progress=False)
    assert not (folder / "raised.json").exists()


SLOW = """
import sys, time
from pipemap.runner import Pipeline, pipefunc

@pipefunc(output_name="y", mapspec="x[i] -> y[i]")
def f(x):
    time.sleep(0.05)
    return x

if __name__ == "__main__":
    print("started", flush=True)
    Pipeline([f]).map({"x": list(range(400))}, run_folder=sys.argv[2], parallel=sys.argv[1] == "par",
                      show_progress=False, chunksizes=2)
"""


@pytest.mark.parametrize("mode", ["seq", "par"])
def test_ctrl_c_says_what_was_kept(tmp_path: Path, mode: str) -> None:
    """Before: 37 (sequential) and 62 (parallel) lines, none saying what was kept."""
    script = tmp_path / "slow.py"
    script.write_text(SLOW)
    folder = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(script), mode, str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 60
    out = folder / "outputs" / "y"
    while time.monotonic() < deadline and len(list(out.glob("*"))) < 4:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole process group
    _, err = proc.communicate(timeout=60)
    lines = err.strip().splitlines()
    assert len(lines) <= 12, err
    assert "KeyboardInterrupt" in err and "Traceback" in err
    note = lines[-1]
    assert note.startswith("Run interrupted: finished elements are kept in") and "resume=True" in note, err
    from pipemap.storage import open_run_folder

    stored = int(open_run_folder(folder)[1]["y"].done_mask().sum())
    assert f"(y {stored}/400 elements)" in note, (note, stored)


UNGUARDED = """
import multiprocessing
multiprocessing.set_start_method("{method}", force=True)
from pipemap.runner import Pipeline, pipefunc

@pipefunc(output_name="y", mapspec="x[i] -> y[i]")
def f(x):
    return x * 2

{guard}
    print(Pipeline([f]).map({{"x": list(range(8))}}, run_folder={folder!r}, show_progress=False)["y"].output.tolist())
"""


@pytest.mark.skipif(sys.platform != "linux", reason="forkserver")
def test_unguarded_script_under_forkserver_is_one_clear_error(tmp_path: Path) -> None:
    """Before: 80 lines ending in `WorkerDiedError ... rerun with resume=True`."""
    source = UNGUARDED.format(method="forkserver", guard="if True:", folder=str(tmp_path / "a"))
    line = next(k for k, text in enumerate(source.splitlines(), 1) if "print(Pipeline" in text)
    bad = _run_script(tmp_path, source)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) <= 12, bad.stderr
    assert lines[-1].startswith("pipemap.runner.MainGuardError:"), bad.stderr
    assert 'if __name__ == "__main__":' in lines[-1] and "'forkserver'" in lines[-1] and f", line {line}," in lines[-1]
    assert "WorkerDiedError" not in bad.stderr and "resume=True" not in bad.stderr
    good = _run_script(
        tmp_path, UNGUARDED.format(method="forkserver", guard='if __name__ == "__main__":', folder=str(tmp_path / "b"))
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "[0, 2, 4, 6, 8, 10, 12, 14]"
    forked = _run_script(tmp_path, UNGUARDED.format(method="fork", guard="if True:", folder=str(tmp_path / "c")))
    assert forked.returncode == 0, forked.stderr  # fork does not import the script again: no error


def test_guard_detection_reads_the_script() -> None:
    source = "import x\nif __name__ == '__main__':\n    run()\n    more()\nrun()\n"
    assert _guarded_lines(source) == [(2, 4)]
    assert _guarded_lines("if '__main__' == __name__:\n    run()\n") == [(1, 2)]
    assert _guarded_lines("if True:\n    run()\n") == []


@pipefunc(output_name="y", mapspec="x[i] -> y[i]")
def _half_fails(x: int, marker: str) -> int:
    if x >= 40 and os.path.exists(marker):
        raise ValueError("stop")
    return x


@pytest.mark.parametrize("threads", [False, True])
def test_resumed_run_counts_stored_elements_as_done(tmp_path: Path, threads: bool) -> None:
    """Before: a complete resumed run read `completed: 60` of 100."""
    pipeline = Pipeline([_half_fails])
    folder = tmp_path / "run"
    marker = tmp_path / "fail-now"
    marker.touch()
    inputs = {"x": list(range(100)), "marker": str(marker)}
    with pytest.raises(ValueError, match="stop"):
        run_map(pipeline, inputs, folder, parallel=True, chunksizes=5, show_progress=False)
    from pipemap.storage import open_run_folder

    stored = int(open_run_folder(folder)[1]["y"].done_mask().sum())
    assert 0 < stored < 100
    marker.unlink()

    async def main() -> dict:
        executor = ThreadPoolExecutor(2) if threads else None
        runner = run_map_async(pipeline, inputs, folder, resume=True, show_progress="headless", executor=executor)
        await runner.task
        return runner.status()

    status = asyncio.run(main())
    progress = dict(status["progress"]["y"])
    progress.pop("inline", None)  # the default pool: cheap elements may run in the parent (issue 20)
    assert progress == {"total": 100, "completed": 100, "failed": 0, "done": True, "stored_before": stored}


def test_tracker_and_display_line_after_resume() -> None:
    tracker = HeadlessTracker()
    for event in [RunStarted({"y": 6000}), AlreadyStored("y", 3061), ChunkDone("y", 2939, 0, 1.0), FunctionDone("y")]:
        tracker(event)
    p = tracker.progress["y"]
    assert (p.completed, p.stored_before, p.computed) == (6000, 3061, 2939)
    assert summary_line("y", p, now=2.0, started=0.0).startswith("y: 6000/6000 | 1,470/s")  # rate: this run's work


def test_a_worker_importing_the_script_says_why_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    """The second line of defence: run_map called while multiprocessing bootstraps a worker."""
    import multiprocessing

    from pipemap.runner.executors._main_guard import MAIN_GUARD_EXIT_STATUS

    process = multiprocessing.current_process()
    process._inheriting = True  # type: ignore[attr-defined] # what spawn/forkserver set while importing __main__
    try:
        with pytest.raises(SystemExit) as info:
            run_map(Pipeline([_half_fails]), {"x": [1], "marker": ""}, parallel=True)
    finally:
        del process._inheriting  # type: ignore[attr-defined]
    assert info.value.code == MAIN_GUARD_EXIT_STATUS
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'if __name__ == "__main__":' in err[0]


def test_single_function_failure_is_recorded(tmp_path: Path) -> None:
    @pipefunc(output_name="total")
    def total(y: list) -> int:
        raise RuntimeError("cannot sum")

    @pipefunc(output_name="y", mapspec="x[i] -> y[i]")
    def double(x: int) -> int:
        return 2 * x

    with pytest.raises(RuntimeError, match="cannot sum") as info:
        run_map(Pipeline([double, total]), {"x": [1, 2]}, tmp_path / "r", parallel=False, show_progress=False)
    assert "Run stopped: finished elements are kept in" in info.value.__notes__[-1]
    assert "(y 2/2 elements)" in info.value.__notes__[-1]
    record = json.loads((tmp_path / "r" / "raised.json").read_text())
    assert record["element"] == "total" and record["index"] is None and record["inputs"] == {"y": [2, 4]}


def test_stop_note_does_not_promise_memory_storage(tmp_path: Path) -> None:
    @pipefunc(output_name="y", mapspec="x[i] -> y[i]")
    def f(x: int) -> int:
        if x == 3:
            raise ValueError("bad")
        return x

    @pipefunc(output_name="z", mapspec="y[i] -> z[i]")
    def g(y: int) -> int:
        return y

    with pytest.raises(ValueError, match="bad") as info:
        run_map(Pipeline([f, g]), {"x": list(range(6))}, tmp_path / "r", storage={"": "file_array", "y": "dict"},
                parallel=False, show_progress=False)  # fmt: skip
    note = info.value.__notes__[-1]
    assert "(z 0/6 elements; not y: memory storage is saved only when a run finishes)" in note, note
    with pytest.raises(ValueError, match="bad") as info:
        run_map(Pipeline([f]), {"x": list(range(6))}, parallel=False, show_progress=False)
    assert info.value.__notes__[-1] == "Run stopped: without a run_folder nothing is kept."

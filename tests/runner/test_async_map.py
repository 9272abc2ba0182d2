"""``run_map_async`` / ``AsyncMap`` (docs/behaviour.md §4.10): the task, start/result rules, status counters,
cancellation that leaves a resumable run folder, and a plain ``asyncio.run`` script."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from pipemap.runner import AsyncMap, Pipeline, pipefunc, run_map, run_map_async


@pipefunc("y", mapspec="x[i] -> y[i]")
def double(x):
    return 2 * x


PIPELINE = Pipeline([double])


def test_task_before_start_and_synchronous_result() -> None:
    runner = run_map_async(PIPELINE, {"x": [1, 2, 3]}, start=False)
    assert isinstance(runner, AsyncMap)
    with pytest.raises(RuntimeError, match="The task has not been started."):
        runner.task  # noqa: B018
    assert runner.status()["state"] == "not started"
    assert runner.result()["y"].output.tolist() == [2, 4, 6]
    assert runner.result() is runner.result()  # cached


def test_start_without_loop_warns() -> None:
    runner = run_map_async(PIPELINE, {"x": [1]}, start=False)
    with pytest.warns(UserWarning, match=r"runner.result\(\)"):
        runner.start()
    assert runner.result()["y"].output.tolist() == [2]


def test_start_later_inside_loop_twice_warns_and_headless_status() -> None:
    async def main():
        runner = run_map_async(PIPELINE, {"x": list(range(50))}, start=False, show_progress="headless")
        assert runner.start() is runner
        with pytest.warns(UserWarning, match="Task is already running."):
            runner.start()
        with pytest.raises(RuntimeError, match=r"Cannot call `result\(\)` while an event loop is running"):
            runner.result()
        result = await runner.task
        return runner, result

    runner, result = asyncio.run(main())
    assert result["y"].output.tolist() == [2 * k for k in range(50)]
    status = runner.status()
    assert status["state"] == "done"
    progress = dict(status["progress"]["y"])
    progress.pop("inline", None)  # the default pool: cheap elements may run in the parent (issue 20)
    assert progress == {"total": 50, "completed": 50, "failed": 0, "done": True}
    assert runner.progress.progress["y"].completed == 50


def test_failed_state_and_exception_through_task() -> None:
    @pipefunc("y", mapspec="x[i] -> y[i]")
    def bad(x):
        raise ValueError(f"no {x}")

    async def main():
        runner = run_map_async(Pipeline([bad]), {"x": [1, 2]}, show_progress="headless")
        with pytest.raises(ValueError, match="no 1"):
            await runner.task
        return runner

    assert asyncio.run(main()).status()["state"] == "failed"


def test_status_file_written_for_async_run_with_folder(tmp_path) -> None:
    import json

    async def main():
        runner = run_map_async(PIPELINE, {"x": [1, 2]}, run_folder=tmp_path, show_progress="headless")
        await runner.task

    asyncio.run(main())
    status = json.loads((tmp_path / "pipefunc_status.json").read_text())
    assert status["state"] == "done"
    assert status["progress"]["y"]["completed"] == 2


@pipefunc("y", mapspec="x[i] -> y[i]")
def slow_touch(x, touch_dir):
    time.sleep(0.02)
    with open(Path(touch_dir) / f"{x}.txt", "a") as f:  # one character per computation of x
        f.write("1")
    return x + 1


def test_cancel_stops_dispatching_and_resume_recomputes_nothing(tmp_path) -> None:
    n = 60
    touch = tmp_path / "touch"
    touch.mkdir()
    inputs = {"x": list(range(n)), "touch_dir": str(touch)}
    p = Pipeline([slow_touch])
    folder = tmp_path / "run"
    with ProcessPoolExecutor(max_workers=2) as pool:

        async def main():
            runner = run_map_async(
                p, inputs, run_folder=folder, executor=pool, chunksizes=2, show_progress="headless"
            )
            while runner.progress.progress.get("y") is None or runner.progress.progress["y"].completed < 8:
                await asyncio.sleep(0.005)
            assert runner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await runner.task
            return runner

        runner = asyncio.run(main())
        assert runner.status()["state"] == "cancelled"
    # the pool has drained: chunks in flight at cancel time finished and stored their elements
    first = {f.name for f in touch.iterdir()}
    assert 8 <= len(first) < n  # dispatching stopped early
    r = run_map(p, inputs, run_folder=folder, resume=True, parallel=False)
    assert r["y"].output.tolist() == [x + 1 for x in range(n)]
    counts = [len((touch / f"{x}.txt").read_text()) for x in range(n)]
    assert counts == [1] * n  # every element computed exactly once across both runs


def test_plain_script_with_asyncio_run(tmp_path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio
            from pipemap.runner import Pipeline, pipefunc, run_map_async

            @pipefunc("y", mapspec="x[i] -> y[i]")
            def inc(x):
                return x + 1

            async def main():
                runner = run_map_async(Pipeline([inc]), {"x": list(range(100))}, run_folder="run",
                                       show_progress="headless")
                result = await runner.task
                print(sum(result["y"].output.tolist()), runner.status()["progress"]["y"]["completed"])

            if __name__ == "__main__":
                asyncio.run(main())
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(sum(range(1, 101))), "100"]

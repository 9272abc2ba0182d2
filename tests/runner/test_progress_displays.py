"""``show_progress`` modes (docs/behaviour.md §4.9), all exercised headlessly: which display is chosen, what the
rich bars and the ipywidgets show, headless counters, failures, unknown totals and throttling."""

from __future__ import annotations

import asyncio
import io
import time

import pytest
from pipemap.runner import Pipeline, pipefunc, run_map, run_map_async
from pipemap.runner.engine._events import ChunkDone, FunctionDone, HeadlessTracker, RunFinished, RunStarted
from pipemap.runner.progress import StatusFileWriter, ThrottledDisplay, resolve_mode
from pipemap.runner.progress.rich_display import RichDisplay


@pipefunc("y", mapspec="x[i] -> y[i]")
def inverse(x):
    return 1 / x


@pipefunc("n")
def count(y):
    return len(y)


PIPELINE = Pipeline([inverse, count])


@pytest.mark.parametrize(
    ("value", "notebook", "mode"),
    [
        (False, False, None),
        (False, True, None),
        (None, False, None),
        (None, True, "ipywidgets"),
        (True, False, "rich"),
        (True, True, "ipywidgets"),
        ("rich", True, "rich"),
        ("ipywidgets", False, "ipywidgets"),
        ("headless", True, "headless"),
    ],
)
def test_mode_table(value, notebook, mode) -> None:
    assert resolve_mode(value, in_notebook=notebook) == mode


@pytest.mark.parametrize("bad", ["bar", 1, "Rich"])
def test_invalid_show_progress(bad) -> None:
    with pytest.raises(ValueError, match="Invalid `show_progress="):
        run_map(PIPELINE, {"x": [1]}, parallel=False, show_progress=bad)


def _listeners(show_progress):
    runner = run_map_async(PIPELINE, {"x": [1, 2]}, show_progress=show_progress, start=False)
    return runner, [type(x).__name__ for x in runner.prep.events.listeners]


def test_displays_chosen_outside_notebook() -> None:
    assert _listeners(False)[1] == []
    assert _listeners(None)[1] == []
    assert _listeners("headless")[1] == ["HeadlessTracker"]
    assert _listeners(True)[1] == ["HeadlessTracker", "RichDisplay"]
    assert _listeners("rich")[1] == ["HeadlessTracker", "RichDisplay"]
    runner, names = _listeners("ipywidgets")
    assert names == ["HeadlessTracker", "WidgetsDisplay"]
    assert runner.status_widget is not None


def test_rich_bars_show_counts_failures_and_finish(capsys) -> None:
    r = run_map(PIPELINE, {"x": [1, 2, 0, 4]}, parallel=False, show_progress="rich", error_handling="continue")
    assert type(r["n"].output).__name__ == "PropagatedErrorSnapshot"
    err = capsys.readouterr().err
    assert "y" in err and "4/4" in err
    assert "1 failed" in err
    assert "n" in err and "1/1" in err


def test_rich_display_unknown_total_then_resolved() -> None:
    @pipefunc("items")
    def make(k):
        return list(range(k))

    @pipefunc("sq", mapspec="items[i] -> sq[i]")
    def sq(items):
        return items * items

    from rich.console import Console

    tracker = HeadlessTracker()
    display = RichDisplay(tracker, console=Console(file=io.StringIO(), width=120, force_terminal=False))
    run_map(Pipeline([make, sq]), {"k": 5}, parallel=False, callbacks=[tracker, display])
    assert tracker.progress["sq"].total == 5 and tracker.progress["sq"].completed == 5
    assert "5/5" in display.console.file.getvalue()


def test_widgets_display_values_after_async_run() -> None:
    pytest.importorskip("ipywidgets")

    async def main():
        runner = run_map_async(PIPELINE, {"x": [1, 2, 0]}, show_progress="ipywidgets", error_handling="continue")
        await runner.task
        return runner

    runner = asyncio.run(main())
    w = runner.status_widget
    assert w.bars["y"].value == w.bars["y"].max == 3
    assert w.bars["y"].bar_style == "danger"  # one element failed
    assert w.bars["n"].value == w.bars["n"].max == 1
    assert w.bars["n"].bar_style == "danger"  # its output is a PropagatedErrorSnapshot
    assert "1 failed" in w.labels["y"].value
    assert w.status.value == "done"
    progress = dict(runner.status()["progress"]["y"])
    progress.pop("inline", None)  # the default pool: cheap elements may run in the parent (issue 20)
    assert progress == {"total": 3, "completed": 3, "failed": 1, "done": True}


def test_headless_parallel_counts_match(tmp_path) -> None:
    async def main():
        runner = run_map_async(
            PIPELINE, {"x": list(range(1, 501))}, run_folder=tmp_path, show_progress="headless", chunksizes=7
        )
        await runner.task
        return runner

    runner = asyncio.run(main())
    assert runner.status()["progress"]["y"] == {"total": 500, "completed": 500, "failed": 0, "done": True}
    assert (tmp_path / "pipefunc_status.json").is_file()


class _Counting(ThrottledDisplay):
    def draw(self, final: bool = False) -> None:
        pass


def test_throttling_bounds_redraws() -> None:
    tracker = HeadlessTracker()
    display = _Counting(tracker, max_fps=10)
    t0 = time.monotonic()
    events = [RunStarted({"y": 100_000})] + [ChunkDone("y", 1, 0, 0.0)] * 100_000
    for e in events:
        tracker(e)
        display(e)
    for e in (FunctionDone("y"), RunFinished()):
        tracker(e)
        display(e)
    elapsed = time.monotonic() - t0
    # start + function done + run end are always drawn; chunk events at most 10 per second
    assert display.n_draws <= 3 + 10 * elapsed + 1
    assert tracker.progress["y"].completed == 100_000


def test_status_file_writer_is_throttled_to_once_a_second(tmp_path) -> None:
    tracker = HeadlessTracker()
    writer = StatusFileWriter(tracker, tmp_path)
    for e in [RunStarted({"y": 10})] + [ChunkDone("y", 1, 0, 0.0)] * 10:
        tracker(e)
        writer(e)
    assert writer.n_draws == 1  # only the start, within the same second
    writer(RunFinished(ValueError("x")))
    assert '"state": "failed: ValueError"' in (tmp_path / "pipefunc_status.json").read_text()


def test_rich_bars_in_a_file_end_with_a_line_break() -> None:
    from rich.console import Console

    tracker = HeadlessTracker()
    display = RichDisplay(tracker, console=Console(file=io.StringIO(), width=80, force_terminal=False))
    run_map(PIPELINE, {"x": [1, 2, 3]}, parallel=False, callbacks=[tracker, display])
    text = display.console.file.getvalue()
    assert text.endswith("\n") and "3/3" in text
    assert all(len(line) <= 80 for line in text.splitlines())  # bars shrink to the console width

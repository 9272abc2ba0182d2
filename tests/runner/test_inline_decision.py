"""With ``parallel=True`` and the default pool, a function too cheap for the pool runs in the parent
(issue 20): the decision, where it shows (events, status, summary), and what it never overrides."""

from __future__ import annotations

import asyncio
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipemap.runner import Pipeline, pipefunc, run_map, run_map_async
from pipemap.runner.engine._events import HeadlessTracker, RanInline
from pipemap.runner.engine._inline import INLINE_MAX_SECONDS, MIN_ELEMENTS_PER_WORKER, PROBE_SECONDS, decide
from pipemap.runner.executors._executors import cpu_count
from pipemap.runner.progress.base import summary_line


#: the fewest elements a function needs to be probed in the parent at all
PROBED = MIN_ELEMENTS_PER_WORKER * cpu_count()


@pipefunc(output_name="y", mapspec="x[i] -> y[i]")
def where(x: int) -> int:
    return os.getpid()


@pipefunc(output_name="z", mapspec="x[i] -> z[i]")
def slow_where(x: int) -> int:
    time.sleep(0.02)
    return os.getpid()


@pytest.fixture
def generous(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thresholds far above these cheap functions' cost, so a busy machine (a probe descheduled
    for a few ms) cannot tip the decision: these tests check the mechanism; `test_decide_rules`
    checks the thresholds and the benchmark (tools/bench, parallel group) the real figures."""
    from pipemap.runner.engine import _inline

    monkeypatch.setattr(_inline, "INLINE_MAX_SECONDS", 2.0)
    monkeypatch.setattr(_inline, "PROBE_SECONDS", 2.0)
    monkeypatch.setattr(_inline, "RELIABLE_PROBE_SECONDS", 2.0)


def test_decide_rules() -> None:
    assert decide(per_element=1e-7, remaining=10_000, spent=1e-5) == "inline"
    assert decide(per_element=INLINE_MAX_SECONDS / 10, remaining=10, spent=0.0) == "inline"
    assert decide(per_element=0.01, remaining=10, spent=0.0) == "probe"  # 0.1 s left, a short probe: measure more
    assert decide(per_element=0.01, remaining=10, spent=PROBE_SECONDS) == "pool"
    assert decide(per_element=0.01, remaining=10, spent=0.0, probe=0.01) == "pool"  # one 10 ms element measures well
    assert decide(per_element=2e-4, remaining=10**4, spent=2e-4, probe=2e-4) == "probe"  # maybe fixed cost: measure more


def test_cheap_function_runs_in_the_parent_and_says_so(tmp_path: Path, generous: None) -> None:
    result = run_map(Pipeline([where]), {"x": list(range(10_000))}, parallel=True, storage="dict")
    assert set(result["y"].output.tolist()) == {os.getpid()}
    assert "10000 elements" in result.summary.inline["where"]
    assert "too little for the default pool" in str(result.summary)


def test_status_file_says_inline(tmp_path: Path, generous: None) -> None:
    async def main() -> dict:
        runner = run_map_async(Pipeline([where]), {"x": list(range(1000))}, run_folder=tmp_path / "run",
                               storage="dict", show_progress="headless")
        await runner.task
        return runner.status()

    status = asyncio.run(main())
    assert "too little for the default pool" in status["progress"]["y"]["inline"]
    on_disk = json.loads((tmp_path / "run" / "pipefunc_status.json").read_text())
    assert on_disk["progress"]["y"]["inline"] == status["progress"]["y"]["inline"]


def test_expensive_function_goes_to_the_pool() -> None:
    result = run_map(Pipeline([slow_where]), {"x": list(range(40))}, parallel=True, storage="dict")
    pids = set(result["z"].output.tolist())
    assert pids - {os.getpid()}, "no element ran in a pool worker"
    assert result.summary.inline == {}
    # the parent ran at most the probes (about PROBE_SECONDS of work: one element of 20 ms)
    assert result["z"].output.tolist().count(os.getpid()) <= 1


def test_explicit_executor_is_always_honoured() -> None:
    with ThreadPoolExecutor(2) as ex:
        result = run_map(Pipeline([where]), {"x": list(range(1000))}, parallel=True, executor=ex, storage="dict")
    assert result.summary.inline == {}


def test_explicit_chunk_size_is_honoured() -> None:
    result = run_map(Pipeline([where]), {"x": list(range(100))}, parallel=True, chunksizes=10, storage="dict")
    assert result.summary.inline == {}
    assert os.getpid() not in set(result["y"].output.tolist())


def test_sequential_run_is_not_reported_inline() -> None:
    result = run_map(Pipeline([where]), {"x": list(range(100))}, parallel=False, storage="dict")
    assert result.summary.inline == {}


def test_function_sees_no_running_event_loop_in_the_parent(generous: None) -> None:
    @pipefunc(output_name="r", mapspec="x[i] -> r[i]")
    def runs_asyncio(x: int) -> int:
        import asyncio

        async def inner() -> int:
            return x + 1

        return asyncio.run(inner())  # fails inside a running loop

    result = run_map(Pipeline([runs_asyncio]), {"x": list(range(PROBED))}, parallel=True, storage="dict")
    assert result["r"].output.tolist() == list(range(1, PROBED + 1))
    assert "runs_asyncio" in result.summary.inline


def test_event_and_progress_line() -> None:
    tracker = HeadlessTracker()
    tracker(RanInline("y", "ran in the parent: 3 elements took 0.1 ms, too little for the default pool to pay"))
    assert tracker.as_dict()["y"]["inline"].startswith("ran in the parent")
    assert "in the parent" in summary_line("y", tracker.progress["y"], time.monotonic(), None)


@pytest.mark.parametrize("error_handling", ["raise", "continue"])
def test_errors_behave_as_in_a_sequential_run(error_handling: str) -> None:
    @pipefunc(output_name="q", mapspec="x[i] -> q[i]")
    def bad(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x

    if error_handling == "raise":
        with pytest.raises(ValueError, match="three"):
            run_map(Pipeline([bad]), {"x": list(range(PROBED))}, parallel=True, storage="dict")
        return
    with pytest.warns(UserWarning, match="1 element"):
        result = run_map(Pipeline([bad]), {"x": list(range(PROBED))}, parallel=True, storage="dict", error_handling="continue")
    assert result.summary.n_failed == 1
    assert [v for k, v in enumerate(result["q"].output.tolist()) if k != 3] == [k for k in range(PROBED) if k != 3]


def test_unpicklable_input_is_fine_when_nothing_goes_to_the_pool(generous: None) -> None:
    import threading

    @pipefunc(output_name="u", mapspec="x[i] -> u[i]")
    def scaled(x: int, c: object) -> int:
        return x

    result = run_map(Pipeline([scaled]), {"x": list(range(PROBED)), "c": threading.Lock()}, parallel=True, storage="dict")
    assert result["u"].output.tolist() == list(range(PROBED))  # ran in the parent, as a sequential run would
    with pytest.raises(TypeError, match="Input `c`"):  # sent to the pool: named as before
        run_map(Pipeline([scaled]), {"x": [1, 2], "c": threading.Lock()}, parallel=True, chunksizes=1, storage="dict")


def test_functions_with_a_retry_policy_keep_the_pool() -> None:
    @pipefunc(output_name="w", mapspec="x[i] -> w[i]", retries=2)
    def cheap(x: int) -> int:
        return os.getpid()

    result = run_map(Pipeline([cheap]), {"x": list(range(PROBED))}, parallel=True, storage="dict")
    assert result.summary.inline == {}
    assert os.getpid() not in set(result["w"].output.tolist())


def test_few_expensive_elements_never_wait_for_a_probe_in_the_parent() -> None:
    """Fewer than MIN_ELEMENTS_PER_WORKER elements per worker: straight to the pool, so a few long
    elements run side by side on the workers (a serial first element would double a run of
    as many elements as workers)."""
    n = cpu_count()

    @pipefunc(output_name="p", mapspec="x[i] -> p[i]")
    def pid_of(x: int) -> int:
        return os.getpid()

    result = run_map(Pipeline([pid_of]), {"x": list(range(n))}, parallel=True, storage="dict")
    assert result.summary.inline == {}
    assert os.getpid() not in set(result["p"].output.tolist())  # not even the first element ran here

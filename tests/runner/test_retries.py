"""Issue 15, retries while running: ``retries=`` on `PipeFunc`/`pipefunc` and as a run default,
retried inside the worker's chunk (sequential, the default pool, a thread pool, a Dask
LocalCluster), a worker's death and a ``timeout=`` counting as failed attempts, and the attempts
record (`pipemap.storage.read_attempts`). pipefunc 0.93.2 has no retries: the same flaky pipeline
ends in an ErrorSnapshot there and in an ordinary result here."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from pipemap.runner import FunctionTimeoutError, PipeFunc, Pipeline, RetryPolicy, WorkerDiedError, pipefunc, run_map
from pipemap.storage import ErrorSnapshot, read_attempts


def _attempt(counter_dir: str, x: object) -> int:
    """Count this call of element ``x`` in a file (works across processes); the attempt number."""
    path = Path(counter_dir) / f"{x}.txt"
    with open(path, "a") as fh:
        fh.write("1")
    return len(path.read_text())


def flaky(x, d, fails):
    """Fails with an OSError on the first ``fails`` attempts of every third element."""
    n = _attempt(d, x)
    if x % 3 == 0 and n <= fails:
        raise OSError(f"flaky disk at x={x}")
    return 10 * x


def _pipeline(**kwargs) -> Pipeline:
    return Pipeline([PipeFunc(flaky, "y", mapspec="x[i] -> y[i]", **kwargs), PipeFunc(lambda y: y + 1, "z", mapspec="y[i] -> z[i]")])


def _inputs(tmp_path: Path, n: int = 12, fails: int = 2) -> dict:
    d = tmp_path / "counts"
    d.mkdir(exist_ok=True)
    return {"x": list(range(n)), "d": str(d), "fails": fails}


def _calls(inputs: dict) -> list[int]:
    d = Path(inputs["d"])
    return [len(p.read_text()) if (p := d / f"{x}.txt").exists() else 0 for x in inputs["x"]]


# --------------------------------------------------------------------------- executors
@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=40)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.mark.parametrize("where", ["sequential", "default_pool", "threads", "dask"])
def test_transient_failures_are_retried_where_the_element_ran(tmp_path, where, request) -> None:
    inputs = _inputs(tmp_path)
    kwargs: dict = {"parallel": where != "sequential"}
    if where == "threads":
        kwargs["executor"] = ThreadPoolExecutor(2)
    elif where == "dask":
        kwargs["executor"] = request.getfixturevalue("dask_client")
    folder = tmp_path / "run"
    r = run_map(_pipeline(), inputs, folder, retries=2, **kwargs)
    assert r["y"].output.tolist() == [10 * x for x in range(12)]
    assert r["z"].output.tolist() == [10 * x + 1 for x in range(12)]
    assert _calls(inputs) == [3 if x % 3 == 0 else 1 for x in range(12)]
    records = read_attempts(folder, "y")
    assert sorted(records) == [0, 3, 6, 9]  # only the elements that needed more than one attempt
    rec = records[3]
    assert (rec.attempts, rec.error_type, rec.error_message) == (3, "OSError", "flaky disk at x=3")
    assert "OSError: flaky disk at x=3" in rec.traceback
    assert rec.seconds is not None and rec.seconds >= 0 and rec.host and rec.pid > 0
    if where in ("sequential", "threads"):
        assert rec.pid == os.getpid()
    elif where == "default_pool":
        assert rec.pid != os.getpid()
    assert read_attempts(folder, "z") == {}
    if where == "threads":
        kwargs["executor"].shutdown()


def test_pipefunc_has_no_retries_and_keeps_the_error_where_pipemap_retries(tmp_path) -> None:
    import pipefunc as pf

    with pytest.raises(TypeError):
        pf.PipeFunc(flaky, "y", mapspec="x[i] -> y[i]", retries=2)  # not a pipefunc feature
    inputs = _inputs(tmp_path, n=4, fails=1)
    theirs = pf.Pipeline([pf.PipeFunc(flaky, "y", mapspec="x[i] -> y[i]")]).map(
        inputs, parallel=False, storage="dict", error_handling="continue"
    )
    assert isinstance(theirs["y"].output[0], pf.ErrorSnapshot)  # final in pipefunc
    ours = run_map(Pipeline([PipeFunc(flaky, "y", mapspec="x[i] -> y[i]")]), inputs, parallel=False, retries=1)
    assert ours["y"].output.tolist() == [0, 10, 20, 30]  # the second attempt is an ordinary result


def test_no_record_and_no_wrapper_without_retries_or_failures(tmp_path, monkeypatch) -> None:
    import pipemap.runner.worker._calls as calls_module

    wrapped = []
    real = calls_module.with_retries
    monkeypatch.setattr(calls_module, "with_retries", lambda *a, **k: wrapped.append(1) or real(*a, **k))
    inputs = _inputs(tmp_path, fails=0)
    run_map(_pipeline(), inputs, tmp_path / "a", parallel=False)
    assert wrapped == []  # no policy: the compiled call is used as is
    assert not (tmp_path / "a" / "attempts").exists()
    run_map(_pipeline(), inputs, tmp_path / "b", parallel=False, retries=3)
    assert len(wrapped) == 2  # a policy: both functions wrapped, nothing failed, nothing recorded
    assert not (tmp_path / "b" / "attempts").exists()
    run_map(_pipeline(), inputs, tmp_path / "c", parallel=False, retries=RetryPolicy(attempts=1))
    assert len(wrapped) == 2  # one attempt is no retry: not wrapped


# --------------------------------------------------------------------------- exhausted attempts
def test_exhausted_attempts_continue_mode_is_an_error_snapshot_with_a_note(tmp_path) -> None:
    inputs = _inputs(tmp_path, n=4, fails=5)
    folder = tmp_path / "run"
    r = run_map(_pipeline(retries=2), inputs, folder, parallel=False, error_handling="continue")
    y = r["y"].output
    assert isinstance(y[0], ErrorSnapshot) and isinstance(y[3], ErrorSnapshot)
    assert y[1] == 10 and y[2] == 20
    assert "after 3 attempts" in " ".join(getattr(y[3].exception, "__notes__", []))
    assert _calls(inputs) == [3, 1, 1, 3]
    rec = read_attempts(folder, "y")[3]
    assert (rec.attempts, rec.error_type, rec.seconds) == (3, "OSError", None)


@pytest.mark.parametrize("parallel", [False, True])
def test_exhausted_attempts_raise_mode_raises_with_a_note_and_records_the_element(tmp_path, parallel) -> None:
    inputs = _inputs(tmp_path, n=4, fails=5)
    folder = tmp_path / "run"
    with pytest.raises(OSError, match="flaky disk at x=0") as info:
        run_map(_pipeline(), inputs, folder, parallel=parallel, retries=RetryPolicy(attempts=3, backoff=0.01))
    assert any("after 3 attempts" in n for n in info.value.__notes__)
    assert _calls(inputs)[0] == 3
    rec = read_attempts(folder, "y")[0]
    assert (rec.attempts, rec.error_type) == (3, "OSError")


def test_only_the_policys_exception_types_are_retried(tmp_path) -> None:
    calls = []

    def bad(x):
        calls.append(x)
        raise ValueError(f"deterministic {x}")

    p = Pipeline([PipeFunc(bad, "y", mapspec="x[i] -> y[i]", retries=RetryPolicy(attempts=4, on=("OSError", KeyError)))])
    with pytest.raises(ValueError, match="deterministic 0") as info:
        run_map(p, {"x": [0, 1]}, tmp_path / "run", parallel=False)
    assert calls == [0]  # a ValueError is not in `on`: one attempt
    assert not any("attempts" in n for n in info.value.__notes__)
    assert read_attempts(tmp_path / "run", "y")[0].attempts == 1  # a failed element is recorded


def test_function_retries_override_the_run_default(tmp_path) -> None:
    inputs = _inputs(tmp_path, n=4, fails=1)
    with pytest.raises(OSError):
        run_map(_pipeline(retries=0), inputs, parallel=False, retries=5)
    assert _calls(inputs)[0] == 1
    (tmp_path / "more").mkdir()
    inputs = _inputs(tmp_path / "more", n=4, fails=3)
    r = run_map(_pipeline(retries=3), inputs, parallel=False, retries=0)
    assert r["y"].output.tolist() == [0, 10, 20, 30]
    assert _calls(inputs) == [4, 1, 1, 4]


def test_backoff_waits_between_attempts(tmp_path) -> None:
    inputs = _inputs(tmp_path, n=1, fails=2)
    t0 = time.perf_counter()
    run_map(_pipeline(retries=RetryPolicy(attempts=3, backoff=0.1, backoff_factor=2.0)), inputs, parallel=False)
    assert time.perf_counter() - t0 >= 0.3  # 0.1 before the second attempt, 0.2 before the third


def test_a_timeout_counts_as_a_failed_attempt(tmp_path) -> None:
    d = tmp_path / "counts"
    d.mkdir()

    def slow_once(x, d):
        if _attempt(d, x) == 1:
            time.sleep(5)
        return x

    p = Pipeline([PipeFunc(slow_once, "y", mapspec="x[i] -> y[i]", timeout=0.2, retries=1)])
    r = run_map(p, {"x": [0, 1], "d": str(d)}, tmp_path / "run", parallel=False)
    assert r["y"].output.tolist() == [0, 1]
    rec = read_attempts(tmp_path / "run", "y")[1]
    assert (rec.attempts, rec.error_type) == (2, FunctionTimeoutError.__name__)


def test_single_function_retries(tmp_path) -> None:
    d = tmp_path / "counts"
    d.mkdir()

    @pipefunc("total", retries=2)
    def total(y, d):
        if _attempt(d, "total") < 3:
            raise ConnectionError("database busy")
        return int(np.sum(y))

    p = Pipeline([PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]"), total])
    r = run_map(p, {"x": [1, 2, 3], "d": str(d)}, tmp_path / "run", parallel=False)
    assert r["total"].output == 12
    assert read_attempts(tmp_path / "run", "total")[0].attempts == 3


def test_resumed_recompute_forgets_the_old_record(tmp_path) -> None:
    inputs = _inputs(tmp_path, n=4, fails=5)
    folder = tmp_path / "run"
    run_map(_pipeline(retries=1), inputs, folder, parallel=False, error_handling="continue")
    assert sorted(read_attempts(folder, "y")) == [0, 3]
    for p in Path(inputs["d"]).iterdir():
        p.write_text("1111111")  # the flaky disk recovered: the next attempt succeeds at once
    # retry_failed=True: the resume recomputes the failed elements (a plain resume keeps them)
    r = run_map(
        _pipeline(retries=1), inputs, folder, parallel=False, error_handling="continue", resume=True, retry_failed=True
    )
    assert r["y"].output.tolist() == [0, 10, 20, 30]
    assert read_attempts(folder, "y") == {}


# --------------------------------------------------------------------------- worker deaths
def dies_once(x, d):
    if x == 7 and _attempt(d, "died") == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    _attempt(d, x)
    return 10 * x


@pytest.mark.parametrize("error_handling", ["raise", "continue"])
def test_a_worker_death_is_a_failed_attempt_of_the_elements_it_took_down(tmp_path, error_handling) -> None:
    d = tmp_path / "counts"
    d.mkdir()
    folder = tmp_path / "run"
    p = Pipeline([PipeFunc(dies_once, "y", mapspec="x[i] -> y[i]")])
    r = run_map(p, {"x": list(range(20)), "d": str(d)}, folder, chunksizes=4, retries=1, error_handling=error_handling)
    assert r["y"].output.tolist() == [10 * x for x in range(20)]
    records = read_attempts(folder, "y")
    assert 7 in records
    assert {(rec.attempts, rec.error_type) for rec in records.values()} == {(2, "WorkerDiedError")}
    assert all(records[k].seconds is not None for k in records)
    again = run_map(p, {"x": list(range(20)), "d": str(d)}, folder, resume=True, parallel=False, error_handling=error_handling)
    assert again["y"].output.tolist() == [10 * x for x in range(20)]


def test_a_worker_death_beyond_the_attempts_fails_as_without_retries(tmp_path) -> None:
    d = tmp_path / "counts"
    d.mkdir()

    def always_dies(x):
        if x == 5:
            os.kill(os.getpid(), signal.SIGKILL)
        return x

    p = Pipeline([PipeFunc(always_dies, "y", mapspec="x[i] -> y[i]", retries=1)])
    with pytest.raises(WorkerDiedError) as info:
        run_map(p, {"x": list(range(12))}, tmp_path / "run", chunksizes=4)
    assert any("after 2 attempts" in n for n in info.value.__notes__)
    rec = read_attempts(tmp_path / "run", "y")[5]
    assert (rec.attempts, rec.error_type, rec.pid, rec.seconds) == (2, "WorkerDiedError", 0, None)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("policy", "culprit"),
    [
        (lambda: RetryPolicy(attempts=-1), "attempts=-1"),
        (lambda: RetryPolicy(attempts=0), "attempts=0"),
        (lambda: RetryPolicy(on=("NoSuchError",)), "'NoSuchError'"),
        (lambda: RetryPolicy(on=("os.NoSuchError",)), "'os.NoSuchError'"),
        (lambda: RetryPolicy(backoff=-0.5), "backoff=-0.5"),
        (lambda: RetryPolicy(backoff_factor=-2), "backoff_factor=-2"),
    ],
)
def test_bad_policy_is_a_value_error_naming_the_value(policy, culprit) -> None:
    with pytest.raises(ValueError, match=culprit.replace("(", r"\(").replace(".", r"\.")):
        policy()


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_bad_retries_is_a_value_error_before_anything_runs(tmp_path, bad) -> None:
    with pytest.raises(ValueError, match=r"`retries` of `flaky` must be an int >= 0"):
        PipeFunc(flaky, "y", mapspec="x[i] -> y[i]", retries=bad)
    with pytest.raises(ValueError, match=r"`retries` of `pipefunc\('y'\)`"):
        pipefunc("y", retries=bad)
    inputs = _inputs(tmp_path, fails=0)
    for call in (run_map, Pipeline.map):
        with pytest.raises(ValueError, match=r"`retries` must be an int >= 0 \(extra attempts\) or a RetryPolicy"):
            if call is run_map:
                run_map(_pipeline(), inputs, tmp_path / "run", parallel=False, retries=bad)
            else:
                _pipeline().map(inputs, tmp_path / "run", parallel=False, retries=bad)
    assert _calls(inputs) == [0] * 12  # nothing ran
    assert not (tmp_path / "run").exists()


def test_policy_accepts_types_builtin_dotted_and_pipemap_names() -> None:
    import json

    policy = RetryPolicy(attempts=3, on=("OSError", "json.JSONDecodeError", "WorkerDiedError", KeyError))
    assert policy.retries(FileNotFoundError())
    assert policy.retries(json.JSONDecodeError("x", "y", 0))
    assert policy.retries(WorkerDiedError("f", "y", [range(2)]))
    assert policy.retries(KeyError("k"))
    assert not policy.retries(ValueError())
    assert not RetryPolicy(on=(OSError,)).retries(WorkerDiedError("f", "y", []))
    assert RetryPolicy().retries(FunctionTimeoutError("slow"))


def test_retry_policy_is_exported() -> None:
    import pipemap.api as pm
    import pipemap.runner as runner

    assert pm.RetryPolicy is runner.RetryPolicy is RetryPolicy
    assert pm.read_attempts is read_attempts


@pytest.mark.parametrize("facade", ["run_map_async", "Pipeline.map_async", "Pipeline.map"])
def test_run_default_on_every_facade(tmp_path, facade) -> None:
    from pipemap.runner import run_map_async

    inputs = _inputs(tmp_path, n=6, fails=1)
    p = _pipeline()
    if facade == "Pipeline.map":
        r = p.map(inputs, tmp_path / "run", parallel=False, retries=1)
    else:
        start = run_map_async if facade == "run_map_async" else (lambda pl, *a, **k: pl.map_async(*a, **k))
        runner = start(p, inputs, tmp_path / "run", start=False, executor=ThreadPoolExecutor(2), retries=1)
        r = runner.result()
    assert r["y"].output.tolist() == [10 * x for x in range(6)]
    assert sorted(read_attempts(tmp_path / "run", "y")) == [0, 3]


def test_a_cached_function_with_retries_does_not_cache_the_failed_attempt(tmp_path) -> None:
    inputs = _inputs(tmp_path, n=4, fails=1)
    p = Pipeline([PipeFunc(flaky, "y", mapspec="x[i] -> y[i]", cache=True, retries=1)], cache_type="simple")
    r = run_map(p, inputs, parallel=False, error_handling="continue")
    assert r["y"].output.tolist() == [0, 10, 20, 30]
    assert _calls(inputs) == [2, 1, 1, 2]


def always_dies_at_5(x):
    if x == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def test_a_worker_death_beyond_the_attempts_in_continue_mode_fails_only_the_culprit(tmp_path) -> None:
    """The lost elements of a chunk run again one by one: only the element that kills its worker
    every time uses up its attempts; its chunk neighbours (4, 6, 7) are results."""
    p = Pipeline([PipeFunc(always_dies_at_5, "y", mapspec="x[i] -> y[i]", retries=2)])
    r = run_map(p, {"x": list(range(12))}, tmp_path / "run", chunksizes=4, error_handling="continue")
    y = r["y"].output
    assert isinstance(y[5], ErrorSnapshot)
    assert "after 3 attempts" in " ".join(getattr(y[5].exception, "__notes__", []))
    assert [v for k, v in enumerate(y) if k != 5] == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]
    records = read_attempts(tmp_path / "run", "y")
    assert records[5].attempts == 3
    assert all(rec.attempts == 2 and rec.seconds is not None for k, rec in records.items() if k != 5)

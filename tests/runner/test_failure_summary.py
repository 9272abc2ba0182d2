"""issue 15, "The run's summary": a run with failed elements ends in one short report (counts per
function and exception type, and the exact call that retries them), available as
``ResultDict.summary``, instead of one message per element (pipefunc 0.93.2 prints one per element)."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pipemap.runner import FailedElementsWarning, Pipeline, RunSummary, pipefunc, run_map, run_map_async


@pipefunc("y", mapspec="x[i] -> y[i]")
def fragile(x: int) -> int:
    if x % 5 == 1:
        raise ValueError(f"bad {x}")
    if x % 5 == 2:
        raise KeyError(x)
    return x


@pipefunc("z", mapspec="y[i] -> z[i]")
def after(y: int) -> int:
    return y + 1


@pipefunc("s")
def total(z: object) -> int:
    return 0


PIPELINE = Pipeline([fragile, after, total])
INPUTS = {"x": list(range(10))}


def _one_warning(record: list[warnings.WarningMessage]) -> str:
    ours = [w for w in record if issubclass(w.category, FailedElementsWarning)]
    assert len(ours) == 1, [str(w.message) for w in record]
    return str(ours[0].message)


@pytest.mark.parametrize("mode", ["sequential", "threads", "default_pool", "no_return"])
def test_one_report_with_counts_and_the_retry_call(tmp_path: Path, mode: str) -> None:
    kw: dict = {"run_folder": tmp_path / "run", "error_handling": "continue"}
    if mode == "sequential":
        kw["parallel"] = False
    elif mode == "threads":
        kw.update(executor=ThreadPoolExecutor(2), chunksizes=3)
    elif mode == "no_return":  # the workers write, no values come back: the report reads the snapshots
        kw.update(return_results=False, chunksizes=2)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        r = run_map(PIPELINE, INPUTS, **kw)
    text = _one_warning(record)
    assert record[0].filename == __file__  # points at the user's call
    folder = str(tmp_path / "run")
    assert text.splitlines()[:4] == [
        "9 element(s) failed in this run (error_handling='continue'):",
        "  fragile: 2 x KeyError (e.g. '2'), 2 x ValueError (e.g. 'bad 1')",
        "  after: 4 x skipped (an input failed)",
        "  total: 1 x skipped (an input failed)",
    ]
    call = f"run_map(pipeline, inputs, run_folder={folder!r}, error_handling='continue', resume=True, retry_failed=True)"
    assert call in text
    assert f"pipemap errors {folder}" in text
    summary = r.summary
    assert isinstance(summary, RunSummary)
    assert summary.failures == {
        "fragile": {"ValueError": 2, "KeyError": 2}, "after": {"skipped (an input failed)": 4},
        "total": {"skipped (an input failed)": 1},
    }
    assert summary.n_failed == 9 and summary.retry_call == call
    if mode == "threads":
        kw["executor"].shutdown()


def test_the_printed_call_retries_only_the_failures(tmp_path: Path) -> None:
    calls: list[int] = []
    state = {"fail": True}

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def flaky(x: int) -> int:
        calls.append(x)
        if state["fail"] and x in (3, 6):
            raise OSError("flaky file system")
        return x

    pipeline, inputs = Pipeline([flaky]), {"x": list(range(8))}
    with pytest.warns(FailedElementsWarning, match=r"flaky: 2 x OSError \(e.g. 'flaky file system'\)") as record:
        r = run_map(pipeline, inputs, run_folder=tmp_path / "run", parallel=False, error_handling="continue")
    assert len(record) == 1
    state["fail"], calls[:] = False, []
    call = r.summary.retry_call.replace("retry_failed=True)", "retry_failed=True, parallel=False)")  # (count calls here)
    r = eval(call, {"run_map": run_map, "pipeline": pipeline, "inputs": inputs})  # noqa: S307
    assert sorted(calls) == [3, 6]
    assert r["y"].output.tolist() == list(range(8))
    assert r.summary.n_failed == 0 and r.summary.retried == {"flaky": 2}


def test_no_report_without_failures_and_without_a_run_folder(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = run_map(Pipeline([after]), {"y": [1, 2]}, run_folder=tmp_path, parallel=False, error_handling="continue")
    assert r.summary is not None and r.summary.n_failed == 0 and r.summary.failures == {}
    with pytest.warns(FailedElementsWarning) as record:
        r = run_map(PIPELINE, INPUTS, parallel=False, error_handling="continue")
    text = str(record[0].message)
    assert "pass a `run_folder`" in text and "run_map(" not in text
    assert r.summary.retry_call is None


def test_async_run_reports_once(tmp_path: Path) -> None:
    runner = run_map_async(PIPELINE, INPUTS, run_folder=tmp_path, error_handling="continue", start=False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        r = runner.result()
    assert "9 element(s) failed" in _one_warning(record)
    assert r.summary.n_failed == 9


def test_parity_pipefunc_prints_per_element_pipemap_reports_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pipefunc as pf

    @pf.pipefunc("y", mapspec="x[i] -> y[i]")
    def pf_fragile(x: int) -> int:
        if x % 5 == 1:
            raise ValueError(f"bad {x}")
        return x

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        pf.Pipeline([pf_fragile]).map(INPUTS, run_folder=tmp_path / "pf", parallel=False, error_handling="continue")
    pf_out = capsys.readouterr().out
    assert pf_out.count("An error occurred while calling the function") == 2  # one message per element
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        pm = Pipeline([pipefunc("y", mapspec="x[i] -> y[i]")(pf_fragile.func)])
        run_map(pm, INPUTS, run_folder=tmp_path / "pm", parallel=False, error_handling="continue")
    assert capsys.readouterr().out == ""
    assert "2 x ValueError (e.g. 'bad 1')" in _one_warning(record)

"""``resume=True`` never serves stale results: a function whose code (or a helper's), default,
bound value or input changed is recomputed with everything downstream of it, the rest is kept
(call counts in a file, so worker processes count too), added functions are computed, and
``ResumeRecomputeWarning`` names each function and why. pipefunc 0.93.2 serves the stale
values here (docs/porting.md §4). Shapes, storages, refusals and crashes: test_resume_changes_shapes.py."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest

from pipemap.runner import ResumeRecomputeWarning, ResumeUnverifiedWarning, RunInfo, run_map

sys.path.insert(0, str(Path(__file__).parent))
from _resume_subject import Subject, expected, outputs  # noqa: E402

X = [1, 2, 3, 4]
EVERYTHING = {"double": 4, "plus": 4, "total": 1, "other": 4}


@pytest.fixture(params=["sequential", "process_pool"])
def run(request, tmp_path):  # noqa: ANN001, ANN201
    """``run(pipeline, c=..., **kwargs)`` on one run folder, sequential or in a process pool."""
    folder = tmp_path / "run"
    extra = {"parallel": False} if request.param == "sequential" else {"executor": request.getfixturevalue("process_pool")}

    def call(pipeline, c=10, x=X, **kwargs):  # noqa: ANN001, ANN202
        return run_map(pipeline, {"x": x, "c": c}, run_folder=folder, **extra, **kwargs)

    call.folder = folder  # type: ignore[attr-defined]
    return call


def _quiet_resume(run, pipeline, **kwargs):  # noqa: ANN001, ANN202
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResumeRecomputeWarning)
        return run(pipeline, resume=True, **kwargs)


def test_an_unchanged_resume_recomputes_nothing(tmp_path, run) -> None:
    s = Subject(tmp_path)
    assert outputs(run(s.pipeline())) == expected(X, 10)
    assert s.calls() == EVERYTHING
    r = _quiet_resume(run, s.pipeline())  # the module loaded afresh: same fingerprints
    assert s.calls() == {} and outputs(r) == expected(X, 10)
    assert r.summary is not None and r.summary.resume_recomputed == []


def test_an_edited_body_recomputes_it_and_downstream_and_keeps_the_unrelated_branch(tmp_path, run) -> None:
    s = Subject(tmp_path)
    run(s.pipeline())
    s.calls()
    s.edit("return helper(x) + c", "return helper(x) + c + 100")
    with pytest.warns(ResumeRecomputeWarning) as record:
        r = run(s.pipeline(), resume=True)
    message = str(record[0].message)
    assert "function `double` (y): code changed" in message
    assert "function `plus` (z): upstream `y` recomputed" in message
    assert "function `total` (s): upstream `z` recomputed" in message
    assert "other" not in message
    assert s.calls() == {"double": 4, "plus": 4, "total": 1}  # `other` (u) kept
    want = expected(X, 110)
    want["u"] = expected(X, 10)["u"]
    assert outputs(r) == want
    assert r.summary is not None and any("code changed" in line for line in r.summary.resume_recomputed)
    assert outputs(_quiet_resume(run, s.pipeline())) == want and s.calls() == {}


@pytest.mark.parametrize(("old", "new"), [("return v * SCALE", "return v * SCALE * 3"), ("SCALE = 2", "SCALE = 6")])
def test_an_edited_helper_or_module_constant_recomputes_its_callers(tmp_path, run, old, new) -> None:
    s = Subject(tmp_path)
    run(s.pipeline())
    s.calls()
    s.edit(old, new)
    with pytest.warns(ResumeRecomputeWarning, match=r"function `double` \(y\): code changed"):
        r = run(s.pipeline(), resume=True)
    assert s.calls() == {"double": 4, "plus": 4, "total": 1}
    assert outputs(r)["y"] == expected(X, 10, scale=6)["y"]


def test_a_changed_default_recomputes_that_function_and_downstream(tmp_path, run) -> None:
    s = Subject(tmp_path)
    run(s.pipeline())
    s.calls()
    with pytest.warns(ResumeRecomputeWarning, match=r"function `plus` \(z\): default `d` changed"):
        r = run(s.pipeline(defaults={"d": 5}), resume=True)
    assert s.calls() == {"plus": 4, "total": 1}
    assert outputs(r) == expected(X, 10, d=5)
    s.edit("def plus(y, d=1)", "def plus(y, d=7)")  # the signature's default
    with pytest.warns(ResumeRecomputeWarning, match=r"function `plus` \(z\): default `d` changed"):
        r = run(s.pipeline(), resume=True)
    assert s.calls() == {"plus": 4, "total": 1} and outputs(r) == expected(X, 10, d=7)


def test_a_changed_bound_value_recomputes_only_its_function(tmp_path, run) -> None:
    s = Subject(tmp_path)
    run(s.pipeline())
    s.calls()
    with pytest.warns(ResumeRecomputeWarning, match=r"function `other` \(u\): bound value `k` changed") as record:
        r = run(s.pipeline(k=3), resume=True)
    assert "double" not in str(record[0].message)
    assert s.calls() == {"other": 4}
    assert outputs(r) == expected(X, 10, k=3)


def test_a_changed_constant_input_recomputes_its_consumers(tmp_path, run) -> None:
    s = Subject(tmp_path)
    run(s.pipeline())
    s.calls()
    with pytest.warns(ResumeRecomputeWarning, match=r"function `double` \(y\): input `c` changed"):
        r = run(s.pipeline(), c=20, resume=True)
    assert s.calls() == {"double": 4, "plus": 4, "total": 1}
    assert outputs(r) == expected(X, 20)
    with pytest.warns(ResumeRecomputeWarning, match=r"input `x` changed"):  # same shape, other values
        r = run(s.pipeline(), c=20, x=[5, 6, 7, 8], resume=True)
    assert s.calls() == {"double": 4, "plus": 4, "total": 1, "other": 4}
    assert outputs(r) == expected([5, 6, 7, 8], 20)


def test_a_reduction_added_to_a_finished_sweep_is_computed_alone(tmp_path, run) -> None:
    s = Subject(tmp_path)
    run(s.pipeline())
    s.calls()
    r = _quiet_resume(run, s.pipeline(extra=["count_u"]))  # before: "MapSpecs do not match previous run"
    assert s.calls() == {"count_u": 1}
    assert r["nu"].output == len(X) and outputs(r) == expected(X, 10)
    assert "nu" in RunInfo.load(run.folder).all_output_names


def test_removed_outputs_are_kept_while_valid_and_cleared_when_stale(tmp_path, run) -> None:
    s = Subject(tmp_path)
    run(s.pipeline())
    s.calls()
    _quiet_resume(run, s.pipeline(drop=("other",)))  # u is not in this pipeline: its values stay
    assert s.calls() == {} and (run.folder / "outputs" / "u").is_dir()
    r = _quiet_resume(run, s.pipeline())  # ... and are served again
    assert s.calls() == {} and outputs(r) == expected(X, 10)
    # `plus` and `total` left out while `double` changes: their stored values are stale now
    with pytest.warns(ResumeRecomputeWarning, match=r"function `double` \(y\): input `c` changed"):
        run(s.pipeline(drop=("plus", "total")), c=30, resume=True)
    assert s.calls() == {"double": 4}
    assert not (run.folder / "outputs" / "z").exists() and not (run.folder / "outputs" / "s.cloudpickle").exists()
    r = _quiet_resume(run, s.pipeline(), c=30)  # added back: computed, never the stale values
    assert s.calls() == {"plus": 4, "total": 1}
    assert outputs(r) == expected(X, 30)


def test_skip_trusts_the_folder(tmp_path, run) -> None:
    s = Subject(tmp_path)
    run(s.pipeline())
    s.calls()
    s.edit("return helper(x) + c", "return helper(x) - c")
    r = _quiet_resume(run, s.pipeline(), resume_validation="skip")
    assert s.calls() == {} and outputs(r) == expected(X, 10)  # pipefunc's "trust the folder"


def test_a_function_without_a_stable_fingerprint_is_never_trusted(tmp_path, run) -> None:
    import numpy as np

    s = Subject(tmp_path)
    run(s.pipeline(k=1))
    s.calls()
    pipeline = s.pipeline()
    pipeline["u"].update_bound({"k": 1})
    lock_pipeline = s.pipeline()
    lock_pipeline["u"].func = _with_rng(lock_pipeline["u"].func, np.random.default_rng(0))  # picklable, no stable digest
    for _ in range(2):
        with pytest.warns(ResumeRecomputeWarning, match=r"function `other` \(u\): cannot be fingerprinted \(closure variable `rng`"):
            r = run(lock_pipeline, resume=True)
        assert s.calls() == {"other": 4} and outputs(r) == expected(X, 10)
    with pytest.warns(ResumeRecomputeWarning, match=r"function `other` \(u\): the previous run could not fingerprint it"):
        run(pipeline, resume=True)
    assert s.calls() == {"other": 4}


def _with_rng(func, rng):  # noqa: ANN001, ANN202
    def other(x, k):  # noqa: ANN001, ANN202
        rng.random()
        return func(x, k)

    return other


def test_a_folder_without_the_record_resumes_as_before_with_one_warning(tmp_path, run) -> None:
    s = Subject(tmp_path)
    run(s.pipeline())
    s.calls()
    meta_path = run.folder / "pipemap.json"
    meta = json.loads(meta_path.read_text())
    del meta["functions"]  # as written by an older pipemap
    meta_path.write_text(json.dumps(meta))
    s.edit("return helper(x) + c", "return helper(x) + c + 100")
    with pytest.warns(ResumeUnverifiedWarning, match="cannot be detected"):
        r = run(s.pipeline(), resume=True)
    assert s.calls() == {} and outputs(r) == expected(X, 10)  # today's behaviour: served
    assert "functions" in json.loads(meta_path.read_text())  # recorded now: the next resume checks
    s.edit("return helper(x) + c + 100", "return helper(x) + c + 200")
    with pytest.warns(ResumeRecomputeWarning, match="code changed"):
        r = run(s.pipeline(), resume=True)
    assert outputs(r)["y"] == expected(X, 210)["y"]


def test_the_progress_display_and_its_events_say_what_is_recomputed(tmp_path, run) -> None:
    import io

    from rich.console import Console

    from pipemap.runner.engine._events import HeadlessTracker
    from pipemap.runner.progress.rich_display import RichDisplay

    s = Subject(tmp_path)
    run(s.pipeline())
    tracker = HeadlessTracker()
    display = RichDisplay(tracker, console=Console(file=io.StringIO(), width=200, force_terminal=False))
    with pytest.warns(ResumeRecomputeWarning):
        run(s.pipeline(k=2), resume=True, callbacks=[tracker, display])
    assert tracker.recomputed == ("function `other` (u): bound value `k` changed",)
    assert "resume recomputes function `other` (u): bound value `k` changed" in display.console.file.getvalue()

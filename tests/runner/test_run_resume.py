"""Resume (docs/behaviour.md §4.4): reuse, validation of changes, cleanup deprecation, crash and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from pipemap.runner import Pipeline, PipeFunc, ResumeRecomputeWarning, RunInfo, pipefunc, run_map


def _counting_pipeline(calls: list) -> Pipeline:
    @pipefunc("y", mapspec="x[i] -> y[i]")
    def double(x):
        calls.append(("y", x))
        return 2 * x

    @pipefunc("s")
    def total(y):
        calls.append(("s", None))
        return int(np.sum(y))

    return Pipeline([double, total])


def test_resume_reruns_nothing(tmp_path) -> None:
    calls: list = []
    p = _counting_pipeline(calls)
    r1 = run_map(p, {"x": [1, 2, 3]}, run_folder=tmp_path, parallel=False)
    assert len(calls) == 4
    r2 = run_map(p, {"x": [1, 2, 3]}, run_folder=tmp_path, parallel=False, resume=True)
    assert len(calls) == 4  # nothing recomputed, mapped or single
    assert r2["y"].output.tolist() == r1["y"].output.tolist() == [2, 4, 6]
    assert r2["s"].output == 12
    run_map(p, {"x": [1, 2, 3]}, run_folder=tmp_path, parallel=False, resume=False)
    assert len(calls) == 8


def test_resume_computes_only_missing_elements(tmp_path) -> None:
    calls: list = []
    p = _counting_pipeline(calls)
    run_map(p, {"x": [1, 2, 3, 4]}, run_folder=tmp_path, parallel=False)
    (tmp_path / "outputs" / "y" / "__1__.pickle").unlink()
    (tmp_path / "outputs" / "s.cloudpickle").unlink()
    calls.clear()
    r = run_map(p, {"x": [1, 2, 3, 4]}, run_folder=tmp_path, parallel=False, resume=True)
    assert calls == [("y", 2), ("s", None)]
    assert r["y"].output.tolist() == [2, 4, 6, 8]


def test_resume_rejects_changes(tmp_path, capsys) -> None:
    p = _counting_pipeline([])
    run_map(p, {"x": [1, 2, 3]}, run_folder=tmp_path, parallel=False)
    with pytest.raises(ValueError, match="Shapes do not match previous run"):
        run_map(p, {"x": [1, 2, 3, 4]}, run_folder=tmp_path, parallel=False, resume=True, resume_validation="skip")
    # other input values: recomputed (before: refused), see tests/runner/test_resume_changes.py
    with pytest.warns(ResumeRecomputeWarning, match=r"function `double` \(y\): input `x` changed"):
        r = run_map(p, {"x": [1, 2, 5]}, run_folder=tmp_path, parallel=False, resume=True)
    assert r["y"].output.tolist() == [2, 4, 10]
    r = run_map(p, {"x": [1, 2, 3]}, run_folder=tmp_path, parallel=False, resume=True, resume_validation="skip")
    assert r["y"].output.tolist() == [2, 4, 10]  # skip trusts the folder: the stored results come back
    with pytest.raises(ValueError, match="does not match previous run"):
        run_map(p, {"x": [1, 2, 3]}, run_folder=tmp_path, parallel=False, resume=True, error_handling="continue")
    other = Pipeline([PipeFunc(lambda x: x, "y", mapspec="x[j] -> y[j]"), PipeFunc(lambda y: 0, "s")])
    with pytest.raises(ValueError, match="`MapSpec`s do not match previous run"):
        run_map(other, {"x": [1, 2, 3]}, run_folder=tmp_path, parallel=False, resume=True)
    # nothing was lost by the refused runs
    assert len(list((tmp_path / "outputs" / "y").iterdir())) == 3 + 1  # + shape.json


def test_float_inputs_tolerant(tmp_path) -> None:
    p = Pipeline([PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")])
    run_map(p, {"x": np.array([0.1, np.nan])}, run_folder=tmp_path, parallel=False)
    run_map(p, {"x": np.array([0.1 + 1e-15, np.nan])}, run_folder=tmp_path, parallel=False, resume=True)


class BrokenEq:
    def __eq__(self, other):
        raise RuntimeError("no comparison")

    __hash__ = object.__hash__


def test_undecidable_inputs(tmp_path, capsys) -> None:
    p = Pipeline([PipeFunc(lambda x, c: x, "y", mapspec="x[i] -> y[i]")])
    run_map(p, {"x": [1], "c": BrokenEq()}, run_folder=tmp_path, parallel=False)
    with pytest.warns(UserWarning):
        run_map(p, {"x": [1], "c": BrokenEq()}, run_folder=tmp_path, parallel=False, resume=True)
    assert "Could not compare new `inputs`" in capsys.readouterr().out
    with pytest.raises(ValueError, match="Cannot compare inputs for equality"), pytest.warns(UserWarning):
        run_map(p, {"x": [1], "c": BrokenEq()}, run_folder=tmp_path, parallel=False, resume=True, resume_validation="strict")


def test_cleanup_deprecated(tmp_path) -> None:
    calls: list = []
    p = _counting_pipeline(calls)
    run_map(p, {"x": [1]}, run_folder=tmp_path, parallel=False)
    with pytest.warns(DeprecationWarning, match="'cleanup' parameter is deprecated"):
        run_map(p, {"x": [1]}, run_folder=tmp_path, parallel=False, cleanup=True, resume=True)
    assert len(calls) == 4  # cleanup=True wins: fresh run
    with pytest.warns(DeprecationWarning):
        run_map(p, {"x": [1]}, run_folder=tmp_path, parallel=False, cleanup=False)
    assert len(calls) == 4  # cleanup=False == resume=True


def test_run_info_roundtrip(tmp_path) -> None:
    p = _counting_pipeline([])
    run_map(p, {"x": [1, 2]}, run_folder=tmp_path, parallel=False)
    info = RunInfo.load(tmp_path)
    assert info.inputs == {"x": [1, 2]}
    assert info.shapes["y"] == (2,)
    assert info.storage == "file_array"
    assert info.error_handling == "raise"


def test_resolved_shapes_of_generator(tmp_path) -> None:
    @pipefunc("x")
    def gen():
        return list(range(7))

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def ident(x):
        return x

    run_map(Pipeline([gen, ident]), {}, run_folder=tmp_path, parallel=False)
    info = RunInfo.load(tmp_path)
    assert info.shapes["x"] == ("?",)
    assert info.resolved_shapes["x"] == (7,)
    assert info.resolved_shapes["y"] == (7,)


def test_dict_storage_persist_and_resume(tmp_path) -> None:
    calls: list = []
    p = _counting_pipeline(calls)
    run_map(p, {"x": [1, 2]}, run_folder=tmp_path, storage="dict", parallel=False)
    assert (tmp_path / "outputs" / "y" / "dict_array.cloudpickle").is_file()
    r = run_map(p, {"x": [1, 2]}, run_folder=tmp_path, storage="dict", parallel=False, resume=True)
    assert len(calls) == 3
    assert r["y"].output.tolist() == [2, 4]


CRASH_SCRIPT = """
import sys, time
from pipemap.runner import Pipeline, pipefunc, run_map

side = sys.argv[2]

@pipefunc("y", mapspec="x[i] -> y[i]")
def slow(x):
    with open(side, "a") as f:
        f.write(f"{x}\\n")
    time.sleep(0.001)
    return x * x

run_map(Pipeline([slow]), {"x": list(range(int(sys.argv[3])))}, run_folder=sys.argv[1],
        parallel=False, resume=True)
"""


def test_sigkill_then_resume_does_not_recompute(tmp_path) -> None:
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(CRASH_SCRIPT))
    folder = tmp_path / "run"
    side = tmp_path / "calls.txt"
    n = 1200
    proc = subprocess.Popen([sys.executable, str(script), str(folder), str(side), str(n)])
    out = folder / "outputs" / "y"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # wait until some batches are on disk
            if out.is_dir() and len(os.listdir(out)) >= 150:
                break
            assert proc.poll() is None, "the run finished before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    done_before = {int(name[2:-9]) for name in os.listdir(out) if name.endswith(".pickle")}
    assert 150 <= len(done_before) < n
    calls_before = side.read_text().split()
    side.write_text("")
    subprocess.run([sys.executable, str(script), str(folder), str(side), str(n)], check=True)
    calls_after = [int(v) for v in side.read_text().split()]
    assert not set(calls_after) & done_before  # finished elements were not recomputed
    assert set(calls_after) | done_before == set(range(n))
    assert len(calls_after) == n - len(done_before)
    assert len(calls_before) >= len(done_before)
    loaded = RunInfo.load(folder)
    assert loaded.shapes["y"] == (n,)
    from pipemap.storage import open_store

    store = open_store(loaded, "y")
    assert store.get_many(range(n)) == [x * x for x in range(n)]


# --------------------------------------------------------------------------- element types (reliability item 4)
def test_tolerant_equal_respects_element_types() -> None:
    from pipemap.runner.engine._resume import tolerant_equal

    refused = [
        ([1, 2], [1.0, 2.0]),
        ([True, 2], [1, 2]),
        ((1, 2), (1.0, 2.0)),
        ([[1], [2]], [[1.0], [2.0]]),
        ([(1, "a")], [(1.0, "a")]),
        ({"a": [1, 2]}, {"a": [1.0, 2.0]}),
        ({"a": {"b": (True,)}}, {"a": {"b": (1,)}}),
        ([np.int64(1)], [1]),
        ([None, 1], [None, 1.0]),
        ({1, 2}, {1.0, 2.0}),
        (frozenset({(1, 2)}), frozenset({(1.0, 2.0)})),
    ]
    for a, b in refused:
        assert tolerant_equal(a, b) is False, (a, b)
        assert tolerant_equal(b, a) is False, (b, a)
    accepted = [
        ([1, 2], [1, 2]),
        ([1.0, float("nan")], [1.0 + 1e-12, float("nan")]),
        ([[1, 2.5], ("a", None)], [[1, 2.5], ("a", None)]),
        ({"a": [np.float64(1.0)]}, {"a": [np.float64(1.0)]}),
        ({1, 2}, {2, 1}),
        (range(5), range(5)),
    ]
    for a, b in accepted:
        assert tolerant_equal(a, b) is True, (a, b)


def test_tolerant_equal_big_homogeneous_lists() -> None:
    """The fast path still decides big flat lists (correctness only; speed is benchmarked by hand)."""
    from pipemap.runner.engine._resume import tolerant_equal

    floats = [float(i) for i in range(10**6)]
    assert tolerant_equal(floats, list(floats)) is True
    ints = list(range(10**6))
    assert tolerant_equal(floats, ints) is False
    ints_with_bool = [*ints[:-1], True]
    assert tolerant_equal([*ints[:-1], 1], ints_with_bool) is False


@pytest.mark.parametrize("validation", ["auto", "strict"])
@pytest.mark.parametrize(
    ("old", "new"),
    [
        ([1, 2], [1.0, 2.0]),
        ([True, 2], [1, 2]),
        ([(1,), (2,)], [(1.0,), (2.0,)]),
    ],
)
def test_resume_recomputes_inputs_of_other_element_types(tmp_path, validation, old, new) -> None:
    calls: list = []
    p = Pipeline([PipeFunc(lambda x: calls.append(x) or repr(x), "y", mapspec="x[i] -> y[i]")])
    run_map(p, {"x": old}, run_folder=tmp_path, parallel=False)
    calls.clear()
    with pytest.warns(ResumeRecomputeWarning, match=r"input `x` changed"):  # before: refused
        r = run_map(p, {"x": new}, run_folder=tmp_path, parallel=False, resume=True, resume_validation=validation)
    assert r["y"].output.tolist() == [repr(v) for v in new] and calls == list(new)
    calls.clear()
    r = run_map(p, {"x": list(new)}, run_folder=tmp_path, parallel=False, resume=True, resume_validation=validation)
    assert r["y"].output.tolist() == [repr(v) for v in new] and calls == []


def test_resume_refuses_default_of_other_element_types(tmp_path) -> None:
    def f(x, c=(1, 2)):
        return x

    p = Pipeline([PipeFunc(f, "y", mapspec="x[i] -> y[i]")])
    run_map(p, {"x": [1]}, run_folder=tmp_path, parallel=False)
    p2 = Pipeline([PipeFunc(f, "y", mapspec="x[i] -> y[i]", defaults={"c": (1.0, 2.0)})])
    with pytest.warns(ResumeRecomputeWarning, match=r"function `f` \(y\): default `c` changed"):  # before: refused
        run_map(p2, {"x": [1]}, run_folder=tmp_path, parallel=False, resume=True)


# --------------------------------------------------------------------------- bound values (reliability item 5)
def _bound_pipeline(c_y: object, c_z: object = 5) -> Pipeline:
    return Pipeline(
        [
            PipeFunc(lambda x, c: x * c, "y", mapspec="x[i] -> y[i]", bound={"c": c_y}),
            PipeFunc(lambda y, c: y + c, "z", mapspec="y[i] -> z[i]", bound={"c": c_z}),
        ]
    )


def test_resume_refuses_changed_bound(tmp_path) -> None:
    run_map(_bound_pipeline(2), {"x": [1, 2, 3]}, run_folder=tmp_path, parallel=False)
    # a changed bound value: recomputed with its downstream (before: refused)
    for validation, c in (("auto", 100), ("strict", 2.0), ("auto", 2)):
        with pytest.warns(ResumeRecomputeWarning, match=r"\(y\): bound value `c` changed\n.*\(z\): upstream `y`"):
            r = run_map(_bound_pipeline(c), {"x": [1, 2, 3]}, run_folder=tmp_path, parallel=False, resume=True,
                        resume_validation=validation)
        assert r["y"].output.tolist() == [c, 2 * c, 3 * c]
    r = run_map(_bound_pipeline(2), {"x": [1, 2, 3]}, run_folder=tmp_path, parallel=False, resume=True,
                resume_validation="strict")
    assert r["z"].output.tolist() == [7, 9, 11]
    # skip: the user takes responsibility, the old values come back
    r = run_map(_bound_pipeline(100), {"x": [1, 2, 3]}, run_folder=tmp_path, parallel=False, resume=True,
                resume_validation="skip")
    assert r["y"].output.tolist() == [2, 4, 6]


def test_bound_is_recorded_per_function(tmp_path) -> None:
    """Two functions bind the same parameter name: swapping their values is a change."""
    run_map(_bound_pipeline(2, 5), {"x": [1]}, run_folder=tmp_path, parallel=False)
    info = RunInfo.load(tmp_path)
    assert info.bound == {"y": {"c": 2}, "z": {"c": 5}}
    with pytest.warns(ResumeRecomputeWarning, match=r"\(y\): bound value `c` changed\n.*\(z\): bound value `c` changed"):
        run_map(_bound_pipeline(5, 2), {"x": [1]}, run_folder=tmp_path, parallel=False, resume=True)
    with pytest.warns(ResumeRecomputeWarning, match=r"stale for 1 function\(s\).*\n.*\(z\): bound value `c` changed$"):
        r = run_map(_bound_pipeline(5, 6), {"x": [1]}, run_folder=tmp_path, parallel=False, resume=True)
    assert r["z"].output.tolist() == [11]


def test_bound_of_multi_output_function_and_added_bound(tmp_path) -> None:
    def f(x, c, d=1):
        return x * c, x + d

    def pipe(**bound):
        return Pipeline([PipeFunc(f, ("a", "b"), mapspec="x[i] -> a[i], b[i]", bound=bound)])

    run_map(pipe(c=3), {"x": [1, 2]}, run_folder=tmp_path, parallel=False)
    assert RunInfo.load(tmp_path).bound == {"a,b": {"c": 3}}
    with pytest.warns(ResumeRecomputeWarning, match=r"\(a,b\): bound value `c` changed"):
        r = run_map(pipe(c=4), {"x": [1, 2]}, run_folder=tmp_path, parallel=False, resume=True)
    assert r["a"].output.tolist() == [4, 8]
    with pytest.warns(ResumeRecomputeWarning, match=r"bound value `d` changed; default `d` changed"):  # default -> bound
        run_map(pipe(c=4, d=1), {"x": [1, 2]}, run_folder=tmp_path, parallel=False, resume=True)
    with pytest.warns(ResumeRecomputeWarning, match=r"\(a,b\): bound value `c` changed"):
        r = run_map(pipe(c=3, d=1), {"x": [1, 2]}, run_folder=tmp_path, parallel=False, resume=True)
    assert r["a"].output.tolist() == [3, 6]


def _as_older_writer(folder: Path) -> None:
    """Make ``folder`` look like one written before bound values were recorded (format 1: pipemap's
    metadata inside run_info.json, no pipemap.json)."""
    import json

    data = json.loads((folder / "run_info.json").read_text())
    meta = json.loads((folder / "pipemap.json").read_text())
    (folder / "pipemap.json").unlink()
    (folder / meta.pop("bound_path")).unlink()
    data.update(meta, version=1)
    (folder / "run_info.json").write_text(json.dumps(data, indent=4))


def test_resume_of_folder_without_bound_record(tmp_path, capsys) -> None:
    calls: list = []

    def pipe(c):
        return Pipeline([PipeFunc(lambda x, c: calls.append(x) or x * c, "y", mapspec="x[i] -> y[i]", bound={"c": c})])

    run_map(pipe(2), {"x": [1, 2]}, run_folder=tmp_path, parallel=False)
    _as_older_writer(tmp_path)
    assert RunInfo.load(tmp_path).bound is None
    calls.clear()
    with pytest.raises(ValueError, match=r"does not record `bound` values.*resume_validation='strict'"):
        run_map(pipe(2), {"x": [1, 2]}, run_folder=tmp_path, parallel=False, resume=True, resume_validation="strict")
    assert calls == []
    # auto: not verifiable, proceeds like other unverifiable comparisons (with a notice) and records them now
    capsys.readouterr()
    r = run_map(pipe(2), {"x": [1, 2]}, run_folder=tmp_path, parallel=False, resume=True)
    assert "Could not compare new `bound`" in capsys.readouterr().out
    assert r["y"].output.tolist() == [2, 4] and calls == []
    assert RunInfo.load(tmp_path).bound == {"y": {"c": 2}}
    with pytest.warns(ResumeRecomputeWarning, match="bound value `c` changed"):  # recorded now: seen
        r = run_map(pipe(3), {"x": [1, 2]}, run_folder=tmp_path, parallel=False, resume=True)
    assert r["y"].output.tolist() == [3, 6]


def test_folder_without_bound_record_and_no_bound_values(tmp_path, capsys) -> None:
    """Nothing bound now: auto resumes silently; strict still refuses (the old run may have bound values)."""
    p = _counting_pipeline([])
    run_map(p, {"x": [1, 2]}, run_folder=tmp_path, parallel=False)
    assert RunInfo.load(tmp_path).bound == {}
    _as_older_writer(tmp_path)
    capsys.readouterr()
    run_map(p, {"x": [1, 2]}, run_folder=tmp_path, parallel=False, resume=True)
    assert "bound" not in capsys.readouterr().out
    _as_older_writer(tmp_path)
    with pytest.raises(ValueError, match="does not record `bound` values"):
        run_map(p, {"x": [1, 2]}, run_folder=tmp_path, parallel=False, resume=True, resume_validation="strict")


def test_pipefunc_run_folder_with_bound_values(tmp_path, capsys) -> None:
    """pipefunc records no bound values: its folders stay resumable in `auto` mode, `strict` refuses."""
    pipefunc_mod = pytest.importorskip("pipefunc")
    calls: list = []

    def build(c):
        return pipefunc_mod.Pipeline(
            [pipefunc_mod.PipeFunc(lambda x, c: calls.append(x) or x * c, "y", mapspec="x[i] -> y[i]", bound={"c": c})]
        )

    build(2).map({"x": [1, 2]}, run_folder=tmp_path, parallel=False)
    calls.clear()
    assert RunInfo.load(tmp_path).bound is None
    with pytest.raises(ValueError, match="does not record `bound` values"):
        run_map(Pipeline.from_pipefunc(build(2)), {"x": [1, 2]}, run_folder=tmp_path, parallel=False, resume=True,
                resume_validation="strict")
    r = run_map(Pipeline.from_pipefunc(build(2)), {"x": [1, 2]}, run_folder=tmp_path, parallel=False, resume=True)
    assert r["y"].output.tolist() == [2, 4] and calls == []
    import pipemap.io as pio

    assert pio.load_outputs("y", run_folder=tmp_path).tolist() == [2, 4]


def test_unpicklable_bound_value_is_not_recorded_but_runs(tmp_path) -> None:
    import threading

    lock = threading.Lock()
    p = Pipeline([PipeFunc(lambda x, lock: 2 * x, "y", mapspec="x[i] -> y[i]", bound={"lock": lock})])
    with pytest.warns(UserWarning, match="Could not record the bound values"):
        r = run_map(p, {"x": [1, 2]}, run_folder=tmp_path, parallel=False)
    assert r["y"].output.tolist() == [2, 4]
    assert RunInfo.load(tmp_path).bound is None
    # no stable fingerprint (before: strict refused): recomputed, never trusted
    with pytest.warns(ResumeRecomputeWarning, match="cannot be fingerprinted \\(bound value `lock`"):
        r = run_map(p, {"x": [1, 2]}, run_folder=tmp_path, parallel=False, resume=True, resume_validation="strict")
    assert r["y"].output.tolist() == [2, 4]

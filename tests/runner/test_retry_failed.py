"""issue 15, "Re-run only what failed": ``resume=True, retry_failed=True`` recomputes the failed
elements and the elements downstream whose values were propagated errors, and nothing else.

A plain ``resume=True`` keeps failed elements, as pipefunc 0.93.2 does (parity test below).
Calls are counted with one file per call (they happen in worker processes too); elements fail
while a flag file for their ``x`` exists, so the inputs stay equal between the runs.
"""

from __future__ import annotations

import inspect
import os
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pipemap.runner import NothingToRetryWarning, Pipeline, pipefunc, run_map, run_map_async
from pipemap.storage import ErrorSnapshot, PropagatedErrorSnapshot, get_storage_class


def _record(calls: str, name: str, x: object) -> None:
    Path(calls, f"{name}-{x}-{uuid.uuid4().hex}").touch()


@pipefunc("y", mapspec="x[i] -> y[i]")
def fragile(x: int, calls: str, flags: str) -> int:
    _record(calls, "fragile", x)
    if os.path.exists(os.path.join(flags, str(x))):
        raise ValueError(f"flagged {x}")
    return 10 * x


@pipefunc("z", mapspec="y[i] -> z[i]")
def plus_one(y: int, calls: str) -> int:
    _record(calls, "plus_one", y // 10)
    return y + 1


@pipefunc("v", mapspec="x[i] -> v[i]")
def steady(x: int, calls: str) -> int:
    _record(calls, "steady", x)
    return -x


@pipefunc("s")
def total(z: object, calls: str) -> int:
    _record(calls, "total", "all")
    return int(sum(z))


PIPELINE = Pipeline([fragile, plus_one, steady, total])
N = 8
BAD = (2, 5)


def _calls(folder: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in folder.iterdir():
        name, x, _ = p.name.split("-")
        out.setdefault(name, []).append(x)
    for p in folder.iterdir():
        p.unlink()
    return {k: sorted(v) for k, v in out.items()}


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[dict, Path, Path]:
    calls, flags = tmp_path / "calls", tmp_path / "flags"
    calls.mkdir()
    flags.mkdir()
    for x in BAD:
        (flags / str(x)).touch()
    return {"x": list(range(N)), "calls": str(calls), "flags": str(flags)}, calls, flags


def _unflag(flags: Path) -> None:
    for p in flags.iterdir():
        p.unlink()


def _need(storage: str) -> None:
    try:
        get_storage_class(storage)
    except (ValueError, ImportError) as e:
        pytest.skip(f"storage `{storage}` unavailable: {e}")


def _check_retry(run, inputs: dict, calls: Path, flags: Path) -> None:
    """The three runs of the issue: failures, a plain resume (keeps them), a retry (only them)."""
    with pytest.warns(UserWarning, match="5 element\\(s\\) failed"):
        r = run(inputs)
    # propagated elements are not called (their input is an error)
    assert _calls(calls) == {
        "fragile": [str(x) for x in range(N)], "plus_one": [str(x) for x in range(N) if x not in BAD],
        "steady": [str(x) for x in range(N)],
    }
    assert [isinstance(r["y"].output[x], ErrorSnapshot) for x in range(N)] == [x in BAD for x in range(N)]
    _unflag(flags)
    r = run(inputs, resume=True)  # a plain resume keeps the failed elements (as pipefunc)
    assert _calls(calls) == {}
    assert isinstance(r["y"].output[2], ErrorSnapshot) and isinstance(r["z"].output[5], PropagatedErrorSnapshot)
    assert isinstance(r["s"].output, PropagatedErrorSnapshot)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no failure left: no summary warning
        r = run(inputs, resume=True, retry_failed=True)
    # only the failed elements, the elements that propagated their errors, and the reduction
    assert _calls(calls) == {"fragile": ["2", "5"], "plus_one": ["2", "5"], "total": ["all"]}
    assert r["y"].output.tolist() == [10 * x for x in range(N)]
    assert r["z"].output.tolist() == [10 * x + 1 for x in range(N)]
    assert r["v"].output.tolist() == [-x for x in range(N)]
    assert r["s"].output == sum(10 * x + 1 for x in range(N))
    assert r.summary is not None and r.summary.retried == {"fragile": 2, "plus_one": 2, "total": 1}
    with pytest.warns(NothingToRetryWarning, match="nothing to retry"):
        run(inputs, resume=True, retry_failed=True)  # a folder without failures
    assert _calls(calls) == {}


@pytest.mark.parametrize("storage", ["file_array", "chunked", "zarr_file_array", "dict", "shared_memory_dict"])
def test_retry_failed_sequential_every_persisting_storage(tmp_path, dirs, storage) -> None:
    _need(storage)
    inputs, calls, flags = dirs

    managers = []

    def run(inputs: dict, **kw: object):
        r = run_map(
            PIPELINE, inputs, run_folder=tmp_path / "run", storage=storage, parallel=False,
            error_handling="continue", **kw,
        )
        managers.extend(m for v in r.values() if (m := getattr(v.store, "_manager", None)) is not None)
        return r

    try:
        _check_retry(run, inputs, calls, flags)
    finally:  # (a continue-mode run's snapshots keep shared_memory_dict's managers alive: stop them)
        for m in managers:
            m.shutdown()


@pytest.mark.parametrize("storage", ["file_array", "dict"])
def test_retry_failed_thread_pool(tmp_path, dirs, storage) -> None:
    inputs, calls, flags = dirs

    def run(inputs: dict, **kw: object):
        with ThreadPoolExecutor(2) as pool:
            return run_map(
                PIPELINE, inputs, run_folder=tmp_path / "run", storage=storage, executor=pool, chunksizes=3,
                error_handling="continue", **kw,
            )

    _check_retry(run, inputs, calls, flags)


def test_retry_failed_default_pool(tmp_path, dirs) -> None:
    inputs, calls, flags = dirs

    def run(inputs: dict, **kw: object):
        return run_map(PIPELINE, inputs, run_folder=tmp_path / "run", chunksizes=2, error_handling="continue", **kw)

    _check_retry(run, inputs, calls, flags)


def test_retry_failed_pipeline_map_and_map_async(tmp_path, dirs) -> None:
    inputs, calls, flags = dirs

    def run(inputs: dict, **kw: object):
        if kw.get("retry_failed"):
            return PIPELINE.map_async(
                inputs, run_folder=tmp_path / "run", error_handling="continue", start=False, **kw
            ).result()
        return PIPELINE.map(inputs, run_folder=tmp_path / "run", parallel=False, error_handling="continue", **kw)

    _check_retry(run, inputs, calls, flags)


def test_retry_failed_dask_local_cluster(tmp_path, dirs) -> None:
    distributed = pytest.importorskip("distributed")
    inputs, calls, flags = dirs
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=40
    )
    client = distributed.Client(cluster)
    try:

        def run(inputs: dict, **kw: object):
            return run_map(PIPELINE, inputs, run_folder=tmp_path / "run", executor=client, error_handling="continue", **kw)

        _check_retry(run, inputs, calls, flags)
    finally:
        client.close()
        cluster.close()


def test_fixed_indices_narrow_the_retry(tmp_path, dirs) -> None:
    inputs, calls, flags = dirs
    p = Pipeline([fragile, plus_one, steady])
    kw = {"run_folder": tmp_path / "run", "parallel": False, "error_handling": "continue"}
    with pytest.warns(UserWarning):
        run_map(p, inputs, **kw)
    _calls(calls)
    _unflag(flags)
    r = run_map(p, inputs, resume=True, retry_failed=True, fixed_indices={"i": 2}, **kw)
    assert _calls(calls) == {"fragile": ["2"], "plus_one": ["2"]}
    assert r.summary is not None and r.summary.retried == {"fragile": 1, "plus_one": 1}
    assert r["y"].output[2] == 20
    r = run_map(p, inputs, resume=True, **kw)
    assert isinstance(r["y"].output[5], ErrorSnapshot)  # untouched by the narrowed retry


def test_failed_single_output_is_retried(tmp_path, dirs) -> None:
    inputs, calls, flags = dirs

    @pipefunc("t")
    def reduce_all(y: object, calls: str, flags: str) -> int:
        _record(calls, "reduce_all", "all")
        if os.path.exists(os.path.join(flags, "t")):
            raise RuntimeError("reduction failed")
        return int(sum(y))

    _unflag(flags)
    (flags / "t").touch()
    p = Pipeline([fragile, reduce_all])
    kw = {"run_folder": tmp_path / "run", "parallel": False, "error_handling": "continue"}
    with pytest.warns(UserWarning, match="1 x RuntimeError"):
        r = run_map(p, inputs, **kw)
    assert isinstance(r["t"].output, ErrorSnapshot)
    _calls(calls)
    _unflag(flags)
    r = run_map(p, inputs, resume=True, retry_failed=True, **kw)
    assert _calls(calls) == {"reduce_all": ["all"]}  # the mapped function had no failure
    assert r["t"].output == sum(10 * x for x in range(N))


class _Abort(BaseException):
    """Stops a run mid-way (as a kill would), bypassing error_handling='continue'."""


@pipefunc("y", mapspec="x[i] -> y[i]")
def abort_at_5(x: int, calls: str, flags: str) -> int:
    _record(calls, "abort_at_5", x)
    if x == 5:
        raise _Abort
    return 10 * x


def test_interrupted_retry_keeps_the_old_snapshot_or_the_new_value(tmp_path, dirs) -> None:
    from pipemap.io import load_outputs

    inputs, calls, flags = dirs
    kw = {"run_folder": tmp_path / "run", "parallel": False, "error_handling": "continue"}
    with pytest.warns(UserWarning):
        run_map(Pipeline([fragile]), inputs, **kw)
    _calls(calls)
    _unflag(flags)
    with pytest.raises(_Abort):
        run_map(Pipeline([abort_at_5]), inputs, resume=True, retry_failed=True, resume_validation="skip", **kw)
    assert _calls(calls) == {"abort_at_5": ["2", "5"]}
    y = load_outputs("y", run_folder=tmp_path / "run")
    assert not y.mask.any()  # never missing: the old snapshot until the new value is written
    assert y[2] == 20 or isinstance(y[2], ErrorSnapshot)
    assert isinstance(y[5], ErrorSnapshot)  # its retry was interrupted: still the old snapshot
    assert [y[x] for x in range(N) if x not in BAD] == [10 * x for x in range(N) if x not in BAD]
    r = run_map(Pipeline([fragile]), inputs, resume=True, retry_failed=True, resume_validation="skip", **kw)
    assert _calls(calls) == {"fragile": ["5"] if y[2] == 20 else ["2", "5"]}  # finished work is kept
    assert r["y"].output.tolist() == [10 * x for x in range(N)]


def test_bad_input_retry_failed_without_resume_or_folder(tmp_path, dirs) -> None:
    inputs, calls, _ = dirs
    with pytest.raises(ValueError, match=r"`retry_failed=True` .* needs `resume=True`.*resume=True, retry_failed=True"):
        run_map(PIPELINE, inputs, run_folder=tmp_path / "run", retry_failed=True, parallel=False)
    with pytest.raises(ValueError, match=r"`retry_failed=True` needs the `run_folder`"):
        run_map(PIPELINE, inputs, resume=True, retry_failed=True, parallel=False)
    with pytest.raises(ValueError, match="needs `resume=True`"):
        run_map_async(PIPELINE, inputs, run_folder=tmp_path / "run", retry_failed=True, start=False)
    assert _calls(calls) == {}  # nothing ran
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("facade", [run_map, run_map_async, Pipeline.map, Pipeline.map_async])
def test_retry_failed_is_a_keyword_of_every_facade(facade) -> None:
    parameter = inspect.signature(facade).parameters["retry_failed"]
    assert parameter.default is False and parameter.kind is inspect.Parameter.KEYWORD_ONLY


def test_parity_plain_resume_keeps_failed_elements_like_pipefunc(tmp_path) -> None:
    """pipefunc 0.93.2 and pipemap: ``resume=True`` counts stored failures as done (no call)."""
    import pipefunc as pf

    counts = {"pipefunc": [], "pipemap": []}

    def make(engine: str, decorator):
        @decorator("y", mapspec="x[i] -> y[i]")
        def f(x: int) -> int:
            counts[engine].append(x)
            if x == 1:
                raise ValueError("one")
            return x

        return f

    pf_pipeline = pf.Pipeline([make("pipefunc", pf.pipefunc)])
    pm_pipeline = Pipeline([make("pipemap", pipefunc)])
    for engine, pipeline, runner in [("pipefunc", pf_pipeline, pf_pipeline.map), ("pipemap", pm_pipeline, pm_pipeline.map)]:
        folder = tmp_path / engine
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runner({"x": [0, 1, 2]}, run_folder=folder, parallel=False, error_handling="continue")
            counts[engine].clear()
            r = runner({"x": [0, 1, 2]}, run_folder=folder, parallel=False, error_handling="continue", resume=True)
        assert counts[engine] == [], engine
        assert type(r["y"].output[1]).__name__ == "ErrorSnapshot", engine
    assert "retry_failed" not in inspect.signature(pf_pipeline.map).parameters  # a pipemap extension


_VICTIM = '''
import os, sys, time, warnings
from concurrent.futures import ThreadPoolExecutor
from pipemap.runner import Pipeline, pipefunc, run_map

folder, calls, flags, started, mode = sys.argv[1:]

@pipefunc("y", mapspec="x[i] -> y[i]")
def fragile(x):
    mode = sys.argv[5]  # (read here: a module constant that differs between runs changes the code's fingerprint)
    open(os.path.join(calls, f"{mode}-{x}-{time.time_ns()}"), "w").close()
    if os.path.exists(os.path.join(flags, str(x))):
        raise ValueError(f"flagged {x}")
    if mode == "retry" and x == 5:
        open(started, "w").close()
        time.sleep(120)  # killed here
    return 10 * x

if __name__ == "__main__":
    warnings.simplefilter("ignore")
    with ThreadPoolExecutor(2) as pool:
        run_map(Pipeline([fragile]), {"x": list(range(8))}, run_folder=folder, executor=pool, chunksizes=1,
                error_handling="continue", resume=mode == "retry", retry_failed=mode == "retry")
'''


def test_sigkill_during_a_retry_leaves_a_resumable_folder(tmp_path, dirs) -> None:
    """SIGKILL of the whole retry run while one failed element is being recomputed: the element
    retried before is kept (its new value), the interrupted one keeps its old snapshot, nothing
    finished is lost, and the next retry recomputes only the interrupted element."""
    import signal
    import subprocess
    import sys
    import time

    from pipemap.io import load_outputs

    _, calls, flags = dirs
    script = tmp_path / "victim.py"
    script.write_text(_VICTIM)
    folder, started = tmp_path / "run", tmp_path / "started"
    argv = [sys.executable, str(script), str(folder), str(calls), str(flags), str(started)]
    subprocess.run([*argv, "first"], check=True, timeout=120)
    assert [isinstance(v, ErrorSnapshot) for v in load_outputs("y", run_folder=folder)] == [x in BAD for x in range(N)]
    _unflag(flags)
    _calls(calls)
    victim = subprocess.Popen([*argv, "retry"], start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # element 2 retried and stored, element 5 running
            if started.exists() and load_outputs("y", run_folder=folder)[2] == 20:
                break
            assert victim.poll() is None, "the retry run ended before it was killed"
            time.sleep(0.05)
        else:
            pytest.fail("the retry run did not reach element 5")
    finally:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
    y = load_outputs("y", run_folder=folder)
    assert not y.mask.any()
    assert y[2] == 20 and isinstance(y[5], ErrorSnapshot)
    assert [y[x] for x in range(N) if x not in BAD] == [10 * x for x in range(N) if x not in BAD]
    assert _calls(calls) == {"retry": ["2", "5"]}  # only the failed elements were touched
    r = run_map(Pipeline([fragile]), {"x": list(range(N)), "calls": str(calls), "flags": str(flags)},
                run_folder=folder, parallel=False, error_handling="continue", resume=True, retry_failed=True,
                resume_validation="skip")
    assert _calls(calls) == {"fragile": ["5"]}
    assert r["y"].output.tolist() == [10 * x for x in range(N)]


def test_deprecated_cleanup_false_counts_as_resume(tmp_path, dirs) -> None:
    inputs, calls, flags = dirs
    kw = {"run_folder": tmp_path / "run", "parallel": False, "error_handling": "continue"}
    with pytest.warns(UserWarning):
        run_map(PIPELINE, inputs, **kw)
    _calls(calls)
    _unflag(flags)
    with pytest.warns(DeprecationWarning, match="'cleanup' parameter is deprecated"):
        run_map(PIPELINE, inputs, cleanup=False, retry_failed=True, **kw)
    assert _calls(calls) == {"fragile": ["2", "5"], "plus_one": ["2", "5"], "total": ["all"]}

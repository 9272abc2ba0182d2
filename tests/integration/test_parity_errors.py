"""Error snapshots as pipefunc 0.93.2 leaves them (issue 13, items 2, 3 and 8).

* item 2: after ``run_map(pf_pipeline, ...)`` raises, ``pf_pipeline.error_snapshot`` (and the
  failing ``pipefunc.PipeFunc``'s) is set as pipefunc sets it, sequentially and with a process
  pool, and ``.reproduce()`` raises the error again; in ``"continue"`` mode it is set when the
  call ran in the run's own process, as pipefunc's ``PipeFunc.__call__`` does;
* item 3: ``PropagatedErrorSnapshot.skipped_function`` is the ``PipeFunc`` (the user's pipefunc
  one for a pipefunc pipeline, pipemap's for a pipemap pipeline), also after loading a run folder;
* item 8: ``attempted_kwargs`` holds the arguments by pipeline name without those that carried
  the errors.

Every case builds a fresh pipeline per engine and runs it through both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pipefunc = pytest.importorskip("pipefunc")

from pipemap.runner import run_map  # noqa: E402


def build() -> Any:
    """f fails for x == 2; g (renamed, bound, defaults) and w are skipped there; s reduces."""

    @pipefunc.pipefunc(output_name="y", mapspec="x[i] -> y[i]")
    def f(x: int) -> int:
        if x == 2:
            msg = f"bad x={x}"
            raise ValueError(msg)
        return x

    @pipefunc.pipefunc(output_name="z", mapspec="y[i] -> z[i]", renames={"v": "y", "c": "cc"}, bound={"d": 5})
    def g(v: int, c: int = 1, d: int = 0, e: int = 3) -> int:
        return v + c + d + e

    @pipefunc.pipefunc(output_name="w", mapspec="y[i], x[i] -> w[i]")
    def w(y: int, x: int) -> int:
        return y * x

    @pipefunc.pipefunc(output_name="s")
    def total(z: Any, k: int = 2) -> int:
        return sum(z) + k

    return pipefunc.Pipeline([f, g, w, total])


def _run(engine: str, pipeline: Any, **kwargs: Any) -> Any:
    inputs = {"x": [1, 2, 3]}
    if engine == "pipefunc":
        return pipeline.map(inputs, **kwargs)
    return run_map(pipeline, inputs, **kwargs)


def _snapshots_after_raise(engine: str, parallel: bool) -> tuple[Any, list[str | None]]:
    pipeline = build()
    with pytest.raises(ValueError, match="bad x=2"):
        _run(engine, pipeline, parallel=parallel, storage="dict")
    return pipeline, [type(f.error_snapshot).__name__ if f.error_snapshot else None for f in pipeline.functions]


@pytest.mark.parametrize("parallel", [False, True])
def test_error_snapshot_lands_on_the_users_pipefunc_pipeline(parallel: bool) -> None:
    theirs, their_functions = _snapshots_after_raise("pipefunc", parallel)
    ours, our_functions = _snapshots_after_raise("pipemap", parallel)
    assert their_functions == ["ErrorSnapshot", None, None, None]
    assert our_functions == their_functions
    snap, their_snap = ours.error_snapshot, theirs.error_snapshot
    assert snap is ours.functions[0].error_snapshot
    assert snap.kwargs == their_snap.kwargs == {"x": 2}
    assert snap.function.__name__ == their_snap.function.__name__ == "f"
    if not parallel:
        assert snap.function is ours.functions[0].func
    with pytest.raises(ValueError, match="bad x=2"):
        snap.reproduce()
    with pytest.raises(ValueError, match="bad x=2"):
        their_snap.reproduce()


@pytest.mark.parametrize("parallel", [False, True])
def test_error_snapshot_in_continue_mode_as_pipefunc(parallel: bool) -> None:
    """pipefunc sets it when the failing call ran in the run's process (not in a process pool)."""
    found = {}
    for engine in ("pipefunc", "pipemap"):
        pipeline = build()
        _run(engine, pipeline, parallel=parallel, storage="dict", error_handling="continue")
        snap = pipeline.error_snapshot
        found[engine] = None if snap is None else (type(snap).__name__, snap.kwargs)
    assert found["pipemap"] == found["pipefunc"]
    assert found["pipefunc"] == (None if parallel else ("ErrorSnapshot", {"x": 2}))


def _propagated(result: Any) -> dict[str, Any]:
    return {"z": result["z"].output[1], "w": result["w"].output[1], "s": result["s"].output}


def _describe(snap: Any) -> tuple:
    f = snap.skipped_function
    return (
        type(snap).__name__,
        snap.reason,
        sorted(snap.error_info),
        snap.attempted_kwargs,
        type(f).__module__.split(".")[0],
        type(f).__name__,
        f.output_name,
        str(f.mapspec) if f.mapspec is not None else None,
    )


@pytest.mark.parametrize("parallel", [False, True])
def test_propagated_snapshot_function_and_attempted_kwargs(parallel: bool) -> None:
    results = {}
    for engine in ("pipefunc", "pipemap"):
        pipeline = build()
        snaps = _propagated(_run(engine, pipeline, parallel=parallel, storage="dict", error_handling="continue"))
        results[engine] = {name: _describe(s) for name, s in snaps.items()}
        if not parallel:  # skipped in the run's own process: the user's very PipeFunc
            assert snaps["z"].skipped_function is pipeline["z"]
            assert snaps["w"].skipped_function is pipeline["w"]
    assert results["pipemap"] == results["pipefunc"]
    assert results["pipefunc"]["z"] == (
        "PropagatedErrorSnapshot", "input_is_error", ["y"], {"cc": 1, "d": 5, "e": 3}, "pipefunc", "PipeFunc", "z", "y[i] -> z[i]",
    )
    assert results["pipefunc"]["w"][3] == {"x": 2}
    assert results["pipefunc"]["s"][:4] == ("PropagatedErrorSnapshot", "array_contains_errors", ["z"], {"k": 2})


def test_propagated_snapshot_survives_the_run_folder(tmp_path: Path) -> None:
    """Stored snapshots load from disk (lazily) with the same function and kwargs in both engines."""
    from pipefunc.map import load_outputs

    from pipemap.io._folder import RunFolder

    described = {}
    for engine in ("pipefunc", "pipemap"):
        folder = tmp_path / engine
        _run(engine, build(), parallel=False, run_folder=folder, storage="file_array", error_handling="continue")
        if engine == "pipefunc":
            z = load_outputs("z", run_folder=folder)[1]
        else:  # the stored element itself (pipemap's loaders mask failed elements)
            z = RunFolder.open(folder).store("z").get_from_index(1)
        described[engine] = _describe(z)
    assert described["pipemap"] == described["pipefunc"]


def test_pipemap_pipeline_skipped_function_is_its_pipefunc() -> None:
    from pipemap.runner import PipeFunc, Pipeline

    def fail(x: int) -> int:
        raise ValueError(x)

    def use(y: int, c: int = 1) -> int:
        return y + c

    pipeline = Pipeline([PipeFunc(fail, "y", mapspec="x[i] -> y[i]"), PipeFunc(use, "z", mapspec="y[i] -> z[i]")])
    z = run_map(pipeline, {"x": [1]}, parallel=False, error_handling="continue")["z"].output[0]
    assert z.skipped_function is pipeline["z"]
    assert (z.skipped_function.output_name, str(z.skipped_function.mapspec)) == ("z", "y[i] -> z[i]")
    assert z.attempted_kwargs == {"c": 1}


@pytest.mark.parametrize("kind", ["pipefunc", "pipemap"])
def test_stored_skipped_pipefunc_never_needs_the_user_module(tmp_path: Path, kind: str) -> None:
    """A stored ``PropagatedErrorSnapshot`` keeps the user's function by value inside the PipeFunc:
    it loads, and its ``skipped_function`` unpickles, once the user's module is gone."""
    import subprocess
    import sys
    import textwrap

    module = tmp_path / "usermod_for_skipped.py"
    module.write_text("def use(y, c=1):\n    return y + c\n")
    out = tmp_path / "snap.pickle"
    make = textwrap.dedent(f"""
        import sys, pickle
        sys.path.insert(0, {str(tmp_path)!r})
        import usermod_for_skipped as m
        import pipefunc
        from pipemap.runner import PipeFunc
        from pipemap.storage import ErrorInfo, ErrorSnapshot, PropagatedErrorSnapshot
        cls = pipefunc.PipeFunc if {kind!r} == "pipefunc" else PipeFunc
        f = cls(m.use, "z", mapspec="y[i] -> z[i]")
        root = ErrorSnapshot(len, TypeError("t"))
        snap = PropagatedErrorSnapshot({{"y": ErrorInfo.from_full_error(root)}}, f, "input_is_error", {{"c": 1}})
        open({str(out)!r}, "wb").write(pickle.dumps(snap))
    """)
    subprocess.run([sys.executable, "-c", make], check=True)
    module.unlink()
    check = textwrap.dedent(f"""
        import pickle
        snap = pickle.loads(open({str(out)!r}, "rb").read())
        f = snap.skipped_function
        print(type(f).__module__.split(".")[0], f.output_name, str(f.mapspec), f.func(1), snap.attempted_kwargs)
    """)
    result = subprocess.run([sys.executable, "-c", check], check=True, capture_output=True, text=True)
    assert result.stdout.split() == [kind, "z", "y[i]", "->", "z[i]", "2", "{'c':", "1}"]

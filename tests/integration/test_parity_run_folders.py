"""Two-way run folders (issue 13, items 13, 1, 6, 20): pipefunc 0.93.2 reads and resumes the run
folders pipemap writes, and pipemap reads and resumes pipefunc's and older pipemap's.

Each test runs the same pipefunc pipeline through both engines (or hands one engine's folder to
the other) and counts the function calls of every resume.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pipefunc = pytest.importorskip("pipefunc")
pfm = pytest.importorskip("pipefunc.map")

import pipemap.io as pio  # noqa: E402
from pipemap.runner import run_map  # noqa: E402
from pipemap.storage import RunFolderInfo, RunRecord  # noqa: E402

#: the storages pipefunc 0.93.2 knows that keep their values in the run folder
PIPEFUNC_STORAGES = ["file_array", "dict", "shared_memory_dict", "zarr_file_array"]
INPUTS = {"x": [1, 2, 3], "w": [10, 20]}


def build(calls: Counter, *, unknown_sizes: bool = True) -> Any:
    """A pipeline with a 1-D and a 2-D map, a multi-output function with an internal axis (of
    size "?" unless ``unknown_sizes=False``: zarr needs sizes at creation), a bound value and a
    reduction to a single output."""
    pf = pipefunc.pipefunc

    @pf("y", mapspec="x[i] -> y[i]")
    def double(x: int) -> int:
        calls["y"] += 1
        return 2 * x

    @pf("z", mapspec="y[i], w[j] -> z[i, j]", bound={"c": 1})
    def add(y: int, w: int, c: int) -> int:
        calls["z"] += 1
        return y + w + c

    @pf(("a", "b"), mapspec="y[i] -> a[i, k], b[i, k]", internal_shape=("?",) if unknown_sizes else (2,))
    def split(y: int) -> tuple[list[int], list[str]]:
        calls["a"] += 1
        return [y, y + 1], ["p", "q"]

    @pf("total")
    def total(z: Any) -> int:
        calls["total"] += 1
        return int(np.sum(z))

    return pipefunc.Pipeline([double, add, split, total])


def _pipefunc_status(folder: Path, *, cli: bool) -> dict[str, Any]:
    """What ``pipefunc-cli status <folder>`` reports (run in process when ``cli``; pipefunc 0.93.2's
    CLI itself fails to print the numpy booleans of its own `dict`-like storages), without the
    fields that differ by nature."""
    from pipefunc._run_status import status_from_run_folder
    from pipefunc._run_status_cli import main

    if cli:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["status", str(folder)]) == 0
        payload = json.loads(out.getvalue())
    else:
        payload = status_from_run_folder(folder, include_outputs=True)
        payload = json.loads(json.dumps(payload, default=lambda o: o.item()))
    for key in ("last_modified", "run_folder", "pipefunc_version"):
        payload.pop(key, None)
    for entry in payload.get("outputs", {}).values():
        entry.pop("bytes", None)  # file sizes: pipemap pickles and records shapes its own way
    return payload


def _pipefunc_fields(folder: Path) -> dict[str, Any]:
    info = pfm.RunInfo.load(folder)
    return {
        k: getattr(info, k)
        for k in ("all_output_names", "shapes", "resolved_shapes", "internal_shapes", "shape_masks",
                  "mapspecs_as_strings", "storage", "error_handling", "inputs", "defaults")
    }


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("storage", PIPEFUNC_STORAGES)
def test_pipefunc_reads_and_resumes_pipemap_folder(parity, storage: str, parallel: bool) -> None:
    unknown = storage != "zarr_file_array"
    pf_calls: Counter = Counter()
    pm_calls: Counter = Counter()
    pf_folder, pm_folder = parity.tmp_path / "pf", parity.tmp_path / "pm"
    build(pf_calls, unknown_sizes=unknown).map(INPUTS, run_folder=pf_folder, storage=storage, parallel=False)
    run_map(build(pm_calls, unknown_sizes=unknown), INPUTS, run_folder=pm_folder, storage=storage, parallel=parallel)
    if not parallel:
        assert pm_calls == pf_calls

    # run_info.json is pipefunc's schema: RunInfo.load reads it, with the same content
    assert set(json.loads((pm_folder / "run_info.json").read_text())) <= set(
        json.loads((pf_folder / "run_info.json").read_text())
    )
    assert _pipefunc_fields(pm_folder) == _pipefunc_fields(pf_folder)

    # pipefunc's loaders give what they give on pipefunc's own folder
    names = sorted(build(Counter()).all_output_names)
    for name in names:
        parity.assert_same(
            pfm.load_outputs(name, run_folder=pf_folder),
            pfm.load_outputs(name, run_folder=pm_folder),
            f"load_outputs({name!r})",
            types=False,
        )
    assert list(pfm.load_all_outputs(run_folder=pm_folder)) == list(pfm.load_all_outputs(run_folder=pf_folder))
    parity.assert_datasets(pfm.load_xarray_dataset(run_folder=pf_folder), pfm.load_xarray_dataset(run_folder=pm_folder))
    cli = storage == "file_array"
    assert _pipefunc_status(pm_folder, cli=cli) == _pipefunc_status(pf_folder, cli=cli)

    # pipefunc's resume of pipemap's folder recomputes nothing and returns the same results
    again: Counter = Counter()
    resumed = build(again, unknown_sizes=unknown).map(INPUTS, run_folder=pm_folder, storage=storage, parallel=False,
                                                      resume=True)
    assert again == Counter()
    reference = build(again, unknown_sizes=unknown).map(INPUTS, run_folder=pf_folder, storage=storage, parallel=False,
                                                        resume=True)  # pipefunc resuming its own folder
    assert again == Counter()
    parity.assert_results(reference, resumed)

    # ... and pipemap still reads and resumes the folder pipefunc rewrote (metadata kept in pipemap.json)
    info = RunFolderInfo.read(pm_folder)
    assert info.version == 2 and info.written_by.startswith("pipemap")
    assert pio.load_outputs("total", run_folder=pm_folder) == reference["total"].output
    run_map(build(again, unknown_sizes=unknown), INPUTS, run_folder=pm_folder, storage=storage, parallel=False,
            resume=True)
    assert again == Counter()


def test_chunked_folder_is_refused_clearly_by_pipefunc(tmp_path: Path) -> None:
    """pipefunc has no `chunked` storage: run_info.json says `chunked`, and pipefunc's loaders stop
    with its own "storage class not found" error (its RunInfo.load still reads the record)."""
    run_map(build(Counter()), INPUTS, run_folder=tmp_path, storage="chunked", parallel=False)
    assert pfm.RunInfo.load(tmp_path).storage == "chunked"
    with pytest.raises(ValueError, match="Storage class `chunked` not found"):
        pfm.load_outputs("y", run_folder=tmp_path)
    with pytest.raises(ValueError, match="Storage class `chunked` not found"):
        pfm.load_xarray_dataset(run_folder=tmp_path)
    assert pio.load_outputs("y", run_folder=tmp_path).tolist() == [2, 4, 6]


def _as_format_1(folder: Path) -> None:
    """Rewrite a pipemap folder as the previous pipemap wrote it: metadata inside run_info.json."""
    meta = json.loads((folder / "pipemap.json").read_text())
    (folder / "pipemap.json").unlink()
    data = json.loads((folder / "run_info.json").read_text())
    (folder / "run_info.json").write_text(json.dumps({**data, **meta, "version": 1}, indent=4))


@pytest.mark.parametrize("storage", ["file_array", "dict", "chunked"])
def test_pipemap_resumes_folders_of_older_pipemap_and_pipefunc(tmp_path: Path, storage: str) -> None:
    calls: Counter = Counter()
    # previous pipemap format: extra keys in run_info.json, bound values recorded and verified
    run_map(build(calls), INPUTS, run_folder=tmp_path / "old", storage=storage, parallel=False)
    _as_format_1(tmp_path / "old")
    info = RunFolderInfo.read(tmp_path / "old")
    assert info.version == 1 and info.created_at and info.written_by.startswith("pipemap")
    assert RunRecord.load(tmp_path / "old").bound == {"z": {"c": 1}}
    calls.clear()
    run_map(build(calls), INPUTS, run_folder=tmp_path / "old", storage=storage, parallel=False, resume=True)
    assert calls == Counter()
    assert not {"version", "pipemap_version", "created_at", "bound_path"} & json.loads(
        (tmp_path / "old" / "run_info.json").read_text()
    ).keys()  # the resume rewrote it in format 2
    assert RunFolderInfo.read(tmp_path / "old").version == 2
    # pipefunc's folder: no pipemap.json
    if storage != "chunked":
        build(calls).map(INPUTS, run_folder=tmp_path / "pf", storage=storage, parallel=False)
        assert RunFolderInfo.read(tmp_path / "pf").version == 0
        calls.clear()
        run_map(build(calls), INPUTS, run_folder=tmp_path / "pf", storage=storage, parallel=False, resume=True)
        assert calls == Counter()


def test_run_info_without_pipemap_json_reads_as_pipefunc_folder(tmp_path: Path) -> None:
    """pipemap writes pipemap.json before run_info.json, so run_info.json without it is a folder
    pipefunc wrote (or one whose pipemap.json was removed): it is read as such, and its bound
    values, which it does not record, cannot be verified (strict refuses, auto resumes)."""
    calls: Counter = Counter()
    run_map(build(calls), INPUTS, run_folder=tmp_path, parallel=False)
    (tmp_path / "pipemap.json").unlink()
    info = RunFolderInfo.read(tmp_path)
    assert info.version == 0 and info.created_at is None
    calls.clear()
    with pytest.raises(ValueError, match="does not record `bound` values"):
        run_map(build(calls), INPUTS, run_folder=tmp_path, parallel=False, resume=True, resume_validation="strict")
    run_map(build(calls), INPUTS, run_folder=tmp_path, parallel=False, resume=True)
    assert calls == Counter()
    assert RunFolderInfo.read(tmp_path).version == 2  # recorded again


def test_pipemap_json_without_run_info_is_not_a_run(tmp_path: Path) -> None:
    """A crash between the two writes of a fresh run leaves pipemap.json alone: not a run folder
    for readers, and either kind of run replaces it."""
    calls: Counter = Counter()
    run_map(build(calls), INPUTS, run_folder=tmp_path, parallel=False)
    shutil.rmtree(tmp_path / "outputs")
    (tmp_path / "run_info.json").unlink()
    with pytest.raises(pio.RunFolderError, match="has no `run_info.json`"):
        pio.load_outputs("y", run_folder=tmp_path)
    calls.clear()
    run_map(build(calls), INPUTS, run_folder=tmp_path, parallel=False, resume=True)
    assert calls["y"] == 3
    (tmp_path / "run_info.json").unlink()
    shutil.rmtree(tmp_path / "outputs")
    run_map(build(calls), INPUTS, run_folder=tmp_path, parallel=False)  # not refused as a foreign folder
    assert pfm.load_outputs("total", run_folder=tmp_path) == 120


# ----------------------------------------------------------------------------- item 1


def _unknown_length(calls: Counter, *, two_d: bool, omit_internal_shape: bool) -> Any:
    """``r`` gets its length at run time ("?" shape, given or omitted); ``s`` maps over it."""
    pf = pipefunc.pipefunc
    spec = "... -> r[i, j]" if two_d else "... -> r[i]"
    extra = {} if omit_internal_shape else {"internal_shape": ("?", "?") if two_d else ("?",)}

    @pf("r", mapspec=spec, **extra)
    def make(k: int) -> Any:
        calls["r"] += 1
        return np.arange(k * 2).reshape(k, 2) if two_d else list(range(k))

    @pf("s", mapspec="r[i, j] -> s[i, j]" if two_d else "r[i] -> s[i]")
    def square(r: int) -> int:
        calls["s"] += 1
        return r * r

    @pf("t")
    def count(s: Any) -> int:
        calls["t"] += 1
        return int(np.size(s))

    return pipefunc.Pipeline([make, square, count])


@pytest.mark.parametrize("omit_internal_shape", [False, True])
@pytest.mark.parametrize("two_d", [False, True])
@pytest.mark.parametrize("strategy", ["generation", "eager"])
def test_dict_resume_with_shapes_resolved_at_run_time(parity, strategy: str, two_d: bool, omit_internal_shape: bool) -> None:
    """storage="dict": a resume of a run whose shapes were "?" recomputes nothing, as in pipefunc."""
    kwargs = {"storage": "dict", "parallel": strategy == "eager", "scheduling_strategy": strategy}
    results = {}
    for engine in ("pipefunc", "pipemap"):
        calls: Counter = Counter()
        folder = parity.tmp_path / engine

        def run(**more: Any) -> Any:
            pipeline = _unknown_length(calls, two_d=two_d, omit_internal_shape=omit_internal_shape)
            if engine == "pipefunc":
                return pipeline.map({"k": 3}, run_folder=folder, **kwargs, **more)  # noqa: B023
            return run_map(pipeline, {"k": 3}, run_folder=folder, **kwargs, **more)  # noqa: B023

        run()
        calls.clear()
        results[engine] = run(resume=True)
        assert calls == Counter(), engine
    if strategy == "generation":
        parity.assert_results(results["pipefunc"], results["pipemap"])
    else:  # pipefunc's eager resume returns only the outputs it loaded upstream ({'r'}); pipemap returns all
        assert set(results["pipefunc"]) <= set(results["pipemap"])
    parity.assert_load_outputs(parity.tmp_path / "pipefunc", parity.tmp_path / "pipemap", ["r", "s", "t"])
    assert results["pipemap"]["t"].output == (6 if two_d else 3)


# ----------------------------------------------------------------------------- item 6


def test_run_folder_reused_by_another_pipeline_is_overwritten(parity) -> None:
    """resume=False on the run folder of another (sub-)pipeline, with no output in common, replaces
    it in both engines; a directory that is not a run folder is still refused by pipemap."""
    pf = pipefunc.pipefunc

    @pf("y", mapspec="x[i] -> y[i]")
    def double(x: int) -> int:
        return 2 * x

    @pf("u", mapspec="w[j] -> u[j]")
    def negate(w: int) -> int:
        return -w

    full = pipefunc.Pipeline([double, negate])
    listing = {}
    for engine in ("pipefunc", "pipemap"):
        folder = parity.tmp_path / engine
        run = full.map if engine == "pipefunc" else (lambda inputs, **kw: run_map(full, inputs, **kw))
        run({"x": [1, 2, 3]}, run_folder=folder, parallel=False, output_names={"y"})
        result = run({"w": [10, 20]}, run_folder=folder, parallel=False, output_names={"u"})
        assert result["u"].output.tolist() == [-10, -20], engine
        listing[engine] = sorted(p.name for p in (folder / "outputs").iterdir())
        assert pfm.RunInfo.load(folder).inputs == {"w": [10, 20]}
        assert pfm.load_outputs("u", run_folder=folder).tolist() == [-10, -20]
    assert listing["pipemap"] == listing["pipefunc"] == ["u"]

    precious = parity.tmp_path / "not_a_run"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a pipemap run folder.*refusing to delete it"):
        run_map(full, {"x": [1]}, run_folder=precious, parallel=False, output_names={"y"})
    assert (precious / "notes.txt").read_text() == "keep me"


# ----------------------------------------------------------------------------- item 20

_ISINSTANCE_SCRIPT = """
import sys
if {pipefunc_first}:
    import pipefunc.map
import pipemap.storage as ps
assert ("pipefunc" in sys.modules) == {pipefunc_first}, "pipemap.storage imported pipefunc"
from pipemap.storage._pipefunc_abc import _WaitForPipefunc, install
install()  # idempotent
waiting = sum(isinstance(f, _WaitForPipefunc) for f in sys.meta_path)
assert waiting == (0 if {pipefunc_first} else 1), waiting
import pipefunc.map
assert not any(isinstance(f, _WaitForPipefunc) for f in sys.meta_path)  # gone once it fired
import pipefunc.map._storage_array._base as base
import inspect, tempfile
folder = tempfile.mkdtemp()
checks = []
for cls in (ps.FileArray, ps.DictArray, ps.SharedMemoryDictArray, ps.ChunkedArray, ps.ZarrFileArray):
    store = cls(None if cls is ps.DictArray else folder + "/" + cls.__name__, (2,))
    checks.append(isinstance(store, pipefunc.map.StorageBase) and issubclass(cls, pipefunc.map.StorageBase))
assert all(checks), checks
assert inspect.getsource(base)  # pipefunc's module keeps its own loader
print("ok")
"""


@pytest.mark.parametrize("pipefunc_first", [True, False])
def test_pipemap_storages_are_pipefunc_storages(pipefunc_first: bool) -> None:
    """isinstance(store, pipefunc.map.StorageBase) holds for pipemap's storages, whichever package
    is imported first, and importing pipemap.storage does not import pipefunc."""
    import subprocess
    import sys

    script = _ISINSTANCE_SCRIPT.format(pipefunc_first=pipefunc_first)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    # in this process too (pipefunc and pipemap are both imported here)
    from pipemap.storage import DictArray, FileArray

    assert issubclass(FileArray, pfm.StorageBase) and isinstance(DictArray(None, (1,)), pfm.StorageBase)

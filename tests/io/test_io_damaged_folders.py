"""Damaged run folders: a clear `RunFolderError` (CLI: one line, exit 2), never a traceback, never a write.

Each damage is applied to a real run folder of every folder-backed storage; every reader (the
Python loaders, `run_status`, `export_run`, and the `status` / `errors` / `export` commands) must
refuse it with an error naming the culprit. Readers never create or change anything in the run
folder, checked on a really read-only folder (chmod) and, because the tests may run as root
(where chmod does not stop writes), by comparing the folder's listing and mtimes before and after.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pipemap.io as pio
from pipemap.io._export import ExportError, export_run
from pipemap.io._status import run_status
from pipemap.io.cli import main
from pipemap.runner import PipeFunc, Pipeline, run_map
from pipemap.storage import RunFolderError, RunRecord

STORAGES = ["file_array", "chunked", "zarr_file_array"]
INPUTS = {"x": [1, 2, 3], "w": [10, 20]}


def _pipeline() -> Pipeline:
    return Pipeline(
        [
            PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]"),
            PipeFunc(lambda y, w: y * w, "z", mapspec="y[i], w[j] -> z[i, j]"),
            PipeFunc(lambda z: int(np.sum(z)), "s"),
        ]
    )


@pytest.fixture(params=STORAGES)
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    run_map(_pipeline(), INPUTS, run_folder=folder, storage=request.param, parallel=False)
    return folder


def _python_readers(folder: Path, out: Path) -> dict[str, Callable[[], Any]]:
    return {
        "load_outputs": lambda: pio.load_outputs("z", run_folder=folder),
        "load_all_outputs": lambda: pio.load_all_outputs(run_folder=folder),
        "load_xarray_dataset": lambda: pio.load_xarray_dataset(run_folder=folder),
        "load_dataframe": lambda: pio.load_dataframe("z", run_folder=folder),
        "load_errors": lambda: pio.load_errors(run_folder=folder),
        "run_status": lambda: run_status(folder),
        "export_run": lambda: export_run(folder, "csv", out),
    }


def _cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, err.getvalue()


def _assert_refused(folder: Path, tmp_path: Path, *culprits: str) -> None:
    """Every reader raises RunFolderError naming the culprits; every command prints one line, exit 2."""
    out = tmp_path / "export.csv"
    for name, reader in _python_readers(folder, out).items():
        with pytest.raises(RunFolderError) as info:
            reader()
        for culprit in culprits:
            assert culprit in str(info.value), f"{name}: {info.value}"
    for argv in (["status", str(folder)], ["errors", str(folder)], ["export", str(folder), "--to", "csv", str(out)]):
        code, err = _cli(*argv)
        assert code == 2, (argv, err)
        assert err.startswith("error: ") and err.count("\n") == 1, (argv, err)
        assert "Traceback" not in err
        for culprit in culprits:
            assert culprit in err, (argv, err)
    assert not out.exists()


def _edit_info(folder: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = folder / "run_info.json"
    info = json.loads(path.read_text())
    edit(info)
    path.write_text(json.dumps(info))


# --------------------------------------------------------------------------- damages
def test_outputs_replaced_by_a_file(run: Path, tmp_path: Path) -> None:
    shutil.rmtree(run / "outputs")
    (run / "outputs").write_text("not a folder")
    _assert_refused(run, tmp_path, str(run / "outputs"), "not a directory")
    assert (run / "outputs").read_text() == "not a folder"


def test_an_output_folder_replaced_by_a_file(run: Path, tmp_path: Path) -> None:
    shutil.rmtree(run / "outputs" / "z")
    (run / "outputs" / "z").write_text("not a folder")
    _assert_refused(run, tmp_path, "`z`", "not a directory")


@pytest.mark.parametrize("shape", [[10**12, 2], [10**12, 10**12], [2**62, 4]])
def test_absurd_shapes_are_refused_before_allocating(run: Path, tmp_path: Path, shape: list[int]) -> None:
    def edit(info: dict[str, Any]) -> None:
        info["shapes"]["z"] = shape
        info["resolved_shapes"]["z"] = shape

    _edit_info(run, edit)
    _assert_refused(run, tmp_path, "`z`", str(shape[0]))


def test_deeply_nested_run_info(run: Path, tmp_path: Path) -> None:
    (run / "run_info.json").write_text("[" * 100_000)
    _assert_refused(run, tmp_path, "run_info.json", "nested")
    with pytest.raises(RunFolderError, match="nested"):
        RunRecord.load(run)


def test_deeply_nested_field_inside_run_info(run: Path, tmp_path: Path) -> None:
    text = (run / "run_info.json").read_text()
    assert '"error_handling":' in text
    nested = '"extra": ' + "[" * 100_000 + "]" * 100_000 + ', "error_handling":'
    (run / "run_info.json").write_text(text.replace('"error_handling":', nested))
    _assert_refused(run, tmp_path, "run_info.json", "nested")


def test_deeply_nested_failures_json_does_not_break_status(run: Path) -> None:
    (run / "failures.json").write_text("[" * 100_000)
    assert run_status(run).outputs  # failure counts are then unknown, not a crash
    assert _cli("status", str(run))[0] in (0, 1)


def test_deeply_nested_chunked_json(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    run_map(_pipeline(), INPUTS, run_folder=folder, storage="chunked", parallel=False)
    (folder / "outputs" / "z" / "chunked.json").write_text("[" * 100_000)
    _assert_refused(folder, tmp_path, "`z`", "chunked.json")


def test_deeply_nested_zarr_metadata(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    run_map(_pipeline(), INPUTS, run_folder=folder, storage="zarr_file_array", parallel=False)
    (folder / "outputs" / "z" / "array" / "zarr.json").write_text("[" * 100_000)
    _assert_refused(folder, tmp_path, "`z`")


@pytest.mark.parametrize("edit_input_shape", [False, True])
def test_output_shapes_that_do_not_match_the_inputs(run: Path, tmp_path: Path, edit_input_shape: bool) -> None:
    """y and z recorded with 5 rows while x has 3: refused naming the output and the input."""

    def edit(info: dict[str, Any]) -> None:
        for name, shape in {"y": [5], "z": [5, 2]}.items():
            info["shapes"][name] = shape
            info["resolved_shapes"][name] = shape
        if edit_input_shape:  # the record is consistent, the stored input is not
            info["shapes"]["x"] = [5]
            info["resolved_shapes"]["x"] = [5]

    _edit_info(run, edit)
    out = tmp_path / "o.csv"
    readers = _python_readers(run, out)
    for name in ("load_xarray_dataset", "load_dataframe", "export_run"):
        with pytest.raises(RunFolderError) as info:
            readers[name]()
        # zarr may see first that its stored array has 3 rows, not 5, and file_array/chunked that
        # the elements in the output folder were written with 3 rows (its shape.json)
        message = str(info.value)
        assert "`y`" in message or "`z`" in message, message
        assert "3" in message and "5" in message, message
        assert "`x`" in message or "zarr" in message.lower() or "shape.json" in message, message
    code, err = _cli("export", str(run), "--to", "csv", str(out))
    assert code == 2 and err.count("\n") == 1 and "5" in err, err
    assert not out.exists()
    if not edit_input_shape:  # the record itself contradicts its mapspecs: every reader refuses
        _assert_refused(run, tmp_path, "`x`", "`y`")


# --------------------------------------------------------------------------- export targets
def test_export_to_an_existing_directory(run: Path, tmp_path: Path) -> None:
    target = tmp_path / "a_dir"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    for fmt in ("csv", "parquet", "netcdf", "zarr"):
        with pytest.raises(ExportError, match="a_dir"):
            export_run(run, fmt, target, output_names=("y",))
        code, err = _cli("export", str(run), "--to", fmt, "--output", "y", str(target))
        assert code == 2 and err.count("\n") == 1 and "a_dir" in err and "Traceback" not in err, err
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    assert (target / "keep.txt").read_text() == "precious"


def test_export_to_an_unwritable_path(run: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    target = blocker / "sub" / "out.csv"  # a parent is a file: cannot be written, even by root
    with pytest.raises(ExportError, match="out.csv"):
        export_run(run, "csv", target)
    code, err = _cli("export", str(run), "--to", "csv", str(target))
    assert code == 2 and err.count("\n") == 1 and "out.csv" in err and "Traceback" not in err, err


def test_export_into_the_run_folder_is_refused(run: Path) -> None:
    before = _snapshot(run)
    for fmt, target in (("csv", run / "out.csv"), ("zarr", run), ("zarr", run / "outputs")):
        with pytest.raises(ExportError, match="run folder"):
            export_run(run, fmt, target)
    assert _snapshot(run) == before


# --------------------------------------------------------------------------- readers never write
def _snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every path below ``folder`` with its mode, size and mtime (ns), and the folder's own."""
    entries = {".": os.stat(folder)}
    for path in sorted(folder.rglob("*")):
        entries[str(path.relative_to(folder))] = os.lstat(path)
    return {k: (s.st_mode, s.st_size if not stat.S_ISDIR(s.st_mode) else 0, s.st_mtime_ns) for k, s in entries.items()}


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
    for path, mode in modes.items():
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


@pytest.mark.parametrize("storage", [*STORAGES, "dict"])
@pytest.mark.parametrize("state", ["finished", "output_folders_missing"])
def test_readers_never_write(tmp_path: Path, storage: str, state: str) -> None:
    folder = tmp_path / "run"
    run_map(_pipeline(), INPUTS, run_folder=folder, storage=storage, parallel=False)
    if state == "output_folders_missing":  # like a run that has not reached these outputs yet
        for name in ("y", "z"):
            shutil.rmtree(folder / "outputs" / name, ignore_errors=True)
        (folder / "outputs" / "s.cloudpickle").unlink()
    before = _snapshot(folder)
    out = tmp_path / "export"
    with _read_only(folder):
        results = {name: reader() for name, reader in _python_readers(folder, out / "o.csv").items() if name != "export_run"}
        out.mkdir()
        export_run(folder, "csv", out / "o.csv")
        export_run(folder, "parquet", out / "o.parquet")
        for argv in (["status", str(folder)], ["status", str(folder), "--json"], ["errors", str(folder)]):
            code, err = _cli(*argv)
            assert code in (0, 1) and not err, (argv, err)
    assert _snapshot(folder) == before
    if state == "finished":
        assert results["load_outputs"].tolist() == [[20, 40], [40, 80], [60, 120]]
    else:
        assert np.ma.getmaskarray(results["load_outputs"]).all()
        assert all(o.done == 0 for o in results["run_status"].outputs if o.kind == "mapped" and o.done is not None)


def test_open_store_read_only_creates_nothing(tmp_path: Path) -> None:
    from pipemap.storage import get_storage_class

    for storage in STORAGES:
        folder = tmp_path / storage / "outputs" / "y"
        store = get_storage_class(storage).open_read_only(folder, (3,))
        assert store.done_mask().tolist() == [False, False, False]
        assert store.get_many([0, 2]) == [np.ma.masked, np.ma.masked]
        with pytest.raises(PermissionError, match="read-only"):
            store.dump_many([0], [1])
        assert not (tmp_path / storage).exists()

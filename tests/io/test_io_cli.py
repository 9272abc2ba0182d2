"""The `pipemap status | errors | export` commands and bad-input messages."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import xarray as xr
from pipemap.io import (
    OutputNotFoundError,
    RunFolderError,
    load_dataframe,
    load_outputs,
    load_xarray_dataset,
)
from pipemap.io.cli import build_parser, main


def test_help_is_for_newcomers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for word in ["run folder", "status", "errors", "export", "exit codes", "pipemap status my_run"]:
        assert word in text
    assert main([]) == 2  # no command: help, exit 2


def test_parser_is_extensible(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    demo = parser.subparsers.add_parser("demo", help="run a demo")  # type: ignore[attr-defined]
    demo.set_defaults(handler=lambda args: print("demo ran") or 0)
    assert main(["demo"], parser=parser) == 0
    assert "demo ran" in capsys.readouterr().out
    # io's handlers also work when dispatched as handler(args), errors included
    args = parser.parse_args(["status", "/nonexistent/run"])
    assert args.handler(args) == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_umbrella_command_line(example_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    umbrella = pytest.importorskip("pipemap.api")
    assert umbrella.main(["status", str(example_run)]) == 0
    assert "status: complete" in capsys.readouterr().out
    assert umbrella.main(["errors", "/nonexistent/run"]) == 2


def test_status_finished(example_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(example_run)]) == 0
    text = capsys.readouterr().out
    assert "status: complete" in text and "started" in text and "pipemap 0.1" in text
    assert main(["status", str(example_run), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_name = {o["name"]: o for o in data["outputs"]}
    assert data["format_version"] == 2 and data["started"]
    if by_name["z"]["storage"] == "dict":  # one pickle: counts are not read
        assert by_name["z"]["done"] is None and data["unknown_counts"] == ["s", "y", "z"]
    else:
        assert (by_name["z"]["done"], by_name["z"]["missing"], by_name["z"]["failed"]) == (6, 0, 0)
        assert by_name["z"]["shape"] == [3, 2]
    assert by_name["t"] == {**by_name["t"], "kind": "single", "done": 1, "missing": 0}


def test_status_partial_and_failed(tmp_path: Path, write_run: Callable[..., Any], capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "r"
    write_run(folder, "file_array", skip_y=[0], fail_y=[2])
    assert main(["status", str(folder), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    y = next(o for o in data["outputs"] if o["name"] == "y")
    assert (y["done"], y["missing"], y["failed"]) == (2, 1, None)  # failures need unpickling
    assert data["complete"] is False
    # with a failures record the count is known
    (folder / "failures.json").write_text(json.dumps({"version": 1, "outputs": {"y": [2], "z": [4, 5]}}))
    assert main(["status", str(folder), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert {o["name"]: o["failed"] for o in data["outputs"]} == {"s": 0, "t": 0, "y": 1, "z": 2}


def test_status_never_unpickles(tmp_path: Path, write_run: Callable[..., Any], capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "r"
    write_run(folder, "file_array")
    # element and input files that would blow up if unpickled
    for path in list((folder / "outputs").rglob("*.pickle")) + list((folder / "inputs").glob("*")):
        path.write_bytes(b"not a pickle at all")
    assert main(["status", str(folder)]) == 0
    assert "status: complete" in capsys.readouterr().out


def test_errors_command(tmp_path: Path, write_run: Callable[..., Any], capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "r"
    write_run(folder, "chunked", fail_y=[1])
    assert main(["errors", str(folder)]) == 1
    text = capsys.readouterr().out
    assert "y[1]: _fail(x=2) raised ValueError: x=2 is bad" in text
    assert "3 failed element(s): 1 raised, 2 skipped" in text
    assert main(["errors", str(folder), "--json", "--output", "y"]) == 1
    records = json.loads(capsys.readouterr().out)
    assert records == [
        {"output": "y", "index": [1], "function": "_fail", "exception": "ValueError: x=2 is bad",
         "inputs": {"x": 2}, "propagated": False}
    ]
    ok = tmp_path / "ok"
    write_run(ok, "file_array")
    assert main(["errors", str(ok)]) == 0
    assert "no failed elements" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["parquet", "csv", "zarr", "netcdf"])
def test_export(example_run: Path, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"out.{fmt}"
    assert main(["export", str(example_run), "--to", fmt, str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    if fmt == "parquet":
        frame = pl.read_parquet(out)
        assert frame.to_dict(as_series=False) == load_dataframe(run_folder=example_run, backend="polars").to_dict(as_series=False)
    elif fmt == "csv":
        frame = pl.read_csv(out)
        assert frame["z"].to_list() == [12, 22, 14, 24, 16, 26] and frame["x"].to_list() == [1, 1, 2, 2, 3, 3]
    else:
        ds = xr.open_zarr(out, consolidated=False) if fmt == "zarr" else xr.load_dataset(out)
        assert ds["z"].values.tolist() == [[12, 22], [14, 24], [16, 26]]
        assert ds["x"].values.tolist() == [1, 2, 3]


def test_export_objects_to_zarr_is_refused(make_run: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_run(["x[i] -> y[i]"], {"x": [1, 2]}, {"y": ((2,), (True,), {0: {"a": 1}, 1: {"a": 2}})})
    assert main(["export", str(folder), "--to", "zarr", str(tmp_path / "o.zarr")]) == 2
    err = capsys.readouterr().err
    assert "Cannot write `y`" in err and "parquet" in err and "Traceback" not in err
    # parquet keeps dicts as structs, csv as text
    assert main(["export", str(folder), "--to", "parquet", str(tmp_path / "o.parquet")]) == 0
    assert pl.read_parquet(tmp_path / "o.parquet")["y"].to_list() == [{"a": 1}, {"a": 2}]
    assert main(["export", str(folder), "--to", "csv", str(tmp_path / "o.csv")]) == 0
    assert pl.read_csv(tmp_path / "o.csv")["y"].to_list() == ["{'a': 1}", "{'a': 2}"]


# ----------------------------------------------------------------------------- bad input


def test_not_a_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for loader in (lambda f: load_outputs("y", run_folder=f), lambda f: load_xarray_dataset(run_folder=f)):
        with pytest.raises(RunFolderError, match="is not a run folder: it has no `run_info.json`"):
            loader(tmp_path)
        with pytest.raises(RunFolderError, match="does not exist"):
            loader(tmp_path / "nope")
    for command in ("status", "errors"):
        assert main([command, str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "is not a run folder" in err and "Traceback" not in err
    assert main(["export", str(tmp_path), "--to", "csv", str(tmp_path / "x.csv")]) == 2


def test_future_version(example_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info = json.loads((example_run / "run_info.json").read_text())
    info["version"] = 99
    (example_run / "run_info.json").write_text(json.dumps(info))
    with pytest.raises(RunFolderError, match="format version 99.*upgrade pipemap"):
        load_outputs("y", run_folder=example_run)
    assert main(["status", str(example_run)]) == 2
    assert "format version 99" in capsys.readouterr().err


def test_damaged_run_info(example_run: Path) -> None:
    (example_run / "run_info.json").write_text("{not json")
    with pytest.raises(RunFolderError, match="is not valid JSON"):
        load_outputs("y", run_folder=example_run)
    (example_run / "run_info.json").write_text(json.dumps({"version": 1}))
    with pytest.raises(RunFolderError, match="missing the required field"):
        load_outputs("y", run_folder=example_run)


def test_unknown_output_lists_existing(example_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(OutputNotFoundError, match=r"`nope` not found .*existing outputs: s, t, y, z"):
        load_outputs("y", "nope", run_folder=example_run)
    with pytest.raises(OutputNotFoundError, match="existing outputs: s, t, y, z"):
        load_dataframe("nope", run_folder=example_run)
    assert main(["errors", str(example_run), "--output", "nope"]) == 2
    assert "existing outputs" in capsys.readouterr().err


def test_corrupt_element_is_masked_with_a_warning(tmp_path: Path, write_run: Callable[..., Any]) -> None:
    folder = tmp_path / "r"
    write_run(folder, "file_array")
    (folder / "outputs" / "y" / "__1__.pickle").write_bytes(b"\x80\x05garbage")
    with pytest.warns(UserWarning, match=r"__1__.pickle.*corrupt"):
        y = load_outputs("y", run_folder=folder)
    assert np.ma.getmaskarray(y).tolist() == [False, True, False]


def test_corrupt_single_output_and_input(tmp_path: Path, write_run: Callable[..., Any], capsys: pytest.CaptureFixture[str]) -> None:
    from pipemap.io import CorruptOutputError

    folder = tmp_path / "r"
    write_run(folder, "file_array")
    (folder / "outputs" / "t.cloudpickle").write_bytes(b"garbage")
    with pytest.raises(CorruptOutputError, match=r"Could not read output `t` from .*t.cloudpickle"):
        load_outputs("t", run_folder=folder)
    assert load_outputs("y", run_folder=folder).tolist() == [2, 4, 6]  # the rest still loads
    (folder / "inputs" / "x.cloudpickle").write_bytes(pickle.dumps(1)[:-3])
    with pytest.raises(RunFolderError, match=r"Could not load input `x`"):
        load_xarray_dataset("y", run_folder=folder)
    assert main(["export", str(folder), "--to", "csv", str(tmp_path / "o.csv")]) in (1, 2)
    assert "Traceback" not in capsys.readouterr().err


def test_run_info_edited_by_hand(example_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = example_run / "run_info.json"
    info = json.loads(path.read_text())
    del info["shapes"]["z"], info["resolved_shapes"]["z"]
    info["storage"] = "no_such_storage"
    path.write_text(json.dumps(info))
    with pytest.raises(RunFolderError, match=r"Cannot open the storage of output `y`.*no_such_storage"):
        load_outputs("y", run_folder=example_run)
    assert load_outputs("t", run_folder=example_run) == 114  # single values need no storage
    assert main(["status", str(example_run)]) == 2
    err = capsys.readouterr().err
    assert "Cannot open the storage" in err and "Traceback" not in err


def test_export_array_cells_to_parquet(make_run: Callable[..., Path], tmp_path: Path) -> None:
    folder = make_run(
        ["x[i] -> y[i]"], {"x": [1, 2]}, {"y": ((2,), (True,), {0: np.arange(2.0), 1: np.arange(3.0)}), "m": np.eye(2)}
    )
    assert main(["export", str(folder), "--to", "parquet", str(tmp_path / "o.parquet")]) == 0
    frame = pl.read_parquet(tmp_path / "o.parquet")
    assert frame["y"].to_list() == [[0.0, 1.0], [0.0, 1.0, 2.0]]
    assert frame["m"].to_list() == [[[1.0, 0.0], [0.0, 1.0]]] * 2

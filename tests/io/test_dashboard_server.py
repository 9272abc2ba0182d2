"""The dashboard's HTTP endpoints without a browser: counts, grids, failures, the page, bad input."""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pipemap.io.cli import main
from pipemap.io.dashboard import DashboardError, DashboardServer

sys.path.insert(0, str(Path(__file__).parent))
from _dashboard_helpers import FAIL_ROWS, finished_run  # noqa: E402


def get(server: DashboardServer, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=30) as resp:
            body = resp.read()
            status = resp.status
            kind = resp.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        body, status, kind = exc.read(), exc.code, exc.headers["Content-Type"]
    return status, json.loads(body) if kind == "application/json" else body.decode()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[DashboardServer] = []

    def start(folder: Path) -> DashboardServer:
        server = DashboardServer(folder, port=0).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def outputs(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in state["outputs"]}


@pytest.mark.parametrize("storage", ["file_array", "chunked"])
def test_counts_grid_and_failures_of_a_run_with_failures(tmp_path: Path, serve: Any, storage: str) -> None:
    folder = finished_run(tmp_path / "run", storage=storage)
    server = serve(folder)
    status, state = get(server, "api/state")
    assert status == 200 and state["error"] == "" and not state["running"]
    by_name = outputs(state)
    n_bad = len(FAIL_ROWS) * 6
    for name in ("z", "w"):
        assert (by_name[name]["done"], by_name[name]["failed"], by_name[name]["missing"]) == (48 - n_bad, n_bad, 0)
    assert by_name["total"]["failed"] == 1
    status, grid = get(server, "api/grid?output=z")
    assert status == 200 and (grid["y"], grid["x"], grid["ny"], grid["nx"]) == ("i", "j", 8, 6)
    rows = [grid["codes"][r * 6 : (r + 1) * 6] for r in range(8)]
    assert rows == ["111111" if r in FAIL_ROWS else "000000" for r in range(8)]
    # the failures table: the raised errors first, with inputs and traceback; then the skipped ones
    status, failures = get(server, "api/failures")
    raised = [f for f in failures if not f["skipped"]]
    assert len(raised) == n_bad and len(failures) == 2 * n_bad + 1
    first = raised[0]
    assert (first["output"], first["index"], first["type"]) == ("z", [FAIL_ROWS[0], 0], "ValueError")
    assert first["inputs"] == {"a": str(FAIL_ROWS[0]), "b": "0"} and first["function"].endswith("grow")
    assert "in the bad region" in first["message"] and "raise ValueError" in first["traceback"]
    assert failures.index(first) < min(k for k, f in enumerate(failures) if f["skipped"])
    # once the records were read, the skipped elements of `w` are told apart from failed ones
    _, grid_w = get(server, "api/grid?output=w")
    assert grid_w["codes"][FAIL_ROWS[0] * 6 : FAIL_ROWS[0] * 6 + 6] == "222222"


def test_values_grid_and_line(tmp_path: Path, serve: Any) -> None:
    folder = finished_run(tmp_path / "run", storage="chunked")
    server = serve(folder)
    _, grid = get(server, "api/grid?output=z&mode=values")
    values = np.array([np.nan if v is None else v for v in grid["values"]]).reshape(8, 6)
    expected = np.array([[np.nan if a in FAIL_ROWS else a * 10 + b for b in range(6)] for a in range(8)])
    np.testing.assert_array_equal(values, expected)
    assert (grid["vmin"], grid["vmax"]) == (0.0, 75.0)
    # one row fixed: a 1-D line across j; aggregated: the mean over i
    _, line = get(server, "api/grid?output=z&mode=values&x=j&y=&fix.i=2")
    _, across = get(server, "api/grid?output=z&mode=values&x=i&y=j")
    assert (across["ny"], across["nx"]) == (6, 8)
    assert across["values"][:8] == [None if a in FAIL_ROWS else a * 10.0 for a in range(8)]
    assert (line["y"], line["ny"], line["values"]) == (None, 1, [20.0 + b for b in range(6)])
    _, mean = get(server, "api/grid?output=z&mode=values&x=j&y=")  # i aggregated: the mean over the rows that have values
    good = [a for a in range(8) if a not in FAIL_ROWS]
    assert mean["values"] == pytest.approx([np.mean([a * 10 + b for a in good]) for b in range(6)])


def test_the_page_is_rendered_on_the_server(tmp_path: Path, serve: Any) -> None:
    folder = finished_run(tmp_path / "run")
    server = serve(folder)
    status, html = get(server, "")
    assert status == 200
    assert '<tr data-output="z"' in html and "<td class='num failed'>12</td>" in html
    assert 'class="node output" data-output="w"' in html  # the pipeline graph
    assert "a[i], b[j] -&gt; z[i, j]" in html
    status, script = get(server, "static/dashboard.js")
    assert status == 200 and "function poll" in script


def test_bad_grid_requests_are_clear(tmp_path: Path, serve: Any) -> None:
    server = serve(finished_run(tmp_path / "run"))
    status, data = get(server, "api/grid?output=nope")
    assert status == 404 and "no mapped output `nope`" in data["error"] and "z" in data["error"]
    status, data = get(server, "api/grid?output=z&x=k")
    assert status == 400 and "unknown axis `k`" in data["error"]
    status, data = get(server, "api/grid?output=z&x=j&y=&fix.i=99")
    assert status == 400 and "outside the axis" in data["error"]
    status, data = get(server, "api/grid?output=z&mode=pie")
    assert status == 400 and "unknown mode" in data["error"]
    status, data = get(server, "api/nothing")
    assert status == 404


def test_not_a_run_folder(tmp_path: Path, serve: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dashboard", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a run folder" in err and str(tmp_path) in err and "Traceback" not in err
    # the server itself shows the reason, and picks the run up once it appears
    server = serve(tmp_path / "later")
    status, html = get(server, "")
    assert status == 200 and "class='banner'" in html and "Waiting for a run folder" in html
    _, state = get(server, "api/state")
    assert "later" in state["error"] and state["outputs"] == []
    finished_run(tmp_path / "later", fail=False)
    _, state = get(server, "api/state")  # the previous refresh is older than MIN_INTERVAL? force below
    server.state.refresh(force=True)
    _, state = get(server, "api/state")
    assert state["error"] == "" and outputs(state)["z"]["done"] == 48


def test_port_in_use_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = finished_run(tmp_path / "run", fail=False)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DashboardError, match=f"port {port} on 127.0.0.1 is already in use"):
            DashboardServer(folder, port=port)
        assert main(["dashboard", str(folder), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"port {port}" in err and "--port" in err and "Traceback" not in err


def test_damaged_files_are_shown_and_the_server_survives(tmp_path: Path, serve: Any) -> None:
    folder = finished_run(tmp_path / "run", storage="chunked")
    pack = sorted((folder / "outputs" / "z").glob("c*/*.pack"))[0]
    n_in_pack = int(np.frombuffer(pack.read_bytes()[8:16], "<u8")[0])
    pack.write_bytes(pack.read_bytes()[:-7])  # torn: the header announces more bytes (packs are immutable once written)
    server = serve(folder)
    _, state = get(server, "api/state")
    assert any(str(pack) in d and "damaged pack" in d for d in state["damaged"])
    assert outputs(state)["z"]["missing"] == n_in_pack  # its elements count as missing
    (folder / "failures.json").write_text("{not json")
    state = server.state.refresh(force=True)
    assert any("failures.json" in d for d in state["damaged"])
    assert outputs(state)["z"]["failed"] is None  # unknown, not a wrong number
    status, html = get(server, "")
    assert status == 200 and "damaged pack" in html
    # a damaged run record: an error on the page and in the state, never a crash
    info = (folder / "run_info.json").read_text()
    (folder / "run_info.json").write_text(info[: len(info) // 2])
    server.state.refresh(force=True)
    status, state = get(server, "api/state")
    assert status == 200 and "run_info.json" in state["error"]
    assert get(server, "")[0] == 200 and get(server, "api/grid?output=z")[0] == 409
    (folder / "run_info.json").write_text(info)
    state = server.state.refresh(force=True)
    assert state["error"] == "" and outputs(state)["w"]["done"] == 48  # failures.json is still damaged
    assert "not recorded" in outputs(state)["w"]["note"]


def test_reused_counts_are_shown_when_the_record_has_them(tmp_path: Path, serve: Any) -> None:
    folder = finished_run(tmp_path / "run", fail=False)
    server = serve(folder)
    assert "reused" not in outputs(get(server, "api/state")[1])["z"]
    info = json.loads((folder / "pipemap.json").read_text())
    info["elements"] = {"model": {"reused": 30, "computed": 18}}
    info["element_outputs"] = {"model": ["z"]}
    (folder / "pipemap.json").write_text(json.dumps(info))
    state = server.state.refresh(force=True)
    assert outputs(state)["z"]["reused"] == 30
    assert "<td class='num reused'>30</td>" in get(server, "")[1]


def test_a_stopped_raise_mode_run_lists_its_element(tmp_path: Path, serve: Any) -> None:
    from pipemap.runner import run_map

    from _dashboard_helpers import sweep_pipeline

    with pytest.raises(ValueError, match="bad region"):
        run_map(sweep_pipeline(), {"a": list(range(8)), "b": list(range(6))}, run_folder=tmp_path / "run",
                parallel=False, show_progress=False)
    server = serve(tmp_path / "run")
    _, failures = get(server, "api/failures")
    assert len(failures) == 1 and failures[0]["stopped_run"] and failures[0]["type"] == "ValueError"
    assert failures[0]["index"] == [FAIL_ROWS[0], 0]


def test_doctests_of_the_dashboard_modules() -> None:
    import doctest
    import importlib

    names = ["", "._scan", "._state", "._rate", "._grid", "._values", "._failures", "._graph", "._page", "._server"]
    for name in names:
        module = importlib.import_module("pipemap.io.dashboard" + name)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0, name
    pytest.importorskip("matplotlib")
    for name in ("pipemap.io._plot", "pipemap.demo"):
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, name


def test_the_command_serves_until_ctrl_c(tmp_path: Path) -> None:
    import re
    import signal
    import subprocess

    folder = finished_run(tmp_path / "run", fail=False)
    code = "import sys; from pipemap.io.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "dashboard", str(folder), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert match, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        with urllib.request.urlopen(match.group(1) + "api/state", timeout=30) as resp:
            assert outputs(json.load(resp))["z"]["done"] == 48
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_reused_counts_of_a_real_reuse_run_are_placed_on_outputs(tmp_path: Path, serve: Any) -> None:
    """The runner records reused counts per function with the function's outputs; the page shows them per output."""
    from pipemap.runner import Pipeline, pipefunc

    @pipefunc(output_name="y", mapspec="x[i] -> y[i]")
    def double(x: int) -> int:
        return 2 * x

    @pipefunc(output_name=("a", "b"), mapspec="y[i] -> a[i], b[i]")
    def split(y: int) -> tuple[int, int]:
        return y, -y

    pipeline = Pipeline([double, split])
    pipeline.map({"x": [1, 2, 3]}, run_folder=tmp_path / "old", parallel=False)
    pipeline.map({"x": [1, 2, 3, 4, 5]}, run_folder=tmp_path / "new", reuse_from=tmp_path / "old", parallel=False)
    server = serve(tmp_path / "new")
    state = outputs(get(server, "api/state")[1])
    assert (state["y"]["reused"], state["a"]["reused"], state["b"]["reused"]) == (3, 3, 3)

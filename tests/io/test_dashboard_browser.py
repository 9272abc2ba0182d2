"""The dashboard as a person sees it: headless Chromium (Debian's chromium + chromium-driver,
driven by selenium) against a finished run, a run being written by another process and a run
with failures. Screenshots go to ``test-artifacts/dashboard/`` (git-ignored)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pipemap.io.dashboard import DashboardServer

sys.path.insert(0, str(Path(__file__).parent))
from _dashboard_helpers import ARTIFACTS, FAIL_ROWS, browser_or_skip, finished_run, start_writer, wait_for  # noqa: E402

GREEN, RED, ORANGE, GREY = (60, 154, 95), (214, 39, 40), (255, 159, 28), (217, 217, 217)

#: the colour of every cell of the heatmap, read from the canvas pixels at the cells' centres
READ_CELLS = """
const c = document.getElementById('heatmap');
if (!c || c.hidden || !c.dataset.nx) return null;
const nx = +c.dataset.nx, ny = +c.dataset.ny, s = +c.dataset.scale;
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
const out = [];
for (let r = 0; r < ny; r++) { const row = [];
  for (let k = 0; k < nx; k++) { const p = ((r * s + (s >> 1)) * c.width + k * s + (s >> 1)) * 4; row.push([d[p], d[p + 1], d[p + 2]]); }
  out.push(row); }
return {nx: nx, ny: ny, x: c.dataset.x, y: c.dataset.y, cells: out};
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = browser_or_skip()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[DashboardServer] = []

    def start(folder: Path) -> DashboardServer:
        servers.append(DashboardServer(folder, port=0).start())
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def screenshot(browser: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


def cell_text(browser: Any, output: str, column: str) -> str:
    return str(browser.execute_script(
        "const r = document.querySelector(`tr[data-output='${arguments[0]}'] td.${arguments[1]}`); return r ? r.textContent : null;",
        output, column,
    ))


def cells(browser: Any) -> dict[str, Any]:
    return wait_for(lambda: browser.execute_script(READ_CELLS), what="the heatmap to be drawn")


def test_finished_run(browser: Any, serve: Any, tmp_path: Path) -> None:
    folder = finished_run(tmp_path / "run", fail=False)
    browser.get(serve(folder).url)
    assert (cell_text(browser, "z", "done"), cell_text(browser, "z", "failed"), cell_text(browser, "z", "missing")) == ("48", "0", "0")
    grid = cells(browser)
    assert (grid["ny"], grid["nx"], grid["y"], grid["x"]) == (8, 6, "i", "j")
    assert all(tuple(c) == GREEN for row in grid["cells"] for c in row)
    assert "No failed elements" in browser.find_element("id", "failures-empty").text
    assert browser.find_elements("css selector", "svg.graph g.node.output")  # the pipeline graph
    screenshot(browser, "finished")
    # the values themselves: z = 10 a + b grows down and across, so the colours differ
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "grid-mode")).select_by_value("values")
    values = wait_for(lambda: (g := browser.execute_script(READ_CELLS)) and tuple(g["cells"][0][0]) != GREEN and g, what="the value heatmap")
    corners = {tuple(values["cells"][r][c]) for r, c in [(0, 0), (0, 5), (7, 0), (7, 5)]}
    assert len(corners) == 4
    # one row as a line: down = none, i fixed at 2
    Select(browser.find_element("id", "grid-y")).select_by_value("")
    Select(browser.find_element("id", "fix-i")).select_by_value("2")
    line = wait_for(lambda: browser.find_elements("css selector", "#lineplot polyline"), what="the line plot")
    assert len(line[0].get_attribute("points").split()) == 6 and line[0].is_displayed()
    assert not browser.find_element("id", "heatmap").is_displayed()
    assert "values along j" in browser.find_element("id", "grid-info").text
    screenshot(browser, "finished-line")


def test_run_with_failures(browser: Any, serve: Any, tmp_path: Path) -> None:
    n_a, n_b = 24, 20
    folder = finished_run(tmp_path / "run", storage="chunked", n_a=n_a, n_b=n_b)
    n_bad = len(FAIL_ROWS) * n_b
    browser.get(serve(folder).url)
    assert (cell_text(browser, "z", "done"), cell_text(browser, "z", "failed")) == (str(n_a * n_b - n_bad), str(n_bad))
    grid = cells(browser)  # the output with failures is shown first: z
    assert (grid["ny"], grid["nx"]) == (n_a, n_b)
    assert browser.find_element("id", "grid-output").get_attribute("value") == "z"
    for r, row in enumerate(grid["cells"]):
        assert all(tuple(c) == (RED if r in FAIL_ROWS else GREEN) for c in row), (r, row)
    # the failures table, traceback on click
    rows = wait_for(lambda: browser.find_elements("css selector", "#failures tr.failure"), what="the failures table")
    assert len(rows) == 2 * n_bad + 1  # z's errors, w's skipped elements, the skipped total
    first = rows[0]
    assert f"z[{FAIL_ROWS[0]}, 0]" in first.text and "ValueError" in first.text and "a=3" in first.text
    traceback = browser.find_elements("css selector", "#failures tr.traceback")[0]
    assert not traceback.is_displayed()
    first.click()
    assert traceback.is_displayed() and "raise ValueError" in traceback.text
    # w's failed rows are skipped elements: orange
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "grid-output")).select_by_value("w")
    grid_w = wait_for(lambda: (g := browser.execute_script(READ_CELLS)) and tuple(g["cells"][FAIL_ROWS[0]][0]) == ORANGE and g,
                      what="w's heatmap")
    assert tuple(grid_w["cells"][0][0]) == GREEN
    Select(browser.find_element("id", "grid-output")).select_by_value("z")
    cells(browser)
    screenshot(browser, "failures")


def test_run_being_written_by_another_process(browser: Any, serve: Any, tmp_path: Path) -> None:
    """The page follows a live run: counts grow, failed rows turn red while the run goes on
    (before `failures.json` lists them), and the end is shown."""
    folder = tmp_path / "live"
    n_a, n_b, bad = 12, 10, (3, 4)
    proc = start_writer(folder, storage="chunked", seconds=0.06, n_a=n_a, n_b=n_b, fail_rows=bad)
    try:
        browser.get(serve(folder).url)
        assert int(cell_text(browser, "y", "done")) < n_a * n_b
        counts = []

        def progressed() -> bool:
            counts.append(int(cell_text(browser, "y", "done")))
            return len(set(counts)) >= 3

        wait_for(progressed, timeout=60, what="the page to show the run progressing")

        def red_while_running() -> Any:
            running = browser.find_element("id", "running").text
            grid = browser.execute_script(READ_CELLS)
            if grid and any(tuple(c) == RED for c in grid["cells"][bad[0]]):
                return running, grid
            return None

        running, grid = wait_for(red_while_running, timeout=60, what="failed cells on the heatmap")
        assert running == "running" and proc.poll() is None  # seen live, not at the end
        assert all(tuple(c) in (GREEN, GREY) for r, row in enumerate(grid["cells"]) if r not in bad for c in row)
        assert any(tuple(c) == GREY for row in grid["cells"] for c in row)  # not everything done yet
        screenshot(browser, "live")
        wait_for(lambda: cell_text(browser, "y", "missing") == "0", timeout=90, what="the run's end on the page")
        wait_for(lambda: browser.find_element("id", "running").text == "not running", what="the run to be reported finished")
        final = cells(browser)
        for r, row in enumerate(final["cells"]):
            assert all(tuple(c) == (RED if r in bad else GREEN) for c in row), (r, row)
        assert (cell_text(browser, "y", "done"), cell_text(browser, "y", "failed")) == (str(n_a * n_b - 2 * n_b), str(2 * n_b))
        assert counts == sorted(counts)
        screenshot(browser, "live-finished")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_not_a_run_folder_page(browser: Any, serve: Any, tmp_path: Path) -> None:
    browser.get(serve(tmp_path / "nothing").url)
    banner = browser.find_element("id", "error")
    assert banner.is_displayed() and "is not a run folder" in banner.text
    screenshot(browser, "not-a-run-folder")

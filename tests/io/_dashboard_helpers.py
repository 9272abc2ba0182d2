"""Run folders and a headless browser for the dashboard tests (tests/io/test_dashboard_*.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: where the browser tests save their screenshots (git-ignored)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"

#: the failing stripe of `sweep_pipeline`: rows a = 3 and 4 fail for every b
FAIL_ROWS = (3, 4)


def sweep_pipeline() -> Any:
    """``a[i], b[j] -> z[i, j]`` (fails on rows ``FAIL_ROWS``), ``z[i, j] -> w[i, j]`` (skipped
    there), ``total = sum(w)``."""
    from pipemap.runner import Pipeline, pipefunc

    @pipefunc(output_name="z", mapspec="a[i], b[j] -> z[i, j]")
    def grow(a: int, b: int) -> float:
        if a in FAIL_ROWS:
            msg = f"a={a} is in the bad region"
            raise ValueError(msg)
        return float(a * 10 + b)

    @pipefunc(output_name="w", mapspec="z[i, j] -> w[i, j]")
    def double(z: float) -> float:
        return 2 * z

    @pipefunc(output_name="total")
    def total(w: Any) -> float:
        return float(np.nansum(np.asarray(w, dtype=float)))

    return Pipeline([grow, double, total])


def finished_run(folder: Path, *, n_a: int = 8, n_b: int = 6, storage: str = "file_array", fail: bool = True) -> Path:
    """A finished run of `sweep_pipeline` (continue mode) in ``folder``."""
    from pipemap.runner import run_map

    a = [k if fail or k not in FAIL_ROWS else k + 100 for k in range(n_a)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FailedElementsWarning: the failures are the point
        run_map(sweep_pipeline(), {"a": a, "b": list(range(n_b))}, run_folder=folder, parallel=False,
                error_handling="continue", storage=storage, show_progress=False)
    return folder


WRITER = textwrap.dedent(
    """
    import sys, time, warnings
    from pipemap.runner import Pipeline, pipefunc, run_map

    fail_rows = [int(r) for r in sys.argv[6].split(",") if r]

    @pipefunc(output_name="y", mapspec="a[i], b[j] -> y[i, j]")
    def slow(a, b):
        time.sleep(float(sys.argv[3]))
        if a in fail_rows:
            raise ValueError(f"a={a} is in the bad region")
        return a + b

    n_a, n_b = int(sys.argv[4]), int(sys.argv[5])
    warnings.simplefilter("ignore")
    run_map(Pipeline([slow]), {"a": list(range(n_a)), "b": list(range(n_b))}, run_folder=sys.argv[1],
            storage=sys.argv[2], parallel=False, show_progress=False, error_handling="continue")
    """
)


def start_writer(
    folder: Path, *, storage: str = "file_array", seconds: float = 0.05, n_a: int = 10, n_b: int = 8, fail_rows: tuple[int, ...] = ()
) -> subprocess.Popen[bytes]:
    """Another process that runs a slow sweep ``a[i], b[j] -> y[i, j]`` into ``folder`` (continue
    mode; rows ``fail_rows`` raise); returns once its run record exists."""
    rows = ",".join(map(str, fail_rows))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder), storage, str(seconds), str(n_a), str(n_b), rows])
    deadline = time.monotonic() + 60
    while not (folder / "run_info.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the writer process did not start a run (exit code {proc.poll()})")
        time.sleep(0.05)
    return proc


def browser_or_skip() -> Any:
    """A headless Chromium driven by selenium, or skip with the reason."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists() and not shutil.which(Path(p).name)]
    if missing:
        pytest.skip(f"browser tests need {' and '.join(missing)} (Debian: apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("browser tests need selenium (in the test dependency group)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1400"):
        options.add_argument(arg)
    try:
        return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    except Exception as exc:  # noqa: BLE001 - e.g. a browser that cannot start here
        pytest.skip(f"headless chromium does not start here ({type(exc).__name__}: {str(exc).splitlines()[0]})")


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)

"""The session-end check of ``tests/conftest.py``: a test that leaves a process behind fails the run.

Each case runs a small pytest session in a subprocess (``pytester``) with that conftest, and
reads the exit status and the report.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

GUARD = Path(__file__).resolve().parents[1] / "conftest.py"

LEAKING = '''
import os, subprocess, sys, time

KEEP = []

def test_child_never_reaped():
    KEEP.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(301)"]))

def test_orphan_of_a_finished_child():  # its parent exits: it is reparented to init
    subprocess.run([sys.executable, "-c",
        "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(302)'],"
        " start_new_session=True)"], check=True)

def test_forked_orphan():  # a fork of a fork of pytest itself: no exec, no new environment
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            time.sleep(303)
        os._exit(0)
    os.waitpid(pid, 0)
'''

CLEAN = '''
import multiprocessing, subprocess, sys
from concurrent.futures import ProcessPoolExecutor
from pipemap.runner import Pipeline, pipefunc, run_map

@pipefunc("y", mapspec="x[i] -> y[i]")
def double(x):
    return 2 * x

def test_default_pool_kept_until_the_end():  # shut down by the check itself
    assert run_map(Pipeline([double]), {"x": [1, 2, 3]}, parallel=True)["y"].output.tolist() == [2, 4, 6]

def test_forkserver_pool_and_reaped_children():
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as ex:
        assert ex.submit(abs, -1).result() == 1
    subprocess.run([sys.executable, "-c", "pass"], check=True)
'''


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in {"Z", "X"}


@pytest.fixture
def guarded(pytester: pytest.Pytester) -> pytest.Pytester:
    if not os.path.isdir("/proc"):
        pytest.skip("the check reads /proc")
    text = GUARD.read_text()
    assert "GRACE_SECONDS = 5.0" in text
    pytester.makeconftest(text.replace("GRACE_SECONDS = 5.0", "GRACE_SECONDS = 0.5"))  # leaks wait less
    return pytester


def test_leaked_processes_fail_the_session_and_are_named(guarded: pytest.Pytester) -> None:
    guarded.makepyfile(test_leaks=LEAKING)
    result = guarded.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    out = result.stdout.str()
    leaked = {int(m.group(1)): m.group(2) for m in re.finditer(r"pid (\d+) \(parent \d+\): (.*)", out)}
    try:
        result.assert_outcomes(passed=3)
        assert result.ret == pytest.ExitCode.TESTS_FAILED, out
        assert "3 process(es) started by the tests are still alive" in out, out
        assert len(leaked) == 3, out
        assert any("time.sleep(301)" in cmd for cmd in leaked.values())
        assert any("time.sleep(302)" in cmd for cmd in leaked.values())
        assert any("pytest" in cmd for cmd in leaked.values())  # the fork: pytest's own command line
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in leaked) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in leaked), "the check did not kill what it reported"
    finally:
        for pid in leaked:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_clean_session_passes(guarded: pytest.Pytester) -> None:
    guarded.makepyfile(test_clean=CLEAN)
    result = guarded.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert "still alive" not in result.stdout.str()

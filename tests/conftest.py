"""Checks of the whole test session: no test may leave a process behind.

Tests start real processes (pools, victims of kill -9, scripts). At the end of the session,
after the kept pools of this process are shut down (pipemap's default pool, the spawn pool of
``pipemap.storage.testing``), every process the session started must be gone (a short grace
period lets exiting ones finish); otherwise the run FAILS (exit status 1) with the pid and
command line of each, and they are killed.

A process counts as started by this session when it started after the pytest process and

* descends from the pytest process, or
* carries this session's token in ``PIPEMAP_TEST_SESSION`` in its environment (set here before
  any test runs: every process started with ``exec`` inherits it, and so does every process
  forked from one of them, even once it is orphaned; a session run inside a test adds its own
  token, so its processes count for both), or
* is an orphan (parent pid 1) forked from the pytest process or one of its forks (same command
  line and same initial environment as the pytest process), or
* has this repository's ``tests/`` folder in its command line.

multiprocessing's (and loky's) helpers of the pytest process (forkserver, resource tracker) are
not counted: they exit with it.
"""

from __future__ import annotations

import gc
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent
TOKEN_VAR = "PIPEMAP_TEST_SESSION"
#: processes that are exiting (pool workers told to stop) get this long before they count as left behind
GRACE_SECONDS = 5.0


class _Stat(NamedTuple):
    state: str
    ppid: int
    start: int  # clock ticks after boot


def _stat(pid: int) -> _Stat | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # the command name (field 2) may hold spaces
    return _Stat(fields[0], int(fields[1]), int(fields[19]))


def _read(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def _command(pid: int) -> str:
    return _read(pid, "cmdline").replace(b"\0", b" ").decode(errors="replace").strip() or f"[{pid}]"


class ProcessGuard:
    """Finds the processes of this test session that are still alive (Linux ``/proc``)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.token = f"{self.pid}-{secrets.token_hex(8)}"
        outer = os.environ.get(TOKEN_VAR)  # a session run by a test of another one: both count
        os.environ[TOKEN_VAR] = f"{outer}:{self.token}" if outer else self.token
        own = _stat(self.pid)
        self.start = own.start if own is not None else 0
        self.cmdline = _read(self.pid, "cmdline")
        self.environ = _read(self.pid, "environ")  # the block set at exec: what forks carry on
        self.tests_path = (str(TESTS) + os.sep).encode()

    def _helpers(self) -> set[int]:
        """multiprocessing's (and loky's) forkserver and resource tracker of this process: one
        each per process, they exit with it."""
        from multiprocessing import forkserver, resource_tracker

        pids = {getattr(forkserver._forkserver, "_forkserver_pid", None), getattr(resource_tracker._resource_tracker, "_pid", None)}
        loky_tracker = sys.modules.get("loky.backend.resource_tracker")
        if loky_tracker is not None:
            pids.add(getattr(getattr(loky_tracker, "_resource_tracker", None), "_pid", None))
        return {p for p in pids if isinstance(p, int)}

    def leftovers(self) -> dict[int, _Stat]:
        """Live processes started by this session (see the module docstring), by pid."""
        stats = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                st = _stat(int(entry))
                if st is not None:
                    stats[int(entry)] = st
        children: dict[int, list[int]] = {}
        for pid, st in stats.items():
            children.setdefault(st.ppid, []).append(pid)
        descendants, todo = set(), [self.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in descendants:
                    descendants.add(child)
                    todo.append(child)
        skip = {self.pid} | self._helpers()
        out = {}
        for pid, st in stats.items():
            if pid in skip or st.state in {"Z", "X"} or st.start < self.start:
                continue
            if pid in descendants or self._marked(pid, st):
                out[pid] = st
        return out

    def _marked(self, pid: int, st: _Stat) -> bool:
        cmdline = _read(pid, "cmdline")
        if self.tests_path in cmdline:
            return True
        environ = _read(pid, "environ")
        if self._has_token(environ):
            return True
        return st.ppid == 1 and cmdline == self.cmdline and environ == self.environ

    def _has_token(self, environ: bytes) -> bool:
        prefix = f"{TOKEN_VAR}=".encode()
        for entry in environ.split(b"\0"):
            if entry.startswith(prefix):
                return self.token.encode() in entry[len(prefix) :].split(b":")
        return False

    def check(self) -> list[str]:
        """Shut the kept pools down (pipemap's default pool, the storage conformance suite's
        spawn pool: both are otherwise stopped at exit), collect garbage (a dropped
        ``multiprocessing.Manager`` or pool stops its processes when collected), wait out the
        grace period; describe (and kill) what is left."""
        runner = sys.modules.get("pipemap.runner")
        if runner is not None:
            runner.shutdown_default_pool()
        storage_testing = sys.modules.get("pipemap.storage.testing")
        if storage_testing is not None:
            storage_testing._shutdown_pool()
        gc.collect()
        deadline = time.monotonic() + GRACE_SECONDS
        left = self.leftovers()
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = self.leftovers()
        lines = [f"pid {pid} (parent {st.ppid}): {_command(pid)}" for pid, st in sorted(left.items())]
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return lines


_guard: ProcessGuard | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _guard
    if _guard is None and os.path.isdir("/proc"):
        _guard = ProcessGuard()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _guard is None or _guard.pid != os.getpid():
        return
    lines = _guard.check()
    if not lines:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    title = f"{len(lines)} process(es) started by the tests are still alive (now killed)"
    if reporter is not None:
        reporter.write_line("")  # (ends the progress line)
        reporter.write_sep("=", title, red=True, bold=True)
        for line in lines:
            reporter.write_line(line)
        reporter.write_line("Every test must stop and reap the processes it starts, also when it fails.")
    else:  # pragma: no cover - no terminal (e.g. -p no:terminal)
        print(title, *lines, sep="\n")
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

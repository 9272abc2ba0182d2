"""Shared fixtures of the reliability suite (fault injection, fuzzing, bad run folders).

Slow variants (more kills, more hypothesis examples, Dask with worker processes) are marked
``slow`` and skipped unless ``--run-slow`` is given (``uv run pytest tests/reliability --run-slow``)
or ``PIPEMAP_RUN_SLOW=1`` is set (the option is only known when this folder is on the command line).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # test modules import `_badfolder_helpers` (import mode is importlib)
    sys.path.insert(0, str(HERE))
VICTIM = HERE / "_reliability_victim.py"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False, help="run the slow reliability variants")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--run-slow", default=False):
        os.environ["PIPEMAP_RUN_SLOW"] = "1"  # read at import by the hypothesis settings


def run_slow(config: pytest.Config) -> bool:
    return bool(config.getoption("--run-slow", default=False)) or os.environ.get("PIPEMAP_RUN_SLOW") == "1"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("slow") is not None and not run_slow(item.config):
        pytest.skip("slow variant: run with --run-slow (or PIPEMAP_RUN_SLOW=1)")


@pytest.fixture
def slow_enabled(request: pytest.FixtureRequest) -> bool:
    """Whether the long variants run (bigger counts inside otherwise fast tests)."""
    return run_slow(request.config)


# --------------------------------------------------------------------------- the kill harness
def session_pids(sid: int) -> list[int]:
    """Live (non-zombie) processes of session ``sid`` (the victim and everything it started)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        # fields[0] = state, fields[3] = session id
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] not in {"Z", "X"}:
            out.append(int(entry))
    return out


class Zygote:
    """A pre-imported Python process that forks victim runs on request (see the victim script).

    Each victim runs in its own session (with its process pool, forkserver, ...). Every process
    of that session is SIGKILLed and waited for once the victim has been waited for, and at
    :meth:`close` (fixture teardown, also after a failed test): a victim that finished leaves
    its kept pool's workers behind, and those would outlive the test session.
    """

    def __init__(self, extras: list[str]) -> None:
        self.sessions: set[int] = set()  # victims' session ids whose processes may still run
        env = dict(os.environ)
        env.pop("PYTEST_CURRENT_TEST", None)
        self.proc = subprocess.Popen(
            [sys.executable, str(VICTIM), *extras],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert json.loads(self._readline())["ready"]

    def _readline(self) -> str:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            msg = f"zygote exited with {self.proc.poll()}"
            raise RuntimeError(msg)
        return line

    def _send(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(cmd) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self._readline())

    def start(self, **params: Any) -> int:
        pid = self._send({"op": "run", **params})["pid"]
        self.sessions.add(pid)
        return pid

    def wait(self, pid: int) -> int:
        """The victim's exit status, once it exited; then the rest of its session is killed."""
        status = self._send({"op": "wait", "pid": pid})["status"]
        self.kill_session(pid)
        return status

    def kill_session(self, pid: int) -> None:
        """SIGKILL the victim's whole session and wait until none of it runs any more."""
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 30
        while True:
            alive = session_pids(pid)
            if not alive:
                return
            for p in alive:  # e.g. a worker that left the process group but not the session
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                msg = f"processes of the killed run still alive: {alive}"
                raise RuntimeError(msg)
            time.sleep(0.01)
        # (the session id stays reserved while any process of the session lives, so it cannot
        # name an unrelated session until all of this one is gone)

    def close(self) -> None:
        """Kill what is left of every victim's session, then stop the zygote."""
        try:
            for sid in sorted(self.sessions):
                self.kill_session(sid)
            self.sessions.clear()
        finally:
            try:
                self.proc.stdin.write(json.dumps({"op": "exit"}) + "\n")  # type: ignore[union-attr]
                self.proc.stdin.flush()  # type: ignore[union-attr]
                self.proc.wait(10)
            except Exception:  # noqa: BLE001
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def zygote_factory():
    """``make(extras)`` -> a :class:`Zygote`; all are closed at teardown."""
    made: list[Zygote] = []

    def make(extras: list[str]) -> Zygote:
        z = Zygote(extras)
        made.append(z)
        return z

    yield make
    errors = []
    for z in made:  # every zygote, even if closing an earlier one failed
        try:
            z.close()
        except Exception as exc:  # noqa: BLE001 - raised below, after the others are closed
            errors.append(exc)
    if errors:
        raise errors[0]


def read_counts(counts: Path, name: str) -> Counter:
    """{element index: number of calls} from ``<counts>/<name>.log``."""
    path = counts / f"{name}.log"
    if not path.exists():
        return Counter()
    return Counter(int(line) for line in path.read_text().split())


@pytest.fixture
def call_counts():
    """The :func:`read_counts` helper."""
    return read_counts


@pytest.fixture
def tiny_tmpfs(tmp_path: Path):
    """A real 1 MB tmpfs (skipped where ``mount`` is not permitted)."""
    mnt = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, check=False)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)

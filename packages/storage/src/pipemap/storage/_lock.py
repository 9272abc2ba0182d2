"""One writer per run folder: the ``<run_folder>/.pipemap.lock`` file.

A run that writes into a run folder holds :class:`RunFolderLock`. The lock file is created
atomically (``O_CREAT | O_EXCL``) and holds JSON ``{"pid", "host", "started", "token"}``
(plus the owner's kernel start time where the OS exposes it, to tell a reused pid apart). A
second process that finds a live owner refuses with :class:`RunFolderLockedError` naming the
owner. A *stale* lock (its pid is dead on this host, or the pid now belongs to another
process) is taken over safely: the takeover is serialized by a short-lived guard file
(``.pipemap.lock.takeover``, also ``O_EXCL``) and the stale content is re-read under the guard
before it is removed, so two processes racing for a stale lock never both win. A lock from
another host is never broken automatically (its owner cannot be checked from here).

The lock is released by :meth:`RunFolderLock.release` (also by the context manager, on
exceptions, and at interpreter exit); releasing only removes the file while it still holds
this lock's token.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> with RunFolderLock(folder) as lock:
...     lock.path.name, RunFolderLock.read_owner(folder)["pid"] == os.getpid()
('.pipemap.lock', True)
>>> RunFolderLock.read_owner(folder) is None
True
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LOCK_NAME", "RunFolderLock", "RunFolderLockedError", "RunFolderLostError", "RunOwnership"]

LOCK_NAME = ".pipemap.lock"
_GUARD_SUFFIX = ".takeover"
#: a takeover guard older than this whose owner is gone is itself stale
_GUARD_STALE_SECONDS = 10.0


class RunFolderLockedError(RuntimeError):
    """Another live process holds the run folder's lock.

    >>> issubclass(RunFolderLockedError, RuntimeError)
    True
    """


class RunFolderLostError(RuntimeError):
    """A write came from a run that no longer owns its run folder (it ended, or its process died
    and another run took the folder over); the write was refused.

    >>> issubclass(RunFolderLostError, RuntimeError)
    True
    """


@dataclass(frozen=True)
class RunOwnership:
    """Proof that a run owns its run folder, checked by the processes that write for it.

    A worker process writes elements for the run that holds the folder's lock. If that run's
    process died and another run took the folder over, the lock now holds another token:
    :meth:`verify` raises :class:`RunFolderLostError`, so a leftover worker never writes into
    the newer run. The owning process itself skips the check (it holds the lock). Made by
    :meth:`RunFolderLock.ownership`.

    Parameters
    ----------
    lock_path : str
        The lock file, ``<run_folder>/.pipemap.lock``.
    token : str
        The owning run's token, as written in the lock file.
    pid : int
        The owning process's id.

    Examples
    --------
    >>> import tempfile
    >>> lock = RunFolderLock(tempfile.mkdtemp()).acquire()
    >>> ownership = lock.ownership()
    >>> ownership.verify("y")  # the owner: nothing to check
    >>> lock.release()
    """

    lock_path: str
    token: str
    pid: int

    def verify(self, what: str) -> None:
        """Raise :class:`RunFolderLostError` unless the folder's lock still holds this run's token;
        ``what`` names the write (e.g. ``"elements 3..9 of `y`"``) in the message."""
        if os.getpid() == self.pid:
            return
        try:
            with open(self.lock_path, "rb") as fh:
                content = fh.read()
        except OSError:
            content = b""
        if self.token.encode() in content:
            return
        folder = os.path.dirname(self.lock_path)
        if content:
            why = "its process died and another run took the folder over"
        else:  # released only after the run's workers stopped, so: a deleted folder, or a dead run
            why = "its lock `.pipemap.lock` no longer exists: the run folder was deleted, or the run ended"
        msg = (
            f"Refused to write {what}: the run that started this worker (process {self.pid}) no longer"
            f" owns the run folder `{folder}` ({why})."
        )
        raise RunFolderLostError(msg)


def _proc_start(pid: int) -> str | None:
    """The kernel start time of ``pid`` (Linux ``/proc``), or None where unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces; fields after the last ')' are fixed
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None  # field 22 overall: starttime


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = _proc_state(pid)
    return state not in {"Z", "X"}  # a zombie has finished: its lock is stale


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[0] if fields else None


def _owner_is_alive(owner: dict[str, Any]) -> bool:
    """Whether the process recorded in ``owner`` (on this host) still runs."""
    pid = owner.get("pid")
    if not isinstance(pid, int) or not _pid_alive(pid):
        return False
    recorded = owner.get("proc_start")
    if recorded is not None:
        current = _proc_start(pid)
        if current is not None and current != recorded:
            return False  # the pid was reused by another process
    return True


def _create_exclusive(path: Path, content: bytes) -> bool:
    """Create ``path`` with ``content`` iff it does not exist (atomic); False if it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    try:
        os.write(fd, content)
    finally:
        os.close(fd)
    return True


def _read_json(path: Path) -> dict[str, Any] | None:
    """The lock's JSON; None if absent; ``{}`` if unreadable (being written, or garbage)."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


class RunFolderLock:
    """Exclusive ownership of a run folder by one process (see the module docstring).

    ``RunFolderLock(folder).acquire()`` creates the folder if needed and the lock file
    ``.pipemap.lock`` (pid, host, start time, run token), or raises :class:`RunFolderLockedError`
    naming the owner. A lock left by a dead process on the same host is taken over; one from
    another host is never broken.

    Parameters
    ----------
    run_folder : str or os.PathLike
        The run folder to own.
    timeout : float, default 0.0
        Seconds to wait for a live owner to release the lock (0: refuse at once).

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> first = RunFolderLock(folder).acquire()
    >>> try:
    ...     RunFolderLock(folder).acquire()
    ... except RunFolderLockedError as e:
    ...     "is in use by process" in str(e)
    True
    >>> first.release()
    """

    def __init__(self, run_folder: str | os.PathLike[str], *, timeout: float = 0.0) -> None:
        self.folder = Path(run_folder).absolute()
        self.path = self.folder / LOCK_NAME
        self.timeout = timeout
        self.token = uuid.uuid4().hex
        self.held = False
        self._finalizer: Any = None

    # ------------------------------------------------------------------ owner info
    @staticmethod
    def read_owner(run_folder: str | os.PathLike[str]) -> dict[str, Any] | None:
        """The JSON of the folder's current lock file, or None when it is not locked."""
        return _read_json(Path(run_folder) / LOCK_NAME)

    @staticmethod
    def owner_alive(owner: dict[str, Any]) -> bool | None:
        """Whether the lock holder ``owner`` (from :meth:`read_owner`) still runs: True or False on
        this host, None on another host (it cannot be checked from here).

        >>> RunFolderLock.owner_alive({"pid": os.getpid(), "host": socket.gethostname()})
        True
        >>> RunFolderLock.owner_alive({"pid": 1, "host": "elsewhere.example"}) is None
        True
        """
        if owner.get("host") != socket.gethostname():
            return None
        return _owner_is_alive(owner)

    def _content(self) -> bytes:
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": _dt.datetime.now(_dt.timezone.utc).isoformat(),
            "token": self.token,
            "proc_start": _proc_start(os.getpid()),
        }
        return json.dumps(owner).encode()

    def _is_stale(self, owner: dict[str, Any]) -> bool:
        if owner.get("host") != socket.gethostname():
            return False
        return not _owner_is_alive(owner)

    def _locked_error(self, owner: dict[str, Any]) -> RunFolderLockedError:
        who = f"process {owner.get('pid')} on host {owner.get('host')!r} (since {owner.get('started')})"
        hint = (
            "Wait for that run to finish, or use another `run_folder`."
            if owner.get("host") == socket.gethostname()
            else "It runs on another host, so pipemap cannot check it: if you are sure it has stopped,"
            f" delete `{self.path}`."
        )
        return RunFolderLockedError(f"The run folder `{self.folder}` is in use by {who}: `{self.path}` exists. {hint}")

    # ------------------------------------------------------------------ acquire/release
    def acquire(self) -> RunFolderLock:
        """Take the lock (taking over a stale one), or raise :class:`RunFolderLockedError`."""
        if self.held:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.timeout
        # a takeover in progress (guard held) takes milliseconds: wait for it past `timeout`
        grace = time.monotonic() + max(self.timeout, _GUARD_STALE_SECONDS)
        content = self._content()
        while True:
            if _create_exclusive(self.path, content):
                self._hold()
                return self
            owner = _read_json(self.path)
            if owner is None:
                continue  # released in between: try again
            if owner == {}:
                owner = self._settle_unreadable()
                if owner is None:
                    continue
            if self._is_stale(owner):
                outcome = self._take_over(owner, content)
                if outcome == "won":
                    self._hold()
                    return self
                if outcome == "busy" and time.monotonic() < grace:
                    time.sleep(0.01)
                    continue
            if time.monotonic() >= deadline:
                current = _read_json(self.path) or owner
                raise self._locked_error(current if current else owner)
            time.sleep(0.05)

    def _settle_unreadable(self) -> dict[str, Any] | None:
        """A lock file that does not parse: being written right now, or left torn by a crash
        between ``open`` and ``write``. Wait briefly; then treat it as stale (owner unknown)."""
        for _ in range(20):
            time.sleep(0.01)
            owner = _read_json(self.path)
            if owner != {}:
                return owner
        return {"pid": -1, "host": socket.gethostname(), "unreadable": True}

    def _take_over(self, stale: dict[str, Any], content: bytes) -> str:
        """Replace the stale lock ``stale`` by ours, serialized by the takeover guard.

        Returns ``"won"``, ``"lost"`` (someone else owns the lock now) or ``"busy"`` (another
        process holds the guard: retry shortly).
        """
        guard = self.path.with_name(LOCK_NAME + _GUARD_SUFFIX)
        guard_content = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}).encode()
        if not _create_exclusive(guard, guard_content):
            self._clear_stale_guard(guard)
            return "busy"
        try:
            current = _read_json(self.path)
            if current is None:
                return "won" if _create_exclusive(self.path, content) else "lost"
            same = current == stale or (stale.get("unreadable") and current == {})
            if not same or not self._is_stale(current if current else stale):
                return "lost"  # someone else took it over meanwhile
            self.path.unlink(missing_ok=True)
            return "won" if _create_exclusive(self.path, content) else "lost"
        finally:
            guard.unlink(missing_ok=True)

    @staticmethod
    def _clear_stale_guard(guard: Path) -> None:
        """Remove a guard left by a process that died mid-takeover (dead pid on this host, or
        unreadable/foreign and older than a few seconds)."""
        info = _read_json(guard)
        if info is None:
            return
        try:
            age = time.time() - guard.stat().st_mtime
        except FileNotFoundError:
            return
        pid = info.get("pid")
        same_host = info.get("host") == socket.gethostname()
        dead = same_host and isinstance(pid, int) and not _pid_alive(pid)
        if dead or (age > _GUARD_STALE_SECONDS and not (same_host and isinstance(pid, int) and _pid_alive(pid))) or (
            not info and age > 1.0
        ):
            guard.unlink(missing_ok=True)

    def _hold(self) -> None:
        self.held = True
        # runs at garbage collection or, at the latest, at interpreter exit
        self._finalizer = weakref.finalize(self, _release_path, self.path, self.token)

    def restore(self) -> None:
        """Re-create the lock file if something deleted it while held (e.g. a folder wipe)."""
        if not self.held:
            return
        owner = _read_json(self.path)
        if owner and owner.get("token") == self.token:
            return
        if owner is None and _create_exclusive(self.path, self._content()):
            return
        self.held = False
        raise self._locked_error(owner or {})

    def ownership(self) -> RunOwnership:
        """The :class:`RunOwnership` that this run's worker processes verify before writing."""
        return RunOwnership(str(self.path), self.token, os.getpid())

    def release(self) -> None:
        """Remove the lock file if it is still ours (idempotent)."""
        if not self.held:
            return
        self.held = False
        if self._finalizer is not None:
            self._finalizer.detach()
        _release_path(self.path, self.token)

    def __enter__(self) -> RunFolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"RunFolderLock({str(self.folder)!r}, held={self.held})"


def _release_path(path: Path, token: str) -> None:
    owner = _read_json(path)
    if owner and owner.get("token") == token and owner.get("pid") == os.getpid():
        path.unlink(missing_ok=True)

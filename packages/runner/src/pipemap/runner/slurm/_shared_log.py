"""``failures.json`` written by many array tasks at once: changes are merged under a file lock.

The engine's :class:`~pipemap.runner.engine._failure_log.FailureLog` rewrites the whole record
from what it loaded when the run started; concurrent array tasks would overwrite each other's
entries. :class:`SharedFailureLog` keeps its own changes (elements forgotten, elements failed)
and applies them to the record on disk under an exclusive ``flock``.

>>> import json, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> a, b = SharedFailureLog(folder), SharedFailureLog(folder)
>>> a.record(("y",), [1]); b.record(("y",), [7]); a.flush(); b.flush()
>>> json.loads((folder / "failures.json").read_text())["outputs"]
{'y': [1, 7]}
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterable
from pathlib import Path

from pipemap.runner.engine._failure_log import FailureLog

LOCK_NAME = "slurm/failures.lock"  # inside the run folder


class SharedFailureLog(FailureLog):
    """A failure log whose :meth:`flush` merges this process's changes into the file on disk."""

    def __init__(self, folder: Path | None) -> None:
        super().__init__(folder)
        self._forget: dict[str, set[int]] = {}
        self._add: dict[str, set[int]] = {}

    def begin(self, names: Iterable[str], todo: Iterable[int]) -> None:
        names = list(names)
        indices = {int(i) for i in todo}
        for name in names:
            self._forget.setdefault(name, set()).update(indices)
            self._add.get(name, set()).difference_update(indices)
        if indices:
            self._dirty = True
        super().begin(names, indices)

    def record(self, names: Iterable[str], linear: Iterable[int]) -> None:
        names, items = list(names), [int(i) for i in linear]
        for name in names:
            self._add.setdefault(name, set()).update(items)
        super().record(names, items)

    def flush(self) -> None:
        if self.folder is None or not self._dirty:
            return
        path = self.folder / LOCK_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                fresh = FailureLog(self.folder)
                for name, gone in self._forget.items():
                    fresh.failed[name] = fresh.failed.get(name, set()) - gone
                for name, new in self._add.items():
                    fresh.failed.setdefault(name, set()).update(new)
                fresh._dirty = True
                fresh.flush()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        self._forget.clear()
        self._add.clear()
        self._dirty = False

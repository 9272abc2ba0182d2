"""``failures.json``: which elements of a ``error_handling="continue"`` run failed.

Failed elements are stored as pickled ``ErrorSnapshot`` objects; this small JSON side record
lets ``pipemap status`` count failures without unpickling anything. Format (version 1):
``{"version": 1, "outputs": {output name: [linear indices]}}``, replaced atomically.

>>> import tempfile, json, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> log = FailureLog(folder)
>>> log.begin(("y",), range(5)); log.record(("y",), [3]); log.flush()
>>> json.loads((folder / "failures.json").read_text())["outputs"]
{'y': [3]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pipemap.storage import FAILURES_FILE, atomic_write_bytes

__all__ = ["FAILURES_FILE", "FailureLog"]


class FailureLog:
    """Failed linear indices per output, merged with the record of earlier (resumed) runs.

    >>> log = FailureLog(None); log.record(("a", "b"), [1]); sorted(log.failed["b"])
    [1]
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.failed: dict[str, set[int]] = {}
        self._dirty = False
        if folder is not None:
            self._load(folder / FAILURES_FILE)

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
            self.failed = {str(k): {int(i) for i in v} for k, v in data["outputs"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.failed = {}

    def begin(self, names: Iterable[str], todo: Iterable[int]) -> None:
        """Elements about to be (re)computed forget their earlier failures."""
        indices = {int(i) for i in todo} if not isinstance(todo, range) else None
        for name in names:
            old = self.failed.get(name)
            if not old:
                continue
            if indices is None:
                kept = {i for i in old if i not in todo}
            else:
                kept = old - indices
            if kept != old:
                self.failed[name] = kept
                self._dirty = True

    def record(self, names: Iterable[str], linear: Iterable[int]) -> None:
        """Mark ``linear`` failed in every output in ``names`` (a snapshot goes to all of them)."""
        items = [int(i) for i in linear]
        if not items:
            return
        for name in names:
            self.failed.setdefault(name, set()).update(items)
        self._dirty = True

    def flush(self) -> None:
        """Write ``failures.json`` atomically if anything changed."""
        if self.folder is None or not self._dirty:
            return
        data = {"version": 1, "outputs": {k: sorted(v) for k, v in sorted(self.failed.items()) if v}}
        atomic_write_bytes(self.folder / FAILURES_FILE, json.dumps(data).encode())
        self._dirty = False

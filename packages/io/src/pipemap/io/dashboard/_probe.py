"""Failures of a running function, before ``failures.json`` lists them.

A continue-mode run rewrites ``failures.json`` when a function finishes, so during a long sweep
its failed elements are stored (as error records) but not listed yet; folders written by pipefunc
(or by a run killed before its first function ended) have no ``failures.json`` at all. While a
run holds the folder, or when the folder has no ``failures.json``, the elements each refresh
newly sees are queued and read, at most :data:`PROBE_LIMIT`
per output and refresh (the rest at the next ones); error records among them count as failed
(or skipped). Only stored values are read, as by the loaders; the records' functions and
exceptions stay pickled.

>>> import numpy as np, pipemap.io as pio
>>> from pipemap.io._folder import RunFolder
>>> probe = Probe()
>>> probe.queue(np.arange(3))
>>> probe.run(RunFolder.open(pio.example_run_folder()).store("y"))
False
>>> probe.failed, probe.pending
(set(), 0)
"""

from __future__ import annotations

import numpy as np
from pipemap.storage import StorageBase

from .._read import is_error

__all__ = ["PROBE_LIMIT", "Probe"]

#: elements read per output and refresh
PROBE_LIMIT = 5000


class Probe:
    """The queue of elements to read for one output, and the failures found so far."""

    def __init__(self) -> None:
        self._queue: list[np.ndarray] = []
        self.failed: set[int] = set()
        self.propagated: set[int] = set()
        self.damaged = ""

    @property
    def pending(self) -> int:
        """Elements queued and not read yet."""
        return sum(int(part.size) for part in self._queue)

    def queue(self, indices: np.ndarray) -> None:
        """Read ``indices`` at the next runs."""
        if indices.size:
            self._queue.append(np.asarray(indices, dtype=np.int64))

    def run(self, store: StorageBase) -> bool:
        """Read up to ``PROBE_LIMIT`` queued elements; True when failures were found."""
        if not self._queue:
            return False
        todo = np.concatenate(self._queue)
        batch, rest = np.sort(todo[:PROBE_LIMIT]), todo[PROBE_LIMIT:]
        self._queue = [rest] if rest.size else []
        try:
            values = store.get_many(batch)
        except Exception as exc:  # noqa: BLE001 - shown as damaged, never fatal
            self.damaged = f"cannot read stored elements to find failures ({type(exc).__name__}: {exc})"
            return False
        found = False
        for linear, value in zip(batch.tolist(), values):
            if is_error(value):
                self.failed.add(linear)
                if hasattr(value, "attempted_kwargs"):
                    self.propagated.add(linear)
                found = True
        return found

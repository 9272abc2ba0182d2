"""The run's side of the attempts record (``pipemap.storage.read_attempts``): elements a
resumed run recomputes forget their earlier records, so the record describes the values stored.

>>> import tempfile
>>> from pipemap.storage import AttemptRecord, read_attempts, write_attempts
>>> folder = tempfile.mkdtemp()
>>> write_attempts(folder, ("y",), {1: AttemptRecord(2, "OSError", "x", None, "h", 1, 0.1)})
>>> forget_attempts(folder, ("y",), range(0, 5)); read_attempts(folder, "y")
{}
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from pipemap.storage import clear_attempts, recorded_indices

from pipemap.runner.worker._chunk import Linear

__all__ = ["forget_attempts"]


def forget_attempts(run_folder: str | Path, output_names: Iterable[str], todo: Linear) -> None:
    """Clear the records of the elements in ``todo`` (only a listing when nothing was recorded)."""
    for name in output_names:
        recorded = recorded_indices(run_folder, name)
        if not recorded:
            continue
        ids = np.fromiter(recorded, dtype=np.int64, count=len(recorded))
        if isinstance(todo, range):
            hit = ids[(ids >= todo.start) & (ids < todo.stop)]
        else:
            hit = ids[np.isin(ids, np.asarray(todo, dtype=np.int64))]
        if len(hit):
            clear_attempts(run_folder, (name,), hit.tolist())

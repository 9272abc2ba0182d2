"""The planned elements of a function's current job, and index-set intersection.

>>> intersect(range(0, 10), range(5, 20)), intersect(range(0, 10), [2, 30])
(range(5, 10), range(2, 3))
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from pipemap.runner.slurm._layout import SlurmFolder
from pipemap.runner.slurm._plan import compact, read_todo
from pipemap.runner.worker._chunk import Linear


def planned_todo(folder: SlurmFolder, key: str) -> tuple[Linear | None, dict[str, Any]]:
    """The linear indices the function's current job covers (None: all missing) and its plan record."""
    data = json.loads(folder.plan(key).read_text())
    return read_todo(folder, data), data


def intersect(todo: Linear, mine: Linear | list[int]) -> Linear:
    """The elements in both (a ``range`` when contiguous)."""
    if isinstance(todo, range) and isinstance(mine, range):
        lo, hi = max(todo.start, mine.start), min(todo.stop, mine.stop)
        return range(lo, max(lo, hi))
    return compact(np.intersect1d(np.asarray(todo, dtype=np.int64), np.asarray(mine, dtype=np.int64)), 0)

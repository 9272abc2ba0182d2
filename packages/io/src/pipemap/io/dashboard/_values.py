"""Numeric values of a mapped output, read on demand and cached (elements never change once stored).

Only elements that are stored, not failed and not read before are read, at most
:data:`READ_LIMIT` per request (the next request reads more). Non-numeric values become NaN.

>>> import pipemap.io as pio
>>> from pipemap.io._folder import RunFolder
>>> view = RunFolder.open(pio.example_run_folder())
>>> cache = ValueCache(3)
>>> cache.read(view.store("y"), np.arange(3), np.ones(3, bool)).tolist()
[2.0, 4.0, 6.0]
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from pipemap.storage import StorageBase

__all__ = ["READ_LIMIT", "ValueCache"]

#: at most this many elements are read per request
READ_LIMIT = 200_000


def _number(value: Any) -> float:
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and np.issubdtype(value.dtype, np.number):
        return float(value)
    return float("nan")


class ValueCache:
    """Float values of one output's elements (NaN: not read, missing, failed or not a number)."""

    def __init__(self, size: int) -> None:
        self.values = np.full(size, np.nan)
        self.read_mask = np.zeros(size, dtype=bool)
        self.non_numeric = 0
        self.pending = 0

    def read(self, store: StorageBase, wanted: np.ndarray, readable: np.ndarray) -> np.ndarray:
        """Read the ``wanted`` linear indices that are ``readable`` (a mask over all elements:
        stored and not failed) and not read yet; return the cached values of ``wanted``."""
        todo = wanted[readable[wanted] & ~self.read_mask[wanted]]
        self.pending = max(0, todo.size - READ_LIMIT)
        todo = np.sort(todo[:READ_LIMIT])
        if todo.size:
            try:
                got = store.get_many(todo)
            except Exception:  # noqa: BLE001 - a damaged element reads as no value
                got = [None] * todo.size
            numbers_ = np.fromiter((_number(v) for v in got), dtype=float, count=todo.size)
            self.non_numeric += int(np.isnan(numbers_).sum())
            self.values[todo] = numbers_
            self.read_mask[todo] = True
        return self.values[wanted]

"""`SharedMemoryDictArray`: a `DictArray` on a ``multiprocessing.Manager`` dict.

Pickling the array sends only the manager proxy, so worker processes of a process pool read and
write the same dict (``dump_in_subprocess=True``). Bulk calls are one round trip each.

>>> from pipemap.storage import SharedMemoryDictArray
>>> arr = SharedMemoryDictArray(None, (2,))
>>> arr.dump_many([0, 1], ["a", "b"]); arr.to_array().tolist()
['a', 'b']
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from multiprocessing.managers import DictProxy, SyncManager
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import MISSING
from ._dict_array import DictArray
from ._shapes import ShapeTuple

__all__ = ["SharedMemoryDictArray"]

_BULK_THRESHOLD = 8


class SharedMemoryDictArray(DictArray):
    """Array interface to a shared-memory (manager) dict (``storage_id="shared_memory_dict"``).

    Workers write into it directly; ``persist()`` writes it to ``folder`` like :class:`DictArray`.

    Parameters
    ----------
    folder : str or Path or None
        The output's folder (in a run: ``<run_folder>/outputs/<name>``); None: nothing is persisted.
    shape : tuple
        The external shape: one size per external axis, ``"?"`` where not known yet.
    internal_shape : tuple, optional
        The sizes of the internal axes every element spans (default ``()``: none).
    shape_mask : sequence of bool, optional
        Which axes of the full shape are external (True) or internal (False); required with an
        ``internal_shape``, default all True.
    mapping : DictProxy, optional
        A ``multiprocessing.Manager().dict()`` to hold the elements (default: a new one).

    Examples
    --------
    >>> arr = SharedMemoryDictArray(None, (1,)); arr.dump_in_subprocess
    True
    """

    storage_id = "shared_memory_dict"
    requires_serialization = True
    _dict: DictProxy[tuple[int, ...], Any]

    def __init__(
        self,
        folder: str | Path | None,
        shape: ShapeTuple,
        internal_shape: ShapeTuple | None = None,
        shape_mask: Sequence[bool] | None = None,
        *,
        mapping: DictProxy[tuple[int, ...], Any] | None = None,
    ) -> None:
        self._manager: SyncManager | None = None
        if mapping is None:
            self._manager = multiprocessing.Manager()
            mapping = self._manager.dict()
        super().__init__(folder, shape, internal_shape, shape_mask, mapping=mapping)

    @property
    def dump_in_subprocess(self) -> bool:
        """True: the dict lives in a manager process reachable from workers."""
        return True

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_manager"] = None  # the manager itself is not picklable; the proxy is
        return state

    def _get_many(self, indices: np.ndarray) -> list[Any]:
        if len(indices) <= _BULK_THRESHOLD:
            return super()._get_many(indices)
        snapshot = self._dict.copy()  # one round trip
        get = snapshot.get
        return [get(k, MISSING) for k in self._keys(indices)]

    def _put_many(self, indices: np.ndarray, values: list[Any]) -> None:
        self._dict.update(dict(zip(self._keys(indices), values)))

"""zarr v3 arrays held in memory: ``zarr_memory`` (this process) and ``zarr_shared_memory``
(a ``multiprocessing.Manager`` dict that workers write into). Both persist to ``folder`` in the
layout of ``zarr_file_array`` (``packages/storage/FORMAT.md``).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zarr.abc.store import Store
from zarr.storage import LocalStore, MemoryStore

from ._atomic import ensure_own_folder
from ._shapes import ShapeTuple
from ._zarr import ZarrFileArray, copy_store

__all__ = ["ZarrMemoryArray", "ZarrSharedMemoryArray"]


class ZarrMemoryArray(ZarrFileArray):
    """A zarr array in a ``MemoryStore`` (``storage_id="zarr_memory"``).

    Loads a persisted copy from ``folder`` on construction; ``persist()`` copies the store there.

    Parameters
    ----------
    folder : str or Path or None
        The output's folder (in a run: ``<run_folder>/outputs/<name>``); None: nothing is persisted.
    shape : tuple
        The external shape: one size per external axis, ``"?"`` where not known yet (all sizes must be known).
    internal_shape : tuple, optional
        The sizes of the internal axes every element spans (default ``()``: none).
    shape_mask : sequence of bool, optional
        Which axes of the full shape are external (True) or internal (False); required with an
        ``internal_shape``, default all True.
    store : zarr Store, optional
        The in-memory store (default: a new ``MemoryStore``).
    object_codec : optional
        ``encode``/``decode`` of one object (default: cloudpickle).

    Examples
    --------
    >>> arr = ZarrMemoryArray(None, (2,)); arr.dump((0,), 1); arr.to_array().tolist()
    [1, None]
    """

    storage_id = "zarr_memory"
    requires_serialization = False
    _read_only_kwarg = False  # in memory: read the persisted folder with ZarrFileArray.open_read_only

    def __init__(
        self,
        folder: str | Path | None,
        shape: ShapeTuple,
        internal_shape: ShapeTuple | None = None,
        shape_mask: Sequence[bool] | None = None,
        *,
        store: Store | None = None,
        object_codec: Any = None,
    ) -> None:
        super().__init__(folder, shape, internal_shape, shape_mask, store=store if store is not None else self._new_store(), object_codec=object_codec)

    def _new_store(self) -> Store:
        return MemoryStore()

    def _persistent_store(self) -> LocalStore | None:
        if self.folder is None:
            return None
        return LocalStore(str(Path(self.folder).absolute()))

    def _before_open(self) -> None:
        if self.folder is not None and (Path(self.folder) / "zarr.json").exists():
            copy_store(self._persistent_store(), self.store)  # type: ignore[arg-type]

    @property
    def supports_persist(self) -> bool:
        """True when a ``folder`` is set."""
        return self.folder is not None

    def persist(self) -> None:
        """Copy the in-memory store to ``folder`` (each key written atomically)."""
        target = self._persistent_store()
        if target is None:
            return
        self.refresh_mask()
        ensure_own_folder(self.folder)  # type: ignore[arg-type]  # never re-creates a deleted run folder
        copy_store(self.store, target)

    @property
    def dump_in_subprocess(self) -> bool:
        """False: the store lives in the main process's memory."""
        return False


class ZarrSharedMemoryArray(ZarrMemoryArray):
    """A zarr array over a ``multiprocessing.Manager`` dict (``storage_id="zarr_shared_memory"``).

    Workers write into it directly; ``persist()`` copies it to ``folder``.

    Parameters
    ----------
    folder : str or Path or None
        The output's folder (in a run: ``<run_folder>/outputs/<name>``); None: nothing is persisted.
    shape : tuple
        The external shape: one size per external axis, ``"?"`` where not known yet (all sizes must be known).
    internal_shape : tuple, optional
        The sizes of the internal axes every element spans (default ``()``: none).
    shape_mask : sequence of bool, optional
        Which axes of the full shape are external (True) or internal (False); required with an
        ``internal_shape``, default all True.
    store : zarr Store, optional
        The store (default: one over a new manager dict).
    object_codec : optional
        ``encode``/``decode`` of one object (default: cloudpickle).

    Examples
    --------
    >>> arr = ZarrSharedMemoryArray(None, (2,)); arr.dump_in_subprocess
    True
    """

    storage_id = "zarr_shared_memory"
    requires_serialization = True

    def _new_store(self) -> Store:
        self._manager = multiprocessing.Manager()
        return MemoryStore(store_dict=self._manager.dict())

    @property
    def dump_in_subprocess(self) -> bool:
        """True: the store's dict lives in a manager process."""
        return True


"""What the scheduler does with a mapped function's finished elements: merged shapes, the
elements a resume retries, where values land in the flat result buffers, the lazily loaded
results of a resumed function, and the events of failed elements; and ``_ABSENT``, the marker of
an argument that has no value (the function's own default applies). The job of one mapped
function (``MappedJob``) is in ``_run_context``.

>>> _merge((2,), (3,), (True, False)), _placement(range(4, 8)), _mask_of(range(1, 3), 4).tolist()
((2, 3), slice(4, 8, None), [False, True, True, False])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from pipemap.runner.worker._errors import error_types
from pipemap.runner.engine._events import ElementFailed
from pipemap.runner.engine._store import output_array

if TYPE_CHECKING:
    from pipemap.storage import StorageBase

    from pipemap.runner.worker._chunk import ChunkResult, Linear
    from pipemap.runner.engine._events import EventBus

__all__ = [
    "_ABSENT", "_emit_failures", "_loader", "_mask_of", "_merge", "_n_retried", "_placement", "_without_errors",
]


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def _merge(ext: tuple, internal: tuple, mask: tuple[bool, ...]) -> tuple:
    e, i = iter(ext), iter(internal)
    return tuple(next(e) if m else next(i) for m in mask)


def _without_errors(storage: StorageBase, done: np.ndarray) -> np.ndarray:
    """``retry_failed`` resume: stored elements holding (propagated) error snapshots count as missing.

    Every stored element is read once (run setup, not per-element work of the run); the snapshot
    stays in storage until its new value replaces it (an interrupted retry keeps it).
    """
    types = error_types()
    stored = np.flatnonzero(done)
    if not types or not len(stored):
        return done
    values = storage.get_many(stored)
    bad = [k for k, v in zip(stored.tolist(), values) if isinstance(v, types)]
    if not bad:
        return done
    done = done.copy()
    done[bad] = False
    return done


def _n_retried(before: list[np.ndarray], after: list[np.ndarray], selected: Linear) -> int:
    """How many of the ``selected`` elements :func:`_without_errors` turned from done to missing."""
    was = np.logical_and.reduce(before) if len(before) > 1 else before[0]
    now = np.logical_and.reduce(after) if len(after) > 1 else after[0]
    changed = was & ~now
    if not isinstance(selected, range) or len(selected) != len(changed):
        changed = changed & _mask_of(selected, len(changed))
    return int(changed.sum())


def _loader(
    storage: StorageBase,
    computed: tuple[np.ndarray, np.ndarray] | None,
    internal: tuple[int, ...] | None,
    done: np.ndarray | None,
) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        return output_array(storage, computed, internal, done)

    return load


def _emit_failures(events: EventBus, name: str, result: ChunkResult) -> None:
    """One ``ElementFailed`` per failed element (index and snapshot when the values came back)."""
    types = error_types()
    if result.values is None or not types:
        for _ in range(result.n_failed):
            events.emit(ElementFailed(name, None, None))
        return
    for k, value in enumerate(result.values[0]):
        if isinstance(value, types):
            events.emit(ElementFailed(name, int(result.linear[k]), value))


def _mask_of(indices: Linear, size: int) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[np.asarray(indices, dtype=np.int64)] = True
    return mask


def _placement(linear: Linear) -> slice | np.ndarray:
    if isinstance(linear, range) and linear.step == 1:
        return slice(linear.start, linear.stop)
    return np.asarray(linear, dtype=np.int64)

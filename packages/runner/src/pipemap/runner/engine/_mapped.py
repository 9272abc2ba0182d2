"""A mapped function's job between ``_Runner.prepare_mapped`` and ``_Runner.finish_mapped``,
and the small helpers that turn its chunks into stored outputs and results.

>>> _concat_linear([range(0, 3), range(3, 5)])
range(0, 5)
>>> _mask_of([1, 3], 4)
array([False,  True, False,  True])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipemap.runner.engine._events import ElementFailed
from pipemap.runner.engine._store import output_array
from pipemap.runner.worker._chunk import ChunkResult, FunctionTask
from pipemap.runner.worker._errors import error_types


@dataclass
class MappedJob:
    """One mapped function between :meth:`_Runner.prepare_mapped` and :meth:`_Runner.finish_mapped`."""

    f: Any
    task: FunctionTask
    todo: Any
    executor: Any
    absorb: Callable[[ChunkResult], None]
    storages: tuple[Any, ...]
    first_shape: list[Any]
    flats: list[np.ndarray] | None
    filled: np.ndarray | None
    resumed: bool
    done_masks: list[np.ndarray] | None
    selected: Any
    kwargs: dict[str, Any]


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def _merge(ext: tuple, internal: tuple, mask: tuple[bool, ...]) -> tuple:
    e, i = iter(ext), iter(internal)
    return tuple(next(e) if m else next(i) for m in mask)


def _without_errors(storage: Any, done: np.ndarray) -> np.ndarray:
    """Continue mode on resume: elements holding error snapshots count as missing (retried)."""
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


def _loader(storage: Any, computed: Any, internal: Any, done: Any) -> Any:
    def load() -> np.ndarray:
        return output_array(storage, computed, internal, done)

    return load


def _emit_failures(events: Any, name: str, result: ChunkResult) -> None:
    """One ``ElementFailed`` per failed element (index and snapshot when the values came back)."""
    types = error_types()
    if result.values is None or not types:
        for _ in range(result.n_failed):
            events.emit(ElementFailed(name, None, None))
        return
    for k, value in enumerate(result.values[0]):
        if isinstance(value, types):
            events.emit(ElementFailed(name, int(result.linear[k]), value))


def _mask_of(indices: Any, size: int) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[np.asarray(indices, dtype=np.int64)] = True
    return mask


def _placement(linear: Any) -> Any:
    if isinstance(linear, range) and linear.step == 1:
        return slice(linear.start, linear.stop)
    return np.asarray(linear, dtype=np.int64)


def _concat_linear(parts: list[Any]) -> Any:
    if not parts:
        return range(0)
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, range) for p in parts) and all(parts[k].stop == parts[k + 1].start for k in range(len(parts) - 1)):
        return range(parts[0].start, parts[-1].stop)
    return np.concatenate([np.asarray(p, dtype=np.int64) for p in parts])

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

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pipemap.storage import AttemptRecord, clear_attempts, recorded_indices, write_attempts

from pipemap.runner.executors._dispatch import WorkerDiedError
from pipemap.runner.worker._chunk import ChunkResult, Linear
from pipemap.runner.worker._retry import host_name

if TYPE_CHECKING:
    from pipemap.storage import StorageBase

    from pipemap.runner.worker._chunk import FunctionTask

__all__ = ["forget_attempts", "lost_retrier", "unstored"]


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


def unstored(chunk: Linear, storages: tuple[StorageBase, ...], written_in_worker: bool) -> np.ndarray:
    """The elements of ``chunk`` that are not stored in every output (all of them when the
    parent writes the values: a lost chunk wrote nothing)."""
    idx = np.arange(chunk.start, chunk.stop, chunk.step) if isinstance(chunk, range) else np.asarray(chunk, dtype=np.int64)
    if not written_in_worker or not storages:
        return idx
    masks = [s.done_mask() for s in storages]
    done = np.logical_and.reduce(masks) if len(masks) > 1 else masks[0]
    return idx[~done[idx]]


def lost_retrier(
    task: FunctionTask,
    storages: tuple[StorageBase, ...],
    written_in_worker: bool,
    handle: Callable[[ChunkResult], None],
) -> Callable[[Linear, int, BaseException], Linear | None] | None:
    """``retry_lost(chunk, used, error)`` for the dispatcher: the chunk's unstored elements when
    the task's policy leaves them another attempt after ``used`` ones lost to a dead worker,
    else None (their attempts record says so). The elements the dead worker did store are read
    back and passed to ``handle`` as finished. None when the task has no policy covering a
    worker's death (``WorkerDiedError``)."""
    policy = task.retry
    if policy is None or not policy.retries(WorkerDiedError(task.func.__name__, "", [])):
        return None

    def retry_lost(chunk: Linear, used: int, error: BaseException) -> Linear | None:
        left = unstored(chunk, storages, written_in_worker)
        if len(left) < len(chunk):
            idx = np.arange(chunk.start, chunk.stop, chunk.step) if isinstance(chunk, range) else np.asarray(chunk)
            stored = idx[~np.isin(idx, left)]
            values = tuple(list(s.get_many(stored)) for s in storages) if task.return_values else None
            handle(ChunkResult(stored, len(stored), 0, values))
        if used < policy.attempts and policy.retries(error):
            return left
        if task.run_folder is not None and len(left):
            record = AttemptRecord(used, type(error).__name__, str(error), None, host_name(), 0, None)
            write_attempts(task.run_folder, task.func.output_names, dict.fromkeys(left.tolist(), record))
        return None

    return retry_lost


def record_raised(run_folder: str | Path | None, output_names: Iterable[str], exc: BaseException) -> None:
    """A raise-mode run that stops at an element whose attempts are used up records it."""
    records = getattr(exc, "_pipemap_attempts", None)
    if run_folder is not None and records:
        write_attempts(run_folder, output_names, records)

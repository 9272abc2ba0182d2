"""What crosses the executor boundary for one mapped function: a small handle to its task.

A :class:`TaskRef` pickles the :class:`~._chunk.FunctionTask` once (user modules by value, so
workers need not import them) and carries the bytes inline, or through a file in the run folder
when they exceed :data:`PAYLOAD_INLINE_LIMIT`; each worker process unpickles a task once and
keeps it for the following chunks.

>>> from pipemap.runner import PipeFunc
>>> from pipemap.runner.worker._chunk import FunctionTask
>>> f = PipeFunc(lambda x: x + 1, "y", mapspec="x[i] -> y[i]")
>>> ref = TaskRef(FunctionTask(f, (3,), {"x": [1, 2, 3]}, {}, None), None)
>>> execute_ref(ref, range(3)).values
([2, 3, 4],)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import cloudpickle

from pipemap.runner.worker._chunk import ChunkResult, FunctionTask, Linear, run_chunk
from pipemap.runner.worker._pickling import dumps_task, unpicklable_culprit, unpicklable_for_workers

#: payloads bigger than this go through a file that each worker process reads once
PAYLOAD_INLINE_LIMIT = 1 << 20
_WORKER_TASKS: dict[str, FunctionTask] = {}


class TaskRef:
    """A small, picklable handle to a :class:`FunctionTask` that workers unpickle once per process."""

    __slots__ = ("blob", "path", "token")

    def __init__(self, task: FunctionTask, folder: Path | None) -> None:
        try:
            data = dumps_task(task, [task.func.func])  # user modules by value: workers may not import them
        except Exception as exc:  # noqa: BLE001 - re-raised naming the input/element (found only now)
            pf = task.func
            culprit = unpicklable_culprit(pf.func, {**task.mapped, **task.const}, pf.__name__)
            raise unpicklable_for_workers(exc, culprit) from exc
        self.token = hashlib.blake2b(data, digest_size=16).hexdigest()
        self.blob: bytes | None = None
        self.path: str | None = None
        if len(data) <= PAYLOAD_INLINE_LIMIT:
            self.blob = data
            return
        base = folder / ".tasks" if folder is not None else Path(tempfile.gettempdir()) / "pipemap-tasks"
        base.mkdir(parents=True, exist_ok=True)
        path = base / f"{self.token}.cloudpickle"
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        self.path = str(path)

    def __getstate__(self) -> tuple:
        return (self.blob, self.path, self.token)

    def __setstate__(self, state: tuple) -> None:
        self.blob, self.path, self.token = state

    def discard(self) -> None:
        """Remove the once-per-worker payload file (if any) after the run."""
        if self.path is not None:
            Path(self.path).unlink(missing_ok=True)

    def load(self) -> FunctionTask:
        task = _WORKER_TASKS.get(self.token)
        if task is None:
            data = self.blob if self.blob is not None else Path(self.path).read_bytes()  # type: ignore[arg-type]
            task = cloudpickle.loads(data)
            if len(_WORKER_TASKS) > 16:
                _WORKER_TASKS.clear()
            _WORKER_TASKS[self.token] = task
        return task


def execute_ref(ref: TaskRef, linear: Linear, prior: int = 0) -> ChunkResult:
    """Worker entry point: run one chunk of the referenced task (``prior``: see ``run_chunk``)."""
    return run_chunk(ref.load(), linear, prior)

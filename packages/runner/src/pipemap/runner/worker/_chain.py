"""A fused chunk inside a worker: every function of an element-wise chain, each fed by the
previous one's fresh values through a :class:`ChunkColumn` (planned by ``engine._fusion``).

>>> import numpy as np
>>> col = ChunkColumn((10,), range(4, 8), ["e", "f", "g", "h"])
>>> col.get_many(np.array([5, 7]))
['f', 'h']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pipemap.mapspec import shape_strides as c_strides

from pipemap.runner.worker._chunk import ChunkResult, FunctionTask, Linear, run_chunk
from pipemap.runner.worker._task_ref import TaskRef

__all__ = ["ChainResult", "ChunkColumn", "Link", "execute_chain", "run_chain"]

#: (renamed parameter of the next function, position of the output among the previous function's)
Link = tuple[str, int]


class ChunkColumn:
    """The values a chunk just computed for an upstream output, read like that output's storage
    (``shape``, ``strides``, ``get_many``) but only at the chunk's own linear indices."""

    internal_shape: tuple[int, ...] = ()

    def __init__(self, shape: tuple[int, ...], linear: Linear, values: list[object]) -> None:
        self.shape = tuple(shape)
        self.strides = c_strides(self.shape)
        self.values = values
        self.start = linear.start if isinstance(linear, range) else None
        self.linear = None if isinstance(linear, range) else np.asarray(linear, dtype=np.int64)

    def get_many(self, lin: Linear) -> list[object]:
        values = self.values
        if self.start is not None:
            start = self.start
            return [values[i - start] for i in np.asarray(lin, dtype=np.int64).tolist()]
        pos = np.searchsorted(self.linear, np.asarray(lin, dtype=np.int64))  # type: ignore[arg-type]
        return [values[p] for p in pos.tolist()]


@dataclass
class ChainResult:
    """One fused chunk: a :class:`~._chunk.ChunkResult` per function of the chain."""

    results: tuple[ChunkResult, ...]

    @property
    def n_done(self) -> int:
        return self.results[0].n_done

    @property
    def elapsed(self) -> float:
        return sum(r.elapsed for r in self.results)


def _shallow(task: FunctionTask) -> FunctionTask:
    """A copy of ``task`` that shares its compiled call (``copy.copy`` would drop the cache)."""
    copy = object.__new__(FunctionTask)
    copy.__dict__.update(task.__dict__)
    return copy


def _with_column(task: FunctionTask, link: Link, linear: Linear, upstream: tuple[list[object], ...]) -> FunctionTask:
    """``task`` reading the linked input from the chunk's fresh values instead of storage."""
    name, position = link
    copy = _shallow(task)
    copy.mapped = {**task.mapped, name: ChunkColumn(task.external_shape, linear, upstream[position])}
    return copy


def run_chain(tasks: tuple[FunctionTask, ...], links: tuple[Link | None, ...], linear: Linear) -> ChainResult:
    """Run one chunk through every function of a chain, each fed by the previous one's values.

    An exception names the function it came from (``_pipemap_output``) for the parent.
    """
    results = []
    upstream: tuple[list[object], ...] | None = None
    last = len(tasks) - 1
    for k, (task, link) in enumerate(zip(tasks, links, strict=True)):
        if link is not None and upstream is not None:
            task = _with_column(task, link, linear, upstream)
        wanted = task.return_values or task.outputs is None
        if not wanted and k < last:  # the next function needs the values even if the parent does not
            task = _shallow(task)
            task.return_values = True
        try:
            result = run_chunk(task, linear)
        except BaseException as exc:
            exc._pipemap_output = task.func.output_name  # type: ignore[attr-defined]
            raise
        upstream = result.values
        if not wanted:
            result.values = None
        results.append(result)
    return ChainResult(tuple(results))


def execute_chain(refs: tuple[TaskRef, ...], links: tuple[Link | None, ...], linear: Linear) -> ChainResult:
    """Worker entry point of a fused chunk."""
    return run_chain(tuple(ref.load() for ref in refs), links, linear)

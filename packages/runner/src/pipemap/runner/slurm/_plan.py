"""Planning: which SLURM job each function becomes, how many array tasks, which jobs it waits for.

A mapped function whose missing elements are known becomes one array job of
``ceil(missing / per_task)`` tasks; task ``k`` takes positions ``[k * per, (k + 1) * per)`` of
the missing linear indices. A mapped function whose size is not known when the run is submitted
(a ``"?"`` shape resolved by an upstream job) becomes a one-task array that runs whatever is
missing when it starts. Non-mapped functions (and reductions) are single jobs. Functions with
nothing missing (a resumed run) get no job; their dependents do not wait for them.

>>> import numpy as np
>>> plan = JobPlan("double", "y", ("y",), "array", range(0, 1000), 250, ())
>>> plan.n_tasks, plan.task_range(3)
(4, (750, 1000))
>>> JobPlan("total", "s", ("s",), "single", None, 1, ("y",)).n_tasks
1
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipemap.runner.slurm._layout import SlurmFolder, function_key

if TYPE_CHECKING:
    from pipemap.runner.model._pipefunc import PipeFunc
    from pipemap.runner.model._pipeline import Pipeline

#: the todo of a function whose size is unknown at submission: "whatever is missing"
ALL = "all"


@dataclass
class JobPlan:
    """One function's job: ``todo`` (linear indices, None = all missing when it starts)."""

    function: str
    key: str
    outputs: tuple[str, ...]
    kind: str  # "array" | "single"
    todo: range | np.ndarray | None
    per_task: int
    depends_on: tuple[str, ...]  # keys of the upstream functions that have a job

    @property
    def n_elements(self) -> int | None:
        return None if self.todo is None else len(self.todo)

    @property
    def n_tasks(self) -> int:
        if self.kind == "single" or self.todo is None:
            return 1
        return max(1, math.ceil(len(self.todo) / self.per_task))

    def task_range(self, task: int) -> tuple[int, int]:
        """The positions in ``todo`` array task ``task`` takes."""
        n = len(self.todo) if self.todo is not None else 0
        return min(n, task * self.per_task), min(n, (task + 1) * self.per_task)

    def to_json(self, folder: SlurmFolder) -> dict[str, Any]:
        """The plan record the array tasks read (large index lists go to a ``.npy`` next to it)."""
        data: dict[str, Any] = {"function": self.function, "key": self.key, "kind": self.kind, "per_task": self.per_task}
        if self.todo is None:
            data["todo"] = ALL
        elif isinstance(self.todo, range):
            data["todo"] = [self.todo.start, self.todo.stop]
        else:
            np.save(folder.todo(self.key), np.asarray(self.todo, dtype=np.int64))
            data["todo"] = "npy"
        return data


def read_todo(folder: SlurmFolder, data: dict[str, Any]) -> range | np.ndarray | None:
    """The ``todo`` of a plan record written by :meth:`JobPlan.to_json`."""
    todo = data["todo"]
    if todo == ALL:
        return None
    if todo == "npy":
        return np.load(folder.todo(data["key"]))
    return range(int(todo[0]), int(todo[1]))


def compact(todo: np.ndarray, size: int) -> range | np.ndarray:
    """A contiguous index array as a ``range`` (cheap to record and to pass around).

    >>> compact(np.arange(3, 7), 10), compact(np.array([1, 4]), 10)
    (range(3, 7), array([1, 4]))
    """
    if len(todo) == 0:
        return range(0)
    if int(todo[-1]) - int(todo[0]) + 1 == len(todo):
        return range(int(todo[0]), int(todo[-1]) + 1)
    return todo


def upstream_keys(pipeline: Pipeline, f: PipeFunc, planned: dict[str, JobPlan]) -> tuple[str, ...]:
    """Keys of the planned jobs producing ``f``'s parameters (each once, in pipeline order)."""
    keys: list[str] = []
    for p in f.parameters:
        try:
            producer = pipeline.output_to_func[p]
        except KeyError:
            continue
        key = function_key(producer.output_names)
        if key in planned and key not in keys:
            keys.append(key)
    return tuple(keys)


def plan_function(
    f: PipeFunc, todo: range | np.ndarray | None, per_task: int, depends_on: tuple[str, ...]
) -> JobPlan:
    """The job of one function; ``todo`` as above (ignored for a single function)."""
    kind = "array" if f.mapspec is not None and f.requires_mapping else "single"
    return JobPlan(
        function=f.__name__,
        key=function_key(f.output_names),
        outputs=tuple(f.output_names),
        kind=kind,
        todo=todo if kind == "array" else None,
        per_task=per_task if kind == "array" else 1,
        depends_on=depends_on,
    )

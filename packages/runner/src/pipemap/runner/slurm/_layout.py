"""Where a SLURM run keeps its own files inside the run folder (``RUN/slurm/``).

``spec.cloudpickle``: the pipeline and the run options the array tasks need (the inputs stay in
the run folder's ``inputs/``, written by the run record); ``plan/<key>.json`` (+ ``.npy``): the
elements each function's submitted job covers; ``jobs.json``: the job ids per function (read by
``pipemap status``, format below); ``logs/``: one log file per array task.

``jobs.json`` (version 1)::

    {"version": 1, "submitted": 1733420000.0, "error_handling": "raise",
     "functions": [{"function": "double", "key": "y", "outputs": ["y"], "kind": "array",
                    "job_id": "17", "seal_job_id": null, "n_tasks": 4, "n_elements": 100,
                    "log": "/abs/RUN/slurm/logs/y-%A_%a.log"}]}

>>> from pathlib import Path
>>> SlurmFolder(Path("/r")).jobs
PosixPath('/r/slurm/jobs.json')
>>> function_key(("a", "b"))
'a,b'
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipemap.storage import atomic_write_bytes

JOBS_VERSION = 1


def function_key(output_names: tuple[str, ...] | list[str]) -> str:
    """The name a function's files and command-line argument use: its output names joined by ``,``."""
    return ",".join(output_names)


@dataclass(frozen=True)
class SlurmFolder:
    """The paths of ``RUN/slurm/``."""

    run_folder: Path

    @property
    def root(self) -> Path:
        return self.run_folder / "slurm"

    @property
    def spec(self) -> Path:
        return self.root / "spec.cloudpickle"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def plan(self, key: str) -> Path:
        return self.root / "plan" / f"{key}.json"

    def todo(self, key: str) -> Path:
        return self.root / "plan" / f"{key}.npy"

    def script(self, key: str, kind: str = "run") -> Path:
        return self.root / "scripts" / f"{key}.{kind}.sh"

    def make(self) -> None:
        for sub in (self.root, self.logs, self.root / "plan", self.root / "scripts"):
            sub.mkdir(parents=True, exist_ok=True)

    def write_json(self, path: Path, data: Any) -> None:
        atomic_write_bytes(path, json.dumps(data, indent=1).encode())

    def raised_marker(self, key: str, job: str) -> Path:
        """Written by an array task whose function raised (raise mode): not a lost task, never resubmitted."""
        return self.root / "raised" / f"{key}-{job}"

    def update_jobs(self, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``change`` to ``jobs.json`` under an exclusive lock (seal jobs of several functions
        may resubmit at the same time); the new content."""
        with open(self.root / "jobs.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self.read_jobs() or {"version": JOBS_VERSION, "functions": []}
                change(data)
                self.write_json(self.jobs, data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return data

    def read_jobs(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.jobs.read_text()))
        except FileNotFoundError:
            return None

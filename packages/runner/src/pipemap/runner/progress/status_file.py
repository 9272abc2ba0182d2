"""``<run_folder>/pipefunc_status.json``: the headless counters, rewritten at most once a second.

>>> import json, tempfile, pathlib
>>> from pipemap.runner.engine._events import HeadlessTracker, RunStarted, ChunkDone, RunFinished
>>> folder = pathlib.Path(tempfile.mkdtemp()); t = HeadlessTracker(); w = StatusFileWriter(t, folder)
>>> for e in [RunStarted({"y": 2}), ChunkDone("y", 2, 0, 0.0), RunFinished()]:
...     t(e); w(e)
>>> json.loads((folder / "pipefunc_status.json").read_text())["progress"]["y"]["completed"]
2
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pipemap.runner.engine._events import HeadlessTracker, RunFinished
from .base import ThrottledDisplay

STATUS_FILE = "pipefunc_status.json"


class StatusFileWriter(ThrottledDisplay):
    """Writes the tracker's counters to the run folder (atomically: temp file, then rename)."""

    def __init__(self, tracker: HeadlessTracker, run_folder: str | Path, max_fps: float = 1.0) -> None:
        super().__init__(tracker, max_fps)
        self.path = Path(run_folder) / STATUS_FILE
        self.state = "running"

    def start(self, event: object) -> None:
        self._draw()

    def draw(self, final: bool = False) -> None:
        data = {"state": self.state, "updated": time.time(), "progress": self.tracker.as_dict()}
        tmp = self.path.with_name(f".{STATUS_FILE}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(data))
            tmp.replace(self.path)
        except OSError:  # a status file must never break a run
            pass

    def stop(self, event: RunFinished) -> None:
        self.state = "done" if event.error is None else f"failed: {type(event.error).__name__}"
        self.draw(final=True)

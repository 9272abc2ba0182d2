"""What an array task rebuilds from the run folder: the pipeline, the run record, the storages,
and a sequential scheduler (``engine._scheduler._Runner``) over them, with no lock (many tasks
write the same folder, each its own elements) and no progress display.

>>> from pathlib import Path
>>> load_spec(Path("/nonexistent"))
Traceback (most recent call last):
...
FileNotFoundError: /nonexistent/slurm/spec.cloudpickle: not a run folder submitted to SLURM (no pickled pipeline).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cloudpickle

from pipemap.runner.engine._events import EventBus
from pipemap.runner.engine._prepare import Prepared
from pipemap.runner.engine._results import ResultDict
from pipemap.runner.engine._run_info import RunInfo
from pipemap.runner.engine._scheduler import _Runner
from pipemap.runner.model._pipefunc import PipeFunc
from pipemap.runner.slurm._layout import SlurmFolder, function_key
from pipemap.runner.slurm._shared_log import SharedFailureLog
from pipemap.runner.worker._modes import ErrorHandling


def load_spec(run_folder: Path) -> dict[str, Any]:
    """The pickled pipeline and run options written at submission."""
    path = SlurmFolder(run_folder).spec
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        msg = f"{path}: not a run folder submitted to SLURM (no pickled pipeline)."
        raise FileNotFoundError(msg) from None
    return dict(cloudpickle.loads(data))


def make_runner(run_folder: Path, spec: dict[str, Any]) -> _Runner:
    """A sequential scheduler over the run folder's storages (shapes as recorded on disk)."""
    info = RunInfo.load(run_folder)
    assert isinstance(info, RunInfo)
    pipeline = spec["pipeline"]
    error_handling = ErrorHandling(spec["error_handling"])
    prep = Prepared(
        pipeline=pipeline,
        run_info=info,
        store=info.init_store(),
        outputs=ResultDict(_inputs_=info.inputs, _pipeline_=pipeline),
        parallel=False,
        executor=None,
        chunksizes=None,
        events=EventBus([]),
        tracker=None,
        fixed_indices=None,
        return_results=False,
        error_handling=error_handling,
        persist_memory=False,
        lock=None,
        retries=spec.get("retries"),
        retry_failed=bool(spec.get("retry_failed", False)),
    )
    runner = _Runner(prep)
    if runner.failures is not None:
        runner.failures = SharedFailureLog(Path(info.run_folder or run_folder))
    return runner


def function_of(runner: _Runner, key: str) -> PipeFunc:
    """The pipeline's function whose outputs are ``key`` (``a,b`` for two outputs)."""
    for f in runner.pipeline.functions:
        if function_key(f.output_names) == key:
            return f
    known = ", ".join(function_key(f.output_names) for f in runner.pipeline.functions)
    msg = f"No function with outputs `{key}` in the pipeline of this run folder (it has: {known})."
    raise KeyError(msg)

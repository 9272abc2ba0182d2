"""The map engine: `run_map` / `run_map_async` / `AsyncMap`, option validation and preparation
(``_prepare``), planning and scheduling (``_walk``, ``_scheduler``, ``_eager``, ``_fusion``,
``_single``), resume (``_run_info``, ``_resume``, ``_resume_records``, ``_resume_checks``, ``_resume_plan``), results (``_results``, ``_store``), run
shapes, the failure log, the run's summary (``_summary``) and progress events. It drives the model, the executors and the worker
code; see ``docs/architecture.md`` for the path of one element.
"""

from pipemap.runner.engine._results import Result, ResultDict
from pipemap.runner.engine._run import run_map
from pipemap.runner.engine._run_async import AsyncMap, run_map_async
from pipemap.runner.engine._resume_plan import ResumeRecomputeWarning, ResumeUnverifiedWarning
from pipemap.runner.engine._run_info import RunInfo
from pipemap.runner.engine._reuse import ReuseWarning
from pipemap.runner.engine._summary import FailedElementsWarning, NothingToRetryWarning, RunSummary

__all__ = [
    "AsyncMap", "FailedElementsWarning", "NothingToRetryWarning", "Result", "ResultDict", "ResumeRecomputeWarning",
    "ResumeUnverifiedWarning", "ReuseWarning", "RunInfo", "RunSummary",
    "run_map", "run_map_async",
]

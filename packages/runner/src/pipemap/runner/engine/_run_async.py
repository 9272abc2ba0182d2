"""``run_map_async`` and its handle `AsyncMap`: the asynchronous entry over the same async core as
``run_map`` (``_run.py``).

>>> import asyncio
>>> from pipemap.runner import Pipeline, PipeFunc, SynchronousExecutor
>>> p = Pipeline([PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")])
>>> async def main():
...     return (await run_map_async(p, {"x": [1, 2]}, executor=SynchronousExecutor()).task)["y"].output.tolist()
>>> asyncio.run(main())
[2, 4]
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from pipemap.runner.engine._failure_notes import (
    clear_raised,
    recording_raised,
)
from pipemap.runner.engine._options import RunOptions
from pipemap.runner.engine._prepare import Prepared, prepare_run
from pipemap.runner.engine._results import ResultDict
from pipemap.runner.engine._walk import run_prepared
from pipemap.runner.executors._main_guard import refuse_in_bootstrapping_child
from pipemap.runner.progress import StatusFileWriter
from pipemap.runner.progress.select import in_jupyter
from pipemap.runner.worker._modes import SchedulingStrategy

if TYPE_CHECKING:
    from pipemap.runner.model._retry_policy import RetryPolicy
    from pipemap.runner.progress.widgets_display import WidgetsDisplay

from pipemap.runner.engine._run import _drive, _readable_errors, _release_after

_T = TypeVar("_T")


class AsyncMap:
    """Handle of an asynchronous run (docs/behaviour.md §4.10): ``task``, ``start()``, ``result()``, ``status()``.

    Returned by ``run_map_async`` and ``Pipeline.map_async``; not built by hand.

    Parameters
    ----------
    prep : Prepared
        The prepared run (options, run info, storages, executors).
    scheduling_strategy : SchedulingStrategy, default GENERATION
        How functions are scheduled (see ``run_map``).

    Examples
    --------
    >>> from pipemap.runner import Pipeline, PipeFunc
    >>> p = Pipeline([PipeFunc(lambda x: x + 1, "y", mapspec="x[i] -> y[i]")])
    >>> runner = run_map_async(p, {"x": [1, 2]}, executor=None, start=False)
    >>> runner.result()["y"].output.tolist()
    [2, 3]
    """

    def __init__(self, prep: Prepared, scheduling_strategy: SchedulingStrategy = SchedulingStrategy.GENERATION) -> None:
        self.prep = prep
        self.run_info = prep.run_info
        self.progress = prep.tracker
        self.multi_run_manager = None
        self.status_widget: WidgetsDisplay | None = None
        self.heartbeat = None
        self._strategy = scheduling_strategy
        self._task: asyncio.Task | None = None
        self._result: ResultDict | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: pipefunc's helpers (``pipefunc.helpers.gather_maps``/``launch_maps``) read and clear this
        #: flag: show the widgets on ``start()`` (pipefunc's ``AsyncMap._display_widgets``)
        self._display_widgets = False

    @property
    def _prepared(self) -> Prepared:
        """pipefunc's name for the prepared run (its helpers read ``_prepared.executor``)."""
        return self.prep

    def _coro(self) -> Coroutine[Any, Any, ResultDict]:
        run = recording_raised(run_prepared(self.prep, scheduling_strategy=self._strategy), self.prep)
        return _readable_errors(_release_after(run, self.prep), self.prep)

    def start(self) -> AsyncMap:
        """Schedule the run on the running event loop."""
        if self._task is not None:
            warnings.warn("Task is already running.", UserWarning, stacklevel=2)
            return self
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            warnings.warn(
                "No event loop is running; call `runner.result()` to run synchronously "
                "or start the runner from inside an event loop.",
                UserWarning,
                stacklevel=2,
            )
            return self
        self._loop = loop
        self._task = loop.create_task(self._coro())
        self._task.add_done_callback(self._keep_result)
        if self._display_widgets:
            self.display()
        return self

    def _keep_result(self, task: asyncio.Task) -> None:
        """Keep the result of a finished task, so ``result()`` returns it even inside the loop."""
        if not task.cancelled() and task.exception() is None:
            self._result = task.result()

    @property
    def task(self) -> asyncio.Task:
        """The ``asyncio.Task`` producing the ``ResultDict``."""
        if self._task is None:
            msg = "The task has not been started."
            raise RuntimeError(msg)
        return self._task

    def result(self) -> ResultDict:
        """Block until the run finishes and return its results (cached)."""
        if self._result is not None:
            return self._result
        if self._task is not None and self._task.done():
            self._result = self._task.result()  # (raises the run's error; inside a loop too)
            return self._result
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            msg = "Cannot call `result()` while an event loop is running; `await runner.task` instead."
            raise RuntimeError(msg)
        if self._task is None:
            if self._display_widgets:
                self.display()
            self._result = _drive(self._coro(), may_suspend=True)
        else:
            loop = self._loop
            assert loop is not None
            future = asyncio.run_coroutine_threadsafe(_await(self._task), loop)
            self._result = future.result()
        return self._result

    def status(self) -> dict[str, Any]:
        """Progress counters per function (empty when progress is off)."""
        if self._task is None:
            state = "not started"
        elif self._task.cancelled():
            state = "cancelled"
        elif self._task.done():
            state = "failed" if self._task.exception() is not None else "done"
        else:
            state = "running"
        counters = self.progress.as_dict() if self.progress is not None else {}
        return {"state": state, "progress": counters}

    def cancel(self) -> bool:
        """Cancel the run: no new chunks are dispatched; chunks in flight finish and are stored on
        an executor you passed, and are stopped on pipemap's own pool (its workers are terminated,
        unless another run shares it). The run folder's lock is released once none of them runs;
        the folder stays resumable (``resume=True``). False when not running."""
        if self._task is None or self._task.done():
            return False
        return self._task.cancel()

    def display(self) -> None:
        """Show the progress widgets in Jupyter (when ``show_progress`` chose ipywidgets)."""
        if self.status_widget is not None:
            self.status_widget.display()


def _attach_async_displays(runner: AsyncMap, display_widgets: bool) -> None:
    """docs/behaviour.md §4.9/§4.10: the status file in the run folder; the widgets, shown on start."""
    prep = runner.prep
    if prep.tracker is None:
        return
    if prep.run_info.run_folder is not None:
        prep.events.listeners.append(StatusFileWriter(prep.tracker, prep.run_info.run_folder))
    for listener in prep.events.listeners:
        if type(listener).__name__ == "WidgetsDisplay":
            runner.status_widget = cast("WidgetsDisplay", listener)
            runner._display_widgets = display_widgets and in_jupyter()  # shown by start(), as pipefunc


async def _await(task: asyncio.Task[_T]) -> _T:
    return await task


def run_map_async(
    pipeline: Any,
    inputs: Any,
    run_folder: str | Path | None = None,
    internal_shapes: dict[str, Any] | None = None,
    *,
    output_names: Any = None,
    executor: Any = None,
    chunksizes: Any = None,
    storage: Any = None,
    persist_memory: bool = True,
    cleanup: bool | None = None,
    resume: bool = False,
    resume_validation: Literal["auto", "strict", "skip"] = "auto",
    retry_failed: bool = False,
    fixed_indices: dict[str, int | slice] | None = None,
    auto_subpipeline: bool = False,
    show_progress: bool | Literal["rich", "ipywidgets", "headless"] | None = None,
    return_results: bool = True,
    error_handling: Literal["raise", "continue"] = "raise",
    display_widgets: bool = True,
    start: bool = True,
    scheduling_strategy: Literal["generation", "eager"] = "generation",
    callbacks: list[Any] | None = None,
    retries: int | RetryPolicy | None = None,
    reuse_from: str | Path | list[str | Path] | None = None,
) -> AsyncMap:
    """Prepare a run and return an `AsyncMap` (started on the running loop if ``start``).

    The same run as ``run_map``, always parallel: ``await runner.task`` (in a running event loop)
    or ``runner.result()`` gives the ``ResultDict``; ``runner.status()`` and ``runner.cancel()``
    work while it runs.

    Parameters
    ----------
    pipeline : Pipeline
        The pipeline (a pipemap ``Pipeline``, or a ``pipefunc.Pipeline``, converted).
    inputs : dict or pydantic model
        The values of the pipeline's root arguments by name; nested dicts of scoped names
        (``{"scope": {"a": 1}}``) are flattened to ``"scope.a"``.
    run_folder : str or Path, optional
        Where every finished element is stored, crash-safely (None: in memory only). See the run
        folder format in ``packages/storage/FORMAT.md``.
    internal_shapes : dict, optional
        The sizes of internal axes by output name (an int or a tuple; ``"?"`` for unknown),
        overriding ``PipeFunc.internal_shape``.
    output_names : str or iterable of str, optional
        Compute only these outputs and what they need (a sub-pipeline).
    executor : Executor, dask Client or dict, optional
        Where chunks of elements run: any ``concurrent.futures.Executor``, a
        ``dask.distributed.Client``, a ``SynchronousExecutor``, or ``{output name | "": executor}``.
        None: pipemap's own process pool (kept between runs).
    chunksizes : int, callable or dict, optional
        Elements per task: an int, a callable of the number of elements to submit, or
        ``{output name | "": ...}``. None: adapted to the measured time per element.
    storage : str or dict, optional
        The storage id of the mapped outputs (``"file_array"``, ``"chunked"``, ``"dict"``,
        ``"shared_memory_dict"``, ``"zarr_file_array"``, ...) or ``{output name | "": id}``.
        Default: ``"file_array"`` with a run folder, ``"dict"`` without.
    persist_memory : bool, default True
        At the end of a successful run, write memory storages (``dict``, ``zarr_memory``) to the
        run folder.
    cleanup : bool, optional
        Deprecated: ``cleanup=False`` is ``resume=True``.
    resume : bool, default False
        Continue the run in ``run_folder``: stored elements are reused, only missing ones are
        computed. The previous run must match (mapspecs, shapes, inputs, defaults, bound values,
        ``error_handling``), else ``ValueError``. False: the folder's old run is replaced.
    resume_validation : {"auto", "strict", "skip"}, default "auto"
        How ``resume=True`` compares inputs and defaults with the previous run: tolerant equality
        that proceeds when values cannot be compared (``"auto"``), that raises then (``"strict"``),
        or no comparison (``"skip"``).
    retry_failed : bool, default False
        With ``resume=True`` and a run folder: also recompute the elements stored as failed
        (``ErrorSnapshot``) and those their errors propagated to, and nothing else.
    fixed_indices : dict, optional
        ``{axis name: int or slice}``: compute only these positions along these axes.
    auto_subpipeline : bool, default False
        Compute only what can be computed from the given ``inputs`` (intermediate outputs given as
        inputs are not recomputed).
    show_progress : bool or {"rich", "ipywidgets", "headless"}, optional
        Show progress: ``True`` (widgets in Jupyter, else rich), a display by name, or ``False``.
        None: widgets inside Jupyter only.
    return_results : bool, default True
        Return the outputs. False: return only counts, so the parent's memory stays flat for
        millions of elements (load the outputs from the run folder).
    error_handling : {"raise", "continue"}, default "raise"
        ``"raise"``: the first failing element stops the run. ``"continue"``: failing elements are
        stored as ``ErrorSnapshot`` (their dependents as ``PropagatedErrorSnapshot``) and the run
        finishes, ending with one ``FailedElementsWarning``.
    display_widgets : bool, default True
        In Jupyter, show the progress widgets when the run starts.
    start : bool, default True
        Start the run on the running event loop now (False: call ``runner.start()`` or
        ``runner.result()`` later).
    scheduling_strategy : {"generation", "eager"}, default "generation"
        Run the functions generation by generation of the pipeline's graph, or each as soon as its
        inputs are ready (same results).
    callbacks : list of callable, optional
        Listeners receiving the run's typed progress events (``RunStarted``, ``ChunkDone``,
        ``FunctionDone``, ``RunFinished``, ...) in the calling process (a pipemap extension).
    retries : int or RetryPolicy, optional
        The default retry policy of every function without its own: extra attempts (an int) or a
        ``RetryPolicy``; ``0`` switches retries off (a pipemap extension).
    reuse_from : str, Path or list of them, optional
        Run folders whose finished elements are taken by element key instead of being computed
        (a pipemap extension): a grown, refined, reordered or shrunk grid reuses every element
        whose function code, input values, constants, defaults and bound values are unchanged.
        ``run_folder`` may be one of them: the run then grows that folder in place, crash-safely.
        Needs a ``run_folder``. See docs/concepts/reuse.md.

    Returns
    -------
    AsyncMap
        The handle of the run.

    Examples
    --------
    >>> import asyncio
    >>> from pipemap.runner import Pipeline, PipeFunc, SynchronousExecutor
    >>> p = Pipeline([PipeFunc(lambda x: x + 1, "y", mapspec="x[i] -> y[i]")])
    >>> async def main():
    ...     runner = run_map_async(p, {"x": [1, 2, 3]}, executor=SynchronousExecutor())
    ...     results = await runner.task
    ...     return results["y"].output.tolist()
    >>> asyncio.run(main())
    [2, 3, 4]
    """
    refuse_in_bootstrapping_child()
    if hasattr(executor, "_pipemap_run_map"):
        msg = f"`{type(executor).__name__}` runs whole pipelines: use `run_map` (or `pipeline.map`), not `run_map_async`."
        raise TypeError(msg)
    options = RunOptions.from_arguments(locals(), parallel=True)
    prep = prepare_run(options)
    clear_raised(prep)
    runner = AsyncMap(prep, options.scheduling_strategy)
    _attach_async_displays(runner, display_widgets)
    if start:
        runner.start()
    return runner

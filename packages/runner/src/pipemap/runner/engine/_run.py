"""``run_map``: the synchronous facade over the one async core (``run_map_async`` and `AsyncMap`
are in ``_run_async.py``).

>>> from pipemap.runner import Pipeline, PipeFunc
>>> p = Pipeline([PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")])
>>> run_map(p, {"x": [1, 2, 3]}, parallel=False)["y"].output.tolist()
[2, 4, 6]
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import os
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from pipemap.runner.engine._failure_notes import (
    clear_raised,
    is_element_error,
    recording_raised,
    stored_note,
    tidy_element_error,
)
from pipemap.runner.engine._options import RunOptions
from pipemap.runner.engine._prepare import Prepared, prepare_run
from pipemap.runner.engine._results import ResultDict
from pipemap.runner.engine._walk import run_prepared
from pipemap.runner.executors._event_loop import NEED_LOOP
from pipemap.runner.executors._main_guard import MainGuardError, refuse_in_bootstrapping_child

if TYPE_CHECKING:
    from pipemap.runner.model._retry_policy import RetryPolicy

_T = TypeVar("_T")


def _drive(coro: Coroutine[object, None, _T], *, may_suspend: bool) -> _T:
    """Run ``coro`` to completion from synchronous code.

    Sequential runs never suspend: one ``send`` finishes them, no event loop needed. Otherwise
    the process's kept loop runs it here (in the main thread it starts without one, as a
    sequential run, and gets the loop only when it asks, see ``executors/_event_loop.py``), a
    fresh loop in another thread, or, when this thread already runs a loop (Jupyter), a private
    loop in a helper thread.
    """
    if not may_suspend:
        try:
            coro.send(None)
        except StopIteration as stop:
            return cast("_T", stop.value)
        coro.close()
        msg = "internal error: a sequential run suspended"
        raise RuntimeError(msg)
    if asyncio._get_running_loop() is None:  # (no try/except: its RuntimeError would chain to the run's errors)
        return _run_boxed(coro)
    box: dict[str, object] = {}
    started, finished = threading.Event(), threading.Event()

    def target() -> None:
        try:
            box["value"] = _run_boxed(coro, box, started)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = e
        finally:
            started.set()
            finished.set()

    thread = threading.Thread(target=target, name="pipemap-run", daemon=True)
    thread.start()
    try:
        finished.wait()  # (not thread.join(): Python 3.11 marks a thread stopped when join is interrupted)
    except BaseException:
        # Ctrl-C in the caller's thread (a notebook's interrupt): cancel the run and wait until
        # it has stopped its chunks and let go of its run folder (a second Ctrl-C stops waiting;
        # the run then finishes that in its thread)
        started.wait()
        loop, task = box.get("loop"), box.get("task")
        if isinstance(loop, asyncio.AbstractEventLoop) and isinstance(task, asyncio.Task):
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop has closed: the run ended meanwhile
                pass
        finished.wait()
        raise
    thread.join()
    if "error" in box:
        raise cast("BaseException", box["error"])
    return cast("_T", box["value"])


def _run_boxed(
    coro: Coroutine[object, None, _T], box: dict[str, object] | None = None, started: threading.Event | None = None
) -> _T:
    """``asyncio.run(coro)`` whose main task returns None: on exit asyncio (3.11) may format the
    task's repr (its SIGINT handler), which would render a huge ``ResultDict``. ``box`` receives
    the loop and the task (to cancel the run from another thread), ``started`` is set then."""
    out: list[_T] = []

    async def main() -> None:
        if box is not None:
            box["loop"], box["task"] = asyncio.get_running_loop(), asyncio.current_task()
        if started is not None:
            started.set()
        out.append(await coro)

    if box is None and threading.current_thread() is threading.main_thread():
        outer = main()
        if _started_without_loop(outer):  # e.g. every function ran in the parent
            return out[0]
        try:
            _run_kept(outer)  # (a kept loop: creating one costs ~0.2 ms per run)
        finally:
            if inspect.getcoroutinestate(outer) == inspect.CORO_SUSPENDED:  # interrupted before its task ran
                outer.close()
    else:
        asyncio.run(main())
    return out[0]


def _started_without_loop(coro: Coroutine[object, None, None]) -> bool:
    """Run ``coro`` here, without an event loop, until it finishes (True) or asks for one (False:
    it is suspended, a task resumes it). Its errors propagate as in a sequential run."""
    try:
        asked = coro.send(None)
    except StopIteration:
        return True
    if asked is not NEED_LOOP:
        coro.close()
        msg = f"internal error: a run without an event loop yielded {asked!r}"
        raise RuntimeError(msg)
    return False


def _run_kept(coro: Coroutine[object, None, None]) -> None:
    """``asyncio.run`` on the process's kept loop: tasks left over are cancelled and awaited as
    ``asyncio.run`` does; after an exception the loop is closed (the next run makes a new one)."""
    global _runner
    runner = _kept_runner()
    try:
        runner.run(coro)
    except BaseException:
        _runner = None
        runner.close()
        raise
    loop = runner.get_loop()
    left = asyncio.all_tasks(loop)
    if left:
        for task in left:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))


_runner: tuple[int, asyncio.Runner] | None = None


def _kept_runner() -> asyncio.Runner:
    """One ``asyncio.Runner`` per process for synchronous runs in the main thread (closed at exit)."""
    global _runner
    if _runner is None or _runner[0] != os.getpid():
        _runner = (os.getpid(), asyncio.Runner())
        atexit.register(_runner[1].close)
    return _runner[1]


def run_map(
    pipeline: Any,
    inputs: Any,
    run_folder: str | Path | None = None,
    internal_shapes: dict[str, Any] | None = None,
    *,
    output_names: Any = None,
    parallel: bool = True,
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
    scheduling_strategy: Literal["generation", "eager"] = "generation",
    callbacks: list[Any] | None = None,
    retries: int | RetryPolicy | None = None,
    reuse_from: str | Path | list[str | Path] | None = None,
) -> ResultDict:
    """Run ``pipeline`` over its mapspecs for ``inputs`` (``Pipeline.map`` calls it).

    Each mapped function runs once per element of its output's external shape, in chunks on the
    executor; finished elements are stored in the run folder as they finish (atomically), so a
    crash loses at most 0.25 s of finished work per worker and ``resume=True`` continues. The
    behaviour kept from ``pipefunc.map`` is in docs/behaviour.md section 4.

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
    parallel : bool, default True
        Run chunks of elements in parallel (on ``executor``, or pipemap's process pool); False: one
        after another in this process.
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
    ResultDict
        ``{output name: Result}`` in pipeline order (with ``return_results=False``, without values).

    Raises
    ------
    ValueError
        For bad arguments (missing or extra inputs, a resume that does not match, ...), naming them.
    RunFolderLockedError
        If another live run uses ``run_folder``.

    Examples
    --------
    >>> from pipemap.runner import Pipeline, PipeFunc
    >>> p = Pipeline([PipeFunc(lambda x, y: x * y, "z", mapspec="x[i], y[j] -> z[i, j]")])
    >>> run_map(p, {"x": [1, 2], "y": [10, 20, 30]}, parallel=False)["z"].output.shape
    (2, 3)
    """
    refuse_in_bootstrapping_child()
    options = RunOptions.from_arguments(locals())
    run_level = getattr(executor, "_pipemap_run_map", None)  # an executor that runs whole pipelines (SlurmExecutor)
    if run_level is not None:
        return cast("ResultDict", run_level(options))
    try:
        prep = prepare_run(options)
    except MainGuardError as exc:
        raise exc.with_traceback(None) from None
    inner = run_prepared(prep, scheduling_strategy=options.scheduling_strategy)
    run = recording_raised(inner, prep)
    coro = _release_after(run, prep)
    clear_raised(prep)
    try:
        outputs = _drive(coro, may_suspend=prep.parallel)
    except KeyboardInterrupt as exc:
        exc.add_note(stored_note(prep, "interrupted"))
        raise exc.with_traceback(None) from None
    except MainGuardError as exc:
        raise exc.with_traceback(None) from None
    except Exception as exc:
        if not is_element_error(exc):
            raise
        raise tidy_element_error(exc, prep) from exc.__cause__
    finally:
        if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:  # interrupted before it started
            coro.close()
            run.close()
            inner.close()
            if prep.lock is not None:
                prep.lock.release()
    if not options.return_results:
        empty = ResultDict(_inputs_=prep.run_info.inputs, _pipeline_=prep.pipeline)
        empty.summary = outputs.summary
        return empty
    return outputs


async def _readable_errors(coro: Coroutine[object, None, _T], prep: Prepared) -> _T:
    """``await coro``; an error of the user's function comes out with the user's frames only
    (``await runner.task`` shows the user's line, this frame, then the function's frames)."""
    try:
        return await coro
    except Exception as exc:
        if not is_element_error(exc):
            raise
        raise tidy_element_error(exc, prep) from exc.__cause__


async def _release_after(coro: Coroutine[object, None, _T], prep: Prepared) -> _T:
    """Await ``coro``, then release the run folder's lock (also on errors and cancellation),
    but not before every chunk of the run has stopped (see :mod:`._inflight`)."""
    try:
        return await coro
    finally:
        if prep.lock is not None:
            prep.in_flight.release_when_idle(prep.lock.release)

"""Running a `Pipeline`: sequential evaluation of one output and the ``map`` conveniences.

Mixed into `Pipeline`. ``map``/``map_async`` forward every argument to `pipemap.runner.run_map`
and `pipemap.runner.run_map_async` (imported when called).

>>> from pipemap.runner import PipeFunc, Pipeline
>>> Pipeline([PipeFunc(lambda a: a + 1, "b")])("b", a=1)
2
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Literal

from pipemap.runner.model import _graph
from pipemap.runner.model._pipeline_graph import UnknownNameError
from pipemap.runner.model._pipeline_members import PipelineMembers
from pipemap.runner.model._scopes import flatten_scopes

if TYPE_CHECKING:
    from pipemap.storage import ErrorSnapshot, PropagatedErrorSnapshot

    from pipemap.runner.model._retry_policy import RetryPolicy

__all__ = ["PipelineRun"]

OutputName = str | tuple[str, ...]


class PipelineRun(PipelineMembers):
    """``__call__``, `run`, ``map`` and ``map_async`` of `Pipeline`."""

    def __call__(self, __output_name: OutputName | list[OutputName] | None = None, /, **kwargs: Any) -> Any:
        """Evaluate one output sequentially (no mapping): ``pipeline("y", x=1)``.

        >>> from pipemap.runner import PipeFunc, Pipeline
        >>> Pipeline([PipeFunc(lambda a, b=2: a * b, "c")])("c", a=4)
        8
        """
        return self.run(__output_name, kwargs=kwargs)

    def run(
        self,
        output_name: OutputName | list[OutputName] | None = None,
        *,
        full_output: bool = False,
        kwargs: dict[str, object] | None = None,
    ) -> Any:
        """Evaluate ``output_name`` from ``kwargs``; ``full_output`` returns every value computed.

        A list of names gives a tuple of values; ``None`` means the leaf function(s).

        >>> from pipemap.runner import PipeFunc, Pipeline
        >>> Pipeline([PipeFunc(lambda a: a + 1, "b")]).run("b", full_output=True, kwargs={"a": 1})
        {'a': 1, 'b': 2}
        """
        if isinstance(output_name, list):  # several outputs: a tuple of their values
            if full_output:
                msg = "`full_output=True` takes one output name, not a list."
                raise ValueError(msg)
            return tuple(self.run(name, kwargs=kwargs) for name in output_name)
        values = flatten_scopes(dict(kwargs or {}), self._scopes)
        if output_name is None:
            leaves = self.leaf_nodes
            if len(leaves) > 1:
                return self.run([f.output_name for f in leaves], kwargs=kwargs)
            output_name = self.unique_leaf_node.output_name
        if output_name in values:
            msg = f"The `output_name='{output_name}'` argument cannot be provided in `kwargs={dict(kwargs or {})}`."
            raise ValueError(msg)
        if output_name not in self.output_to_func:
            available = ", ".join(k for k in self.output_to_func if isinstance(k, str))
            msg = f"No function with output name `{output_name}` in the pipeline, only `{available}`."
            raise UnknownNameError(msg)
        target = self[output_name]
        chain = [target, *_graph.ancestors(self._dependencies, [target])]
        if mapped := [str(f) for f in chain if f.requires_mapping]:
            spec_names = {n for g in self.functions if g.mapspec for n in (*g.mapspec.input_names, *g.mapspec.output_names)}
            deps = spec_names & {n for g in chain[1:] for n in g.output_names}
            produced = self.output_to_func
            inputs = spec_names & {p for g in chain for p in g.parameters if p not in produced and p not in g.bound}
            lead = f"`{_set_repr(deps)}` (depends on `inputs={_set_repr(inputs)}`)" if deps else "it"
            msg = (
                f"Cannot execute pipeline to get `{output_name}` because {lead} have `MapSpec`(s)."
                f" Use `Pipeline.map` instead. Mapped functions: {', '.join(sorted(mapped))}."
            )
            raise RuntimeError(msg)
        results: dict[OutputName, object] = dict(values.items())
        needed = set(chain)
        for f in self.sorted_functions:
            if f not in needed or all(n in results for n in f.output_names):
                continue
            call_kwargs = {}
            for p in f.parameters:
                if p in f.bound:
                    continue
                if p in results:
                    call_kwargs[p] = results[p]
                elif p in self.defaults:
                    call_kwargs[p] = self.defaults[p]
                elif p not in f.defaults:
                    msg = f"Missing value for argument `{p}` in `{f}`."
                    raise ValueError(msg)
            value = f(**call_kwargs)
            picked = f.pick_outputs(value)
            for n, v in zip(f.output_names, picked):
                results[n] = v
            if isinstance(f.output_name, tuple):
                results[f.output_name] = value
        if full_output:
            return {k: v for k, v in results.items() if isinstance(k, str)}
        return results[output_name]

    @property
    def error_snapshot(self) -> ErrorSnapshot | PropagatedErrorSnapshot | None:
        """The error snapshot of the first function that recorded one, else None."""
        for f in self.functions:
            if f.error_snapshot is not None:
                return f.error_snapshot
        return None

    def map(
        self,
        inputs: Any,
        run_folder: Any = None,
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
        fixed_indices: dict[str, Any] | None = None,
        auto_subpipeline: bool = False,
        show_progress: Any = None,
        return_results: bool = True,
        error_handling: Literal["raise", "continue"] = "raise",
        scheduling_strategy: Literal["generation", "eager"] = "generation",
        retries: int | RetryPolicy | None = None,
        reuse_from: Any = None,
    ) -> Any:
        """Run the pipeline over its mapspecs: forwards every argument to `pipemap.runner.run_map`.

        Parameters
        ----------
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
            ``{output name: Result}`` in pipeline order.

        Examples
        --------
        >>> from pipemap.runner import Pipeline, PipeFunc
        >>> p = Pipeline([PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")])
        >>> p.map({"x": [1, 2, 3]}, parallel=False)["y"].output.tolist()
        [2, 4, 6]
        """
        arguments = _forwarded(locals())
        from pipemap.runner.engine import run_map  # the model's single lazy edge to the engine

        return run_map(self, **arguments)

    def map_async(
        self,
        inputs: Any,
        run_folder: Any = None,
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
        fixed_indices: dict[str, Any] | None = None,
        auto_subpipeline: bool = False,
        show_progress: Any = None,
        return_results: bool = True,
        error_handling: Literal["raise", "continue"] = "raise",
        display_widgets: bool = True,
        start: bool = True,
        scheduling_strategy: Literal["generation", "eager"] = "generation",
        retries: int | RetryPolicy | None = None,
        reuse_from: Any = None,
    ) -> Any:
        """Start an asynchronous run: forwards every argument to `pipemap.runner.run_map_async`.

        Parameters
        ----------
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
            The handle of the run (``await runner.task``, ``runner.result()``, ``runner.status()``).

        Examples
        --------
        >>> from pipemap.runner import Pipeline, PipeFunc, SynchronousExecutor
        >>> p = Pipeline([PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")])
        >>> runner = p.map_async({"x": [1, 2]}, executor=SynchronousExecutor(), start=False)
        >>> runner.result()["y"].output.tolist()
        [2, 4]
        """
        arguments = _forwarded(locals())
        from pipemap.runner.engine import run_map_async  # the model's single lazy edge to the engine

        return run_map_async(self, **arguments)

    @functools.cached_property
    def output_annotations(self) -> dict[str, object]:
        """{output name: return annotation} (``inspect.Parameter.empty`` when unknown)."""
        out: dict[str, object] = {}
        for f in self.sorted_functions:
            out.update(f.output_annotation)
        return out


def _forwarded(arguments: dict[str, Any]) -> dict[str, Any]:
    """A facade's ``locals()`` as keyword arguments of ``run_map``/``run_map_async``."""
    return {name: value for name, value in arguments.items() if name != "self"}


def _set_repr(items: set[str]) -> str:
    return "{" + ", ".join(repr(x) for x in sorted(items)) + "}" if items else "set()"

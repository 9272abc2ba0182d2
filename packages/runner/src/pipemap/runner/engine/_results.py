"""``ResultDict`` and ``Result`` (docs/behaviour.md §4.7).

>>> r = ResultDict({"y": Result("f", {}, "y", [1, 2], None)})
>>> r["y"].output
[1, 2]
"""

from __future__ import annotations

import copy
import inspect
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from pipemap.runner.engine._summary import RunSummary
    from pipemap.runner.model._pipeline import Pipeline

MAX_RESULT_LENGTH = 10_000


_UNSET: object = object()


class Result:
    """One output of a run: the producing function's name, its kwargs, the output and its store.

    Parameters
    ----------
    function : str
        The name of the function that produced the output.
    kwargs : dict
        The function's non-mapped arguments.
    output_name : str
        The output's name.
    output : object
        The value: an object array (masked where elements are missing) for a mapped output, the
        value itself for a single output.
    store : object
        The storage of a mapped output (a ``StorageBase``), the ``FileValue``/``DirectValue`` of a
        single one.
    loader : callable, optional
        Called on first access of ``output`` instead of giving ``output`` (mapped outputs of a
        resumed run are read from storage only when asked for).

    Examples
    --------
    >>> Result("f", {}, "y", None, None, loader=lambda: [1, 2]).output
    [1, 2]
    """

    __slots__ = ("_loader", "_output", "function", "kwargs", "output_name", "store")

    def __init__(
        self,
        function: str,
        kwargs: dict[str, object],
        output_name: str,
        output: object,
        store: object,
        *,
        loader: Callable[[], object] | None = None,
    ) -> None:
        self.function = function
        self.kwargs = kwargs
        self.output_name = output_name
        self.store = store
        self._output = _UNSET if loader is not None else output
        self._loader = loader

    @property
    def output(self) -> Any:
        """The output value (mapped: an object ndarray of the full shape)."""
        if self._output is _UNSET:
            assert self._loader is not None
            self._output = self._loader()
            self._loader = None
        return self._output

    @output.setter
    def output(self, value: object) -> None:
        self._output = value
        self._loader = None

    def __repr__(self) -> str:
        return (
            f"Result(function={self.function!r}, kwargs={self.kwargs!r}, output_name={self.output_name!r},"
            f" output={self.output!r}, store={self.store!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Result):
            return NotImplemented
        return (self.function, self.output_name) == (other.function, other.output_name) and _same(
            self.output, other.output
        )

    __hash__ = None  # type: ignore[assignment]

    def __copy__(self) -> Result:
        return Result(self.function, self.kwargs, self.output_name, self.output, self.store)


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and all(
            x is y or bool(x == y) for x, y in zip(a.flat, b.flat)
        )
    return bool(a == b)


def _is_np_subdtype(annotation: Any) -> bool:
    try:
        return bool(
            np.issubdtype(annotation, np.integer)
            or np.issubdtype(annotation, np.floating)
            or np.issubdtype(annotation, np.bool_)
        )
    except (TypeError, ValueError):
        return False


class ResultDict(dict[str, Result]):
    """A ``dict[str, Result]`` in pipeline order (as pipefunc), remembering the pipeline and inputs.

    ``to_xarray()`` and ``to_dataframe()`` convert it with ``pipemap.io``; ``summary`` is the run's
    ``RunSummary``.

    Parameters
    ----------
    *args
        As for ``dict``: a mapping or an iterable of ``(output name, Result)`` pairs.
    **kwargs : Result
        As for ``dict``: results by output name.

    Examples
    --------
    >>> ResultDict().copy()
    {}
    """

    def __init__(
        self, *args: Any, _pipeline_: Pipeline | None = None, _inputs_: dict[str, object] | None = None, **kwargs: Result
    ) -> None:
        self._pipeline = _pipeline_
        self._inputs = _inputs_
        #: the run's :class:`~._summary.RunSummary` (failed elements per function and exception
        #: type, and the call that retries them); None for a dict not made by a run
        self.summary: RunSummary | None = None
        super().__init__(*args, **kwargs)

    def copy(self) -> ResultDict:
        """A shallow copy that keeps the pipeline, inputs and summary."""
        new = ResultDict(self, _pipeline_=self._pipeline, _inputs_=self._inputs)
        new.summary = self.summary
        return new

    def __repr__(self) -> str:
        text = super().__repr__()
        if len(text) > MAX_RESULT_LENGTH:
            warnings.warn(
                f"ResultDict is too large to display completely ({len(text):,} characters, truncated at "
                f"{MAX_RESULT_LENGTH:,} characters). Use `dict(result_dict)` or access items by key.",
                UserWarning,
                stacklevel=2,
            )
            return text[:MAX_RESULT_LENGTH] + "..."
        return text

    def _annotations(self) -> dict[str, Any]:
        pipeline = self._pipeline
        out: dict[str, Any] = {}
        if pipeline is None:
            return out
        if hasattr(pipeline, "output_annotations"):
            return dict(pipeline.output_annotations)
        import typing

        for f in pipeline.functions:
            try:
                ann = typing.get_type_hints(f.func).get("return")
            except Exception:  # noqa: BLE001
                ann = getattr(f.func, "__annotations__", {}).get("return")
            if ann is not None and isinstance(f.output_name, str):
                out[f.output_name] = ann
        return out

    def type_cast(self, *, inplace: bool = True) -> ResultDict:
        """Cast mapped object arrays to their numpy int/float/bool return annotation."""
        if self._pipeline is None:
            msg = "ResultDict was not created by Pipeline.map"
            raise ValueError(msg)
        result = self if inplace else self.copy()
        names = set(getattr(self._pipeline, "mapspec_names", ()))
        for name, annotation in self._annotations().items():
            if name not in names or name not in result or not _is_np_subdtype(annotation):
                continue
            if not inplace:
                result[name] = copy.copy(result[name])
            try:
                cast = np.asarray(result[name].output).astype(annotation)
            except (TypeError, ValueError) as e:
                warnings.warn(
                    f"Could not cast output '{name}' to {annotation} due to error: {e}. "
                    "Likely due to an incorrect type annotation. Leaving as original dtype.",
                    UserWarning,
                    stacklevel=2,
                )
            else:
                result[name].output = cast
        return result

    def _require_origin(self, what: str) -> tuple[Pipeline, dict[str, object]]:
        """The pipeline and inputs of the run that made this dict; a ValueError without them."""
        if self._pipeline is None or self._inputs is None:
            msg = (
                f"The `{what}` method can only be used when the `ResultDict` was created"
                " by calling `pipefunc.Pipeline.map` or `pipefunc.Pipeline.map_async`"
                " (pipemap: `run_map`/`Pipeline.map`)."
            )
            raise ValueError(msg)
        return self._pipeline, self._inputs

    def _inferable(self, type_cast: bool) -> bool | set[str]:
        """Outputs whose numeric dtype the conversion may infer: none without ``type_cast`` (object
        arrays stay object, as pipefunc's); else those without a return annotation (an annotated
        output is cast by ``type_cast`` if numeric, and otherwise kept as it is, as pipefunc does)."""
        if not type_cast:
            return False
        annotations = self._annotations()
        return {name for name in self if annotations.get(name, inspect.Parameter.empty) is inspect.Parameter.empty}

    def to_xarray(self, *, load_intermediate: bool = True, type_cast: bool = True) -> Any:
        """Convert to an ``xarray.Dataset`` (needs pipemap.io with xarray).

        ``type_cast``: cast outputs with a numeric return annotation (see :meth:`type_cast`) and give
        numeric dtypes to the inputs and unannotated outputs whose elements are all numbers; without
        it, object arrays stay object arrays.
        """
        pipeline, inputs = self._require_origin("to_xarray")
        from pipemap.io import xarray_dataset_from_results  # lazy: io is optional here

        results = self.type_cast(inplace=False) if type_cast else self
        return xarray_dataset_from_results(
            inputs, results, pipeline, load_intermediate=load_intermediate, infer_dtypes=self._inferable(type_cast)
        )

    def to_dataframe(
        self,
        *,
        load_intermediate: bool = True,
        type_cast: bool = True,
        backend: Literal["pandas", "polars"] = "pandas",
    ) -> Any:
        """Convert to a pandas (or polars) DataFrame (needs pipemap.io)."""
        pipeline, inputs = self._require_origin("to_dataframe")
        from pipemap.io import dataframe_from_results  # lazy: io is optional here

        results = self.type_cast(inplace=False) if type_cast else self
        return dataframe_from_results(
            inputs, results, pipeline, load_intermediate=load_intermediate, backend=backend,
            infer_dtypes=self._inferable(type_cast),
        )


def in_pipeline_order(outputs: ResultDict, output_names: list[str]) -> None:
    """Reorder ``outputs`` in place to follow ``output_names`` (the pipeline's generations, as
    pipefunc fills its ``ResultDict``), whatever order the functions finished in. Once per run."""
    order = [n for n in output_names if n in outputs]
    if list(outputs) == order:
        return
    items = [(n, outputs[n]) for n in order]
    for n in order:
        del outputs[n]
    for n, value in items:
        outputs[n] = value

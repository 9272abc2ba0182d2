"""`Pipeline`: a DAG of `PipeFunc` objects connected by parameter and output names.

Derived views (generations, root arguments, mapspecs, ...) are cached and dropped on every
change (`add`, `drop`, ``update_*``, or an update of one of the pipeline's functions).

>>> from pipemap.runner import pipefunc
>>> @pipefunc(output_name="y", mapspec="x[i] -> y[i]")
... def double(x):
...     return 2 * x
>>> @pipefunc(output_name="total")
... def add_up(y):
...     return sum(y)
>>> pipeline = Pipeline([double, add_up])
>>> pipeline.root_args, pipeline.mapspecs_as_strings
(('x',), ['x[i] -> y[i]'])
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from pipemap.mapspec import MapSpecError, RaggedPlan, mapspec_axes, mapspec_dimensions, validate_consistent_axes
from pipemap.runner.model._cache import CACHE_TYPES, create_cache
from pipemap.runner.model._autogen import autogen_mapspecs, validate_output_names
from pipemap.runner.model._pipefunc import PipeFunc
from pipemap.runner.model._pipefunc_compat import pipeline_from_pipefunc
from pipemap.runner.model._pipeline_graph import Generations, PipelineGraph, UnknownNameError
from pipemap.runner.model._pipeline_run import PipelineRun
from pipemap.runner.model._pipeline_updates import PipelineUpdates, check_consistent_defaults

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import pipefunc
    from pipemap.mapspec import MapSpec
    from pipemap.runner.model._cache import DiskCache, HybridCache, LRUCache, SimpleCache
    from pipemap.runner.model._nested import NestedPipeFunc

__all__ = ["Generations", "Pipeline", "UnknownNameError"]

OutputName = str | tuple[str, ...]


class Pipeline(PipelineGraph, PipelineUpdates, PipelineRun):
    """A pipeline of `PipeFunc` objects (copied on construction).

    Functions are connected by name: a parameter with the name of another function's output
    receives that output. ``Pipeline.map`` (or ``run_map``) runs it over the mapspecs.

    Parameters
    ----------
    functions : iterable
        `PipeFunc` objects, plain callables (output name = function name) and
        ``(PipeFunc, mapspec)`` pairs.
    lazy : bool, default False
        Accepted for pipefunc compatibility (stored; calls are not lazy).
    debug : bool, optional
        When not None, set ``debug`` on every function.
    print_error : bool, optional
        When not None, set ``print_error`` on every function.
    profile : bool, optional
        When not None, set ``profile`` on every function.
    cache_type : {"lru", "hybrid", "disk", "simple"}, optional
        The cache of functions with ``cache=True`` (default ``"lru"`` when a function caches).
    cache_kwargs : dict, optional
        Keyword arguments of the cache's class (``LRUCache``, ``HybridCache``, ``DiskCache``,
        ``SimpleCache``).
    validate_type_annotations : bool, default False
        Accepted for pipefunc compatibility (stored; annotations are not checked).
    scope : str, optional
        Put every parameter and output name in this scope (``"scope.name"``).
    default_resources : dict, optional
        Resources for the functions that have none.
    name : str, optional
        The pipeline's name (stored, as in pipefunc).
    description : str, optional
        A description of the pipeline (stored, as in pipefunc).

    Examples
    --------
    >>> from pipemap.runner import PipeFunc
    >>> p = Pipeline([PipeFunc(lambda a, b: a + b, "c"), PipeFunc(lambda c: 2 * c, "d")])
    >>> p("d", a=1, b=2)
    6
    """

    def __init__(
        self,
        functions: Iterable[PipeFunc | Callable[..., object] | tuple[PipeFunc, str | MapSpec]],
        *,
        lazy: bool = False,
        debug: bool | None = None,
        print_error: bool | None = None,
        profile: bool | None = None,
        cache_type: str | None = None,
        cache_kwargs: dict[str, object] | None = None,
        validate_type_annotations: bool = False,
        scope: str | None = None,
        default_resources: object = None,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        self.functions: list[PipeFunc] = []
        self.lazy = lazy
        self.debug = debug
        self.print_error = print_error
        self.profile = profile
        if cache_type is not None and cache_type not in CACHE_TYPES:
            msg = f"Invalid cache type: {cache_type}. Choose one of {', '.join(map(repr, CACHE_TYPES))}."
            raise ValueError(msg)
        self.cache_type = cache_type
        self.cache_kwargs = cache_kwargs
        self.validate_type_annotations = validate_type_annotations
        self.default_resources = default_resources
        self.name = name
        self.description = description
        for f in functions:
            if isinstance(f, tuple):
                if len(f) != 2:
                    msg = f"Expected `(PipeFunc, mapspec)`, got a tuple of length {len(f)}: {f!r}"
                    raise TypeError(msg)
                self._append(f[0], f[1])
            else:
                self._append(f, None)
        self.validate()
        if scope is not None:
            self.update_scope(scope, inputs="*", outputs="*")

    @classmethod
    def from_pipefunc(cls, pipeline: pipefunc.Pipeline | Pipeline) -> Pipeline:
        """Convert a `pipefunc.Pipeline` (pipefunc imported lazily); see `pipemap.runner.model._from_pipefunc`.

        >>> import pipefunc
        >>> p = pipefunc.Pipeline([pipefunc.PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]")])
        >>> Pipeline.from_pipefunc(p).mapspecs_as_strings
        ['x[i] -> y[i]']
        """
        return pipeline_from_pipefunc(pipeline, cls, PipeFunc, Pipeline)

    # -- building -------------------------------------------------------------------------
    def _append(self, f: PipeFunc | Callable[..., object], mapspec: str | MapSpec | None) -> PipeFunc:
        if isinstance(f, PipeFunc):
            changes: dict[str, object] = {}
            if mapspec is not None:
                changes["mapspec"] = mapspec
            if self.default_resources is not None:
                changes["resources"] = _merge_resources(f.resources, self.default_resources)
            f = f.copy(**changes)
        elif callable(f):
            f = PipeFunc(
                f, getattr(f, "__name__", type(f).__name__), mapspec=mapspec, resources=self.default_resources
            )
        else:
            msg = f"`f` must be a `PipeFunc` or callable, got {type(f)}: {f!r} (in the functions of a `Pipeline`)."
            raise TypeError(msg)
        if self.debug is not None:
            f.debug = self.debug
        if self.profile is not None:
            f.profile = self.profile
        if self.print_error is not None:
            f.print_error = self.print_error
        existing = self.output_to_func
        for name in f.output_names:
            if name in existing:
                msg = (
                    f"The function with output name `{name!r}` already exists in the pipeline"
                    f" (`{existing[name]}`). `{f}` cannot produce it too."
                )
                raise ValueError(msg)
        self.functions.append(f)
        f._pipelines.add(self)
        self._clear_cache()
        for key in (f.output_name, *f.output_names):  # keep the lookup table: O(1) per add
            existing[key] = f
        self.__dict__["output_to_func"] = existing
        return f

    def add(self, f: PipeFunc | Callable[..., object], mapspec: str | MapSpec | None = None) -> PipeFunc:
        """Add (a copy of) ``f`` and validate; on error the pipeline is left unchanged.

        >>> p = Pipeline([PipeFunc(lambda a: a + 1, "b")])
        >>> p.add(PipeFunc(lambda b: b * 2, "c")).output_name
        'c'
        """
        added = self._append(f, mapspec)
        try:
            self.validate()
        except Exception:
            self.functions.remove(added)
            added._pipelines.discard(self)
            self._clear_cache()
            raise
        return added

    def drop(self, *, f: PipeFunc | None = None, output_name: OutputName | None = None) -> None:
        """Remove the function ``f`` or the one producing ``output_name``.

        >>> p = Pipeline([PipeFunc(lambda a: a, "b"), PipeFunc(lambda b: b, "c")])
        >>> p.drop(output_name="c"); sorted(p.all_output_names)
        ['b']
        """
        if (f is None) == (output_name is None):
            msg = "Either `f` or `output_name` should be provided."
            raise ValueError(msg)
        if f is None:
            f = self[output_name]  # type: ignore[index]
        if f not in self.functions:
            msg = f"The function `{f}` is not in the pipeline (functions are copied when added)."
            raise ValueError(msg)
        self.functions.remove(f)
        f._pipelines.discard(self)
        self._clear_cache()
        self.validate()

    def nest_funcs(
        self,
        output_names: OutputName | Iterable[OutputName],
        new_output_name: OutputName | None = None,
        function_name: str | None = None,
    ) -> NestedPipeFunc:
        """Replace the functions producing ``output_names`` (``"*"``: all) by one `NestedPipeFunc`, in place.

        >>> p = Pipeline([PipeFunc(lambda a: a + 1, "b"), PipeFunc(lambda b: 2 * b, "c")])
        >>> p.nest_funcs("*", new_output_name="c").output_name, p("c", a=1)
        ('c', 4)
        """
        from pipemap.runner.model._nested import NestedPipeFunc  # (import cycle)

        if output_names == "*":
            funcs = list(self.functions)
        else:
            names = [output_names] if isinstance(output_names, str | tuple) else list(output_names)
            funcs = list(dict.fromkeys(self[name] for name in names))
        nested = NestedPipeFunc(funcs, output_name=new_output_name, function_name=function_name)
        for f in funcs:
            self.functions.remove(f)
            f._pipelines.discard(self)
        self._clear_cache()
        added = self.add(nested)
        assert isinstance(added, NestedPipeFunc)
        return added

    def replace(self, new: PipeFunc, old: PipeFunc | None = None) -> None:
        """Replace ``old`` (default: the function with ``new``'s output name) by ``new``.

        >>> p = Pipeline([PipeFunc(lambda a: a, "b")])
        >>> p.replace(PipeFunc(lambda a: -a, "b")); p("b", a=1)
        -1
        """
        if old is None:
            self.drop(output_name=new.output_name)
        else:
            self.drop(f=old)
        self.add(new)

    def validate(self) -> None:
        """Check the graph (no cycle, consistent defaults) and mapspecs; generate missing mapspecs.

        Called on construction and after every change made through the pipeline.
        """
        _ = self.topological_generations  # raises on a cycle
        check_consistent_defaults(self.functions, self.output_to_func)
        validate_output_names(self.functions)
        validate_consistent_axes([f.mapspec for f in self.functions if f.mapspec is not None])
        if autogen_mapspecs(self.functions, self.topological_generations.root_args):
            self._clear_cache()
            validate_consistent_axes([f.mapspec for f in self.functions if f.mapspec is not None])
        self._validate_ragged()

    def _validate_ragged(self) -> None:
        """A ``*`` axis is produced by a function before it is read; readers of a ragged array mark
        its axis ``*`` or reduce it with ``:`` (``MapSpecError`` naming the axis and functions)."""
        if not any(f.mapspec is not None and f.mapspec.ragged_axes for f in self.functions):
            return
        funcs = [f for f in self.sorted_functions if f.mapspec is not None]
        try:
            RaggedPlan.from_specs([f.mapspec for f in funcs if f.mapspec is not None], [f.__name__ for f in funcs])
        except MapSpecError as exc:
            made_by = [
                f"`{name}` is made by `{f.__name__}` (mapspec `{f.mapspec}`)"
                for name, f in self.output_to_func.items()
                if isinstance(name, str) and f"`{name}`" in str(exc) and f.mapspec is not None
            ]
            if made_by:
                exc.add_note("; ".join(made_by))
            raise

    @property
    def cache(self) -> LRUCache | HybridCache | DiskCache | SimpleCache | None:
        """The results cache of the ``cache=True`` functions (pipefunc's rules: ``cache_type``, or
        ``"lru"`` when a function caches; None without either), made on first use, kept by the
        pipeline (not by its copies or pickles)."""
        if self.__dict__.get("_results_cache") is None:
            cache_type = self.cache_type
            if cache_type is None and any(f.cache for f in self.functions):
                cache_type = "lru"
            self.__dict__["_results_cache"] = create_cache(cache_type, self.lazy, self.cache_kwargs)
        return self.__dict__["_results_cache"]

    def _clear_cache(self) -> None:
        for name in _CACHED:
            self.__dict__.pop(name, None)

    # -- graph ----------------------------------------------------------------------------
    @functools.cached_property
    def output_to_func(self) -> dict[OutputName, PipeFunc]:
        """{output name: function}, for each single name and each tuple name.

        >>> p = Pipeline([PipeFunc(lambda a: (a, a), ("b", "c"))])
        >>> sorted(map(str, p.output_to_func))
        ["('b', 'c')", 'b', 'c']
        """
        mapping: dict[OutputName, PipeFunc] = {}
        for f in self.functions:
            mapping[f.output_name] = f
            for name in f.output_names:
                mapping[name] = f
        return mapping

    def __getitem__(self, output_name: OutputName) -> PipeFunc:
        try:
            return self.output_to_func[output_name]
        except KeyError:
            available = sorted(self.all_output_names)
            msg = f"No function with output name `{output_name!r}` in the pipeline, only `{available}`."
            raise UnknownNameError(msg) from None

    def __contains__(self, output_name: object) -> bool:
        return output_name in self.output_to_func

    @functools.cached_property
    def all_output_names(self) -> set[str]:
        """Every single output name.

        >>> sorted(Pipeline([PipeFunc(lambda a: (a, a), ("b", "c"))]).all_output_names)
        ['b', 'c']
        """
        return {name for f in self.functions for name in f.output_names}

    @functools.cached_property
    def all_arg_names(self) -> set[str]:
        """Every parameter name of every function.

        >>> sorted(Pipeline([PipeFunc(lambda a, b: a, "c")]).all_arg_names)
        ['a', 'b']
        """
        return {p for f in self.functions for p in f.parameters}

    @functools.cached_property
    def defaults(self) -> dict[str, object]:
        """Defaults of the pipeline's inputs by parameter name (bound and produced ones excluded).

        >>> Pipeline([PipeFunc(lambda a, b=2: a, "c")]).defaults
        {'b': 2}
        """
        produced = self.output_to_func
        return {
            p: v
            for f in self.functions
            for p, v in f.defaults.items()
            if p not in f.bound and p not in produced
        }

    # -- mapspecs -------------------------------------------------------------------------
    def mapspecs(self, *, ordered: bool = True) -> list[MapSpec]:
        """The functions' mapspecs, in topological order (``ordered=False``: function order).

        >>> p = Pipeline([PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]")])
        >>> [str(s) for s in p.mapspecs()]
        ['x[i] -> y[i]']
        """
        functions = self.sorted_functions if ordered else self.functions
        return [f.mapspec for f in functions if f.mapspec is not None]

    @functools.cached_property
    def mapspecs_as_strings(self) -> list[str]:
        """`mapspecs` as strings (topological order)."""
        return [str(s) for s in self.mapspecs()]

    @functools.cached_property
    def mapspec_names(self) -> set[str]:
        """Every array name used in some mapspec."""
        return {n for s in self.mapspecs() for n in (*s.input_names, *s.output_names)}

    @functools.cached_property
    def mapspec_axes(self) -> dict[str, tuple[str | None, ...]]:
        """{array name: axes}, each position named by any spec."""
        return mapspec_axes(self.mapspecs())

    @functools.cached_property
    def mapspec_dimensions(self) -> dict[str, int]:
        """{array name: rank}."""
        return mapspec_dimensions(self.mapspecs())

    @functools.cached_property
    def _scopes(self) -> set[str]:
        return {p.split(".", 1)[0] for p in self.all_arg_names if "." in p}

    # -- subsets and copies ---------------------------------------------------------------
    def copy(self, **changes: Any) -> Pipeline:
        """A new pipeline with copies of the functions; ``changes`` override constructor arguments.

        >>> p = Pipeline([PipeFunc(lambda a: a, "b")])
        >>> q = p.copy(); q.functions[0] is p.functions[0], q("b", a=3)
        (False, 3)
        """
        kwargs: dict[str, Any] = {
            "functions": self.functions,
            "lazy": self.lazy,
            "debug": self.debug,
            "print_error": self.print_error,
            "profile": self.profile,
            "cache_type": self.cache_type,
            "cache_kwargs": self.cache_kwargs,
            "validate_type_annotations": self.validate_type_annotations,
            "default_resources": self.default_resources,
            "name": self.name,
            "description": self.description,
        }
        kwargs.update(changes)
        return type(self)(**kwargs)

    def join(self, *others: Pipeline | PipeFunc) -> Pipeline:
        """A new pipeline with this one's functions followed by those of ``others``.

        >>> a = Pipeline([PipeFunc(lambda x: x + 1, "y")])
        >>> (a | PipeFunc(lambda y: 2 * y, "z"))("z", x=1)
        4
        """
        functions = list(self.functions)
        for other in others:
            if isinstance(other, Pipeline):
                functions.extend(other.functions)
            elif isinstance(other, PipeFunc):
                functions.append(other)
            else:
                msg = f"Only `Pipeline` or `PipeFunc` instances can be joined. Got {type(other).__name__}: {other!r}."
                raise TypeError(msg)
        return self.copy(functions=functions)

    def __or__(self, other: Pipeline | PipeFunc) -> Pipeline:
        return self.join(other)

    def __repr__(self) -> str:
        funcs = ", ".join(str(f) for f in self.functions)
        return f"Pipeline([{funcs}])"

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k not in _CACHED and k != "_results_cache"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        for f in self.functions:
            f._pipelines.add(self)


_CACHED = tuple(
    name
    for cls in Pipeline.__mro__
    for name, value in vars(cls).items()
    if isinstance(value, functools.cached_property)
)


def _merge_resources(own: object, default: object) -> object:
    if own is None:
        return default
    if isinstance(own, dict) and isinstance(default, dict):
        return {**default, **own}
    return own

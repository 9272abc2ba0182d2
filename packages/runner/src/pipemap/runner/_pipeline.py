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
from typing import TYPE_CHECKING, Any, NamedTuple

from pipemap.mapspec import mapspec_axes, mapspec_dimensions, validate_consistent_axes
from pipemap.runner import _graph
from pipemap.runner._autogen import autogen_mapspecs, validate_output_names
from pipemap.runner._pipefunc import PipeFunc
from pipemap.runner._pipeline_run import PipelineRun
from pipemap.runner._pipeline_updates import PipelineUpdates, check_consistent_defaults

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from pipemap.mapspec import MapSpec

__all__ = ["Generations", "Pipeline", "UnknownNameError"]

OutputName = str | tuple[str, ...]


class Generations(NamedTuple):
    """Root arguments and the functions grouped by topological generation.

    >>> Generations(["x"], []).root_args
    ['x']
    """

    root_args: list[str]
    function_lists: list[list[PipeFunc]]


class UnknownNameError(ValueError, KeyError):
    """A name that is neither an input nor an output of the pipeline (a ValueError and KeyError).

    >>> str(UnknownNameError("no `q`"))
    'no `q`'
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class RootArgs(tuple):
    """The pipeline's root arguments (a tuple); call it as ``root_args(output_name)`` for a subset.

    >>> RootArgs(("a", "b")) == ("a", "b")
    True
    """

    _pipeline: Pipeline

    def __call__(self, output_name: OutputName | None = None) -> tuple[str, ...]:
        if output_name is None:
            return tuple(self)
        return self._pipeline._root_args_for(output_name)


class Pipeline(PipelineUpdates, PipelineRun):
    """A pipeline of `PipeFunc` objects (copied on construction).

    ``functions`` may hold `PipeFunc` objects, plain callables (output name = function name) and
    ``(PipeFunc, mapspec)`` pairs. ``lazy``, ``cache_type`` and ``validate_type_annotations``
    are stored for compatibility; ``debug``/``profile`` (when not None) are set on every
    function; ``scope`` puts every name in a scope; ``default_resources`` fill in functions
    without ``resources``.

    >>> from pipemap.runner import PipeFunc
    >>> p = Pipeline([PipeFunc(lambda a, b: a + b, "c"), PipeFunc(lambda c: 2 * c, "d")])
    >>> p("d", a=1, b=2)
    6
    """

    def __init__(
        self,
        functions: Iterable[PipeFunc | Callable[..., Any] | tuple[PipeFunc, str | MapSpec]],
        *,
        lazy: bool = False,
        debug: bool | None = None,
        profile: bool | None = None,
        cache_type: str | None = None,
        cache_kwargs: dict[str, Any] | None = None,
        validate_type_annotations: bool = False,
        scope: str | None = None,
        default_resources: Any = None,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        self.functions: list[PipeFunc] = []
        self.lazy = lazy
        self.debug = debug
        self.profile = profile
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
    def from_pipefunc(cls, pipeline: Any) -> Pipeline:
        """Convert a `pipefunc.Pipeline` (pipefunc imported lazily); see `pipemap.runner._from_pipefunc`.

        >>> import pipefunc
        >>> p = pipefunc.Pipeline([pipefunc.PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]")])
        >>> Pipeline.from_pipefunc(p).mapspecs_as_strings
        ['x[i] -> y[i]']
        """
        from pipemap.runner._from_pipefunc import from_pipefunc

        return from_pipefunc(pipeline, cls=cls)

    # -- building -------------------------------------------------------------------------
    def _append(self, f: PipeFunc | Callable[..., Any], mapspec: str | MapSpec | None) -> PipeFunc:
        if isinstance(f, PipeFunc):
            changes: dict[str, Any] = {}
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
            msg = f"Pipeline functions must be `PipeFunc` objects or callables, got {type(f).__name__}: {f!r}"
            raise TypeError(msg)
        if self.debug is not None:
            f.debug = self.debug
        if self.profile is not None:
            f.profile = self.profile
        existing = self.output_to_func
        for name in f.output_names:
            if name in existing:
                msg = (
                    f"The function with output name `{name!r}` already exists in the pipeline"
                    f" (`{existing[name]}`); `{f}` cannot produce it too."
                )
                raise ValueError(msg)
        self.functions.append(f)
        f._pipelines.add(self)
        self._clear_cache()
        for name in (f.output_name, *f.output_names):  # keep the lookup table: O(1) per add
            existing[name] = f
        self.__dict__["output_to_func"] = existing
        return f

    def add(self, f: PipeFunc | Callable[..., Any], mapspec: str | MapSpec | None = None) -> PipeFunc:
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
    def _dependencies(self) -> dict[PipeFunc, list[PipeFunc]]:
        """{function: the functions producing its (unbound) parameters}, in parameter order."""
        producers = self.output_to_func
        deps: dict[PipeFunc, list[PipeFunc]] = {}
        for f in self.functions:
            seen: dict[PipeFunc, None] = {}
            for p in f.parameters:
                if p in producers and p not in f.bound:
                    seen[producers[p]] = None
            deps[f] = list(seen)
        return deps

    @functools.cached_property
    def topological_generations(self) -> Generations:
        """Root arguments (first-use order) and functions by generation, each sorted by output names.

        Functions without parameters (or with only root arguments) are in the first generation.

        >>> p = Pipeline([PipeFunc(lambda b: b, "c"), PipeFunc(lambda a: a, "b")])
        >>> p.topological_generations
        Generations(root_args=['a'], function_lists=[[PipeFunc(<lambda>)], [PipeFunc(<lambda>)]])
        """
        try:
            levels = _graph.topological_generations(self._dependencies)
        except _graph.CycleError as e:
            names = " -> ".join(str(f) for f in [*e.cycle, e.cycle[0]])
            msg = f"The pipeline contains a cycle: {names} (each function needs the next one's output)."
            raise ValueError(msg) from None
        generations = [sorted(level, key=lambda f: f.output_names) for level in levels]
        return Generations(list(self.root_args), generations)

    @functools.cached_property
    def sorted_functions(self) -> list[PipeFunc]:
        """The functions in topological order (generation by generation).

        >>> p = Pipeline([PipeFunc(lambda b: b, "c"), PipeFunc(lambda a: a, "b")])
        >>> [f.output_name for f in p.sorted_functions]
        ['b', 'c']
        """
        return [f for level in self.topological_generations.function_lists for f in level]

    @functools.cached_property
    def root_args(self) -> RootArgs:
        """Parameters no function produces (bound ones excluded), in order of first use.

        A tuple; ``root_args(output_name)`` gives those needed for one output.

        >>> p = Pipeline([PipeFunc(lambda b, a: a + b, "c"), PipeFunc(lambda c, d: c, "e")])
        >>> p.root_args, p.root_args("c")
        (('b', 'a', 'd'), ('b', 'a'))
        """
        produced = self.output_to_func
        seen: dict[str, None] = {}
        for f in self.functions:
            for p in f.parameters:
                if p not in produced and p not in f.bound:
                    seen[p] = None
        out = RootArgs(seen)
        out._pipeline = self
        return out

    @property
    def all_root_args(self) -> tuple[str, ...]:
        """Same as `root_args` (all parameters no function produces), as a plain tuple.

        >>> Pipeline([PipeFunc(lambda a: a, "b")]).all_root_args
        ('a',)
        """
        return tuple(self.root_args)

    def _root_args_for(self, output_name: OutputName) -> tuple[str, ...]:
        f = self[output_name]
        needed = {f, *_graph.ancestors(self._dependencies, [f])}
        names = {p for g in needed for p in g.parameters if p not in g.bound}
        return tuple(p for p in self.root_args if p in names)

    @functools.cached_property
    def leaf_nodes(self) -> list[PipeFunc]:
        """Functions whose outputs no other function uses.

        >>> [f.output_name for f in Pipeline([PipeFunc(lambda a: a, "b")]).leaf_nodes]
        ['b']
        """
        used = {d for deps in self._dependencies.values() for d in deps}
        return [f for f in self.functions if f not in used]

    @property
    def unique_leaf_node(self) -> PipeFunc:
        """The only leaf function (ValueError if there are several)."""
        leaves = self.leaf_nodes
        if len(leaves) != 1:
            msg = f"The pipeline has {len(leaves)} leaf functions ({leaves}); specify an output name."
            raise ValueError(msg)
        return leaves[0]

    def func_dependencies(self, name: OutputName | PipeFunc) -> list[OutputName]:
        """Output names of every function needed (directly or not) to compute ``name``.

        >>> p = Pipeline([PipeFunc(lambda a: a, "b"), PipeFunc(lambda b: b, "c")])
        >>> p.func_dependencies("c")
        ['b']
        """
        f = name if isinstance(name, PipeFunc) else self[name]
        found = _graph.ancestors(self._dependencies, [f])
        return sorted((g.output_name for g in found), key=_as_tuple)

    def func_dependents(self, name: OutputName | PipeFunc) -> list[OutputName]:
        """Output names of every function that uses ``name`` (a root argument or output), directly or not.

        >>> p = Pipeline([PipeFunc(lambda a: a, "b"), PipeFunc(lambda b: b, "c")])
        >>> p.func_dependents("a"), p.func_dependents("b")
        (['b', 'c'], ['c'])
        """
        if isinstance(name, PipeFunc) or name in self.output_to_func:
            f = name if isinstance(name, PipeFunc) else self.output_to_func[name]
            found = _graph.descendants(self._dependencies, [f])
        elif name in self.all_arg_names:
            direct = [f for f in self.functions if name in f.parameters and name not in f.bound]
            found = set(direct) | _graph.descendants(self._dependencies, direct)
        else:
            msg = f"`{name}` is neither a parameter nor an output of the pipeline."
            raise UnknownNameError(msg)
        return sorted((g.output_name for g in found), key=_as_tuple)

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
    def defaults(self) -> dict[str, Any]:
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

    def subpipeline(
        self,
        inputs: Iterable[str] | None = None,
        output_names: OutputName | Iterable[OutputName] | None = None,
    ) -> Pipeline:
        """A copy restricted to the functions needed to compute ``output_names`` from ``inputs``.

        Walking back from the outputs (default: the leaf functions, downstream of ``inputs`` if
        given) stops at names in ``inputs``: their producers are left out. Unknown names raise
        `UnknownNameError`.

        >>> p = Pipeline([PipeFunc(lambda a: a + 1, "b"), PipeFunc(lambda b: 2 * b, "c")])
        >>> sub = p.subpipeline({"b"}); [f.output_name for f in sub.functions], sub.root_args
        (['c'], ('b',))
        """
        if inputs is None and output_names is None:
            msg = "At least one of `inputs` or `output_names` should be provided."
            raise ValueError(msg)
        given = None if inputs is None else set(inputs)
        if given is not None:
            known = self.all_arg_names | self.all_output_names
            if unknown := given - known:
                msg = f"Unknown `inputs` for the subpipeline: {sorted(unknown)}; the pipeline knows {sorted(known)}."
                raise UnknownNameError(msg)
        deps = self._dependencies
        if output_names is None:
            targets = list(self.leaf_nodes)
            if given is not None:
                direct = [f for f in self.functions if given & set(f.parameters)]
                reachable = set(direct) | _graph.descendants(deps, direct)
                targets = [f for f in targets if f in reachable]
        else:
            targets = []
            for name in _output_name_list(output_names):
                if name not in self.output_to_func:
                    msg = (
                        f"Unknown output name {name!r} for the subpipeline; the outputs are"
                        f" {sorted(self.all_output_names)}."
                    )
                    raise UnknownNameError(msg)
                targets.append(self.output_to_func[name])
        stop = given or set()
        needed: set[PipeFunc] = set()
        stack = list(dict.fromkeys(targets))
        while stack:
            f = stack.pop()
            if f in needed:
                continue
            needed.add(f)
            for p in f.parameters:
                if p in stop or p in f.bound:
                    continue
                producer = self.output_to_func.get(p)
                if producer is not None and producer not in needed:
                    stack.append(producer)
        return self.copy(functions=[f for f in self.functions if f in needed])

    # -- misc -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        funcs = ", ".join(str(f) for f in self.functions)
        return f"Pipeline([{funcs}])"

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in _CACHED}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for f in self.functions:
            f._pipelines.add(self)


_CACHED = tuple(
    name
    for cls in Pipeline.__mro__
    for name, value in vars(cls).items()
    if isinstance(value, functools.cached_property)
)


def _as_tuple(name: OutputName) -> tuple[str, ...]:
    return (name,) if isinstance(name, str) else name


def _output_name_list(output_names: OutputName | Iterable[OutputName]) -> list[OutputName]:
    if isinstance(output_names, (str, tuple)):
        return [output_names]
    return list(output_names)


def _merge_resources(own: Any, default: Any) -> Any:
    if own is None:
        return default
    if isinstance(own, dict) and isinstance(default, dict):
        return {**default, **own}
    return own

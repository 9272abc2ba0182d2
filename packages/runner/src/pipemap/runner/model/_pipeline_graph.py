"""Graph queries of a `Pipeline`: generations, root arguments, dependencies, subpipelines.

Mixed into `Pipeline`. The graph is ``{function: functions producing its unbound parameters}``
(`pipemap.runner.model._graph` does the traversals); every view is cached until the pipeline changes.

>>> from pipemap.runner import PipeFunc, Pipeline
>>> p = Pipeline([PipeFunc(lambda a: a + 1, "b"), PipeFunc(lambda b, c: b * c, "d")])
>>> p.root_args, p.func_dependencies("d")
(('a', 'c'), ['b'])
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, NamedTuple

from pipemap.runner.model import _graph
from pipemap.runner.model._pipefunc import PipeFunc
from pipemap.runner.model._pipeline_members import PipelineMembers

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pipemap.runner.model._pipeline import Pipeline

__all__ = ["Generations", "PipelineGraph", "RootArgs", "UnknownNameError"]

OutputName = str | tuple[str, ...]


class Generations(NamedTuple):
    """Root arguments and the functions grouped by topological generation.

    Returned by ``Pipeline.topological_generations``.

    Attributes
    ----------
    root_args : list of str
        The pipeline's root arguments (inputs no function produces).
    function_lists : list of list of PipeFunc
        The functions by generation: every function of a generation depends only on earlier ones.

    Examples
    --------
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

    _pipeline: PipelineGraph

    def __call__(self, output_name: OutputName | None = None) -> tuple[str, ...]:
        if output_name is None:
            return tuple(self)
        return self._pipeline._root_args_for(output_name)


class PipelineGraph(PipelineMembers):
    """The graph views of `Pipeline`."""

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

        >>> from pipemap.runner import PipeFunc, Pipeline
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

        >>> from pipemap.runner import PipeFunc, Pipeline
        >>> p = Pipeline([PipeFunc(lambda b: b, "c"), PipeFunc(lambda a: a, "b")])
        >>> [f.output_name for f in p.sorted_functions]
        ['b', 'c']
        """
        return [f for level in self.topological_generations.function_lists for f in level]

    @functools.cached_property
    def root_args(self) -> RootArgs:
        """Parameters no function produces (bound ones excluded), in order of first use.

        A tuple; ``root_args(output_name)`` gives those needed for one output.

        >>> from pipemap.runner import PipeFunc, Pipeline
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

        >>> from pipemap.runner import PipeFunc, Pipeline
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

        >>> from pipemap.runner import PipeFunc, Pipeline
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
            msg = (
                "The pipeline has multiple leaf nodes. Please specify the output_name argument to"
                f" disambiguate. The {len(leaves)} leaf functions: {leaves}."
            )
            raise ValueError(msg)
        return leaves[0]

    def func_dependencies(self, name: OutputName | PipeFunc) -> list[OutputName]:
        """Output names of every function needed (directly or not) to compute ``name``.

        >>> from pipemap.runner import PipeFunc, Pipeline
        >>> p = Pipeline([PipeFunc(lambda a: a, "b"), PipeFunc(lambda b: b, "c")])
        >>> p.func_dependencies("c")
        ['b']
        """
        f = name if isinstance(name, PipeFunc) else self[name]
        found = _graph.ancestors(self._dependencies, [f])
        return sorted((g.output_name for g in found), key=_as_tuple)

    def func_dependents(self, name: OutputName | PipeFunc) -> list[OutputName]:
        """Output names of every function that uses ``name`` (a root argument or output), directly or not.

        >>> from pipemap.runner import PipeFunc, Pipeline
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

    def subpipeline(
        self,
        inputs: Iterable[str] | None = None,
        output_names: OutputName | Iterable[OutputName] | None = None,
    ) -> Pipeline:
        """A copy restricted to the functions needed to compute ``output_names`` from ``inputs``.

        Walking back from the outputs (default: the leaf functions, downstream of ``inputs`` if
        given) stops at names in ``inputs``: their producers are left out. Unknown names raise
        `UnknownNameError`.

        >>> from pipemap.runner import PipeFunc, Pipeline
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



def _as_tuple(name: OutputName) -> tuple[str, ...]:
    return (name,) if isinstance(name, str) else name


def _output_name_list(output_names: OutputName | Iterable[OutputName]) -> list[OutputName]:
    if isinstance(output_names, (str, tuple)):
        return [output_names]
    return list(output_names)

"""Small DAG helpers for the pipeline model (no networkx).

A graph is a mapping ``{node: set of nodes it depends on}``; every node is a key. Nodes are any
hashable objects; the order of the mapping's keys is the tie-breaking order of the results.

>>> deps = {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}}
>>> topological_generations(deps)
[['a'], ['b', 'c'], ['d']]
>>> sorted(ancestors(deps, ["d"]))
['a', 'b', 'c']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable, Mapping, Sequence

__all__ = [
    "CycleError",
    "ancestors",
    "descendants",
    "find_cycle",
    "reverse",
    "topological_generations",
]

N = TypeVar("N", bound="Hashable")


class CycleError(ValueError):
    """The graph has a cycle; ``cycle`` lists its nodes in dependency order.

    >>> try:
    ...     topological_generations({"a": {"b"}, "b": {"a"}})
    ... except CycleError as e:
    ...     e.cycle
    ['a', 'b']
    """

    def __init__(self, message: str, cycle: Sequence[object]) -> None:
        super().__init__(message)
        self.cycle: list[object] = list(cycle)


def topological_generations(deps: Mapping[N, Iterable[N]]) -> list[list[N]]:
    """Group nodes into generations: each node comes after every node it depends on.

    A node's generation is one more than the latest generation of its dependencies (nodes
    without dependencies are in generation 0). Within a generation, nodes keep the key order of
    ``deps``. Raises `CycleError` naming the nodes of one cycle.

    >>> topological_generations({"x": set(), "y": {"x"}, "z": set()})
    [['x', 'z'], ['y']]
    """
    level: dict[N, int] = {}
    pending = {node: set(d) for node, d in deps.items()}
    remaining = {node: len(d) for node, d in pending.items()}
    dependents = reverse(deps)
    frontier = [node for node, count in remaining.items() if count == 0]
    for node in frontier:
        level[node] = 0
    i = 0
    while i < len(frontier):
        node = frontier[i]
        i += 1
        for child in dependents[node]:
            remaining[child] -= 1
            if remaining[child] == 0:
                level[child] = 1 + max(level[d] for d in pending[child])
                frontier.append(child)
    if len(level) != len(pending):
        cycle = find_cycle({n: d for n, d in pending.items() if n not in level})
        msg = "The graph contains a cycle: " + " -> ".join(map(str, [*cycle, cycle[0]]))
        raise CycleError(msg, cycle)
    generations: list[list[N]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for node in deps:  # key order decides the order inside a generation
        generations[level[node]].append(node)
    return generations


def find_cycle(deps: Mapping[N, Iterable[N]]) -> list[N]:
    """Return the nodes of one cycle (each depends on the next, the last on the first), or ``[]``.

    >>> find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()})
    ['a', 'b', 'c']
    >>> find_cycle({"a": set()})
    []
    """
    state: dict[N, int] = {}  # 1 = on the current path, 2 = finished
    for start in deps:
        if start in state:
            continue
        path: list[N] = [start]
        iters = [iter(sorted_like(deps.get(start, ()), deps))]
        state[start] = 1
        while path:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
                continue
            if nxt not in deps:
                continue
            s = state.get(nxt)
            if s == 1:
                return path[path.index(nxt) :]
            if s is None:
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(sorted_like(deps.get(nxt, ()), deps)))
    return []


def sorted_like(nodes: Iterable[N], order: Mapping[N, object]) -> list[N]:
    """Order ``nodes`` like the keys of ``order`` (unknown nodes last), for deterministic walks.

    >>> sorted_like({"c", "a"}, {"a": 0, "b": 0, "c": 0})
    ['a', 'c']
    """
    position = {n: i for i, n in enumerate(order)}
    return sorted(nodes, key=lambda n: position.get(n, len(position)))


def reverse(deps: Mapping[N, Iterable[N]]) -> dict[N, list[N]]:
    """The dependents of each node (``{node: nodes that depend on it}``), in key order.

    >>> reverse({"a": set(), "b": {"a"}, "c": {"a"}})
    {'a': ['b', 'c'], 'b': [], 'c': []}
    """
    out: dict[N, list[N]] = {node: [] for node in deps}
    for node, ds in deps.items():
        for d in ds:
            out.setdefault(d, []).append(node)
    return out


def ancestors(deps: Mapping[N, Iterable[N]], starts: Iterable[N]) -> set[N]:
    """Every node some start node depends on, directly or not (the starts excluded unless reached).

    >>> sorted(ancestors({"a": set(), "b": {"a"}, "c": {"b"}}, ["c"]))
    ['a', 'b']
    """
    return _reach(deps, starts)


def descendants(deps: Mapping[N, Iterable[N]], starts: Iterable[N]) -> set[N]:
    """Every node that depends on some start node, directly or not.

    >>> sorted(descendants({"a": set(), "b": {"a"}, "c": {"b"}}, ["a"]))
    ['b', 'c']
    """
    return _reach(reverse(deps), starts)


def _reach(edges: Mapping[N, Iterable[N]], starts: Iterable[N]) -> set[N]:
    seen: set[N] = set()
    stack = list(starts)
    while stack:
        node = stack.pop()
        for nxt in edges.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen

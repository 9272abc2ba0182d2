"""The members the parts of `Pipeline` read from each other, declared once for the type checker.

`Pipeline` is assembled from `PipelineGraph` (graph views), `PipelineUpdates` (``update_*``)
and `PipelineRun` (``run``, ``map``); each part reads members that another part or `Pipeline`
itself provides. The parts subclass :class:`PipelineMembers`: a Protocol declaring those
members for mypy, an empty class at runtime (instead of each part re-declaring the others).

>>> PipelineMembers.__mro__[-1] is object
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pipemap.runner.model._pipefunc import PipeFunc
    from pipemap.runner.model._pipeline import Pipeline

__all__ = ["PipelineMembers"]

OutputName = str | tuple[str, ...]


class _Members(Protocol):
    """What `Pipeline` provides to its parts (checked by mypy against `Pipeline`)."""

    functions: list[PipeFunc]

    @property
    def output_to_func(self) -> dict[OutputName, PipeFunc]: ...

    @property
    def all_arg_names(self) -> set[str]: ...

    @property
    def all_output_names(self) -> set[str]: ...

    @property
    def mapspec_axes(self) -> dict[str, tuple[str | None, ...]]: ...

    @property
    def sorted_functions(self) -> list[PipeFunc]: ...

    @property
    def root_args(self) -> tuple[str, ...]: ...

    @property
    def defaults(self) -> dict[str, object]: ...

    @property
    def _scopes(self) -> set[str]: ...

    @property
    def _dependencies(self) -> dict[PipeFunc, list[PipeFunc]]: ...

    @property
    def leaf_nodes(self) -> list[PipeFunc]: ...

    @property
    def unique_leaf_node(self) -> PipeFunc: ...

    def __getitem__(self, output_name: OutputName) -> PipeFunc: ...

    def copy(self, **changes: Any) -> Pipeline: ...

    def validate(self) -> None: ...

    def _clear_cache(self) -> None: ...


if TYPE_CHECKING:
    PipelineMembers = _Members
else:

    class PipelineMembers:
        """Empty at runtime: `Pipeline` provides every member."""

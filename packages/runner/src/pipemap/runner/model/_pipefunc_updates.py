"""The ``update_*`` methods of `PipeFunc` (renames, defaults, bound values, scopes, axes).

Each update changes the stored settings, rebuilds the derived state (`PipeFunc._refresh`) and
restores the old settings if the result is invalid.

>>> from pipemap.runner import PipeFunc
>>> f = PipeFunc(lambda a, b=1: a + b, "c", mapspec="a[i] -> c[i]")
>>> f.update_renames({"a": "x"}); f.update_defaults({"b": 2}); str(f.mapspec), f(x=1)
('x[i] -> c[i]', 3)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pipemap.runner.model._scopes import scope_renames

if TYPE_CHECKING:
    import inspect
    from collections.abc import Mapping

    from pipemap.mapspec import MapSpec

__all__ = ["PipeFuncUpdates"]


class PipeFuncUpdates:
    """Mixed into `PipeFunc`."""

    __name__: str
    parameters: tuple[str, ...]
    output_names: tuple[str, ...]
    mapspec: MapSpec | None
    _output_name: str | tuple[str, ...]
    _original_parameters: dict[str, inspect.Parameter]
    _renames: dict[str, str]
    _defaults: dict[str, object]
    _bound: dict[str, object]

    def _refresh(self) -> None:  # pragma: no cover - provided by PipeFunc
        raise NotImplementedError

    def update_defaults(self, defaults: Mapping[str, object], *, overwrite: bool = False) -> None:
        """Set defaults by renamed parameter names (``overwrite`` replaces all earlier ones).

        >>> from pipemap.runner import PipeFunc
        >>> f = PipeFunc(lambda a, b=1: a + b, "c")
        >>> f.update_defaults({"b": 5}); f.defaults
        {'b': 5}
        """
        self._check_keys(defaults, "defaults", self.parameters)
        old = self._defaults
        self._defaults = dict(defaults) if overwrite else {**self._defaults, **defaults}
        self._apply_or_revert("_defaults", old)

    def update_bound(self, bound: Mapping[str, object], *, overwrite: bool = False) -> None:
        """Fix arguments by renamed parameter names (``overwrite`` replaces all earlier ones).

        >>> from pipemap.runner import PipeFunc
        >>> f = PipeFunc(lambda a, b: a + b, "c")
        >>> f.update_bound({"b": 5}); f(a=1)
        6
        """
        self._check_keys(bound, "bound", self.parameters)
        old = self._bound
        self._bound = dict(bound) if overwrite else {**self._bound, **bound}
        self._apply_or_revert("_bound", old)

    def update_renames(
        self,
        renames: dict[str, str],
        *,
        update_from: Literal["current", "original"] = "current",
        overwrite: bool = False,
    ) -> None:
        """Rename parameters and outputs; defaults, bound values and the mapspec follow.

        ``update_from="current"``: keys are the current names; ``"original"``: the names of the
        signature and of the original ``output_name``.

        >>> from pipemap.runner import PipeFunc
        >>> f = PipeFunc(lambda a: a, "b", mapspec="a[i] -> b[i]")
        >>> f.update_renames({"a": "x", "b": "y"}); str(f.mapspec), f.output_name
        ('x[i] -> y[i]', 'y')
        """
        if update_from not in ("current", "original"):
            msg = f"`update_from` must be 'current' or 'original', got {update_from!r}."
            raise ValueError(msg)
        original_outputs = (
            (self._output_name,) if isinstance(self._output_name, str) else self._output_name
        )
        if update_from == "current":
            allowed = self.parameters + self.output_names
            self._check_keys(renames, "renames", allowed)
            to_original = {self._renames.get(o, o): o for o in (*self._original_parameters, *original_outputs)}
            renames = {to_original[k]: v for k, v in renames.items()}
        else:
            allowed = (*self._original_parameters, *original_outputs)
            self._check_keys(renames, "renames", allowed)
        old_renames = self._renames
        new_renames = dict(renames) if overwrite else {**old_renames, **renames}
        current_to_new = {}
        for o in (*self._original_parameters, *original_outputs):
            before, after = old_renames.get(o, o), new_renames.get(o, o)
            if before != after:
                current_to_new[before] = after
        old = (self._renames, self._defaults, self._bound, self.mapspec)
        self._renames = {k: v for k, v in new_renames.items() if k != v}
        self._defaults = {current_to_new.get(k, k): v for k, v in self._defaults.items()}
        self._bound = {current_to_new.get(k, k): v for k, v in self._bound.items()}
        if self.mapspec is not None:
            self.mapspec = self.mapspec.rename(current_to_new)
        try:
            self._refresh()
        except Exception:
            self._renames, self._defaults, self._bound, self.mapspec = old
            self._refresh()
            raise

    def update_scope(
        self,
        scope: str | None,
        inputs: set[str] | Literal["*"] | None = None,
        outputs: set[str] | Literal["*"] | None = None,
        exclude: set[str] | None = None,
    ) -> None:
        """Prefix names with ``scope.`` (``None`` removes a scope), via `update_renames`.

        >>> from pipemap.runner import PipeFunc
        >>> f = PipeFunc(lambda a: a, "b")
        >>> f.update_scope("s", inputs="*", outputs="*"); f.parameters, f.output_name
        (('s.a',), 's.b')
        """
        chosen: set[str] = set()
        chosen |= set(self.parameters) if inputs == "*" else set(inputs or ())
        chosen |= set(self.output_names) if outputs == "*" else set(outputs or ())
        chosen -= set(exclude or ())
        renames = scope_renames(chosen, scope)
        if renames:
            self.update_renames(renames, update_from="current")

    def update_mapspec_axes(self, renames: dict[str, str]) -> None:
        """Rename axes of the mapspec (no-op without one).

        >>> from pipemap.runner import PipeFunc
        >>> f = PipeFunc(lambda a: a, "b", mapspec="a[i] -> b[i]")
        >>> f.update_mapspec_axes({"i": "k"}); str(f.mapspec)
        'a[k] -> b[k]'
        """
        if self.mapspec is None:
            return
        self.mapspec = self.mapspec.rename_axes(renames)
        self._refresh()

    def _set_mapspec(self, mapspec: MapSpec | None) -> None:
        """Replace the mapspec (used by the pipeline's automatic generation)."""
        old = self.mapspec
        self.mapspec = mapspec
        self._apply_or_revert("mapspec", old)

    def _apply_or_revert(self, attr: str, old: object) -> None:
        try:
            self._refresh()
        except Exception:
            setattr(self, attr, old)
            self._refresh()
            raise

    def _check_keys(self, update: Mapping[str, object], kind: str, allowed: tuple[str, ...]) -> None:
        if extra := set(update) - set(allowed):
            msg = (
                f"Unexpected `{kind}` arguments: `{_set_str(extra)}`. The allowed arguments are:"
                f" `{allowed}`. The provided arguments are: `{dict(update)}`. Function: `{self.__name__}`."
            )
            raise ValueError(msg)


def _set_str(items: set[str]) -> str:
    return "{" + ", ".join(repr(x) for x in sorted(items)) + "}"

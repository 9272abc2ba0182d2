"""`NestedPipeFunc`: several functions run as one unit, per element, like pipefunc's.

The nested function's parameters are the inputs of its functions (without their bound ones)
that no function of it produces, sorted; its outputs are all their outputs (or the subset
``output_name``). A call runs the inner pipeline in-process (`NestedCall`); in a map it is one
call per element. Without ``mapspec`` the mapspec is derived from the inner ones (which must all
map the same axes, with no reduction), and the inner functions lose theirs.

>>> from pipemap.runner import PipeFunc
>>> n = NestedPipeFunc([PipeFunc(lambda a, b=2: a + b, "c"), PipeFunc(lambda c, d: c * d, "e")])
>>> n.parameters, n.output_name, n.defaults, n(a=1, d=3)
(('a', 'b', 'd'), ('c', 'e'), {'b': 2}, (3, 9))
"""

from __future__ import annotations

import hashlib
import inspect
from typing import TYPE_CHECKING, Any

from pipemap.mapspec import ArraySpec, MapSpec, mapspec_axes
from pipemap.runner.model._pipefunc import PipeFunc

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pipemap.runner.model._pipeline import Pipeline

__all__ = ["NestedCall", "NestedPipeFunc"]

OutputName = str | tuple[str, ...]


def _names(output_name: OutputName) -> tuple[str, ...]:
    return (output_name,) if isinstance(output_name, str) else tuple(output_name)


def native_name(name: str) -> str:
    """The identifier standing for a (possibly scoped) parameter name in a nested signature."""
    return name.replace(".", "__dot__")


class NestedCall:
    """The callable of a `NestedPipeFunc`: evaluates the inner pipeline from keyword arguments and
    returns ``output_name``'s value(s) (a tuple for several). Picklable (the pipeline is)."""

    def __init__(self, pipeline: Pipeline, output_name: OutputName, function_name: str | None = None) -> None:
        self.pipeline = pipeline
        self.output_name = output_name
        self.__name__ = function_name or "NestedPipeFunc_" + "_".join(_names(output_name))
        produced = {n for f in pipeline.functions for n in f.output_names}
        inputs = {p for f in pipeline.functions for p in f.parameters if p not in f.bound}
        self.parameter_names = tuple(sorted(inputs - produced))
        #: the signature's names: identifiers (a scoped ``foo.a`` becomes ``foo__dot__a``; the
        #: `NestedPipeFunc` renames it back), and the inner name of each
        self.scoped = {native_name(p): p for p in self.parameter_names}
        if len(self.scoped) != len(self.parameter_names) or (set(self.scoped) - set(self.parameter_names)) & inputs:
            msg = f"The parameters {self.parameter_names} of `{self.__name__}` clash once scopes are encoded."
            raise ValueError(msg)
        self._order = list(pipeline.sorted_functions)

    @property
    def __signature__(self) -> inspect.Signature:
        defaults = self.pipeline.defaults
        empty = inspect.Parameter.empty
        return inspect.Signature(
            [
                inspect.Parameter(native, inspect.Parameter.KEYWORD_ONLY, default=defaults.get(p, empty))
                for native, p in self.scoped.items()
            ]
        )

    def __pipefunc_hash__(self) -> str:
        """The inner functions' fingerprints combined (its cache identity, as pipefunc's)."""
        from pipemap.runner.model._cached_call import cache_id

        combined = "|".join(cache_id(f.output_names, f.func) for f in self._order)
        return hashlib.sha256(combined.encode()).hexdigest()[:16]

    def full_output(self, **kwargs: Any) -> dict[str, Any]:
        """Every inner output (and the inputs) from ``kwargs``, in pipeline order."""
        scoped = self.scoped
        values: dict[str, Any] = {scoped.get(k, k): v for k, v in kwargs.items()}
        for f in self._order:
            args = {p: values[p] for p in f.parameters if p in values and p not in f.bound}
            out = f(**args)
            values.update(zip(f.output_names, f._pick_outputs(out), strict=True))
        return values

    def __call__(self, **kwargs: Any) -> Any:
        values = self.full_output(**kwargs)
        if isinstance(self.output_name, str):
            return values[self.output_name]
        return tuple(values[n] for n in self.output_name)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_order"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._order = list(self.pipeline.sorted_functions)


class NestedPipeFunc(PipeFunc):
    """Combine at least two `PipeFunc` objects into one function with an inner `Pipeline`.

    In a run it is one call per element. Its parameters are the inner inputs no inner function
    produces; its outputs all inner outputs, or ``output_name``.

    Parameters
    ----------
    functions : sequence of PipeFunc
        The functions to combine (copied; at least two).
    output_name : str or tuple of str, optional
        The outputs of the nested function: a subset of the functions' outputs (default: all of
        them, in pipeline order).
    function_name : str, optional
        The nested function's name (default ``"NestedPipeFunc_<outputs>"``).
    renames : dict of str to str, optional
        Renames of the nested function's parameters and outputs.
    mapspec : str or MapSpec, optional
        The nested function's mapspec (default: derived from the inner mapspecs, which the inner
        functions then lose).
    resources : dict or callable, optional
        The nested function's resources (default: the inner ones, the largest of each numeric field).
    resources_scope : {"map", "element"}, default "map"
        When callable ``resources`` are evaluated (see ``PipeFunc``).
    bound : dict, optional
        Fixed values of the nested function's parameters.
    cache : bool, optional
        Cache the nested function's calls (default: whether any inner function caches).
    variant : None
        Not supported (pipemap has no ``VariantPipeline``): a value other than None raises.

    Examples
    --------
    >>> from pipemap.runner import PipeFunc, Pipeline
    >>> n = NestedPipeFunc([PipeFunc(lambda x: x + 1, "y", mapspec="x[i] -> y[i]"),
    ...                     PipeFunc(lambda y: 2 * y, "z", mapspec="y[i] -> z[i]")], output_name="z")
    >>> str(n.mapspec), n.pipeline.mapspecs_as_strings
    ('x[i] -> z[i]', [])
    """

    def __init__(
        self,
        functions: Sequence[PipeFunc],
        output_name: OutputName | None = None,
        function_name: str | None = None,
        *,
        renames: dict[str, str] | None = None,
        mapspec: str | MapSpec | None = None,
        resources: object = None,
        resources_scope: str = "map",
        bound: dict[str, Any] | None = None,
        cache: bool | None = None,
        variant: object = None,
    ) -> None:
        from pipemap.runner.model._pipeline import Pipeline

        functions = list(functions)
        _validate_functions(functions, resources, variant)
        inner = Pipeline([f.copy(mapspec=None) for f in functions])
        all_outputs = tuple(n for f in inner.sorted_functions for n in f.output_names)
        if isinstance(output_name, list):
            output_name = tuple(output_name)
        if output_name is not None and not set(_names(output_name)) <= set(all_outputs):
            msg = (
                f"The provided `output_name={output_name!r}` should be a subset of the combined"
                f" output names: {all_outputs}."
            )
            raise ValueError(msg)
        name = output_name if output_name is not None else all_outputs
        call = NestedCall(inner, name, function_name)
        renames = dict(renames or {})
        for native, scoped in call.scoped.items():  # a scoped parameter keeps its name (or the user's)
            if native != scoped and native not in renames:  # (a copy passes the native key already)
                renames[native] = renames.pop(scoped, scoped)
        if mapspec is None:
            mapspec = _combined_mapspec(functions, call.parameter_names, _names(name), renames, call.scoped)
        self.function_name = function_name
        self.resources_scope = resources_scope
        self.variant = None
        super().__init__(
            call,
            name,
            renames=renames,
            bound=bound,
            cache=any(f.cache for f in functions) if cache is None else bool(cache),
            mapspec=mapspec,
            resources=resources if resources is not None else _max_resources(functions),
        )

    @property
    def pipeline(self) -> Pipeline:
        """The inner pipeline (its functions are copies, without mapspecs)."""
        call = getattr(self.func, "__wrapped__", self.func)  # (a run's cached call wraps it)
        assert isinstance(call, NestedCall)
        return call.pipeline

    @property
    def output_annotation(self) -> dict[str, object]:
        """{output name: return annotation} from the inner functions."""
        inner = self.pipeline
        return {
            new: inner[old].output_annotation[old]
            for new, old in zip(self.output_names, _names(self._output_name), strict=True)
        }

    @property
    def functions(self) -> list[PipeFunc]:
        """The inner functions (copies, without mapspecs)."""
        return self.pipeline.functions

    def copy(self, **changes: Any) -> NestedPipeFunc:
        """A new `NestedPipeFunc` with the same settings, except ``changes``."""
        allowed = {"mapspec", "resources", "renames", "bound", "cache", "output_name", "function_name", "defaults"}
        if unknown := set(changes) - allowed:
            msg = f"`NestedPipeFunc.copy` cannot change {sorted(unknown)}."
            raise TypeError(msg)
        kwargs: dict[str, Any] = {
            "functions": self.pipeline.functions,
            "output_name": self._output_name,
            "function_name": self.function_name,
            "renames": self._renames,
            "mapspec": self.mapspec,
            "resources": self.resources,
            "resources_scope": self.resources_scope,
            "bound": self._bound,
            "cache": self.cache,
        }
        defaults = changes.pop("defaults", self._defaults)
        kwargs.update(changes)
        f = type(self)(**kwargs)
        f.debug, f.profile, f.print_error, f.timeout = self.debug, self.profile, self.print_error, self.timeout
        f.retries = self.retries
        if defaults:
            f.update_defaults(defaults)
        return f

    def __repr__(self) -> str:
        return f"NestedPipeFunc(functions={self.pipeline.functions})"


def _validate_functions(functions: list[PipeFunc], resources: object, variant: object) -> None:
    if variant is not None:
        msg = (
            f"pipemap does not support `variant=` ({variant!r}) on a `NestedPipeFunc`: pipemap has"
            " no `VariantPipeline`; select the variant before nesting."
        )
        raise NotImplementedError(msg)
    if bad := [f for f in functions if not isinstance(f, PipeFunc)]:
        msg = f"All elements in `functions` should be instances of `PipeFunc`, got {bad[0]!r}."
        raise TypeError(msg)
    if len(functions) < 2:  # noqa: PLR2004
        msg = "The provided `functions` should have at least two `PipeFunc`s."
        raise ValueError(msg)
    if callable(resources):
        msg = (
            "`NestedPipeFunc` cannot have callable `resources`."
            " Provide a dict instead or do not nest the `PipeFunc`s."
        )
        raise TypeError(msg)
    if resources is None and any(callable(f.resources) for f in functions):
        msg = (
            "A `NestedPipeFunc` cannot have nested functions with callable `resources`."
            " Provide `NestedPipeFunc(..., resources=...)` instead."
        )
        raise ValueError(msg)


def _combined_mapspec(
    functions: list[PipeFunc],
    parameters: tuple[str, ...],
    outputs: tuple[str, ...],
    renames: dict[str, str],
    scoped: dict[str, str],
) -> MapSpec | None:
    """One mapspec for the nested function from the inner ones (pipefunc's rules: all or none
    have one, each maps its inputs' axes to its outputs unchanged, all over the same axes).
    Names are the inner ones, then renamed (pipefunc 0.93.2 looks the renamed names up instead)."""
    specs = [f.mapspec for f in functions]
    if all(m is None for m in specs):
        return None
    if any(m is None for m in specs):
        msg = "Cannot combine a mix of None and MapSpec instances."
        raise ValueError(msg)
    first = specs[0]
    assert first is not None
    for m in specs:
        assert m is not None
        if m.input_indices != set(m.output_indices):
            msg = f"Cannot combine MapSpecs with different input and output mappings. Mapspec: `{m}`"
            raise ValueError(msg)
        if m.input_indices != first.input_indices:
            msg = f"Cannot combine MapSpecs with different input mappings. Mapspec: `{m}`"
            raise ValueError(msg)
        if m.output_indices != first.output_indices:
            msg = f"Cannot combine MapSpecs with different output mappings. Mapspec: `{m}`"
            raise ValueError(msg)
    axes = mapspec_axes([m for m in specs if m is not None])
    native = {p: n for n, p in scoped.items()}
    inputs = tuple(ArraySpec(renames.get(native[n], n), axes[n]) for n in sorted(parameters) if n in axes)
    outs = tuple(ArraySpec(renames.get(n, n), axes[n]) for n in sorted(outputs))
    return MapSpec(inputs, outs, _is_generated=True)


def _max_resources(functions: list[PipeFunc]) -> object:
    """The inner functions' resources: one as it is; several dicts merged, the largest of each
    numeric field (other fields: the first function's value)."""
    given = [f.resources for f in functions if f.resources is not None]
    if len(given) <= 1:
        return given[0] if given else None
    if not all(isinstance(r, dict) for r in given):
        return given[0]
    merged: dict[str, Any] = {}
    for r in given:
        assert isinstance(r, dict)
        for k, v in r.items():
            if k not in merged:
                merged[k] = v
            elif isinstance(v, int | float) and isinstance(merged[k], int | float):
                merged[k] = max(merged[k], v)
    return merged

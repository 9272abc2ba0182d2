"""Pipeline-wide updates (renames, defaults, axes, scopes) and the checks they share.

Mixed into `Pipeline`; every update changes the pipeline's functions, drops the cached views
and validates again.

>>> from pipemap.runner import PipeFunc, Pipeline
>>> p = Pipeline([PipeFunc(lambda a, b=1: a + b, "c")])
>>> p.update_renames({"a": "x"}); p.root_args
('x', 'b')
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Literal

from pipemap.runner.model._autogen import add_mapspec_axis
from pipemap.runner.model._pipeline_graph import UnknownNameError
from pipemap.runner.model._pipeline_members import PipelineMembers
from pipemap.runner.model._scopes import flatten_scopes, scope_renames

if TYPE_CHECKING:
    from pipemap.runner.model._pipefunc import PipeFunc

__all__ = ["PipelineUpdates", "check_consistent_defaults"]

OutputName = str | tuple[str, ...]


class PipelineUpdates(PipelineMembers):
    """The ``update_*`` and `add_mapspec_axis` methods of `Pipeline`."""

    def add_mapspec_axis(self, *parameters: str, axis: str) -> None:
        """Map each of ``parameters`` (and all that is computed from it) over ``axis`` (docs/behaviour.md §2.2).

        >>> from pipemap.runner import PipeFunc, Pipeline
        >>> p = Pipeline([PipeFunc(lambda x, b: x * b, "y", mapspec="x[i] -> y[i]"),
        ...               PipeFunc(lambda y: sum(y), "total")])
        >>> p.add_mapspec_axis("b", axis="j"); p.mapspecs_as_strings
        ['x[i], b[j] -> y[i, j]', 'y[:, j] -> total[j]']
        """
        for p in parameters:
            if p not in self.all_arg_names:
                msg = f"`{p}` is not a parameter of any function in the pipeline."
                raise UnknownNameError(msg)
        for p in parameters:
            add_mapspec_axis(p, axis, self.sorted_functions)
        self._clear_cache()
        self.validate()

    # -- updates --------------------------------------------------------------------------
    def update_defaults(self, defaults: dict[str, object], *, overwrite: bool = False) -> None:
        """Set defaults on every function taking the parameter (not where it is bound).

        >>> from pipemap.runner import PipeFunc, Pipeline
        >>> p = Pipeline([PipeFunc(lambda a, b=1: a + b, "c")])
        >>> p.update_defaults({"b": 5}); p("c", a=1)
        6
        """
        defaults = flatten_scopes(defaults, self._scopes)
        unused = set(defaults)
        for f in self.functions:
            update = {k: v for k, v in defaults.items() if k in f.parameters and k not in f.bound}
            unused -= update.keys()
            if update or overwrite:
                f.update_defaults(update, overwrite=overwrite)
        self._clear_cache()
        if unused:
            msg = f"Unused keyword arguments: `{', '.join(sorted(unused))}`. These are not settable defaults."
            raise ValueError(msg)
        self.validate()

    def update_renames(
        self,
        renames: dict[str, str],
        *,
        update_from: Literal["current", "original"] = "current",
        overwrite: bool = False,
    ) -> None:
        """Rename parameters and outputs in every function that has them.

        >>> from pipemap.runner import PipeFunc, Pipeline
        >>> p = Pipeline([PipeFunc(lambda a: a, "b"), PipeFunc(lambda b: b, "c")])
        >>> p.update_renames({"b": "beta"}); sorted(p.all_output_names), p.functions[1].parameters
        (['beta', 'c'], ('beta',))
        """
        unused = set(renames)
        for f in self.functions:
            if update_from == "current":
                names = (*f.parameters, *f.output_names)
            else:
                out = f._output_name
                names = (*f.original_parameters, *((out,) if isinstance(out, str) else out))
            update = {k: v for k, v in renames.items() if k in names}
            unused -= update.keys()
            if update or overwrite:
                f.update_renames(update, update_from=update_from, overwrite=overwrite)
        self._clear_cache()
        if unused:
            msg = f"Unused keyword arguments: `{', '.join(sorted(unused))}`. These are not settable renames."
            raise ValueError(msg)
        self.validate()

    def update_mapspec_axes(self, renames: dict[str, str]) -> None:
        """Rename mapspec axes in every function.

        >>> from pipemap.runner import PipeFunc, Pipeline
        >>> p = Pipeline([PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]")])
        >>> p.update_mapspec_axes({"i": "k"}); p.mapspecs_as_strings
        ['x[k] -> y[k]']
        """
        current = {a for axes in self.mapspec_axes.values() for a in axes if a is not None}
        if unknown := set(renames) - current:
            msg = f"Unknown axes to rename: {_set_repr(unknown)}. Available axes: {_set_repr(current)}"
            raise ValueError(msg)
        for f in self.functions:
            f.update_mapspec_axes(renames)
        self._clear_cache()
        self.validate()

    def update_scope(
        self,
        scope: str | None,
        inputs: set[str] | Literal["*"] | None = None,
        outputs: set[str] | Literal["*"] | None = None,
        exclude: set[str] | None = None,
    ) -> None:
        """Prefix input and/or output names with ``scope.`` everywhere (``None`` removes scopes).

        >>> from pipemap.runner import PipeFunc, Pipeline
        >>> p = Pipeline([PipeFunc(lambda a: a, "b")])
        >>> p.update_scope("s", inputs="*", outputs="*"); p.root_args, sorted(p.all_output_names)
        (('s.a',), ['s.b'])
        """
        # as in pipefunc: names that are not root arguments / outputs are skipped, and choosing
        # none at all is an error
        roots, outs = set(self.root_args), set(self.all_output_names)
        all_inputs = roots if inputs == "*" else set(inputs or ()) & roots
        all_outputs = outs if outputs == "*" else set(outputs or ()) & outs
        chosen = (all_inputs | all_outputs) - set(exclude or ())
        if not chosen:
            unknown = (set(() if inputs == "*" else inputs or ()) - roots) | (set(() if outputs == "*" else outputs or ()) - outs)
            msg = "No function's scope was updated. Ensure `inputs` and/or `outputs` are specified correctly."
            if unknown:
                msg += f" Not root arguments or outputs of this pipeline: {_set_repr(unknown)}."
            raise ValueError(msg)
        renames = scope_renames(chosen, scope)
        if renames:
            self.update_renames(renames, update_from="current")


def same_default(a: object, b: object) -> bool | None:
    """True/False when decidable, None when comparing raised or was ambiguous."""
    if a is b:
        return True
    try:
        result = a == b
        if isinstance(result, bool):
            return result
        import numpy as np

        return bool(np.all(result)) and np.shape(a) == np.shape(b)
    except Exception:
        return None


def check_consistent_defaults(functions: list[PipeFunc], produced: dict[OutputName, PipeFunc]) -> None:
    first: dict[str, tuple[object, PipeFunc]] = {}
    for f in functions:
        for p, value in f.defaults.items():
            if p in f.bound or p in produced:
                continue
            if p not in first:
                first[p] = (value, f)
                continue
            same = same_default(value, first[p][0])
            if same is None:
                msg = (
                    f"Could not compare the default values of `{p}` in `{first[p][1]}` and `{f}`;"
                    " one of them will be used."
                )
                warnings.warn(msg, UserWarning, stacklevel=4)
            elif not same:
                msg = (
                    f"Inconsistent default values for argument '{p}' in functions. Please make sure"
                    " the shared input arguments have the same default value or are set only for one"
                    f" function. The functions: `{first[p][1]}` ({first[p][0]!r}) and `{f}` ({value!r})."
                )
                raise ValueError(msg)


def _set_repr(items: set[str]) -> str:
    """A set as pipefunc prints it, sorted so that messages are stable: ``{'a', 'b'}``."""
    return "{" + ", ".join(repr(x) for x in sorted(items)) + "}"

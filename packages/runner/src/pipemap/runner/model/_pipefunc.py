"""`PipeFunc`: a function with output name(s), renames, defaults, bound values and a mapspec.

Names and calling conventions follow pipefunc so that porting a pipeline is an import change.
Everything derived from the user's settings (renamed parameters, merged defaults, the fast call
path, the output picker) is computed once in `PipeFunc._refresh` and recomputed on every
``update_*``, so the engine's per-element calls do no signature work.

>>> def add(a, b=1):
...     return a + b
>>> add = PipeFunc(add, output_name="c", renames={"a": "x"})
>>> add.parameters, add.defaults
(('x', 'b'), {'b': 1})
>>> add(x=2)
3
"""

from __future__ import annotations

import inspect
import weakref
from typing import TYPE_CHECKING, Any

import cloudpickle
from pipemap.mapspec import MapSpec
from pipemap.runner.model._pipefunc_compat import function_from_pipefunc, without_snapshot
from pipemap.runner.model._pipefunc_calls import compile_call, lazyframe_parameters, make_picker
from pipemap.runner.model._pipefunc_updates import PipeFuncUpdates
from pipemap.runner.model._retry_policy import RetryPolicy, as_policy
from pipemap.runner.model._scopes import flatten_scopes
from pipemap.runner.model._pipefunc_args import (
    lenient_internal_shape,
    _function_name,
    _is_name,
    _parse_mapspec,
    _set_str,
    _rename_clashes,
    _signature_defaults,
    _signature_parameters,
    normalize_internal_shape,
    return_annotations,
    validate_mapspec,
    validate_resources_scope,
    validate_timeout,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import pipefunc
    from pipemap.runner.model._pipeline import Pipeline
    from pipemap.storage import ErrorSnapshot, PropagatedErrorSnapshot

__all__ = ["PipeFunc", "normalize_internal_shape"]

OutputName = str | tuple[str, ...]

# Attributes computed by `_refresh`; dropped on pickling and rebuilt on unpickling.
_DERIVED = (
    "output_name",
    "output_names",
    "parameters",
    "defaults",
    "_inverse_renames",
    "_pick_outputs",
    "requires_mapping",
    "parameter_scopes",
)


class ArgumentsError(TypeError, ValueError):
    """Arguments that do not fit a call (Python raises ``TypeError``, pipefunc ``ValueError``)."""


class PipeFunc(PipeFuncUpdates):
    """A function in a pipeline: its output name(s), mapspec, renames, defaults and bound values.

    Calling it calls the wrapped function with the renamed parameters. ``pipefunc`` is the
    decorator form.

    Parameters
    ----------
    func : callable
        The function to wrap.
    output_name : str or tuple of str
        The name of the function's output, or a tuple of names for a function with several outputs
        (its return value is split with ``output_picker``, by default by position).
    output_picker : callable, optional
        ``output_picker(value, name)`` returns the output ``name`` from the return value ``value``
        (multi-output functions; default ``value[position]``).
    renames : dict of str to str, optional
        ``{original name: new name}`` for parameters and outputs; ``defaults``, ``bound`` and
        ``mapspec`` use the new names.
    defaults : mapping, optional
        Default values of parameters (override the function's own defaults).
    bound : mapping, optional
        Fixed values of parameters: they are no longer inputs of the pipeline.
    profile : bool, default False
        Kept for pipefunc compatibility: stored on the function, pipemap records no profile
        (a ``parallel=True`` run warns that profiling is not supported).
    debug : bool, default False
        Kept for pipefunc compatibility: stored on the function, pipemap prints nothing per call.
    print_error : bool, default True
        Kept for pipefunc compatibility: stored on the function (errors reach the caller as
        exceptions, or as ``ErrorSnapshot`` with ``error_handling="continue"``).
    cache : bool, default False
        Cache the results of calls in the pipeline's cache (``Pipeline(cache_type=...)``), keyed by
        the arguments.
    mapspec : str or MapSpec, optional
        How the axes of the inputs map to the axes of the outputs, e.g. ``"x[i], y[j] -> z[i, j]"``
        (None: the function is called once, with whole arrays).
    internal_shape : int, str or tuple, optional
        The sizes of the output's internal axes (axes no input has), ``"?"`` where unknown until the
        function has run; the run's ``internal_shapes=`` overrides it.
    resources : dict or callable, optional
        The resources a call needs (cpus, memory, ...; used by cluster executors), or a callable of
        the arguments returning them.
    scope : str, optional
        Put every parameter and output name in this scope (``"scope.name"``).
    timeout : float, optional
        Seconds a call may take; a longer call fails with ``FunctionTimeoutError`` (a pipemap
        extension; counts as a failed attempt for ``retries``).
    resources_variable : str, optional
        The parameter that receives the evaluated ``resources``.
    resources_scope : {"map", "element"}, default "map"
        Evaluate callable ``resources`` once per map (in the parent) or once per element.
    retries : int or RetryPolicy, optional
        Extra attempts per element (an int) or a ``RetryPolicy`` (a pipemap extension); overrides
        the run's ``retries=``.

    Examples
    --------
    >>> f = PipeFunc(lambda x, y=2: x * y, "z", mapspec="x[i] -> z[i]")
    >>> f.parameters, f.output_names, str(f.mapspec), f.requires_mapping
    (('x', 'y'), ('z',), 'x[i] -> z[i]', True)
    >>> f(x=3)
    6
    """

    def __init__(
        self,
        func: Callable[..., object],
        output_name: OutputName,
        *,
        output_picker: Callable[[Any, str], Any] | None = None,
        renames: dict[str, str] | None = None,
        defaults: Mapping[str, object] | None = None,
        bound: Mapping[str, object] | None = None,
        profile: bool = False,
        debug: bool = False,
        print_error: bool = True,
        cache: bool = False,
        mapspec: str | MapSpec | None = None,
        internal_shape: int | str | tuple[int | str, ...] | None = None,
        resources: object = None,
        scope: str | None = None,
        timeout: float | None = None,
        resources_variable: str | None = None,
        resources_scope: str = "map",
        retries: int | RetryPolicy | None = None,
    ) -> None:
        if not callable(func):
            msg = f"`func` must be callable, got {type(func).__name__}: {func!r}"
            raise TypeError(msg)
        self.func = func
        self.__name__: str = _function_name(func)
        doc = getattr(func, "__doc__", None)
        if doc and doc != getattr(type(func), "__doc__", None):
            self.__doc__ = doc
        if isinstance(output_name, list):
            output_name = tuple(output_name)
        self._output_name: OutputName = output_name
        self._output_picker = output_picker
        self._renames: dict[str, str] = dict(renames or {})
        self._defaults: dict[str, object] = dict(defaults or {})
        self._bound: dict[str, object] = dict(bound or {})
        self.profile = profile
        self.debug = debug
        self.print_error = print_error
        self.cache = cache
        self.mapspec: MapSpec | None = _parse_mapspec(mapspec)
        self.resources = resources
        self.resources_variable = resources_variable
        self.resources_scope = validate_resources_scope(resources_scope, self.__name__)
        self.timeout = validate_timeout(timeout, self.__name__)  # seconds per element
        #: the function's own retry policy (None: the run's ``retries=`` default applies)
        self.retries: RetryPolicy | None = as_policy(retries, f"`retries` of `{self.__name__}`")
        self.error_snapshot: ErrorSnapshot | PropagatedErrorSnapshot | None = None
        #: the `pipefunc.PipeFunc` this one was converted from (gets the error snapshots too), or None
        self.pipefunc_source: Any = None
        self._pipelines: weakref.WeakSet[Pipeline] = weakref.WeakSet()
        self._original_parameters = _signature_parameters(func, resources_variable)
        self._signature_defaults = _signature_defaults(func, self._original_parameters)
        self._validate_output_name()
        self._refresh()
        self.internal_shape = lenient_internal_shape(internal_shape, ",".join(self.output_names))
        if scope is not None:
            self.update_scope(scope, inputs="*", outputs="*")

    @classmethod
    def from_pipefunc(cls, func: pipefunc.PipeFunc) -> PipeFunc:
        """Convert a `pipefunc.PipeFunc` (pipefunc imported lazily); see `pipemap.runner.model._from_pipefunc`.

        >>> import pipefunc
        >>> PipeFunc.from_pipefunc(pipefunc.PipeFunc(lambda a: a, "b")).output_name
        'b'
        """
        return function_from_pipefunc(func, cls)

    # -- read-only views ------------------------------------------------------------------
    @property
    def renames(self) -> dict[str, str]:
        """Original name (parameter or output) -> new name. Change it with `update_renames`.

        >>> PipeFunc(lambda a: a, "b", renames={"a": "x"}).renames
        {'a': 'x'}
        """
        return self._renames

    @property
    def bound(self) -> dict[str, object]:
        """Fixed argument values by renamed parameter name. Change them with `update_bound`.

        >>> PipeFunc(lambda a, b: a + b, "c", bound={"b": 1}).bound
        {'b': 1}
        """
        return self._bound

    @property
    def original_parameters(self) -> dict[str, inspect.Parameter]:
        """The signature's parameters by their original names.

        >>> list(PipeFunc(lambda a, b: a, "c", renames={"a": "x"}).original_parameters)
        ['a', 'b']
        """
        return self._original_parameters

    @property
    def output_picker(self) -> Callable[[Any, str], Any] | None:
        """The custom ``output_picker(value, name)``, or ``None`` for the default one.

        >>> PipeFunc(lambda: {"a": 1}, ("a",), output_picker=dict.__getitem__).output_picker
        <method '__getitem__' of 'dict' objects>
        """
        return self._output_picker

    # -- the execution surface (what the engine calls) -----------------------------------
    def native_name(self, name: str) -> str:
        """The wrapped function's own name for parameter ``name`` (its rename undone).

        >>> PipeFunc(lambda a: a, "b", renames={"a": "x"}).native_name("x")
        'a'
        """
        return self._inverse_renames.get(name, name)

    @property
    def default_overrides(self) -> dict[str, object]:
        """The defaults set with ``defaults=``/`update_defaults` (renamed names; a copy), without
        the signature's own (`defaults` has both).

        >>> PipeFunc(lambda a, b=1: a + b, "c", defaults={"a": 0}).default_overrides
        {'a': 0}
        """
        return dict(self._defaults)

    @property
    def pick_outputs(self) -> Callable[[Any], tuple[Any, ...]]:
        """``pick_outputs(value)``: a returned value as one value per output, in `output_names`
        order (error snapshots go to every output).

        >>> PipeFunc(lambda a: (a, -a), ("x", "y")).pick_outputs((1, -1))
        (1, -1)
        """
        return self._pick_outputs

    def compile_call(
        self, mapped_names: Sequence[str], const: Mapping[str, object], guard: tuple[int, Callable[[object], object]] | None = None
    ) -> Callable[..., Any]:
        """``call(*values)`` for the parameters ``mapped_names`` (renamed names), every other one
        from ``const``; see `pipemap.runner.model._pipefunc_calls.compile_call` (``guard``).

        >>> call = PipeFunc(lambda a, c: a + c, "y", renames={"a": "x"}).compile_call(["x"], {"c": 10})
        >>> call(1), call.__positional__
        (11, ['x'])
        """
        return compile_call(self, mapped_names, const, guard)

    def call_with_kwargs(self, kwargs: Mapping[str, object]) -> Any:
        """Call with arguments by renamed name, unchecked: bound values win, ``defaults=``
        overrides fill absent keys (the engine's call of a single function).

        >>> PipeFunc(lambda a, b=1: a + b, "c", renames={"a": "x"}, bound={"b": 5}).call_with_kwargs({"x": 1})
        6
        """
        return compile_call(self, (), kwargs)()

    @property
    def _call_with_renamed_kwargs(self) -> Callable[[dict[str, Any]], Any]:  # the former name
        return self.call_with_kwargs

    @property
    def output_annotation(self) -> dict[str, object]:
        """{output name: return annotation}; ``inspect.Parameter.empty`` where unknown.

        >>> def f(a) -> tuple[int, float]: ...
        >>> PipeFunc(f, ("x", "y")).output_annotation
        {'x': <class 'int'>, 'y': <class 'float'>}
        """
        return return_annotations(self.func, self._output_picker is None, self.output_name, self.output_names)

    @property
    def __wrapped__(self) -> Callable[..., object]:
        return self.func

    # -- derived state --------------------------------------------------------------------
    def _refresh(self) -> None:
        """Recompute every derived attribute; called after construction and each update."""
        renames = self._renames
        out = self._output_name
        self.output_name = renames.get(out, out) if isinstance(out, str) else tuple(renames.get(n, n) for n in out)
        self.output_names = (self.output_name,) if isinstance(self.output_name, str) else self.output_name
        self.parameters = tuple(renames.get(p, p) for p in self._original_parameters)
        self._inverse_renames = {
            new: old for old, new in renames.items() if old in self._original_parameters
        }
        defaults = {}
        for original in self._original_parameters:
            name = renames.get(original, original)
            if name in self._defaults:
                defaults[name] = self._defaults[name]
            elif original in self._signature_defaults and name not in self._bound:
                defaults[name] = self._signature_defaults[original]
        self.defaults = defaults
        self.requires_mapping = self.mapspec is not None and bool(self.mapspec.inputs)
        self.parameter_scopes = {p.split(".", 1)[0] for p in self.parameters if "." in p}
        self._validate()
        self._pick_outputs = make_picker(self)
        #: parameters (the function's own names) annotated ``pl.LazyFrame``: DataFrames are passed lazy
        self.lazyframe_parameters = lazyframe_parameters(self.func)
        for pipeline in list(self._pipelines):
            pipeline._clear_cache()

    # -- validation -----------------------------------------------------------------------
    def _validate_output_name(self) -> None:
        out = self._output_name
        names = (out,) if isinstance(out, str) else out
        if not isinstance(out, (str, tuple)):
            msg = f"The `output_name` should be a string or a tuple of strings, not {type(out)}. Got {out!r}."
            raise TypeError(msg)
        if not names or not all(isinstance(n, str) for n in names):
            msg = f"The `output_name` should be a string or a non-empty tuple of strings, got {out!r}."
            raise TypeError(msg)
        if len(set(names)) != len(names):
            msg = f"The `output_name` {out!r} of `{self.__name__}` repeats a name."
            raise ValueError(msg)

    def _validate(self) -> None:
        name = self.__name__
        params = self.parameters
        for o in self.output_names:
            if not _is_name(o):
                msg = f"The output name {o!r} of `{name}` is not a valid Python identifier."
                raise ValueError(msg)
        allowed = set(self._original_parameters) | set(
            (self._output_name,) if isinstance(self._output_name, str) else self._output_name
        )
        if extra := set(self._renames) - allowed:
            raw_out = self._output_name
            allowed_order = (*self._original_parameters, *((raw_out,) if isinstance(raw_out, str) else raw_out))
            msg = (
                f"Unexpected `renames` arguments: `{_set_str(extra)}`. The allowed arguments are:"
                f" `{allowed_order}`. The provided arguments are: `{self._renames}`. Function: `{name}`."
            )
            raise ValueError(msg)
        for new in self._renames.values():
            if not _is_name(new):
                msg = f"The `renames` should contain/be valid Python identifier(s), not `{new}`. Function: `{name}`."
                raise ValueError(msg)
        if len(set(params)) != len(params):
            msg = (
                "The `renames` should be a one-to-one mapping. Found violations where multiple keys"
                f" map to the same value: {_rename_clashes(self._renames) or params}. Function: `{name}`."
            )
            raise ValueError(msg)
        for kind, mapping in (("defaults", self._defaults), ("bound", self._bound)):
            if extra := set(mapping) - set(params):
                msg = (
                    f"Unexpected `{kind}` arguments: `{_set_str(extra)}`. The allowed arguments are:"
                    f" `{params}`. The provided arguments are: `{mapping}`. Function: `{name}`."
                )
                raise ValueError(msg)
        if common := set(self._defaults) & set(self._bound):
            msg = (
                f"The following parameters are both defaults and bound: `{_set_str(common)}`."
                f" This is not allowed. Function: `{name}`."
            )
            raise ValueError(msg)
        if overlap := set(params) & set(self.output_names):
            msg = (
                "The `output_name` cannot be the same as any of the input parameter names."
                f" The overlap is: {_set_str(overlap)} (function `{name}`)."
            )
            raise ValueError(msg)
        self._validate_mapspec()

    def _validate_mapspec(self) -> None:
        if self.mapspec is not None:
            validate_mapspec(self.mapspec, self.__name__, self.parameters, set(self._bound), self.output_names)

    # -- calling --------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call with renamed parameter names; defaults and bound values are applied.

        >>> f = PipeFunc(lambda a, b: a - b, "c", renames={"a": "x"}, bound={"b": 1})
        >>> f(x=5), f(5)
        (4, 4)
        """
        kwargs = flatten_scopes(kwargs, self.parameter_scopes)
        if args:
            free = [p for p in self.parameters if p not in self._bound]
            if len(args) > len(free):
                msg = f"`{self.__name__}` takes {len(free)} positional arguments, got {len(args)}."
                raise TypeError(msg)
            for p, v in zip(free, args):
                if p in kwargs:
                    msg = f"Multiple values provided for parameter `{p}`. Function: `{self.__name__}`."
                    raise ArgumentsError(msg)
                kwargs[p] = v
        if extra := kwargs.keys() - set(self.parameters):
            msg = (
                f"Unexpected keyword arguments: `{_set_str(extra)}`. The allowed arguments are:"
                f" `{self.parameters}`. The provided arguments are: `{kwargs}`. Function: `{self.__name__}`."
            )
            raise ValueError(msg)
        merged = {**self.defaults, **kwargs, **self._bound}
        inverse = self._inverse_renames
        native = {inverse.get(k, k): v for k, v in merged.items()}
        if self.resources_variable is not None:  # as pipefunc: evaluated on these arguments
            native[self.resources_variable] = self.resources(merged) if callable(self.resources) else self.resources
        return self.func(**native)

    # -- copying, printing, pickling --------------------------------------------------------
    def copy(self, **changes: Any) -> PipeFunc:
        """A new `PipeFunc` with the same settings, except ``changes`` (constructor arguments).

        >>> f = PipeFunc(lambda a: a, "b")
        >>> g = f.copy(output_name="c"); g.output_name, f.output_name
        ('c', 'b')
        """
        kwargs: dict[str, Any] = {
            "func": self.func,
            "output_name": self._output_name,
            "output_picker": self._output_picker,
            "renames": self._renames,
            "defaults": self._defaults,
            "bound": self._bound,
            "profile": self.profile,
            "debug": self.debug,
            "print_error": self.print_error,
            "cache": self.cache,
            "mapspec": self.mapspec,
            "internal_shape": self.internal_shape,
            "resources": self.resources,
            "timeout": self.timeout,
            "resources_variable": self.resources_variable,
            "resources_scope": self.resources_scope,
            "retries": self.retries,
        }
        kwargs.update(changes)
        new = type(self)(**kwargs)
        new.pipefunc_source = self.pipefunc_source
        return new

    def __str__(self) -> str:
        return f"{self.__name__}(...) → {', '.join(self.output_names)}"

    def __repr__(self) -> str:
        return f"PipeFunc({self.__name__})"

    def __getstate__(self) -> dict[str, object]:
        state = {k: v for k, v in self.__dict__.items() if k not in _DERIVED and k != "_pipelines"}
        state["func"] = cloudpickle.dumps(self.func)
        state["_original_parameters"] = state["_signature_defaults"] = None  # rebuilt on load
        state["pipefunc_source"] = without_snapshot(state.get("pipefunc_source"))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.pipefunc_source = self.resources_variable = None
        self.resources_scope = "map"
        self.__dict__.update(state)
        self.func = cloudpickle.loads(state["func"])
        self._pipelines = weakref.WeakSet()
        self._original_parameters = _signature_parameters(self.func, self.resources_variable)
        self._signature_defaults = _signature_defaults(self.func, self._original_parameters)
        self._refresh()
        # decided where the function was defined (polars may not be imported here yet)
        self.lazyframe_parameters = state.get("lazyframe_parameters", self.lazyframe_parameters)

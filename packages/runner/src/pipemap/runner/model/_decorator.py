"""The ``pipefunc`` decorator: wrap a function in a `PipeFunc`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipemap.mapspec import MapSpec
from pipemap.runner.model._pipefunc import OutputName, PipeFunc
from pipemap.runner.model._retry_policy import RetryPolicy, as_policy

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["pipefunc"]


def pipefunc(
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
) -> Callable[[Callable[..., object]], PipeFunc]:
    """Decorator that wraps a function in a `PipeFunc` (same arguments as `PipeFunc`).

    Parameters
    ----------
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

    Returns
    -------
    callable
        A decorator turning a function into a ``PipeFunc``.

    Examples
    --------
    >>> @pipefunc(output_name="y", mapspec="x[i] -> y[i]")
    ... def double(x):
    ...     return 2 * x
    >>> double(x=4), str(double)
    (8, 'double(...) → y')
    """

    as_policy(retries, f"`retries` of `pipefunc({output_name!r})`")  # bad input fails here, not when decorating

    def decorator(func: Callable[..., object]) -> PipeFunc:
        return PipeFunc(
            func,
            output_name,
            output_picker=output_picker,
            renames=renames,
            defaults=defaults,
            bound=bound,
            profile=profile,
            debug=debug,
            print_error=print_error,
            cache=cache,
            mapspec=mapspec,
            internal_shape=internal_shape,
            resources=resources,
            scope=scope,
            timeout=timeout,
            resources_variable=resources_variable,
            resources_scope=resources_scope,
            retries=retries,
        )

    return decorator

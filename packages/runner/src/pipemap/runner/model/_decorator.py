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

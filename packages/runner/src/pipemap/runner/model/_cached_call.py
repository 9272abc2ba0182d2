"""The cached call of a ``cache=True`` function: keys, function fingerprints and the wrapper.

pipefunc's rules: one entry per call, keyed by the function (its output names and a fingerprint
of its code, so editing it invalidates a disk cache), the run's ``error_handling`` and its
arguments made hashable (`to_hashable`). With ``error_handling="continue"`` a failed call is
cached too (later runs give the same error without calling); with ``"raise"`` it is not.
The run wraps only the functions with ``cache=True`` (decided when the run is prepared), so
others pay nothing.

>>> from pipemap.runner.model._cache import SimpleCache
>>> calls = []
>>> def f(x):
...     calls.append(x)
...     return 2 * x
>>> g = cached_call(f, SimpleCache(), "f", "raise")
>>> g(x=1), g(x=1), g(x=[1, 2]) == g(x=[1, 2]), calls
(2, 2, True, [1, [1, 2]])
"""

from __future__ import annotations

import collections
import functools
import hashlib
import inspect
import sys
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import cloudpickle

from pipemap.runner.model._retry_policy import effective_policy

if TYPE_CHECKING:
    from pipemap.runner.model._pipeline import Pipeline
    from pipemap.runner.model._retry_policy import RetryPolicy

__all__ = [
    "UnhashableError",
    "cache_id",
    "cached_call",
    "function_fingerprint",
    "to_hashable",
    "with_cached_functions",
]

_MARK = "__pipemap_hashable__"


class UnhashableError(TypeError):
    """A cached function's argument that cannot be made hashable (nor pickled)."""

    def __init__(self, obj: object) -> None:
        super().__init__(f"Object of type {type(obj).__name__} cannot be hashed for the cache: {obj!r:.200}")


def _items(items: Any, sort: bool = False) -> tuple[Any, ...]:
    out = [to_hashable(x) for x in items]
    if sort:
        out.sort(key=repr)
    return tuple(out)


def to_hashable(obj: Any) -> Hashable:
    """A hashable stand-in for ``obj``: itself when hashable, else its type and contents
    (containers, numpy arrays, pandas/polars objects), else its cloudpickle digest.

    >>> to_hashable([1, {"a": (2, [3])}]) == to_hashable([1, {"a": (2, [3])}])
    True
    >>> to_hashable([1]) == to_hashable((1,))
    False
    """
    try:
        hash(obj)
    except Exception:  # noqa: BLE001 - unhashable: converted below
        pass
    else:
        return obj
    tp = type(obj).__qualname__
    if isinstance(obj, dict):
        factory = to_hashable(obj.default_factory) if isinstance(obj, collections.defaultdict) else None
        pairs = [(to_hashable(k), to_hashable(v)) for k, v in obj.items()]
        if not isinstance(obj, collections.OrderedDict):
            pairs.sort(key=repr)
        return (_MARK, tp, factory, tuple(pairs))
    if isinstance(obj, set | frozenset):
        return (_MARK, tp, _items(obj, sort=True))
    if isinstance(obj, list | tuple | collections.deque | bytearray):
        return (_MARK, tp, _items(obj))
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(obj, numpy.ndarray):
        mask = numpy.ma.getmaskarray(obj).tobytes() if isinstance(obj, numpy.ma.MaskedArray) else None
        data = numpy.asarray(obj.data) if mask is not None else obj
        values = _items(data.flat) if data.dtype.hasobject else numpy.ascontiguousarray(data).tobytes()
        return (_MARK, tp, obj.shape, obj.dtype.str, values, mask)
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(obj, pandas.Series | pandas.DataFrame):
        data = obj.to_dict() if isinstance(obj, pandas.Series) else obj.to_dict("list")
        return (_MARK, tp, getattr(obj, "name", None), to_hashable(data))
    polars = sys.modules.get("polars")
    if polars is not None and isinstance(obj, polars.Series):
        return (_MARK, tp, obj.name, str(obj.dtype), to_hashable(obj.to_list()))
    if polars is not None and isinstance(obj, polars.DataFrame):
        return (_MARK, tp, to_hashable(obj.to_dict(as_series=False)))
    try:
        return (_MARK, tp, hashlib.md5(cloudpickle.dumps(obj)).hexdigest())  # noqa: S324
    except Exception as e:
        raise UnhashableError(obj) from e


def function_fingerprint(func: Callable[..., object]) -> str:
    """A short digest of a function's code (source, else bytecode; a callable object: its class;
    ``functools.partial``: with its bound arguments); ``""`` when none can be computed."""
    own = getattr(func, "__pipefunc_hash__", None)  # a callable's own fingerprint (as in pipefunc)
    if callable(own):
        return str(own())
    parts: list[str] = []
    while isinstance(func, functools.partial):
        parts.append(repr((func.args, sorted(func.keywords.items()))))
        func = func.func
    target: Any = func
    if not (inspect.isfunction(target) or inspect.ismethod(target)) and callable(target):
        target = type(target) if not inspect.isclass(target) else target
    try:
        parts.append(inspect.getsource(target))
    except (OSError, TypeError):
        code = getattr(target, "__code__", None)
        if code is None:
            return ""
        parts.append(repr((code.co_code, code.co_names, [c for c in code.co_consts if not inspect.iscode(c)])))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cache_id(output_names: tuple[str, ...], func: Callable[..., object]) -> str:
    """The function's part of its cache keys: its output names and code fingerprint."""
    return "-".join(output_names) + "-" + function_fingerprint(func)


class _CachedError:
    """A failed call kept in the cache (``error_handling="continue"``): raised again on a hit."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __deepcopy__(self, memo: dict[int, object]) -> _CachedError:
        return self  # (the caches copy values; an exception may not be copyable)


def cached_call(
    func: Callable[..., Any], cache: Any, ident: str, error_handling: str, *, retried: bool = False
) -> Callable[..., Any]:
    """``func`` looking its result up in ``cache`` first (key: ``ident``, ``error_handling``,
    the arguments) and storing what it computes (a `HybridCache` also gets the duration).
    ``retried``: the function has a retry policy, so a failure is not cached (the next attempt
    must call it again)."""
    timed = type(cache).__name__ == "HybridCache"
    keep_errors = error_handling == "continue" and not retried

    @functools.wraps(func)
    def cached(*args: Any, **kwargs: Any) -> Any:
        key = (ident, error_handling, to_hashable(args) if args else (), to_hashable(kwargs))
        if key in cache:
            value = cache.get(key)
            if isinstance(value, _CachedError):
                raise value.error
            return value
        start = time.monotonic()
        try:
            value = func(*args, **kwargs)
        except Exception as e:
            if keep_errors:
                _put(cache, key, _CachedError(e), timed, start)
            raise
        _put(cache, key, value, timed, start)
        return value

    return cached


def _put(cache: Any, key: Hashable, value: object, timed: bool, start: float) -> None:
    if timed:
        cache.put(key, value, time.monotonic() - start)
    else:
        cache.put(key, value)


def with_cached_functions(
    pipeline: Pipeline, cache: Any, error_handling: str, retries: RetryPolicy | None = None
) -> Pipeline:
    """The pipeline a run executes: ``pipeline`` itself when no function caches (or there is no
    cache), else a copy whose ``cache=True`` functions look up and fill ``cache`` (``retries``:
    the run's default policy; a function with a policy never caches a failure)."""
    if cache is None or not any(f.cache for f in pipeline.functions):
        return pipeline
    run_pipeline = pipeline.copy()
    for f in run_pipeline.functions:
        if f.cache:
            retried = effective_policy(getattr(f, "retries", None), retries) is not None
            f.func = cached_call(f.func, cache, cache_id(f.output_names, f.func), error_handling, retried=retried)
    return run_pipeline

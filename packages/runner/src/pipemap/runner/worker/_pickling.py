"""Pickling tasks for worker processes: user code by value, installed code by reference.

A function (or class) from a module that a worker cannot import (a script, a notebook, a test
file collected with ``--import-mode=importlib``) is pickled by value; functions of installed
packages stay references.

>>> import pickle
>>> pickle.loads(dumps_task(len, [len]))("abc")
3
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

import cloudpickle
from pipemap.storage import unpicklable_error, unpicklable_part

if TYPE_CHECKING:
    from concurrent.futures import Future

    from pipemap.runner.model._pipefunc import PipeFunc

_INSTALLED_TOPS = {"builtins", "numpy", "pipemap", "cloudpickle", "pandas", "polars", "xarray"}


def user_module(obj: object) -> ModuleType | None:
    """The module of ``obj`` if it is user code (not stdlib, not installed), else None."""
    name = getattr(obj, "__module__", None)
    if not name or name == "__main__":
        return None
    top = name.partition(".")[0]
    if top in sys.stdlib_module_names or top in _INSTALLED_TOPS:
        return None
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None) or ""
    if not file or "site-packages" in file or "dist-packages" in file:
        return None
    return module


def dumps_task(task: object, roots: Iterable[object]) -> bytes:
    """cloudpickle ``task`` with the user modules of ``roots`` (functions) pickled by value."""
    modules = {m.__name__: m for m in (user_module(r) for r in roots) if m is not None}
    registered = []
    for module in modules.values():
        try:
            cloudpickle.register_pickle_by_value(module)
            registered.append(module)
        except (ValueError, TypeError):
            pass
    try:
        return cloudpickle.dumps(task)
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)


def _dumps(value: object) -> bytes:
    return cloudpickle.dumps(value)


def _storage_part(value: Any) -> str | None:
    """``"element 3"`` of a storage (an upstream output) whose stored value cannot be pickled."""
    size = int(getattr(value, "size", 0) or 0)
    try:
        values = value.get_many(range(size))
    except Exception:  # noqa: BLE001 - a storage we cannot read: no element to name
        return None
    for k, v in enumerate(values):
        try:
            _dumps(v)
        except Exception:  # noqa: BLE001, PERF203 - only after a failure: find the culprit
            return f"element {k}"
    return None


def unpicklable_culprit(func: object, arguments: Mapping[str, object], function: str) -> str:
    """What ``function`` sends to worker processes that cannot be pickled, for an error message:
    ``"Input `x` of `f` (element 1)"``, ``"Output `y` (element 4), an input of `g`,"``,
    ``"The function `f`"``. Only called after pickling failed (it pickles each part alone)."""
    for name, value in arguments.items():
        try:
            _dumps(value)
            continue
        except Exception:  # noqa: BLE001 - the culprit: which part of it?
            pass
        if hasattr(value, "get_many") and hasattr(value, "done_mask"):  # an upstream output's storage
            where = _storage_part(value)
            return f"Output `{name}`{f' ({where})' if where else ''}, an input of `{function}`,"
        where = unpicklable_part(value, _dumps)
        return f"Input `{name}` of `{function}`{f' ({where})' if where else ''}"
    try:
        dumps_task(func, [func])
    except Exception:  # noqa: BLE001 - the function (a closure over something unpicklable, ...)
        return f"The function `{function}`"
    return f"What `{function}` sends to the worker processes"


def unpicklable_for_workers(exc: BaseException, culprit: str) -> BaseException:
    """A new exception (``exc``'s type when possible) saying that ``culprit`` (see
    :func:`unpicklable_culprit`) cannot be pickled; the caller chains it to ``exc``."""
    error = unpicklable_error(exc, culprit, None)
    error.add_note(
        "Everything a function needs is pickled to reach the worker processes (parallel=True):"
        " pass picklable values, or run it with parallel=False or a thread pool executor."
    )
    return error


def note_unsendable(future: Future, f: PipeFunc, elements: str) -> Future:
    """``future`` of a chunk whose values return to the parent; if the worker could not pickle
    them, its error gets a note naming the function, the outputs and the chunk's elements."""

    def note(done: Future) -> None:
        exc = None if done.cancelled() else done.exception()
        if exc is not None and "_sendback_result" in str(exc.__cause__ or ""):  # the result's pickling
            exc.add_note(
                f"A value that `{f.__name__}` returned for one of the elements {elements} of"
                f" `{', '.join(f.output_names)}` cannot be pickled, so the worker process could not send it"
                " back (the output's storage keeps values in the parent). Return picklable values, or use a"
                " storage that workers write themselves (`file_array`, `chunked`): its error names the element."
            )

    future.add_done_callback(note)
    return future

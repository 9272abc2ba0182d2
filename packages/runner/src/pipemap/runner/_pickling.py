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
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import cloudpickle

_INSTALLED_TOPS = {"builtins", "numpy", "pipemap", "cloudpickle", "pandas", "polars", "xarray"}


def user_module(obj: Any) -> ModuleType | None:
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


def dumps_task(task: Any, roots: Iterable[Any]) -> bytes:
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

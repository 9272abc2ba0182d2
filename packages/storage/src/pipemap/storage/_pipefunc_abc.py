"""pipemap's storages count as pipefunc's: ``isinstance(store, pipefunc.map.StorageBase)`` holds.

pipefunc is optional and takes about a second to import (``pipemap.storage``: about 0.3 s), so
pipemap never imports it. :func:`install` (run when ``pipemap.storage`` is imported) registers
``pipemap.storage.StorageBase`` as a virtual subclass of pipefunc's ``StorageBase`` ABC, so every
pipemap storage (built-in, lazily imported or third-party) follows:

* at once when pipefunc's module is already imported;
* otherwise the moment it is: a finder on ``sys.meta_path`` waits for that one module name, lets
  the regular finders and loader import it, registers, gives the module its own loader back and
  removes itself. Every other import only costs the finder a string comparison.

pipefunc 0.93.2 has no other public ABC (its ``FileValue``, ``DirectValue`` and error snapshots
are concrete classes, which cannot take virtual subclasses).

>>> install(); install()  # idempotent: at most one waiting finder
>>> sum(isinstance(f, _WaitForPipefunc) for f in sys.meta_path) <= 1
True
"""

from __future__ import annotations

import importlib.abc
import sys
from types import ModuleType
from typing import Any

__all__ = ["PIPEFUNC_STORAGE_MODULE", "install"]

#: where pipefunc 0.93 defines ``StorageBase`` (a later layout just leaves the finder waiting)
PIPEFUNC_STORAGE_MODULE = "pipefunc.map._storage_array._base"


def _register(module: ModuleType) -> None:
    base = getattr(module, "StorageBase", None)
    if base is None or not hasattr(base, "register"):
        return
    from ._base import StorageBase

    try:
        base.register(StorageBase)
    except Exception:  # noqa: BLE001, S110 - a failed registration must never break importing pipefunc
        pass


class _RegisteringLoader(importlib.abc.Loader):
    """Runs the real loader, then registers; anything else is the real loader's."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader  # get_source, resources...: the module's own loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _register(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _WaitForPipefunc(importlib.abc.MetaPathFinder):
    """Wraps the loader of :data:`PIPEFUNC_STORAGE_MODULE` once, then leaves ``sys.meta_path``."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != PIPEFUNC_STORAGE_MODULE:
            return None
        _uninstall()  # one shot, and no recursion into this finder below
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _RegisteringLoader(spec.loader)
                return spec
        return None


def _uninstall() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _WaitForPipefunc)]


def install() -> None:
    """Register with pipefunc's ``StorageBase`` now if it is imported, else when it is (idempotent)."""
    module = sys.modules.get(PIPEFUNC_STORAGE_MODULE)
    if module is not None:
        _register(module)
    elif not any(isinstance(f, _WaitForPipefunc) for f in sys.meta_path):
        sys.meta_path.insert(0, _WaitForPipefunc())

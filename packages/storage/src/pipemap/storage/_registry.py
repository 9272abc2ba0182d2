"""Storage registry: built-ins, the ``pipemap.storage`` entry-point group, and per-output choice.

Built-ins are imported lazily (zarr only when a zarr id is used). Third-party packages register
backends with ``register_storage(cls)`` at run time or through an entry point::

    [project.entry-points."pipemap.storage"]
    my_backend = "my_package.storage:MyStorage"

>>> from pipemap.storage import get_storage_class, storage_registry
>>> get_storage_class("file_array").__name__
'FileArray'
>>> "chunked" in storage_registry
True
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._base import StorageBase

__all__ = [
    "ENTRY_POINT_GROUP",
    "get_storage_class",
    "register_storage",
    "storage_class_for",
    "storage_id_for",
    "storage_registry",
    "zarr_available",
]

ENTRY_POINT_GROUP = "pipemap.storage"

_BUILTINS: dict[str, str] = {
    "file_array": "pipemap.storage._file_array:FileArray",
    "dict": "pipemap.storage._dict_array:DictArray",
    "shared_memory_dict": "pipemap.storage._shared_memory:SharedMemoryDictArray",
    "chunked": "pipemap.storage._chunked:ChunkedArray",
}
_ZARR_BUILTINS: dict[str, str] = {
    "zarr_file_array": "pipemap.storage._zarr:ZarrFileArray",
    "zarr_memory": "pipemap.storage._zarr_memory:ZarrMemoryArray",
    "zarr_shared_memory": "pipemap.storage._zarr_memory:ZarrSharedMemoryArray",
}
ZARR_HINT = "install zarr support with `pip install 'pipemap-storage[zarr]'` (or `pip install zarr>=3.1`)"


def zarr_available() -> bool:
    """Whether the optional ``zarr`` dependency is importable (without importing it).

    >>> isinstance(zarr_available(), bool)
    True
    """
    import sys

    if "zarr" in sys.modules:
        return sys.modules["zarr"] is not None
    try:
        return importlib.util.find_spec("zarr") is not None
    except (ImportError, ValueError):
        return False


def _load_target(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


class StorageRegistry(Mapping[str, "type[StorageBase]"]):
    """A read-mostly mapping {storage id: class}; entries are resolved lazily on first access.

    Order: built-ins, zarr built-ins (if zarr imports), entry points, then run-time registrations
    (``register_storage`` replaces an existing entry).

    >>> from pipemap.storage import storage_registry
    >>> list(storage_registry)[:3]
    ['file_array', 'dict', 'shared_memory_dict']
    """

    def __init__(self) -> None:
        self._targets: dict[str, str | type[StorageBase]] = dict(_BUILTINS)
        if zarr_available():
            self._targets.update(_ZARR_BUILTINS)
        self._entry_points_loaded = False

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            self._targets.setdefault(ep.name, ep.value)

    def __getitem__(self, storage_id: str) -> type[StorageBase]:
        if storage_id not in self._targets:
            self._load_entry_points()
        target = self._targets[storage_id]
        if isinstance(target, str):
            target = _load_target(target)
            self._targets[storage_id] = target
        return target

    def __iter__(self) -> Iterator[str]:
        self._load_entry_points()
        return iter(list(self._targets))

    def __len__(self) -> int:
        self._load_entry_points()
        return len(self._targets)

    def __contains__(self, storage_id: object) -> bool:
        if storage_id in self._targets:
            return True
        self._load_entry_points()
        return storage_id in self._targets

    def __setitem__(self, storage_id: str, cls: type[StorageBase]) -> None:
        register_storage(cls, storage_id)

    def register(self, cls: type[StorageBase], storage_id: str) -> None:
        """Register ``cls`` under ``storage_id`` (replacing any previous entry)."""
        self._load_entry_points()
        self._targets[storage_id] = cls

    def __repr__(self) -> str:
        return f"StorageRegistry({list(self)})"


storage_registry = StorageRegistry()


def register_storage(cls: type[StorageBase], storage_id: str | None = None) -> None:
    """Register a storage class under ``storage_id or cls.storage_id`` (replaces earlier entries).

    Parameters
    ----------
    cls : type
        A ``StorageBase`` subclass.
    storage_id : str, optional
        The id to register it under (default: ``cls.storage_id``).

    Examples
    --------
    >>> from pipemap.storage import DictArray
    >>> class MyDict(DictArray):
    ...     storage_id = "my_dict"
    >>> register_storage(MyDict); get_storage_class("my_dict") is MyDict
    True
    """
    from ._base import StorageBase

    if not (isinstance(cls, type) and issubclass(cls, StorageBase)):
        msg = f"register_storage expects a StorageBase subclass, got {cls!r}"
        raise TypeError(msg)
    key = storage_id if storage_id is not None else getattr(cls, "storage_id", None)
    if not isinstance(key, str) or not key:
        msg = f"Cannot register {cls.__name__}: give a `storage_id` (argument or class attribute)"
        raise ValueError(msg)
    storage_registry.register(cls, key)


def get_storage_class(storage_id: str) -> type[StorageBase]:
    """Return the class registered under ``storage_id``.

    Parameters
    ----------
    storage_id : str
        A registered storage id (``"file_array"``, ``"chunked"``, ``"dict"``, ...).

    Raises
    ------
    ValueError
        "Storage class `x` not found, only `file_array, dict, ...` available."

    Examples
    --------
    >>> get_storage_class("dict").__name__
    'DictArray'
    """
    if storage_id in storage_registry:
        return storage_registry[storage_id]
    available = ", ".join(storage_registry)
    msg = f"Storage class `{storage_id}` not found, only `{available}` available."
    if storage_id in _ZARR_BUILTINS:
        msg += f" `{storage_id}` needs the optional zarr dependency: {ZARR_HINT}."
    raise ValueError(msg)


def storage_id_for(
    storage: str | Mapping[str | tuple[str, ...], str],
    output_name: str | tuple[str, ...],
) -> str:
    """Resolve the per-output storage choice (docs/behaviour.md §3.3) to a storage id.

    A key naming one element of a multi-output function applies to the whole tuple; two keys for
    one function are an error. Lookup: exact name, else ``""``, else ``ValueError``.

    Parameters
    ----------
    storage : str or mapping
        A storage id, or ``{output name | tuple of names | "": id}``.
    output_name : str or tuple of str
        The output (or the outputs of a multi-output function).

    Examples
    --------
    >>> storage_id_for({"y": "dict", "": "file_array"}, "z")
    'file_array'
    """
    if isinstance(storage, str):
        return storage
    if not isinstance(storage, Mapping):
        msg = f"`storage` must be a str or a dict, got {type(storage).__name__}: {storage!r}"
        raise TypeError(msg)
    names = output_name if isinstance(output_name, tuple) else (output_name,)
    chosen: str | None = None
    chosen_key: Any = None
    for key, storage_id in storage.items():
        if key == "":
            continue
        key_names = key if isinstance(key, tuple) else (key,)
        if set(key_names) & set(names):
            if chosen is not None and chosen_key != key:
                shown = output_name if len(names) > 1 else names[0]
                msg = f"Storage for `output_name={shown!r}` is already set."
                raise ValueError(msg)
            chosen, chosen_key = storage_id, key
    if chosen is None:
        chosen = storage.get("")
    if chosen is None:
        shown = names[0] if len(names) == 1 else output_name
        msg = (
            f"Cannot find storage class for `{shown}`. Either add `storage[{shown}] = ...`"
            ' or use a default by setting `storage[""] = ...`.'
        )
        raise ValueError(msg)
    return chosen


def storage_class_for(
    storage: str | Mapping[str | tuple[str, ...], str],
    output_name: str | tuple[str, ...],
) -> type[StorageBase]:
    """Resolve the per-output storage choice (docs/behaviour.md §3.3, see :func:`storage_id_for`) to a class.

    Parameters
    ----------
    storage : str or mapping
        A storage id, or ``{output name | tuple of names | "": id}``.
    output_name : str or tuple of str
        The output (or the outputs of a multi-output function).

    Examples
    --------
    >>> storage_class_for({"y": "dict", "": "file_array"}, "y").__name__
    'DictArray'
    >>> storage_class_for({("y1", "y2"): "dict"}, "y1").__name__
    'DictArray'
    """
    return get_storage_class(storage_id_for(storage, output_name))

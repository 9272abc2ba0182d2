"""Storage helpers of a run: argument values from the store, result arrays, single values.

>>> from pipemap.storage import DictArray
>>> s = DictArray(None, (3,)); s.dump_many(range(2), [5, [1, 2]])
>>> output_array(s, None, None).tolist()
[5, [1, 2], None]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pipemap.runner.worker._errors import error_types

if TYPE_CHECKING:
    from pipemap.storage import StorageBase

    from pipemap.runner.model._pipeline import Pipeline

_MISSING = object()


def is_storage(value: object) -> bool:
    """A mapped output's storage object (duck-typed on the bulk API)."""
    return hasattr(value, "get_many") and hasattr(value, "missing_indices")


def is_value_holder(value: object) -> bool:
    """A single output's holder (``FileValue`` or ``DirectValue``)."""
    return hasattr(value, "exists") and hasattr(value, "load") and not is_storage(value)


def load_single(holder: Any) -> Any:
    """The value in a single-output holder."""
    return holder.load()


def as_object_array(values: list[Any]) -> np.ndarray:
    """A 1-D object array holding ``values`` as elements (sequences are not unpacked)."""
    return np.fromiter(values, dtype=object, count=len(values))


def _flat_values(storage: StorageBase, computed: tuple[np.ndarray, np.ndarray] | None, done: np.ndarray | None = None) -> np.ndarray:
    """All elements of ``storage`` in linear order (None where missing). ``computed`` is
    (flat object buffer, filled mask) of the elements written in this run: those are not read back."""
    if computed is not None:
        flat, filled = computed
        if filled.all():
            return flat
        rest = np.flatnonzero(~filled & (storage.done_mask() if done is None else done))
    else:
        flat = np.empty(storage.size, dtype=object)
        rest = np.flatnonzero(storage.done_mask() if done is None else done)
    if len(rest):
        got = storage.get_many(rest)
        flat[rest] = as_object_array([None if v is np.ma.masked else v for v in got])
    return flat


def output_array(
    storage: StorageBase,
    computed: tuple[np.ndarray, np.ndarray] | None,
    internal_shape: tuple[int, ...] | None,
    done: np.ndarray | None = None,
) -> np.ndarray:
    """docs/behaviour.md §4.7: a plain object ndarray of the full shape (internal axes splatted), None where
    nothing was computed. ``done`` is the storage's done mask when already known."""
    flat = _flat_values(storage, computed, done)
    ext = tuple(storage.shape)
    if not internal_shape:
        return flat.reshape(ext)
    mask = storage.shape_mask
    internal = tuple(internal_shape)
    n_int = len(internal)
    full = np.empty((*ext, *internal), dtype=object)
    for k in range(flat.size):
        value = flat[k]
        if value is None:
            continue
        idx = np.unravel_index(k, ext) if ext else ()
        try:
            full[idx] = _as_internal_block(value, internal)
        except (ValueError, TypeError):
            full[idx] = value
    if tuple(mask) == (True,) * len(ext) + (False,) * n_int:
        return full
    # reorder axes: full currently has external axes first, then internal ones
    ext_pos = [i for i, m in enumerate(mask) if m]
    int_pos = [i for i, m in enumerate(mask) if not m]
    order = ext_pos + int_pos
    inverse = np.argsort(order)
    return np.transpose(full, inverse)


def _as_internal_block(value: Any, internal: tuple[int, ...]) -> np.ndarray:
    """The element's leading ``internal`` block, passed through numpy as pipefunc does (numeric
    lists give numpy scalars); deeper dimensions stay inside the cells."""
    types = error_types()
    if types and isinstance(value, types):
        raise TypeError("an error snapshot fills the whole block")  # noqa: TRY003 - caught by caller
    try:
        arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    except ValueError:  # ragged below the internal axes
        arr = np.empty(len(value), dtype=object)
        arr[:] = list(value)
    if arr.ndim < len(internal):
        raise ValueError("element is not deep enough")  # noqa: TRY003 - caught by caller
    sub = arr[tuple(slice(0, n) for n in internal)]
    block = np.empty(internal, dtype=object)
    for idx in np.ndindex(*internal):
        block[idx] = sub[idx]
    return block


def finish_stores(store: dict[str, Any], *, quiet: bool) -> None:
    """Let every storage of the run update its on-disk summaries (``StorageBase.finish_run``);
    ``quiet``: the run already failed, so an error here is not raised over the run's own."""
    for s in store.values():
        finish = getattr(s, "finish_run", None)  # storages of other packages may not have it
        if finish is not None and is_storage(s):
            try:
                finish()
            except Exception:
                if not quiet:
                    raise


def persist_all(store: dict[str, Any], pipeline: Pipeline) -> None:
    """Save the in-memory storages to the run folder; one that fails does not keep the others
    from being saved, and its error names the output and its function."""
    first: BaseException | None = None
    for name, s in store.items():
        if is_storage(s) and getattr(s, "supports_persist", False):
            try:
                s.persist()
            except Exception as exc:  # noqa: BLE001 - raised after the others are saved
                func = pipeline.output_to_func.get(name)
                by = f" (function `{func.__name__}`)" if func is not None else ""
                exc.add_note(f"While saving output `{name}`{by} to the run folder.")
                first = first or exc
    if first is not None:
        raise first

"""Ragged outputs (mapspec axis ``j*``) presented padded: rows to the longest row, masked beyond.

On disk a ragged output keeps only its existing elements (packages/storage/FORMAT.md, "Ragged
outputs"): a producer's output one sequence per outer index, an element-wise consumer's output one
value per element, flat, plus the row lengths in ``ragged/<name>.npy``. Loaders present them as
masked arrays of shape ``(*outer_shape, longest row)``.

>>> import numpy as np
>>> flat = np.ma.MaskedArray(np.array([1, 2, 3], dtype=object), mask=[False, False, False])
>>> pad_flat(flat, np.array([2, 0, 1])).tolist()
[[1, 2], [None, None], [3, None]]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from pipemap.mapspec import MapSpec, RaggedLayout, RaggedPlan
from pipemap.storage import read_ragged_lengths

if TYPE_CHECKING:
    from ._folder import RunFolder

__all__ = ["pad_flat", "pad_outputs", "pad_rows", "ragged_lengths", "ragged_plan"]


def ragged_plan(view: RunFolder) -> RaggedPlan:
    """The ragged arrays of the run (cached on the view)."""
    plan = view.__dict__.get("_ragged_plan")
    if plan is None:
        plan = RaggedPlan.from_specs([MapSpec.from_string(s) for s in view.mapspecs])
        view.__dict__["_ragged_plan"] = plan
    return plan


def _row_length(row: Any) -> int:
    if row is None or row is np.ma.masked or isinstance(row, str | bytes | dict):
        return 0
    if isinstance(row, np.ndarray) and row.ndim != 1:
        return 0
    try:
        return len(row)
    except TypeError:
        return 0


def _lengths_of_rows(rows: np.ndarray) -> np.ndarray:
    cells = np.ma.getdata(rows)
    missing = np.ma.getmaskarray(rows)
    flat = [0 if m else _row_length(r) for r, m in zip(cells.reshape(-1).tolist(), missing.reshape(-1).tolist())]
    return np.asarray(flat, dtype=np.int64).reshape(cells.shape)


def pad_outputs(specs: list[MapSpec], outputs: Mapping[str, Any]) -> tuple[Mapping[str, Any], dict[str, np.ndarray] | None]:
    """In-memory results (a ``ResultDict``'s arrays) with their ragged outputs padded, and the row
    lengths (None without ragged outputs). Row lengths come from the producers' rows.

    >>> rows = np.empty(2, dtype=object); rows[:] = [[1, 2], [3]]
    >>> specs = [MapSpec.from_string("t[i] -> w[i, j*]"), MapSpec.from_string("w[i, j*] -> v[i, j*]")]
    >>> out, lengths = pad_outputs(specs, {"w": rows, "v": np.array([2, 3, 4])})
    >>> out["v"].tolist(), lengths["v"].tolist()
    ([[2, 3], [4, None]], [2, 1])
    """
    plan = RaggedPlan.from_specs(specs)
    if not plan:
        return outputs, None
    padded_outputs = dict(outputs)
    lengths: dict[str, np.ndarray] = {}
    for name, array in plan.arrays.items():
        if name not in outputs or array.source not in outputs:
            continue
        row_lengths = _lengths_of_rows(np.ma.asarray(outputs[array.source]))
        value = np.ma.asarray(outputs[name])
        padded_outputs[name] = pad_rows(value, row_lengths) if array.stored == "rows" else pad_flat(value, row_lengths)
        lengths[name] = row_lengths
    return padded_outputs, lengths


def ragged_lengths(view: RunFolder, name: str, rows: np.ndarray | None = None) -> np.ndarray | None:
    """The row lengths of ragged output ``name``: its lengths file, else (a producer that has not
    finished) the lengths of the rows stored so far (0 for missing rows); None if unknown."""
    lengths = read_ragged_lengths(view.folder, name)
    if lengths is not None:
        return lengths
    array = ragged_plan(view).arrays[name]
    if array.stored == "rows" and rows is not None:
        return np.fromiter((_row_length(r) for r in rows.reshape(-1).tolist()), dtype=np.int64, count=rows.size).reshape(rows.shape)
    return read_ragged_lengths(view.folder, array.source)


def pad_rows(rows: np.ma.MaskedArray, lengths: np.ndarray) -> np.ma.MaskedArray:
    """Rows stored one per outer index (masked: missing) as a padded masked array.

    >>> rows = np.ma.MaskedArray(np.array([[1], None], dtype=object), mask=[False, True])
    >>> pad_rows(rows, np.array([1, 0])).tolist()
    [[1], [None]]
    """
    layout = RaggedLayout(lengths)
    width = layout.max_length
    data = np.empty((layout.n_rows, width), dtype=object)
    mask = np.ones((layout.n_rows, width), dtype=bool)
    cells = np.ma.getdata(rows).reshape(-1)
    missing = np.ma.getmaskarray(rows).reshape(-1)
    for k, n in enumerate(layout.lengths.reshape(-1).tolist()):
        if n and not missing[k]:
            row = cells[k]
            for p in range(n):
                data[k, p] = row[p]
            mask[k, :n] = False
    shape = (*layout.outer_shape, width)
    return np.ma.MaskedArray(data.reshape(shape), mask=mask.reshape(shape))


def pad_flat(flat: np.ma.MaskedArray, lengths: np.ndarray) -> np.ma.MaskedArray:
    """A flat ragged output (one value per existing element) as a padded masked array."""
    layout = RaggedLayout(lengths)
    width = layout.max_length
    shape = (*layout.outer_shape, width)
    n = int(np.prod(shape, dtype=np.int64))
    data = np.empty(n, dtype=object)
    mask = np.ones(n, dtype=bool)
    if layout.size:
        positions = layout.padded_positions()
        data[positions] = np.ma.getdata(flat).reshape(-1)
        mask[positions] = np.ma.getmaskarray(flat).reshape(-1)
    return np.ma.MaskedArray(data.reshape(shape), mask=mask.reshape(shape))


def padded(view: RunFolder, name: str, stored: np.ma.MaskedArray) -> tuple[np.ma.MaskedArray, np.ndarray]:
    """``stored`` (as read from storage) of ragged output ``name`` padded, and its row lengths."""
    array = ragged_plan(view).arrays[name]
    lengths = ragged_lengths(view, name, stored if array.stored == "rows" else None)
    if lengths is None:  # a flat output whose rows are not known: nothing of it was stored
        outer = tuple(int(n) for n in view.store(array.source).resolved_shape)
        lengths = np.zeros(outer, dtype=np.int64)
        return pad_flat(np.ma.MaskedArray(np.empty(0, dtype=object)), lengths), lengths
    if array.stored == "rows":
        return pad_rows(stored, lengths), lengths
    if stored.size == 0 and int(lengths.sum()):  # rows known, the flat size not recorded yet: all missing
        stored = np.ma.MaskedArray(np.empty(int(lengths.sum()), dtype=object), mask=True)
    if stored.size != int(lengths.sum()):
        msg = f"Ragged output `{name}` holds {stored.size} elements but its row lengths add up to {int(lengths.sum())}"
        raise ValueError(msg)
    return pad_flat(stored, lengths), lengths

"""DataFrames (pandas or polars) of a run: one row per element of the grid of all dims.

Columns in pipefunc's order: per mapped output its coordinates then itself, then every single
output (repeated on each row), then the parts of zipped ``"a:b"`` coordinates (a part that is
already a column keeps its place). Numeric columns are typed;
nested objects stay objects. Polars frames are built natively from numpy columns.

>>> import numpy as np
>>> from pipemap.io._model import build_model
>>> model = build_model(["x[i], w[j] -> z[i, j]"], {"x": [1, 2], "w": [10, 20]},
...                     {"z": np.array([[1, 2], [3, 4]])})
>>> model_to_pandas(model).to_dict("list")
{'x': [1, 1, 2, 2], 'w': [10, 20, 10, 20], 'z': [1, 2, 3, 4]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._model import Model, build_model, parse_mapspecs
from ._ragged import pad_outputs
from .xarray import DimensionlessArray

if TYPE_CHECKING:
    from pipemap.mapspec import MapSpec

__all__ = ["dataframe_from_data", "load_dataframe", "model_columns", "model_to_pandas", "model_to_polars"]

Backend = Literal["pandas", "polars"]


def _broadcast(data: np.ndarray, dims: tuple[str, ...], all_dims: list[str], sizes: list[int]) -> np.ndarray:
    """Flatten ``data`` (axes ``dims``) over the C-ordered grid of ``all_dims``."""
    order = sorted(range(len(dims)), key=lambda k: all_dims.index(dims[k]))
    arr = data.transpose(order) if order != list(range(len(dims))) else data
    present = {dims[k] for k in order}
    shape = [sizes[i] if d in present else 1 for i, d in enumerate(all_dims)]
    arr = arr.reshape(shape)
    return np.broadcast_to(arr, sizes).reshape(-1)


def _single_cell(value: Any) -> Any:
    if isinstance(value, DimensionlessArray):
        return value.arr
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype == object:
        return value.item()
    return value


def model_columns(
    model: Model, masks: dict[str, np.ndarray] | None = None
) -> tuple[dict[str, np.ndarray | list[Any]], int]:
    """The frame's columns in order, and the number of rows.

    >>> from pipemap.io._model import build_model
    >>> model_columns(build_model([], {}, {"t": 3}))
    ({'t': [3]}, 1)
    """
    columns: dict[str, Any] = {}
    if not model.coords:
        for name, var in model.variables.items():
            columns[name] = [var.data]
        for name, value in model.singles.items():
            columns[name] = [_single_cell(value)]
        return columns, 1
    used = {d for v in model.variables.values() for d in v.dims} | {
        d for c in model.coords.values() for d in c.dims
    }
    all_dims = [d for d in model.dims if d in used]
    sizes = [model.dims[d] for d in all_dims]
    n_rows = int(np.prod(sizes, dtype=np.int64))
    seen: set[str] = set()
    zipped: list[Any] = []  # split into their parts after every other column, as pipefunc does

    def add_coordinate(coord_name: str) -> None:
        if coord_name in seen:
            return
        seen.add(coord_name)
        coord = model.coords[coord_name]
        if len(coord.parts) > 1:
            zipped.append(coord)
            return
        for part, array in coord.parts.items():
            columns[part] = _broadcast(array, coord.dims, all_dims, sizes)

    for name, var in model.variables.items():
        for coord_name in model.var_coords.get(name, []):
            add_coordinate(coord_name)
        columns[name] = _broadcast(var.data, var.dims, all_dims, sizes)
        if masks is not None and var.missing is not None:
            masks[name] = _broadcast(var.missing, var.dims, all_dims, sizes)
    for coord_name in model.coords:
        add_coordinate(coord_name)
    for name, value in model.singles.items():
        cell = _single_cell(value)
        col = np.empty(n_rows, dtype=object)
        _fill_same(col, cell)
        columns[name] = col
    for coord in zipped:  # a part that is already a column keeps its place
        for part, array in coord.parts.items():
            columns[part] = _broadcast(array, coord.dims, all_dims, sizes)
    keep = _existing_elements(model, all_dims, sizes)
    if keep is not None:  # ragged outputs: no rows for the padding
        columns = {k: v[keep] for k, v in columns.items()}
        if masks is not None:
            for k in masks:
                masks[k] = masks[k][keep]
        for name in model.lengths:  # integers made float only by the padding are integers again
            ragged_var = model.variables.get(name)
            if ragged_var is None or not ragged_var.integer or ragged_var.missing is None or name not in columns:
                continue
            if not _broadcast(ragged_var.missing, ragged_var.dims, all_dims, sizes)[keep].any():
                columns[name] = np.asarray(columns[name]).astype(np.int64)
        n_rows = int(keep.sum())
    return columns, n_rows


def _existing_elements(model: Model, all_dims: list[str], sizes: list[int]) -> np.ndarray | None:
    """Over the grid of ``all_dims``: True where every ragged dim is inside its row (None: no
    ragged outputs)."""
    keep = None
    done: set[str] = set()
    for name, (outer, lengths) in model.lengths.items():
        var = model.variables.get(name)
        dims = var.dims if var is not None else (*outer, next((c.dims[-1] for c in model.coords.values() if name in c.parts), ""))
        axis = dims[-1]
        if axis in done or axis not in all_dims:
            continue
        done.add(axis)
        position = _broadcast(np.arange(sizes[all_dims.index(axis)]), (axis,), all_dims, sizes)
        inside = position < _broadcast(lengths, outer, all_dims, sizes)
        keep = inside if keep is None else keep & inside
    return keep


def _fill_same(col: np.ndarray, cell: Any) -> None:
    if isinstance(cell, (list, tuple, np.ndarray)):  # fill() would broadcast sequences
        for k in range(len(col)):
            col[k] = cell
    else:
        col.fill(cell)


def model_to_pandas(model: Model) -> Any:
    """A ``pandas.DataFrame`` with one row per grid element."""
    import pandas as pd

    columns, n_rows = model_columns(model)
    frame_data = {}
    for name, col in columns.items():
        if isinstance(col, list):
            cell = np.empty(1, dtype=object)
            cell[0] = col[0]
            frame_data[name] = cell
        else:
            frame_data[name] = col
    return pd.DataFrame(frame_data, index=pd.RangeIndex(n_rows), copy=False)


def _polars_series(name: str, col: Any) -> Any:
    import polars as pl

    if isinstance(col, np.ndarray) and col.dtype != object:
        return pl.Series(name, col)
    values = [None if (type(v) is float and v != v) else v for v in col]
    if any(isinstance(v, np.ndarray) for v in values):
        return _array_cells(name, values)
    try:
        return pl.Series(name, values, strict=True)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        return pl.Series(name, values, dtype=pl.Object)


def _array_cells(name: str, values: list[Any]) -> Any:
    """1-D arrays of numbers or strings (typed, or object arrays of such) become polars lists (as
    pyarrow converts them); anything else objects."""
    import polars as pl

    if all(v is None or (isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype.kind in "biufUO") for v in values):
        try:
            return pl.Series(name, [None if v is None else v.tolist() for v in values], strict=True)
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            pass
    return pl.Series(name, values, dtype=pl.Object)


def model_to_polars(model: Model) -> Any:
    """A ``polars.DataFrame`` built natively (numeric columns straight from numpy)."""
    import polars as pl

    masks: dict[str, np.ndarray] = {}
    columns, _ = model_columns(model, masks)
    integers = {name for name, var in model.variables.items() if var.integer}
    series = []
    for name, col in columns.items():
        s = _polars_series(name, col)
        if name in masks and s.dtype != pl.Object:  # missing/failed elements become null
            s = pl.select(pl.when(pl.Series(masks[name])).then(None).otherwise(s).alias(name)).to_series()
            if name in integers:  # integers with gaps stay integers (nulls), as pipefunc's frames
                s = s.cast(pl.Int64)
        series.append(s)
    return pl.DataFrame(series)


def _to_backend(model: Model, backend: str) -> Any:
    if backend == "pandas":
        return model_to_pandas(model)
    if backend == "polars":
        return model_to_polars(model)
    msg = f"Unknown backend {backend!r}. Expected 'pandas' or 'polars'."
    raise ValueError(msg)


def dataframe_from_data(
    mapspecs: Sequence[MapSpec | str],
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    *,
    output_names: Sequence[str] | None = None,
    load_intermediate: bool = True,
    backend: Backend = "pandas",
) -> Any:
    """Build a DataFrame from in-memory results (same layout as :func:`load_dataframe`).

    Parameters
    ----------
    mapspecs : sequence of (MapSpec or str)
        The pipeline's mapspecs.
    inputs : mapping
        The run's inputs by name.
    outputs : mapping
        ``{output name: value}``: mapped outputs as arrays of their full shape (masked = missing),
        single outputs as their values.
    output_names : sequence of str, optional
        The outputs to present (default: every key of ``outputs``).
    load_intermediate : bool, default True
        Use intermediate outputs as coordinates.
    backend : {"pandas", "polars"}, default "pandas"
        The DataFrame library.

    Examples
    --------
    >>> dataframe_from_data(["x[i] -> y[i]"], {"x": [1, 2]}, {"y": np.array([2, 4])}).to_dict("list")
    {'x': [1, 2], 'y': [2, 4]}
    """
    if backend not in ("pandas", "polars"):
        msg = f"Unknown backend {backend!r}. Expected 'pandas' or 'polars'."
        raise ValueError(msg)
    specs = parse_mapspecs(mapspecs)
    padded, lengths = pad_outputs(specs, outputs)  # ragged outputs: padded, then one row per element
    model = build_model(
        specs, inputs, padded, output_names=output_names, load_intermediate=load_intermediate,
        ragged_lengths=lengths,
    )
    return _to_backend(model, backend)


def load_dataframe(
    *output_names: str,
    run_folder: str | Path,
    load_intermediate: bool = True,
    backend: Backend = "pandas",
    ragged: Literal["elements", "lists"] = "elements",
) -> Any:
    """Load the outputs of a run folder (default: all) as a pandas or polars DataFrame.

    One row per element of the grid of all dims; a column per coordinate source and per output.
    Missing and failed elements are NaN (pandas) / null (polars): the failures are masked here
    (pipefunc's frame holds the error snapshots; ``load_outputs`` and ``load_errors`` give them).
    Ragged outputs (axis ``j*``): one row per existing element (``ragged="elements"``, no padding
    rows), or one row per outer element with a list column per ragged output (``ragged="lists"``;
    polars lists, pandas cells holding 1-D arrays).

    Parameters
    ----------
    *output_names : str
        The outputs to load (none: all).
    run_folder : str or Path
        The run folder.
    load_intermediate : bool, default True
        Use intermediate outputs as coordinates.
    backend : {"pandas", "polars"}, default "pandas"
        The DataFrame library.
    ragged : {"elements", "lists"}, default "elements"
        How ragged outputs (axis ``j*``) appear: one row per existing element, or one row per
        outer element with a list column per ragged output.

    Examples
    --------
    >>> import pipemap.io as pio
    >>> pio.load_dataframe("s", run_folder=pio.example_run_folder(), backend="polars").to_dict(as_series=False)
    {'w': [10, 20], 's': [42, 72]}
    """
    if backend not in ("pandas", "polars"):
        msg = f"Unknown backend {backend!r}. Expected 'pandas' or 'polars'."
        raise ValueError(msg)
    from ._load import model_from_run_folder

    model = model_from_run_folder(output_names, run_folder, load_intermediate=load_intermediate, ragged=ragged)
    return _to_backend(model, backend)

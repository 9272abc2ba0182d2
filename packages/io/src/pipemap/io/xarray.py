"""xarray views of a run: from a run folder or from in-memory results.

* :func:`load_xarray_dataset` reads a run folder.
* :func:`xarray_dataset_from_data` builds the same Dataset from plain data (this is what
  ``ResultDict.to_xarray()`` calls): mapspecs, the run's inputs and ``{output name: array or value}``.

Dims come from the mapspec axes; mapped inputs become coordinates (zipped inputs share one
coordinate ``"a:b"`` holding tuples; multi-dimensional inputs are multi-dimensional coordinates);
numeric elements get numeric dtypes; missing elements are NaN. Single (unmapped) outputs are 0-d
variables (arrays wrapped in :class:`DimensionlessArray`; lists, tuples and ranges become object
arrays first, as pipefunc's: a list of pairs is a 2-D array).

>>> import numpy as np
>>> ds = xarray_dataset_from_data(["x[i] -> y[i]"], {"x": [1, 2, 3]}, {"y": np.array([2, 4, 6])})
>>> ds["y"].dims, ds["y"].dtype, ds["x"].values.tolist()
(('i',), dtype('int64'), [1, 2, 3])
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._model import Model, build_model, parse_mapspecs
from ._ragged import pad_outputs

if TYPE_CHECKING:
    import xarray as xr
    from pipemap.mapspec import MapSpec

__all__ = [
    "DimensionlessArray",
    "load_xarray_dataset",
    "model_to_dataset",
    "xarray_dataset_from_data",
]


@dataclass
class DimensionlessArray:
    """An array kept whole as one 0-d value of a Dataset (xarray would otherwise want dims).

    Parameters
    ----------
    arr : numpy.ndarray
        The array.

    Examples
    --------
    >>> DimensionlessArray(np.zeros(2)).arr.shape
    (2,)
    """

    arr: np.ndarray


def _require_xarray() -> Any:
    try:
        import xarray as xr
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        msg = "xarray is required for this function: install `pipemap-io[xarray]`."
        raise ImportError(msg) from exc
    return xr


def _zero_d(value: Any) -> np.ndarray:
    cell = np.empty((), dtype=object)
    if isinstance(value, np.ndarray):
        cell[()] = DimensionlessArray(value)
    else:
        cell[()] = value
    return cell


def model_to_dataset(model: Model) -> xr.Dataset:
    """Turn a :class:`~pipemap.io._model.Model` into an ``xarray.Dataset``."""
    xr = _require_xarray()
    # pipefunc's variable order (what ``to_dataframe`` follows): per output its coordinates then
    # itself, then the single outputs
    ordered: dict[str, Any] = {}

    def add_coordinate(name: str) -> None:
        if name not in ordered:
            coord = model.coords[name]
            ordered[name] = (coord.dims, coord.combined())

    for name, var in model.variables.items():
        for coord_name in model.var_coords.get(name, []):
            add_coordinate(coord_name)
        ordered[name] = (var.dims, var.data)
        if name in model.lengths:  # a ragged output: padded, with its row lengths
            outer, lengths = model.lengths[name]
            ordered[f"{name}_length"] = (outer, lengths)
    for coord_name in model.coords:
        add_coordinate(coord_name)
    for name, value in model.singles.items():
        ordered[name] = ((), _zero_d(value))
    return xr.Dataset(ordered).set_coords(list(model.coords))


def xarray_dataset_from_data(
    mapspecs: Sequence[MapSpec | str],
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    *,
    output_names: Sequence[str] | None = None,
    load_intermediate: bool = True,
) -> xr.Dataset:
    """Build a Dataset from in-memory results.

    One dimension per mapspec axis; inputs (and, with ``load_intermediate``, intermediate outputs)
    become coordinates.

    Parameters
    ----------
    mapspecs : sequence of (MapSpec or str)
        The pipeline's mapspecs.
    inputs : mapping
        The run's inputs by name.
    outputs : mapping
        ``{output name: value}``: mapped outputs as arrays of their full shape (masked arrays:
        masked = missing; plain object arrays are taken as they are), single outputs as their values.
    output_names : sequence of str, optional
        The outputs to present (default: every key of ``outputs``).
    load_intermediate : bool, default True
        Use intermediate outputs as coordinates.

    Examples
    --------
    >>> ds = xarray_dataset_from_data(
    ...     ["x[i], w[j] -> z[i, j]"], {"x": [1, 2], "w": [10, 20, 30]},
    ...     {"z": np.arange(6).reshape(2, 3), "total": 15})
    >>> dict(ds.sizes), ds["total"].item()
    ({'i': 2, 'j': 3}, 15)
    """
    specs = parse_mapspecs(mapspecs)
    padded, lengths = pad_outputs(specs, outputs)  # ragged outputs: padded, with <name>_length
    model = build_model(
        specs, inputs, padded, output_names=output_names, load_intermediate=load_intermediate,
        ragged_lengths=lengths,
    )
    return model_to_dataset(model)


def load_xarray_dataset(
    *output_names: str,
    run_folder: str | Path | Sequence[str | Path],
    load_intermediate: bool = True,
) -> xr.Dataset:
    """Load the outputs of a run folder (default: all) as an ``xarray.Dataset``.

    Failed and missing elements are NaN (masked; pipefunc's Dataset holds the error snapshots, and
    ``load_outputs`` returns them). See :func:`xarray_dataset_from_data` for the layout.

    Parameters
    ----------
    *output_names : str
        The outputs to load (none: all), as separate arguments.
    run_folder : str, Path or sequence of them
        The run folder, or a list of run folders of one pipeline (a sweep grown, refined or split
        over several runs): they are combined into one Dataset along the axes they differ in,
        aligned by the values of the input coordinates, each element taken from the first folder
        holding it. Two folders holding different values for one element (beyond a relative
        1e-9) raise :class:`RunFolderConflictError` naming the output, the folders and the element.
    load_intermediate : bool, default True
        Use intermediate outputs as coordinates.

    Examples
    --------
    >>> import pipemap.io as pio
    >>> ds = pio.load_xarray_dataset("z", run_folder=pio.example_run_folder())
    >>> ds["z"].dims, list(ds.coords)
    (('i', 'j'), ['x', 'w'])
    """
    from ._load import model_from_run_folder

    if isinstance(run_folder, str | os.PathLike):
        return model_to_dataset(model_from_run_folder(output_names, run_folder, load_intermediate=load_intermediate))
    from ._combine import combine_models

    folders = list(run_folder)
    if not folders:
        msg = "`run_folder` is an empty list: give at least one run folder"
        raise ValueError(msg)
    models = [model_from_run_folder(output_names, f, load_intermediate=load_intermediate) for f in folders]
    return model_to_dataset(combine_models(models, [str(f) for f in folders]))

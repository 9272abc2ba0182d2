"""Adapters for in-memory results (``ResultDict.to_xarray()`` / ``to_dataframe()``).

The runner's ``ResultDict`` calls these with the run's inputs, the results (a mapping of output
name to an object with ``.output``, or to the output itself) and the pipeline (anything with
``mapspecs()`` or ``mapspecs_as_strings``). No runner import is needed here.

>>> from types import SimpleNamespace
>>> pipeline = SimpleNamespace(mapspecs_as_strings=["x[i] -> y[i]"])
>>> results = {"y": SimpleNamespace(output=np.array([2, 4], dtype=object))}
>>> xarray_dataset_from_results({"x": [1, 2]}, results, pipeline)["y"].values.tolist()
[2, 4]
>>> dataframe_from_results({"x": [1, 2]}, results, pipeline).to_dict("list")
{'x': [1, 2], 'y': [2, 4]}
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal

import numpy as np

from ._dataframe import _to_backend
from ._load import _maybe_load
from ._model import build_model, parse_mapspecs
from ._ragged import pad_outputs
from .xarray import DimensionlessArray, model_to_dataset

__all__ = ["dataframe_from_results", "xarray_dataset_from_results", "xarray_dataset_to_dataframe"]


def _mapspecs(pipeline: Any) -> list[Any]:
    strings = getattr(pipeline, "mapspecs_as_strings", None)
    if strings is not None:
        return list(strings() if callable(strings) else strings)
    return list(pipeline.mapspecs())


def _outputs(results: Mapping[str, Any]) -> dict[str, Any]:
    return {name: getattr(r, "output", r) for name, r in results.items()}


def xarray_dataset_from_results(
    inputs: Mapping[str, Any],
    results: Mapping[str, Any],
    pipeline: Any,
    *,
    load_intermediate: bool = True,
    infer_dtypes: bool | Collection[str] = True,
) -> Any:
    """An ``xarray.Dataset`` of in-memory results (every output in ``results``).

    Used by ``ResultDict.to_xarray()``; no runner import is needed.

    Parameters
    ----------
    inputs : mapping
        The run's inputs by name.
    results : mapping
        ``{output name: result}``: objects with ``.output`` (``Result``) or the outputs themselves.
    pipeline : object
        Anything with ``mapspecs_as_strings`` or ``mapspecs()`` (a ``Pipeline``).
    load_intermediate : bool, default True
        Use intermediate outputs as coordinates.
    infer_dtypes : bool or collection of str, default True
        Which object arrays get numeric dtypes where every element is a number: all (True), none
        (False: arrays as they are, as pipefunc's ``to_xarray(type_cast=False)``), or the inputs
        and the outputs named in the collection.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> pipeline = SimpleNamespace(mapspecs_as_strings=["x[i] -> y[i]"])
    >>> results = {"y": SimpleNamespace(output=np.array([2, 4], dtype=object))}
    >>> ds = xarray_dataset_from_results({"x": [1, 2]}, results, pipeline)
    >>> ds["y"].values.tolist(), str(ds["y"].dtype)
    ([2, 4], 'int64')
    """
    outputs = _outputs(results)
    specs = parse_mapspecs(_mapspecs(pipeline))
    padded, lengths = pad_outputs(specs, outputs)
    model = build_model(
        specs, inputs, padded, output_names=sorted(outputs), load_intermediate=load_intermediate,
        load_input=_maybe_load, infer_dtypes=infer_dtypes, ragged_lengths=lengths,
    )
    return model_to_dataset(model)


def dataframe_from_results(
    inputs: Mapping[str, Any],
    results: Mapping[str, Any],
    pipeline: Any,
    *,
    load_intermediate: bool = True,
    backend: Literal["pandas", "polars"] = "pandas",
    infer_dtypes: bool | Collection[str] = True,
) -> Any:
    """A pandas/polars DataFrame of in-memory results, built without going through xarray.

    Used by ``ResultDict.to_dataframe()``; no runner import is needed.

    Parameters
    ----------
    inputs : mapping
        The run's inputs by name.
    results : mapping
        ``{output name: result}``: objects with ``.output`` (``Result``) or the outputs themselves.
    pipeline : object
        Anything with ``mapspecs_as_strings`` or ``mapspecs()`` (a ``Pipeline``).
    load_intermediate : bool, default True
        Use intermediate outputs as coordinates.
    backend : {"pandas", "polars"}, default "pandas"
        The DataFrame library.
    infer_dtypes : bool or collection of str, default True
        As in :func:`xarray_dataset_from_results`.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> pipeline = SimpleNamespace(mapspecs_as_strings=["x[i] -> y[i]"])
    >>> results = {"y": SimpleNamespace(output=np.array([2, 4], dtype=object))}
    >>> dataframe_from_results({"x": [1, 2]}, results, pipeline).to_dict("list")
    {'x': [1, 2], 'y': [2, 4]}
    """
    outputs = _outputs(results)
    specs = parse_mapspecs(_mapspecs(pipeline))
    padded, lengths = pad_outputs(specs, outputs)
    model = build_model(
        specs, inputs, padded, output_names=sorted(outputs), load_intermediate=load_intermediate,
        load_input=_maybe_load, infer_dtypes=infer_dtypes, ragged_lengths=lengths,
    )
    return _to_backend(model, backend)


def xarray_dataset_to_dataframe(ds: Any) -> Any:
    """A pandas DataFrame of a Dataset made by this package (pipefunc's conversion rules).

    No coordinates: one row (0-d values unwrapped). Else one row per element of all dims, the
    index dropped, :class:`DimensionlessArray` cells unwrapped and ``"a:b"`` columns split.

    Parameters
    ----------
    ds : xarray.Dataset
        A Dataset from :func:`load_xarray_dataset` or :func:`xarray_dataset_from_data`.

    Examples
    --------
    >>> from pipemap.io import xarray_dataset_from_data
    >>> ds = xarray_dataset_from_data(["x[i], y[i] -> r[i]"], {"x": [1, 2], "y": [3, 4]}, {"r": np.array([4, 6])})
    >>> xarray_dataset_to_dataframe(ds).to_dict("list")
    {'r': [4, 6], 'x': [1, 2], 'y': [3, 4]}
    """
    import pandas as pd

    def unwrap(value: Any) -> Any:
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        return value.arr if isinstance(value, DimensionlessArray) else value

    if not ds.coords:
        cells = {}
        for name, var in ds.data_vars.items():
            cell = np.empty(1, dtype=object)
            cell[0] = unwrap(var.data)
            cells[name] = cell
        return pd.DataFrame(cells)
    df = ds.to_dataframe().reset_index(drop=True)
    for column in list(df.columns):
        if len(df) and isinstance(df[column].iloc[0], DimensionlessArray):
            df[column] = [unwrap(v) for v in df[column]]
        if ":" in str(column):
            parts = str(column).split(":")
            values = df.pop(column).tolist()
            for k, part in enumerate(parts):
                df[part] = [v[k] for v in values]
    return df

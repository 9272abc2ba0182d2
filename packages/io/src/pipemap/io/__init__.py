"""pipemap.io: read the results of a run folder as arrays, xarray Datasets or DataFrames.

Reading a run folder needs only ``pipemap-mapspec`` and ``pipemap-storage`` (never the runner):
the folder describes itself in ``run_info.json``.

* :func:`load_outputs` / :func:`load_all_outputs`: mapped outputs as object masked arrays of their
  full shape (missing elements masked, failed ones holding their error snapshots as pipefunc's
  loaders give them, or masked too with ``mask_errors=True``), single outputs as values (``None``
  if absent); :func:`load_errors` lists the failed elements, :func:`load_status` the state of every element
  (a DataFrame: done, failed, propagated, missing).
* :func:`load_xarray_dataset` (extra ``xarray``): dims from the mapspec axes, mapped inputs as
  coordinates, numeric dtypes where every element is a number, NaN for missing and failed elements.
* :func:`load_dataframe` (extras ``pandas`` / ``polars``): one row per element (failed elements
  NaN / null).
* :func:`plot_status` (extra ``plot``, matplotlib) draws the element states of the mapped outputs.
* The ``pipemap status | export | errors | dashboard`` command line lives in :mod:`pipemap.io.cli`;
  the live web dashboard in :mod:`pipemap.io.dashboard`.

>>> import tempfile
>>> import pipemap.io as pio
>>> from pipemap.storage import RunRecord, open_store
>>> folder = tempfile.mkdtemp()
>>> record = RunRecord(inputs={"x": [1, 2, 3]}, defaults={}, all_output_names={"y"},
...     shapes={"x": (3,), "y": (3,)}, resolved_shapes={"x": (3,), "y": (3,)}, internal_shapes=None,
...     shape_masks={"y": (True,)}, run_folder=folder, mapspecs_as_strings=["x[i] -> y[i]"],
...     storage="file_array")
>>> record.dump()
>>> open_store(record, "y").dump_many([0, 2], [2, 6])   # element 1 not computed (yet)
>>> pio.load_outputs("y", run_folder=folder).tolist()
[2, None, 6]
>>> pio.load_dataframe(run_folder=folder).to_dict("list")
{'x': [1, 2, 3], 'y': [2.0, nan, 6.0]}
"""

from __future__ import annotations

from pipemap.io._dataframe import dataframe_from_data, load_dataframe
from pipemap.io._element_status import load_status
from pipemap.io._example import example_run_folder
from pipemap.io._combine import RunFolderConflictError
from pipemap.io._folder import OutputNotFoundError, RunFolderError
from pipemap.io._load import CorruptOutputError, ElementError, load_all_outputs, load_errors, load_outputs
from pipemap.io._plot import plot_status
from pipemap.io._results import dataframe_from_results, xarray_dataset_from_results, xarray_dataset_to_dataframe
from pipemap.io.xarray import DimensionlessArray, load_xarray_dataset, xarray_dataset_from_data

__all__ = [
    "CorruptOutputError",
    "DimensionlessArray",
    "ElementError",
    "OutputNotFoundError",
    "RunFolderConflictError",
    "RunFolderError",
    "dataframe_from_data",
    "dataframe_from_results",
    "example_run_folder",
    "load_all_outputs",
    "load_dataframe",
    "load_errors",
    "load_outputs",
    "load_status",
    "load_xarray_dataset",
    "plot_status",
    "xarray_dataset_from_data",
    "xarray_dataset_from_results",
    "xarray_dataset_to_dataframe",
]

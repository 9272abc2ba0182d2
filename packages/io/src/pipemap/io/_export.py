"""Export a run folder to netCDF / zarr (through xarray) or Parquet / CSV (through polars).

File formats cannot hold arbitrary Python objects, so the export differs from the in-memory
Dataset in two ways: a zipped coordinate ``"a:b"`` is written as separate coordinates ``a`` and
``b`` on the shared dim, and array-valued single outputs get their own dims (``<name>_dim_0``...).
Columns of nested objects are written to Parquet as native nested types when polars can type
them, else (and always for CSV) as their ``repr`` text; variables of Python objects cannot go to
netCDF or zarr, and the error names them.

>>> import tempfile, pathlib
>>> from pipemap.io import example_run_folder
>>> export_run(example_run_folder(), "parquet", pathlib.Path(tempfile.mkdtemp()) / "out.parquet").name
'out.parquet'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._folder import RunFolder
from ._load import model_from_run_folder
from ._model import Model

__all__ = ["FORMATS", "ExportError", "export_run"]

FORMATS = ("netcdf", "zarr", "parquet", "csv")


class ExportError(ValueError):
    """The run cannot be written in the requested format (the message says why and what to do)."""


def _file_dataset(model: Model) -> Any:
    import xarray as xr

    coords: dict[str, Any] = {}
    for coord in model.coords.values():
        for part, array in coord.parts.items():
            coords[part] = (coord.dims, array)
    data_vars: dict[str, Any] = {name: (var.dims, var.data) for name, var in model.variables.items()}
    for name, value in model.singles.items():
        arr = np.asarray(value) if isinstance(value, (int, float, complex, bool, np.number, np.ndarray)) else None
        if arr is None:
            cell = np.empty((), dtype=object)
            cell[()] = value
            arr = cell
        data_vars[name] = (tuple(f"{name}_dim_{k}" for k in range(arr.ndim)), arr)
    ds = xr.Dataset(data_vars, coords=coords)
    bad = [name for name, var in ds.variables.items() if var.dtype == object]
    if bad:
        msg = (
            f"Cannot write {', '.join(f'`{b}`' for b in bad)} (Python objects, or missing elements"
            " in non-numeric data) to this format; export to parquet or csv instead, or select"
            " numeric outputs with --output"
        )
        raise ExportError(msg)
    return ds


def _polars_frame(model: Model, *, text_only_primitives: bool) -> Any:
    import polars as pl

    from ._dataframe import model_to_polars

    frame = model_to_polars(model)
    casts = []
    for name, dtype in frame.schema.items():
        if dtype == pl.Object and not text_only_primitives:
            # numpy arrays inside cells: try native nested lists first
            values = [v.tolist() if isinstance(v, np.ndarray) else v for v in frame[name].to_list()]
            try:
                casts.append(pl.Series(name, values, strict=True))
                continue
            except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
                pass
        if dtype == pl.Object or (text_only_primitives and dtype.is_nested()):
            casts.append(pl.Series(name, [None if v is None else repr(v) for v in frame[name].to_list()], dtype=pl.String))
    return frame.with_columns(casts) if casts else frame


def export_run(
    run_folder: str | Path,
    to: str,
    out: str | Path,
    *,
    output_names: tuple[str, ...] = (),
    load_intermediate: bool = True,
) -> Path:
    """Write the run's outputs (default: all) to ``out`` in format ``to``; return the path."""
    if to not in FORMATS:
        msg = f"Unknown export format {to!r}; choose one of {', '.join(FORMATS)}"
        raise ExportError(msg)
    out = Path(out)
    _check_target(RunFolder.open(run_folder).folder, out, to)
    model = model_from_run_folder(output_names, run_folder, load_intermediate=load_intermediate)
    try:
        if to in ("netcdf", "zarr"):
            ds = _file_dataset(model)
            if to == "netcdf":
                try:
                    ds.to_netcdf(out)
                except ValueError as exc:
                    if "engine" in str(exc).lower() or "netcdf" in str(exc).lower():
                        msg = f"Writing netCDF needs `scipy`, `netCDF4` or `h5netcdf` installed ({exc})"
                        raise ExportError(msg) from None
                    raise
            else:
                ds.to_zarr(out, mode="w", consolidated=False)
            return out
        frame = _polars_frame(model, text_only_primitives=to == "csv")
        if to == "parquet":
            frame.write_parquet(out)
        else:
            frame.write_csv(out)
    except OSError as exc:
        msg = f"Cannot write the export to `{out}` ({type(exc).__name__}: {exc.strerror or exc})"
        raise ExportError(msg) from None
    return out


def _check_target(run_folder: Path, out: Path, to: str) -> None:
    """Refuse targets that would overwrite the run folder or an unrelated directory."""
    target, run = out.absolute().resolve(), run_folder.resolve()
    if target == run or run in target.parents or target in run.parents:
        msg = f"Cannot export to `{out}`: it is the run folder `{run_folder}`, inside it or contains it; a reader never writes into a run folder"
        raise ExportError(msg)
    if to != "zarr":
        if target.is_dir():
            msg = f"Cannot export to `{out}`: it is a directory; give the path of the {to} file to write"
            raise ExportError(msg)
        return
    if target.exists() and not target.is_dir():
        msg = f"Cannot export to `{out}`: it is a file; give the path of the zarr folder to write"
        raise ExportError(msg)
    if target.is_dir() and any(target.iterdir()) and not any((target / m).exists() for m in ("zarr.json", ".zgroup")):
        msg = f"Cannot export to `{out}`: it is a directory that is not a zarr store; refusing to replace its content"
        raise ExportError(msg)

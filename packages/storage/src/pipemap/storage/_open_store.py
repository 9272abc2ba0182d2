"""Reopening a run folder's stores from its record: :func:`open_store`, :func:`open_run_folder`.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> rec = RunRecord(inputs={"x": [1, 2]}, defaults={}, all_output_names={"y"}, shapes={"x": (2,), "y": (2,)},
...     resolved_shapes={"x": (2,), "y": (2,)}, internal_shapes=None, shape_masks={"y": (True,)},
...     run_folder=folder, mapspecs_as_strings=["x[i] -> y[i]"], storage="file_array")
>>> rec.dump()
>>> loaded, stores = open_run_folder(folder)
>>> loaded.inputs, type(stores["y"]).__name__
({'x': [1, 2]}, 'FileArray')
"""

from __future__ import annotations

from pathlib import Path

from ._base import StorageBase
from ._registry import get_storage_class
from ._run_record import RunRecord, check_name, output_folder
from ._values import FileValue

__all__ = ["open_run_folder", "open_store"]


def open_store(record: RunRecord, output_name: str, *, read_only: bool = False) -> StorageBase:
    """Reopen the storage of a mapped output from its record.

    Uses the recorded storage id, the external/internal shape split by the shape mask and the
    folder ``outputs/<name>``.

    Parameters
    ----------
    record : RunRecord
        The run's record (``RunRecord.load(run_folder)``).
    output_name : str
        A mapped output of the run.
    read_only : bool, default False
        Create and change nothing in the run folder (readers; see ``StorageBase.open_read_only``).

    Examples
    --------
    >>> import tempfile
    >>> record = RunRecord(
    ...     inputs={"x": [1, 2, 3]}, defaults={}, all_output_names={"y"},
    ...     shapes={"x": (3,), "y": (3,)}, resolved_shapes={"x": (3,), "y": (3,)},
    ...     internal_shapes=None, shape_masks={"x": (True,), "y": (True,)},
    ...     run_folder=tempfile.mkdtemp(), mapspecs_as_strings=["x[i] -> y[i]"], storage="file_array")
    >>> record.dump()  # run_info.json, pipemap.json, inputs/, defaults/
    >>> store = open_store(record, "y")
    >>> store.dump((1,), 20); store.to_array()
    masked_array(data=[--, 20, --],
                 mask=[ True, False,  True],
           fill_value=np.str_('?'),
                dtype=object)
    """
    if output_name not in record.mapped_outputs():
        msg = f"`{output_name}` is not a mapped output of this run (mapped: {sorted(record.mapped_outputs())})"
        raise ValueError(msg)
    folder = output_folder(record._folder(), output_name)
    full, mask = record.full_shape_and_mask(output_name)
    external = tuple(s for s, m in zip(full, mask) if m)
    internal = tuple(s for s, m in zip(full, mask) if not m)
    cls = get_storage_class(record.storage_id_for(output_name))
    if read_only:
        return cls.open_read_only(folder, external, internal or None, mask if internal else None)
    return cls(folder, external, internal or None, mask if internal else None)


def open_run_folder(
    run_folder: str | Path, *, read_only: bool = False
) -> tuple[RunRecord, dict[str, StorageBase | FileValue]]:
    """Load the record and open every output: storages for mapped ones, `FileValue`s for the others.

    Parameters
    ----------
    run_folder : str or Path
        The run folder.
    read_only : bool, default False
        Open the storages without creating or changing anything (readers).

    Returns
    -------
    tuple
        ``(record, {output name: storage or FileValue})``.

    Raises
    ------
    RunFolderError
        If the folder has no valid ``run_info.json``.

    Examples
    --------
    >>> import tempfile
    >>> record = RunRecord(
    ...     inputs={"x": [1, 2, 3]}, defaults={}, all_output_names={"y"},
    ...     shapes={"x": (3,), "y": (3,)}, resolved_shapes={"x": (3,), "y": (3,)},
    ...     internal_shapes=None, shape_masks={"x": (True,), "y": (True,)},
    ...     run_folder=tempfile.mkdtemp(), mapspecs_as_strings=["x[i] -> y[i]"], storage="file_array")
    >>> record.dump()  # run_info.json, pipemap.json, inputs/, defaults/
    >>> record_again, outputs = open_run_folder(record.run_folder, read_only=True)
    >>> {name: type(value).__name__ for name, value in outputs.items()}
    {'y': 'FileArray'}
    """
    record = RunRecord.load(run_folder)
    folder = record._folder()
    mapped = record.mapped_outputs()
    stores: dict[str, StorageBase | FileValue] = {}
    for name in sorted(record.all_output_names):
        if name in mapped:
            stores[name] = open_store(record, name, read_only=read_only)
        else:
            stores[name] = FileValue(folder / "outputs" / f"{check_name(name)}.cloudpickle")
    return record, stores

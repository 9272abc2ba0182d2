"""Element keys on disk: ``keys/<output>.npy``, one 128-bit key per stored element.

A run writes, before computing an output's elements, the key of every element of that output
(shape ``(*external_shape, 2)``, ``uint64``, C order, the same linear index as the storage). A
key identifies what determines the element's value (function code, input values, constants);
``(0, 0)`` means "no key" (not reusable). Readers need only numpy: see ``FORMAT.md``.
The per-function counts of reused and computed elements of the last run are in
``pipemap.json`` (``"elements"``), read with :func:`read_element_counts`.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> write_keys(folder, "y", np.arange(6, dtype=np.uint64).reshape(3, 2))
>>> read_keys(folder, "y").tolist()
[[0, 1], [2, 3], [4, 5]]
>>> read_keys(folder, "z") is None
True
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_write_bytes
from ._run_files import PIPEMAP_INFO

__all__ = ["KEYS_DIR", "keys_path", "read_element_counts", "read_keys", "write_element_counts", "write_keys"]

#: the folder of the key files inside a run folder
KEYS_DIR = "keys"


def keys_path(run_folder: str | Path, output_name: str) -> Path:
    """Where the element keys of ``output_name`` live: ``<run_folder>/keys/<output_name>.npy``.

    Parameters
    ----------
    run_folder : str or Path
        The run folder.
    output_name : str
        The mapped output.

    Examples
    --------
    >>> keys_path("run", "y").as_posix()
    'run/keys/y.npy'
    """
    return Path(run_folder) / KEYS_DIR / f"{output_name}.npy"


def write_keys(run_folder: str | Path, output_name: str, keys: np.ndarray) -> None:
    """Write the keys of ``output_name`` atomically (temporary file, fsync, rename).

    Nothing is written when the run folder no longer exists (a folder is never re-created).

    Parameters
    ----------
    run_folder : str or Path
        The run folder.
    output_name : str
        The mapped output.
    keys : numpy.ndarray
        The keys, shape ``(*external_shape, 2)`` (stored as ``uint64``); ``(0, 0)`` means "no key".

    Raises
    ------
    ValueError
        When ``keys`` does not have a last axis of length 2.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_keys(folder, "y", np.zeros((4, 2), dtype=np.uint64))
    >>> keys_path(folder, "y").is_file()
    True
    """
    keys = np.ascontiguousarray(keys, dtype=np.uint64)
    if keys.ndim < 1 or keys.shape[-1] != 2:
        msg = f"keys of `{output_name}` must have shape (..., 2), got {keys.shape}"
        raise ValueError(msg)
    path = keys_path(run_folder, output_name)
    buffer = io.BytesIO()
    np.save(buffer, keys, allow_pickle=False)
    try:
        path.parent.mkdir(exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue())
    except FileNotFoundError:
        if Path(run_folder).is_dir():
            raise
        # the run folder vanished: it is never re-created here (the storages' writes say so)


def read_keys(run_folder: str | Path, output_name: str) -> np.ndarray | None:
    """The keys of ``output_name`` (shape ``(*external_shape, 2)``), or None when the folder has
    none (written by pipefunc or an older pipemap).

    Parameters
    ----------
    run_folder : str or Path
        The run folder.
    output_name : str
        The mapped output.

    Raises
    ------
    RunFolderError
        When the key file is damaged (unreadable, or not ``uint64`` of shape ``(..., 2)``).

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_keys(folder, "y", np.array([[7, 8], [0, 0]]))
    >>> read_keys(folder, "y").tolist()
    [[7, 8], [0, 0]]
    >>> read_keys(folder, "z") is None
    True
    """
    path = keys_path(run_folder, output_name)
    try:
        with path.open("rb") as fh:
            keys = np.load(fh, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError) as exc:
        from ._run_record import RunFolderError

        msg = f"The element keys `{path}` of the run in `{run_folder}` are damaged ({type(exc).__name__}: {exc})"
        raise RunFolderError(msg) from None
    if keys.dtype != np.uint64 or keys.ndim < 1 or keys.shape[-1] != 2:
        from ._run_record import RunFolderError

        msg = f"The element keys `{path}` of the run in `{run_folder}` are damaged (dtype {keys.dtype}, shape {keys.shape})"
        raise RunFolderError(msg)
    return keys


def write_element_counts(
    run_folder: str | Path, counts: dict[str, dict[str, int]], outputs: dict[str, list[str]] | None = None
) -> None:
    """Add ``{"elements": {function: {"reused": n, "computed": m}}}`` to ``pipemap.json`` (atomically).

    Nothing is written when the folder has no readable ``pipemap.json`` (not a pipemap run folder).

    Parameters
    ----------
    run_folder : str or Path
        The run folder.
    counts : dict
        ``{function: {"reused": n, "computed": m}}`` of the run.
    outputs : dict, optional
        ``{function: [output names]}``, recorded as ``"element_outputs"`` so readers that show
        outputs (the dashboard) can place the counts.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / PIPEMAP_INFO).write_text("{}")
    >>> write_element_counts(folder, {"f": {"reused": 2, "computed": 1}})
    >>> json.loads((folder / PIPEMAP_INFO).read_text())["elements"]
    {'f': {'reused': 2, 'computed': 1}}
    """
    path = Path(run_folder) / PIPEMAP_INFO
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(data, dict):
        return
    data["elements"] = counts
    if outputs is not None:
        data["element_outputs"] = outputs
    atomic_write_bytes(path, json.dumps(data, indent=4).encode())


def read_element_counts(run_folder: str | Path) -> dict[str, dict[str, int]] | None:
    """The reused/computed counts per function of the folder's last run (None: not recorded).

    Parameters
    ----------
    run_folder : str or Path
        The run folder.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> read_element_counts(folder) is None
    True
    >>> _ = (folder / PIPEMAP_INFO).write_text("{}")
    >>> write_element_counts(folder, {"f": {"reused": 2, "computed": 1}})
    >>> read_element_counts(folder)
    {'f': {'reused': 2, 'computed': 1}}
    """
    try:
        data = json.loads((Path(run_folder) / PIPEMAP_INFO).read_text())
        counts = data["elements"]
        return {str(f): {str(k): int(v) for k, v in c.items()} for f, c in counts.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None

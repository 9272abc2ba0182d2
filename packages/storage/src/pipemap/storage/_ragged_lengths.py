"""The row lengths of ragged outputs: ``<run_folder>/ragged/<output>.npy`` (FORMAT.md, "Ragged outputs").

A ragged output (mapspec axis ``j*``) stores no padding: a producer's output keeps one sequence per
outer index, an element-wise consumer's output one value per existing element. Its row lengths
(an int64 array of the outer grid's shape) are written atomically once all rows are known, so
loaders can pad, mask and index without reading every row.

>>> import tempfile
>>> import numpy as np
>>> folder = tempfile.mkdtemp()
>>> write_ragged_lengths(folder, "words", np.array([2, 0, 3]))
>>> read_ragged_lengths(folder, "words").tolist()
[2, 0, 3]
>>> read_ragged_lengths(folder, "other") is None
True
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from ._atomic import atomic_write_bytes

__all__ = ["RAGGED_DIR", "ragged_lengths_path", "read_ragged_lengths", "write_ragged_lengths"]

#: the folder of a run folder that holds the row lengths of its ragged outputs
RAGGED_DIR = "ragged"


def ragged_lengths_path(run_folder: str | os.PathLike[str], name: str) -> Path:
    """Where the row lengths of ragged output ``name`` live.

    Parameters
    ----------
    run_folder : str or PathLike
        The run folder.
    name : str
        The ragged output.

    Examples
    --------
    >>> ragged_lengths_path("run", "words").as_posix()
    'run/ragged/words.npy'
    """
    return Path(run_folder) / RAGGED_DIR / f"{name}.npy"


def write_ragged_lengths(run_folder: str | os.PathLike[str], name: str, lengths: np.ndarray) -> None:
    """Write the row lengths of ``name`` atomically (the old file or the complete new one).

    Parameters
    ----------
    run_folder : str or PathLike
        The run folder.
    name : str
        The ragged output.
    lengths : numpy.ndarray
        Integer row lengths, shaped like the outer grid.

    Examples
    --------
    >>> import tempfile
    >>> write_ragged_lengths(tempfile.mkdtemp(), "words", np.array([2, 0]))
    """
    path = ragged_lengths_path(run_folder, name)
    path.parent.mkdir(exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(lengths, dtype=np.int64), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def read_ragged_lengths(run_folder: str | os.PathLike[str], name: str) -> np.ndarray | None:
    """The row lengths of ``name`` (None when they are not written yet).

    Parameters
    ----------
    run_folder : str or PathLike
        The run folder.
    name : str
        The ragged output.

    Examples
    --------
    >>> import tempfile
    >>> read_ragged_lengths(tempfile.mkdtemp(), "words") is None
    True
    """
    path = ragged_lengths_path(run_folder, name)
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None

"""The attempts record: elements that needed more than one attempt, or failed (see FORMAT.md).

Only such elements are recorded (a run without failures or retries writes nothing). Each
batch that has records writes one small JSON file, atomically, under
``<run_folder>/attempts/<output name>/``; a run that recomputes recorded elements first writes
a file that clears them. Files are applied in name order (the name starts with the write time in
nanoseconds), so the newest word about an element wins.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> rec = AttemptRecord(3, "OSError", "flaky", "Traceback ...", "host", 42, 0.5)
>>> write_attempts(folder, ("y",), {7: rec})
>>> read_attempts(folder, "y")[7].attempts
3
>>> clear_attempts(folder, ("y",), [7, 8])
>>> read_attempts(folder, "y")
{}
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from ._atomic import atomic_write_bytes

__all__ = ["ATTEMPTS_DIR", "AttemptRecord", "clear_attempts", "read_attempts", "recorded_indices", "write_attempts"]

#: the folder (under the run folder) holding one subfolder of attempt files per output
ATTEMPTS_DIR = "attempts"
_VERSION = 1
_counter = itertools.count()


@dataclass(frozen=True)
class AttemptRecord:
    """One element's attempts: how many were made, the last error, where the last attempt ran.

    Written by runs with a retry policy for every element that needed more than one attempt or
    failed (``attempts/<output>/`` in the run folder); read with :func:`read_attempts`.

    Parameters
    ----------
    attempts : int
        The number of attempts made (the first one included).
    error_type : str or None
        The type name of the last error any attempt raised (kept when a later attempt succeeded).
    error_message : str or None
        That error's message.
    traceback : str or None
        That error's formatted traceback.
    host : str
        The host the last attempt ran on.
    pid : int
        The process id of the last attempt (0 when a worker died without reporting).
    seconds : float or None
        The wall time of the successful attempt, None when every attempt failed.

    Examples
    --------
    >>> AttemptRecord(2, "OSError", "flaky", None, "h", 1, 0.25).succeeded
    True
    """

    attempts: int
    error_type: str | None
    error_message: str | None
    traceback: str | None
    host: str
    pid: int
    seconds: float | None

    @property
    def succeeded(self) -> bool:
        """True when the last attempt succeeded (``seconds`` is its wall time)."""
        return self.seconds is not None


def _folder(run_folder: str | os.PathLike[str], output_name: str) -> Path:
    return Path(run_folder) / ATTEMPTS_DIR / output_name


def _write(run_folder: str | os.PathLike[str], output_names: Iterable[str], payload: dict[str, object]) -> None:
    data = json.dumps({"version": _VERSION, **payload}).encode()
    stem = f"{time.time_ns():020d}-{os.getpid()}-{next(_counter):06d}.json"
    for name in output_names:
        folder = _folder(run_folder, name)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / stem, data, durable=False)


def write_attempts(
    run_folder: str | os.PathLike[str], output_names: Iterable[str], records: Mapping[int, AttemptRecord]
) -> None:
    """Record ``records`` (linear index -> record) for every output in ``output_names``.

    Parameters
    ----------
    run_folder : str or os.PathLike
        The run folder.
    output_names : iterable of str
        The outputs of the function the records belong to.
    records : mapping of int to AttemptRecord
        ``{linear index: record}``.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_attempts(folder, ["y1", "y2"], {0: AttemptRecord(2, "OSError", "flaky", None, "h", 1, 0.1)})
    >>> sorted(read_attempts(folder, "y2"))
    [0]
    """
    if not records:
        return
    _write(run_folder, output_names, {"records": {str(int(k)): asdict(v) for k, v in records.items()}})


def clear_attempts(run_folder: str | os.PathLike[str], output_names: Iterable[str], indices: Iterable[int]) -> None:
    """Forget the records of ``indices`` (elements about to be recomputed).

    Parameters
    ----------
    run_folder : str or os.PathLike
        The run folder.
    output_names : iterable of str
        The outputs of the function whose elements are recomputed.
    indices : iterable of int
        Linear element indices.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_attempts(folder, ["y"], {4: AttemptRecord(2, "OSError", "flaky", None, "h", 1, 0.5)})
    >>> clear_attempts(folder, ["y"], [4]); read_attempts(folder, "y")
    {}
    """
    items = sorted({int(i) for i in indices})
    if items:
        _write(run_folder, output_names, {"cleared": items})


def read_attempts(run_folder: str | os.PathLike[str], output_name: str) -> dict[int, AttemptRecord]:
    """The attempt records of ``output_name``'s elements.

    Parameters
    ----------
    run_folder : str or os.PathLike
        The run folder.
    output_name : str
        A mapped output.

    Returns
    -------
    dict of int to AttemptRecord
        ``{linear index: AttemptRecord}`` for the elements that needed more than one attempt or
        failed (``{}`` when none did, or the run folder has no record). Unreadable files (a foreign
        or truncated file) are skipped.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_attempts(folder, ["y"], {4: AttemptRecord(3, "OSError", "flaky", None, "h", 1, 0.5)})
    >>> record = read_attempts(folder, "y")[4]
    >>> record.attempts, record.error_type, record.succeeded
    (3, 'OSError', True)
    """
    folder = _folder(run_folder, output_name)
    try:
        names = sorted(p.name for p in folder.iterdir() if p.suffix == ".json")
    except (FileNotFoundError, NotADirectoryError):
        return {}
    out: dict[int, AttemptRecord] = {}
    for name in names:
        try:
            data = json.loads((folder / name).read_bytes())
            for k in data.get("cleared", ()):
                out.pop(int(k), None)
            for k, rec in data.get("records", {}).items():
                out[int(k)] = AttemptRecord(**rec)
        except (OSError, ValueError, TypeError, AttributeError):
            continue
    return out


def recorded_indices(run_folder: str | os.PathLike[str], output_name: str) -> set[int]:
    """The linear indices that currently have a record (cheap when nothing was ever recorded).

    Parameters
    ----------
    run_folder : str or os.PathLike
        The run folder.
    output_name : str
        A mapped output.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> recorded_indices(folder, "y")
    set()
    >>> write_attempts(folder, ["y"], {2: AttemptRecord(2, None, None, None, "h", 1, 0.1)})
    >>> recorded_indices(folder, "y")
    {2}
    """
    if not _folder(run_folder, output_name).is_dir():
        return set()
    return set(read_attempts(run_folder, output_name))

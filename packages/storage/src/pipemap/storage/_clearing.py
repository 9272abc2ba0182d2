"""Replacing a run folder's contents atomically, so a crash never leaves unvouched outputs.

A fresh run (``resume=False``) over an existing run folder must get rid of the old run. Deleting
file by file takes long with many element files, and a crash in the middle would leave old
outputs without the ``run_info.json`` that says what they were computed from. So
:func:`clear_run_folder` works in three quick steps:

1. it creates the marker ``.pipemap.clearing`` (from here on, nothing in the folder is valid);
2. it *renames* every entry (``run_info.json`` first) into a hidden trash folder
   ``.pipemap.trash-<random>`` (one rename per top-level entry, however many files);
3. it removes the marker, then deletes the trash.

A crash during 1-2 leaves the marker: :func:`interrupted_clear` is then True, readers refuse the
folder and the next run (``resume=True`` or not) finishes the clearing first. A crash during 3
leaves only a hidden trash folder, which readers ignore and the next clearing deletes. The lock
file (``.pipemap.lock``) is kept: the run that clears holds it.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> (folder / "outputs").mkdir(); _ = (folder / "run_info.json").write_text("{}")
>>> _ = (folder / ".pipemap.lock").write_text("{}")
>>> clear_run_folder(folder); sorted(p.name for p in folder.iterdir())
['.pipemap.lock']
>>> interrupted_clear(folder)
False
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

__all__ = [
    "CLEARING_MARKER",
    "TRASH_PREFIX",
    "clear_outputs",
    "clear_run_folder",
    "interrupted_clear",
    "interrupted_clear_message",
    "is_bookkeeping_name",
]

#: present while a run folder is being cleared (and after a crash during the clearing)
CLEARING_MARKER = ".pipemap.clearing"
#: hidden folders holding a cleared run's entries until they are deleted
TRASH_PREFIX = ".pipemap.trash-"
#: hidden folders of an in-place grow (``_grow.py``): an old run kept aside
GROW_PREFIX = ".pipemap.grow-"
_LOCK_NAMES = frozenset({".pipemap.lock", ".pipemap.lock.takeover"})
_RUN_INFO = "run_info.json"


def is_bookkeeping_name(name: str) -> bool:
    """True for the run folder's own hidden entries (lock, takeover guard, clearing marker, trash,
    the old runs kept aside by an in-place grow).

    Parameters
    ----------
    name : str
        The name of an entry of a run folder.

    Examples
    --------
    >>> is_bookkeeping_name(".pipemap.lock"), is_bookkeeping_name(".pipemap.trash-ab12"), is_bookkeeping_name("outputs")
    (True, True, False)
    """
    return name in _LOCK_NAMES or name == CLEARING_MARKER or name.startswith((TRASH_PREFIX, GROW_PREFIX))


def interrupted_clear(run_folder: str | os.PathLike[str]) -> bool:
    """Whether a clearing of ``run_folder`` started and did not finish (its entries are not valid).

    Parameters
    ----------
    run_folder : str or os.PathLike
        The run folder.

    Examples
    --------
    >>> import tempfile
    >>> interrupted_clear(tempfile.mkdtemp())
    False
    """
    return (Path(run_folder) / CLEARING_MARKER).exists()


def interrupted_clear_message(run_folder: object) -> str:
    """What readers say of a folder where :func:`interrupted_clear` is True.

    >>> interrupted_clear_message("run").startswith("`run` was being replaced")
    True
    """
    return (
        f"`{run_folder}` was being replaced by a fresh run (`resume=False`) that was interrupted:"
        " what is left in it is not valid. Run the pipeline on it again to replace it."
    )


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def clear_run_folder(run_folder: str | os.PathLike[str]) -> None:
    """Delete everything in ``run_folder`` but its lock, crash-safely (see the module docstring).

    A marker is written first and the entries are renamed into a hidden trash before they are
    deleted, so a kill midway never leaves a folder that looks like a valid old run.

    Parameters
    ----------
    run_folder : str or os.PathLike
        The run folder (its lock must be held by the caller).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "outputs").mkdir(); clear_run_folder(folder); list(folder.iterdir())
    []
    """
    folder = Path(run_folder)
    if not folder.is_dir():
        return
    marker = folder / CLEARING_MARKER
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT, 0o644)
    os.close(fd)
    _fsync_dir(folder)  # the marker is on disk before anything is moved
    trash = folder / f"{TRASH_PREFIX}{uuid.uuid4().hex}"
    trash.mkdir()
    entries = [p for p in folder.iterdir() if not is_bookkeeping_name(p.name)]
    entries.sort(key=lambda p: p.name != _RUN_INFO)  # the record goes first
    for entry in entries:
        os.rename(entry, trash / entry.name)
    _fsync_dir(folder)
    marker.unlink()
    _fsync_dir(folder)
    for old in folder.iterdir():
        if old.name.startswith(TRASH_PREFIX):
            shutil.rmtree(old, ignore_errors=True)


def clear_outputs(run_folder: str | os.PathLike[str], names: list[str] | set[str]) -> list[str]:
    """Delete the stored values of the outputs ``names`` (``outputs/<name>/``,
    ``outputs/<name>.cloudpickle`` and ``attempts/<name>/``), crash-safely; return the names that
    had something stored.

    Each entry is *renamed* into a hidden trash folder (one atomic rename per output, whatever
    its number of files), then the trash is deleted. A crash leaves every output either whole
    or gone, never torn; the caller records the new run only after this returns, so a folder
    whose clearing was interrupted still holds the old record, and the next resume finds the
    same change and clears the rest. Leftover trash of an earlier crash is deleted too.

    Parameters
    ----------
    run_folder : str or PathLike
        The run folder.
    names : list or set of str
        The outputs whose stored values are deleted.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "outputs" / "y").mkdir(parents=True); _ = (folder / "outputs" / "s.cloudpickle").write_text("")
    >>> clear_outputs(folder, ["y", "s", "z"]), sorted(p.name for p in (folder / "outputs").iterdir())
    (['s', 'y'], [])
    """
    folder = Path(run_folder)
    entries: list[tuple[str, Path]] = []
    for name in sorted(names):
        for path in (folder / "outputs" / name, folder / "outputs" / f"{name}.cloudpickle", folder / "attempts" / name):
            if path.exists() or path.is_symlink():
                entries.append((name, path))
    if entries:
        trash = folder / f"{TRASH_PREFIX}{uuid.uuid4().hex}"
        trash.mkdir()
        for i, (_, path) in enumerate(entries):
            os.rename(path, trash / f"{i}-{path.name}")
        _fsync_dir(folder / "outputs")
        if (folder / "attempts").is_dir():
            _fsync_dir(folder / "attempts")
    for old in folder.iterdir():
        if old.name.startswith(TRASH_PREFIX):
            shutil.rmtree(old, ignore_errors=True)
    return sorted({name for name, _ in entries})

"""Growing a run folder in place, crash-safely: the old run is kept aside until the new one is done.

A run whose ``run_folder`` is also one of its ``reuse_from`` folders *grows* that folder:

1. :func:`begin_grow` renames every entry of the folder (``run_info.json`` first) into
   ``.pipemap.grow-moving-<n>`` and then renames that to ``.pipemap.grow-old-<n>``: the old run,
   complete, under one hidden name (``n`` counts up: the newest copy has the largest ``n``);
2. the new run writes its record (``run_info.json`` last) and takes the old values from the
   copy by element key; from here on the folder is the new run, resumable;
3. :func:`finish_grow` deletes the old copies when the new run has finished.

:func:`repair_grow`, called before anything else by the next run on the folder, leaves it in a
state readers understand: an interrupted step 1 is completed; a folder without ``run_info.json``
(a crash before step 2 wrote it) gets its newest old copy back (through
``.pipemap.grow-restoring-<n>``, whose entries are moved back with ``run_info.json`` last). So at
every moment the folder holds the old complete run or a new run whose every stored value belongs
to it, never a mix. Readers ignore the hidden entries.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "run_info.json").write_text("{}"); (folder / "outputs").mkdir()
>>> old = begin_grow(folder); sorted(p.name for p in folder.iterdir()), sorted(p.name for p in old.iterdir())
(['.pipemap.grow-old-1'], ['outputs', 'run_info.json'])
>>> repair_grow(folder); sorted(p.name for p in folder.iterdir())  # crashed before the new record
['outputs', 'run_info.json']
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

from ._clearing import GROW_PREFIX, TRASH_PREFIX, _fsync_dir, clear_run_folder

__all__ = ["GROW_PREFIX", "begin_grow", "finish_grow", "grow_copies", "is_grow_name", "repair_grow"]


_NAME = re.compile(r"^\.pipemap\.grow-(old|moving|restoring)-(\d+)$")
_RUN_INFO = "run_info.json"


def is_grow_name(name: str) -> bool:
    """True for the hidden folders of an in-place grow."""
    return name.startswith(GROW_PREFIX)


def _entries(folder: Path, kind: str) -> list[tuple[int, Path]]:
    out = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m and m.group(1) == kind:
            out.append((int(m.group(2)), p))
    return sorted(out)


def grow_copies(folder: str | os.PathLike[str]) -> list[Path]:
    """The complete old runs kept aside in ``folder`` by :func:`begin_grow` (oldest first).

    Parameters
    ----------
    folder : str or PathLike
        The run folder (a missing folder has none).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> grow_copies(folder)
    []
    >>> _ = (folder / "run_info.json").write_text("{}")
    >>> _ = begin_grow(folder)
    >>> [p.name for p in grow_copies(folder)]
    ['.pipemap.grow-old-1']
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [p for _, p in _entries(folder, "old")]


def _run_entries(folder: Path) -> list[Path]:
    from ._clearing import is_bookkeeping_name

    entries = [p for p in folder.iterdir() if not is_bookkeeping_name(p.name)]
    entries.sort(key=lambda p: p.name != _RUN_INFO)  # the record first
    return entries


def _move_into(folder: Path, target: Path) -> None:
    for entry in _run_entries(folder):
        os.rename(entry, target / entry.name)
    _fsync_dir(folder)


def begin_grow(folder: str | os.PathLike[str]) -> Path:
    """Move the folder's run aside (step 1 of a grow); return the copy's path.

    Every entry of the folder (``run_info.json`` first) moves into ``.pipemap.grow-moving-<n>``,
    which is then renamed to ``.pipemap.grow-old-<n>``.

    Parameters
    ----------
    folder : str or PathLike
        The run folder to grow in place.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "run_info.json").write_text("{}")
    >>> old = begin_grow(folder)
    >>> old.name, sorted(p.name for p in old.iterdir())
    ('.pipemap.grow-old-1', ['run_info.json'])
    """
    folder = Path(folder)
    numbers = [n for kind in ("old", "moving", "restoring") for n, _ in _entries(folder, kind)]
    n = max(numbers, default=0) + 1
    moving = folder / f"{GROW_PREFIX}moving-{n}"
    moving.mkdir()
    _fsync_dir(folder)
    _move_into(folder, moving)
    old = folder / f"{GROW_PREFIX}old-{n}"
    os.rename(moving, old)
    _fsync_dir(folder)
    return old


def repair_grow(folder: str | os.PathLike[str]) -> None:
    """Bring a folder left by an interrupted grow back to a consistent state (see the module docstring).

    An interrupted step 1 is completed; a folder without ``run_info.json`` gets its newest old
    copy back. A folder with a new ``run_info.json`` keeps its new run. A missing folder is left alone.

    Parameters
    ----------
    folder : str or PathLike
        The run folder.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "run_info.json").write_text("old")
    >>> _ = begin_grow(folder)  # ... and a crash before the new run wrote its record
    >>> repair_grow(folder)
    >>> (folder / "run_info.json").read_text(), grow_copies(folder)
    ('old', [])
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    for n, moving in _entries(folder, "moving"):  # step 1 interrupted: complete it
        _move_into(folder, moving)
        os.rename(moving, folder / f"{GROW_PREFIX}old-{n}")
        _fsync_dir(folder)
    restoring = _entries(folder, "restoring")
    if not restoring and not (folder / _RUN_INFO).exists():
        olds = _entries(folder, "old")
        if olds:
            n, old = olds[-1]
            clear_run_folder(folder)  # the new run's unvouched entries
            target = folder / f"{GROW_PREFIX}restoring-{n}"
            os.rename(old, target)
            _fsync_dir(folder)
            restoring = [(n, target)]
    for _, target in restoring:  # move the old run back, its record last
        entries = sorted(target.iterdir(), key=lambda p: p.name == _RUN_INFO)
        for entry in entries:
            if entry.is_dir():
                _replace_dir(entry, folder / entry.name)
            else:
                os.replace(entry, folder / entry.name)
        _fsync_dir(folder)
        target.rmdir()


def _replace_dir(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    os.rename(source, target)


def finish_grow(folder: str | os.PathLike[str]) -> None:
    """Delete the old copies (step 3 of a grow): rename each to a trash name first, then remove it.

    Parameters
    ----------
    folder : str or PathLike
        The run folder whose new run has finished.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "run_info.json").write_text("old")
    >>> _ = begin_grow(folder)
    >>> _ = (folder / "run_info.json").write_text("new")  # the new run's record
    >>> finish_grow(folder)
    >>> sorted(p.name for p in folder.iterdir())
    ['run_info.json']
    """
    folder = Path(folder)
    for old in grow_copies(folder):
        trash = folder / f"{TRASH_PREFIX}{uuid.uuid4().hex}"
        os.rename(old, trash)
        shutil.rmtree(trash, ignore_errors=True)

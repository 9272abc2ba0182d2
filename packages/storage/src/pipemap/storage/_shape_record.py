"""The shape record of an output folder: ``shape.json``, next to the elements it describes.

Element files and packs are addressed by linear index only, so the elements of an output folder
copied from a run of another shape would be read at the wrong positions. `file_array` and
`chunked` folders therefore record the shapes their elements were written with:

    shape.json    {"version": 1, "shape": [7, 3], "internal_shape": []}

It is written (atomically) by the first write batch that finds it missing, so it costs one
small file per folder and nothing per element. Opening a folder (storage construction) and
``done_mask()`` compare it with the storage's shapes wherever both sizes are known and raise a
:class:`~pipemap.storage.RunFolderError` naming the output, the folder and both shapes. Folders
without a record (older pipemap, pipefunc) are read as before: there is nothing to compare.

>>> import tempfile
>>> from pipemap.storage import FileArray
>>> folder = tempfile.mkdtemp()
>>> FileArray(folder, (2, 3)).dump((0, 0), "v")
>>> FileArray(folder, (3, 2))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pipemap.storage._run_record.RunFolderError: Output `...`: the run records shape (3, 2), but its folder `...` holds elements of shape (2, 3) ...
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

from ._atomic import atomic_write_bytes, vanished_folder_error
from ._shapes import shape_is_resolved

__all__ = ["SHAPE_RECORD", "ShapeRecorded", "read_shape_record"]

SHAPE_RECORD = "shape.json"
_VERSION = 1


def _valid_shape(value: Any) -> bool:
    return isinstance(value, list) and all(
        (isinstance(d, int) and not isinstance(d, bool) and d >= 0) or d == "?" for d in value
    )


def read_shape_record(path: Path) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """``(shape, internal_shape)`` recorded in ``path``; None when there is no record.

    A record that cannot be read is a :class:`RunFolderError` naming the file.
    """
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        _raise(f"`{path}` (the shape record of output `{path.parent.name}`) cannot be read ({type(exc).__name__}: {exc}); the run folder is damaged")
    if not isinstance(data, dict) or not _valid_shape(data.get("shape")) or not _valid_shape(data.get("internal_shape", [])):
        _raise(f"`{path}` (the shape record of output `{path.parent.name}`) must hold {{\"shape\": [...], \"internal_shape\": [...]}}, got {data!r:.120}; the run folder is damaged")
    return tuple(data["shape"]), tuple(data.get("internal_shape", []))


def _raise(msg: str) -> NoReturn:
    from ._run_record import RunFolderError

    raise RunFolderError(msg)


def _differ(expected: tuple[Any, ...], found: tuple[Any, ...]) -> bool:
    """Different ranks, or a size known on both sides that differs."""
    if len(expected) != len(found):
        return True
    return any(a != b for a, b in zip(expected, found) if a != "?" and b != "?")


def _show(shape: tuple[Any, ...]) -> str:
    return str(tuple(shape))


class ShapeRecorded:
    """Mixin of on-disk storages that keep ``shape.json`` in their ``folder`` (see module doc).

    Uses the storage's ``folder``, ``shape`` and ``internal_shape``; ``_shape_synced`` holds the
    shapes last found consistent with the record, so the check runs once per shape change.
    """

    folder: Path
    shape: tuple[Any, ...]
    internal_shape: tuple[Any, ...]
    _shape_synced: tuple[Any, ...] | None = None

    def _sync_shape_record(self, *, write: bool) -> None:
        """Compare the record with the current shapes (raise on a mismatch); ``write``: create it if missing."""
        shapes = (self.shape, self.internal_shape)
        if self._shape_synced == shapes or not shape_is_resolved(self.shape):
            return
        path = self.folder / SHAPE_RECORD
        recorded = read_shape_record(path)
        if recorded is None:
            if not write:
                return  # nothing recorded (yet): the first write records the shapes it writes with
            record = {"version": _VERSION, "shape": list(self.shape), "internal_shape": list(self.internal_shape)}
            try:
                atomic_write_bytes(path, json.dumps(record).encode())
            except FileNotFoundError:
                if self.folder.is_dir():
                    raise
                raise vanished_folder_error(self.folder) from None  # deleted mid-run: never re-create it
        else:
            self._check_against(path, *recorded)
        self._shape_synced = shapes

    def _check_against(self, path: Path, found: tuple[Any, ...], found_internal: tuple[Any, ...]) -> None:
        name = self.folder.name
        for what, expected, got in (("shape", self.shape, found), ("internal shape", self.internal_shape, found_internal)):
            if _differ(tuple(expected), got):
                _raise(
                    f"Output `{name}`: the run records {what} {_show(expected)}, but its folder `{self.folder}` holds"
                    f" elements of {what} {_show(got)} (recorded in `{path.name}`); the folder comes from another run"
                    " or was damaged. Move it away to recompute its elements, or restore the right folder."
                )

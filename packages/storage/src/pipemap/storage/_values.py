"""Holders for single (non-mapped) outputs: `FileValue` on disk, `DirectValue` in memory.

>>> import tempfile, pathlib
>>> fv = FileValue(pathlib.Path(tempfile.mkdtemp()) / "outputs" / "s.cloudpickle")
>>> fv.exists()
False
>>> fv.dump({"sum": 3}); fv.load()
{'sum': 3}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._atomic import MISSING, atomic_write_bytes, deserialize, serialize_named

__all__ = ["DirectValue", "FileValue"]


class FileValue:
    """One value in one file (cloudpickle), written atomically: a single output in a run folder.

    Parameters
    ----------
    path : str or Path
        The file.
    create_parents : bool, default True
        Create the file's folder when writing (False: a missing folder is an error).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> FileValue.from_data([1, 2], pathlib.Path(tempfile.mkdtemp()) / "x.cloudpickle").load()
    [1, 2]
    """

    #: ``dump`` creates every missing parent folder (False: at most the file's own folder)
    create_parents: bool = True

    def __init__(self, path: str | Path, *, create_parents: bool = True) -> None:
        self.path = Path(path).absolute()
        if not create_parents:
            self.create_parents = False

    def exists(self) -> bool:
        """Whether the value has been written."""
        return self.path.is_file()

    def load(self) -> Any:
        """Read the value (``FileNotFoundError`` if it was never written)."""
        return deserialize(self.path.read_bytes())

    def dump(self, value: Any) -> None:
        """Write ``value`` atomically (parent folders are created; with ``create_parents=False``
        only the file's own folder, e.g. ``outputs/`` of a run folder that must still exist)."""
        payload = serialize_named(value, f"The value for `{self.path}`")
        if self.create_parents:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        else:
            try:
                self.path.parent.mkdir(exist_ok=True)
            except FileNotFoundError:  # e.g. the run folder was deleted mid-run: never re-create it
                msg = (
                    f"Cannot write `{self.path.name}`: the folder `{self.path.parent.parent}` no longer exists (was"
                    " the run folder deleted while the run was writing to it?); it is not re-created, nothing was written"
                )
                raise FileNotFoundError(msg) from None
        atomic_write_bytes(self.path, payload)

    @classmethod
    def from_data(cls, data: Any, path: str | Path) -> FileValue:
        """Write ``data`` to ``path`` and return the holder (pass large inputs by reference)."""
        value = cls(path)
        value.dump(data)
        return value

    def __repr__(self) -> str:
        return f"FileValue(path={str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileValue) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)


class DirectValue:
    """An in-memory holder for a single output when there is no run folder.

    Parameters
    ----------
    value : Any, optional
        The value held (default ``MISSING``: nothing yet).

    Examples
    --------
    >>> holder = DirectValue(); holder.exists()
    False
    >>> holder.value = 3; holder.exists(), holder.value
    (True, 3)
    """

    def __init__(self, value: Any = MISSING) -> None:
        self.value = value

    def exists(self) -> bool:
        """Whether a value is set."""
        return self.value is not MISSING

    def load(self) -> Any:
        """Return the value (``ValueError`` if unset)."""
        if self.value is MISSING:
            msg = "DirectValue has no value yet"
            raise ValueError(msg)
        return self.value

    def dump(self, value: Any) -> None:
        """Set the value."""
        self.value = value

    def __repr__(self) -> str:
        return f"DirectValue({self.value!r})"

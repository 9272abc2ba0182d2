"""Reading a run folder's record for readers: validated, and nothing is unpickled.

:meth:`RunFolderInfo.read` is what the loaders and ``pipemap status`` use: it refuses a folder
that is missing, being replaced (an interrupted clearing), too new or damaged with a
:class:`RunFolderError` naming the file and field, and returns the record with empty ``inputs``
and ``defaults`` (inputs are loaded one at a time, on demand, with :meth:`RunFolderInfo.load_input`).
:meth:`RunRecord.load` is the writer's side (a resume): it also unpickles inputs and defaults.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> RunRecord(inputs={"x": [1, 2]}, defaults={}, all_output_names={"y"}, shapes={"x": (2,), "y": (2,)},
...     resolved_shapes={"x": (2,), "y": (2,)}, internal_shapes=None, shape_masks={"y": (True,)},
...     run_folder=folder, mapspecs_as_strings=["x[i] -> y[i]"], storage="file_array").dump()
>>> info = RunFolderInfo.read(folder)
>>> sorted(info.record.all_output_names), info.version, info.input_names, info.load_input("x")
(['y'], 2, ['x'], [1, 2])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._run_files import RUN_INFO, decode_fields, read_record_json
from ._run_record import RunFolderError, RunRecord
from ._values import FileValue

__all__ = ["FAILURES_FILE", "RAISED_FILE", "RunFolderInfo"]

#: continue-mode runs: ``{"version": 1, "outputs": {output name: [linear indices]}}`` (FORMAT.md)
FAILURES_FILE = "failures.json"
#: raise-mode runs: the element the last run stopped on (FORMAT.md); removed when a run starts
RAISED_FILE = "raised.json"


@dataclass(frozen=True)
class RunFolderInfo:
    """A run folder's ``run_info.json`` and ``pipemap.json``, read and validated without unpickling anything.

    Build it with :meth:`RunFolderInfo.read`; readers (loaders, ``pipemap status``) use it, so they
    are safe on any folder.

    Parameters
    ----------
    folder : Path
        The run folder.
    fields : mapping
        The decoded ``run_info.json`` object as written, with ``pipemap.json``'s fields added and
        ``version`` set to the folder's format version (read it only for fields the record does
        not carry).
    record : RunRecord
        The record, with empty ``inputs`` and ``defaults``.

    Examples
    --------
    >>> import tempfile
    >>> record = RunRecord(
    ...     inputs={"x": [1, 2, 3]}, defaults={}, all_output_names={"y"},
    ...     shapes={"x": (3,), "y": (3,)}, resolved_shapes={"x": (3,), "y": (3,)},
    ...     internal_shapes=None, shape_masks={"x": (True,), "y": (True,)},
    ...     run_folder=tempfile.mkdtemp(), mapspecs_as_strings=["x[i] -> y[i]"], storage="file_array")
    >>> record.dump()
    >>> info = RunFolderInfo.read(record.run_folder)
    >>> info.version, info.record.mapspecs_as_strings, info.input_names
    (2, ['x[i] -> y[i]'], ['x'])
    """

    folder: Path
    fields: Mapping[str, Any]
    record: RunRecord

    @classmethod
    def read(cls, run_folder: str | Path) -> RunFolderInfo:
        """Read ``<run_folder>/run_info.json`` (and ``pipemap.json``); :class:`RunFolderError` if the
        folder is missing, being replaced, or a file is absent, malformed, damaged or of a newer format version."""
        folder, data = read_record_json(run_folder)
        return cls(folder, data, RunRecord(inputs={}, defaults={}, run_folder=folder, **decode_fields(data)))

    # ------------------------------------------------------------------ metadata
    @property
    def path(self) -> Path:
        """``<folder>/run_info.json``."""
        return self.folder / RUN_INFO

    @property
    def version(self) -> int:
        """The folder's format version (0: written by pipefunc, 1: older pipemap, 2: with ``pipemap.json``)."""
        return int(self.fields.get("version", 0))

    @property
    def created_at(self) -> str | None:
        """The run's start time (ISO 8601) if recorded."""
        value = self.fields.get("created_at")
        return str(value) if value is not None else None

    @property
    def pipemap_version(self) -> str:
        """The version of the engine that wrote the run (``"unknown"`` if not recorded)."""
        return str(self.fields.get("pipemap_version", self.fields.get("pipefunc_version", "unknown")))

    @property
    def written_by(self) -> str:
        """``"pipemap <version>"`` or, for folders written by pipefunc, ``"pipefunc <version>"``."""
        if "pipemap_version" in self.fields:
            return f"pipemap {self.fields['pipemap_version']}"
        if "pipefunc_version" in self.fields:
            return f"pipefunc {self.fields['pipefunc_version']}"
        return "unknown engine"

    def failure_counts(self) -> dict[str, int] | None:
        """Failed and skipped elements per output, counted from ``failures.json`` (written by
        ``error_handling="continue"`` runs); None when the file is absent or unreadable.

        >>> import tempfile
        >>> info = RunFolderInfo(Path(tempfile.mkdtemp()), {}, None)  # no record needed here
        >>> info.failure_counts() is None
        True
        >>> _ = (info.folder / FAILURES_FILE).write_text('{"version": 1, "outputs": {"y": [2, 5]}}')
        >>> info.failure_counts()
        {'y': 2}
        """
        path = self.folder / FAILURES_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            return {name: len(indices) for name, indices in data["outputs"].items()}
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError):
            return None

    # ------------------------------------------------------------------ inputs
    @property
    def input_names(self) -> list[str]:
        """Names of the run's inputs."""
        return list((self.fields.get("input_paths") or {}).keys())

    def input_path(self, name: str) -> Path:
        """Where input ``name`` is stored (a path that leaves the folder is a :class:`RunFolderError`)."""
        stored = (self.fields.get("input_paths") or {}).get(name, f"inputs/{name}.cloudpickle")
        p = Path(stored)
        if p.is_absolute():  # legacy layout: keep the part from `inputs/` on
            parts = p.parts
            if "inputs" in parts:
                p = Path(*parts[parts.index("inputs") :])
        if p.is_absolute() or ".." in p.parts:
            msg = f"Input `{name}` of the run at `{self.folder}` points outside the run folder: `{stored}`"
            raise RunFolderError(msg)
        return self.folder / p

    def load_input(self, name: str) -> Any:
        """Unpickle input ``name`` (:class:`RunFolderError` naming the input and file if that fails)."""
        path = self.input_path(name)
        try:
            return FileValue(path).load()
        except Exception as exc:
            msg = f"Could not load input `{name}` of the run at `{self.folder}` from `{path}` ({type(exc).__name__}: {exc})"
            raise RunFolderError(msg) from None

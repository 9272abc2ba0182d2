"""Reading a run folder's ``run_info.json`` for readers: validated, and nothing is unpickled.

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
(['y'], 1, ['x'], [1, 2])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._clearing import interrupted_clear, interrupted_clear_message
from ._record_schema import validate_run_info
from ._run_record import FORMAT_VERSION, RUN_INFO, MissingRunFolderError, RunFolderError, RunRecord
from ._values import FileValue

__all__ = ["FAILURES_FILE", "RunFolderInfo"]

#: continue-mode runs: ``{"version": 1, "outputs": {output name: [linear indices]}}`` (FORMAT.md)
FAILURES_FILE = "failures.json"

_REQUIRED_FIELDS = ("all_output_names", "shapes", "shape_masks", "mapspecs_as_strings", "storage")


def _key(key: str) -> str | tuple[str, ...]:
    return tuple(key.split(",")) if "," in key else key


def _shapes(d: Any, path: Path, field_name: str) -> dict[Any, tuple[Any, ...]]:
    if d is None:
        return {}
    if not isinstance(d, dict):
        msg = f"`{path}`: field `{field_name}` must be a JSON object, got {type(d).__name__}"
        raise RunFolderError(msg)
    return {_key(k): tuple(v) if isinstance(v, list) else v for k, v in d.items()}


@dataclass(frozen=True)
class RunFolderInfo:
    """A run folder's ``run_info.json``, read and validated without unpickling anything.

    ``record`` is the :class:`RunRecord` with empty ``inputs`` and ``defaults``; ``fields`` the
    decoded JSON object as written (read it only for fields the record does not carry).
    """

    folder: Path
    fields: Mapping[str, Any]
    record: RunRecord

    @classmethod
    def read(cls, run_folder: str | Path) -> RunFolderInfo:
        """Read ``<run_folder>/run_info.json``; :class:`RunFolderError` if the folder is missing,
        being replaced, or the file is absent, malformed, damaged or of a newer format version."""
        folder = Path(run_folder).absolute()
        if not folder.exists():
            msg = f"`{run_folder}` is not a run folder: it does not exist"
            raise MissingRunFolderError(msg)
        if not folder.is_dir():
            msg = f"`{run_folder}` is not a run folder: it is a file, not a directory"
            raise RunFolderError(msg)
        if interrupted_clear(folder):
            raise RunFolderError(interrupted_clear_message(run_folder))
        path = folder / RUN_INFO
        if not path.is_file():
            msg = f"`{run_folder}` is not a run folder: it has no `{RUN_INFO}` (pass the folder given as `run_folder` to run_map)"
            raise MissingRunFolderError(msg)
        data = _read_json(path)
        return cls(folder, data, _record_from(data, folder, path))

    # ------------------------------------------------------------------ metadata
    @property
    def path(self) -> Path:
        """``<folder>/run_info.json``."""
        return self.folder / RUN_INFO

    @property
    def version(self) -> int:
        """The format version of ``run_info.json`` (0: written by pipefunc)."""
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


def _read_json(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"`{path}` is not valid JSON ({exc}); the run folder is damaged"
        raise RunFolderError(msg) from None
    except RecursionError:
        msg = f"`{path}` is not a run record: its JSON is nested too deeply; the run folder is damaged"
        raise RunFolderError(msg) from None
    except OSError as exc:
        msg = f"Cannot read `{path}` ({type(exc).__name__}: {exc.strerror or exc})"
        raise RunFolderError(msg) from None
    if not isinstance(info, dict):
        msg = f"`{path}` must hold a JSON object, got {type(info).__name__}"
        raise RunFolderError(msg)
    version = info.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version <= FORMAT_VERSION:
        msg = (
            f"`{path}` has format version {version!r}, but this pipemap reads versions up to"
            f" {FORMAT_VERSION}: upgrade pipemap (pipemap-storage) to read this run folder"
        )
        raise RunFolderError(msg)
    missing = [k for k in _REQUIRED_FIELDS if k not in info]
    if missing:
        msg = f"`{path}` is missing the required field(s) {', '.join(f'`{m}`' for m in missing)}; the run folder is damaged"
        raise RunFolderError(msg)
    validate_run_info(info, path)
    return info


def _record_from(info: dict[str, Any], folder: Path, path: Path) -> RunRecord:
    storage = info["storage"]
    if not isinstance(storage, str | dict):
        msg = f"`{path}`: field `storage` must be a storage id or a dict of them, got {type(storage).__name__}; the run folder is damaged"
        raise RunFolderError(msg)
    if isinstance(storage, dict):
        storage = {_key(k): v for k, v in storage.items()}
    shapes = _shapes(info["shapes"], path, "shapes")
    internal = info.get("internal_shapes")
    return RunRecord(
        inputs={},
        defaults={},
        all_output_names=set(info["all_output_names"]),
        shapes=shapes,
        resolved_shapes=_shapes(info.get("resolved_shapes"), path, "resolved_shapes") or shapes,
        internal_shapes=_shapes(internal, path, "internal_shapes") if internal is not None else None,
        shape_masks={k: tuple(bool(b) for b in v) for k, v in _shapes(info["shape_masks"], path, "shape_masks").items()},
        run_folder=folder,
        mapspecs_as_strings=[str(s) for s in info["mapspecs_as_strings"]],
        storage=storage,
        error_handling=info.get("error_handling") or "raise",
    )

"""The two JSON files of a run folder and the one reader both run-folder readers share.

``run_info.json`` holds exactly the fields of pipefunc's ``RunInfo`` (so ``pipefunc.map.RunInfo.load``
and pipefunc's loaders open the folders pipemap writes); ``pipemap.json`` holds pipemap's own
metadata (format version, writer version, start time, where the bound values are). Format 1
(older pipemap) kept that metadata in ``run_info.json`` itself; format 0 (pipefunc) has none.
See ``packages/storage/FORMAT.md``.

>>> import json, tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / RUN_INFO).write_text(json.dumps({"all_output_names": ["y"], "shapes": {"x": [2], "y": [2]},
...     "shape_masks": {"y": [True]}, "mapspecs_as_strings": ["x[i] -> y[i]"], "storage": "dict"}))
>>> read_record_json(folder)[1]["version"]  # no pipemap.json: written by pipefunc
0
>>> _ = (folder / PIPEMAP_INFO).write_text(json.dumps({"version": 2, "created_at": "2026-01-01T00:00:00"}))
>>> data = read_record_json(folder)[1]; data["version"], data["created_at"]
(2, '2026-01-01T00:00:00')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._clearing import GROW_PREFIX, interrupted_clear, interrupted_clear_message
from ._record_schema import validate_run_info

__all__ = ["FORMAT_VERSION", "PIPEFUNC_FIELDS", "PIPEMAP_FIELDS", "PIPEMAP_INFO", "RUN_INFO", "decode_fields", "read_record_json"]

#: the run folder format pipemap writes (1: metadata inside run_info.json; 0: pipefunc)
FORMAT_VERSION = 2
RUN_INFO = "run_info.json"
#: pipemap's own metadata, next to run_info.json (format 2)
PIPEMAP_INFO = "pipemap.json"
#: the fields of run_info.json that pipefunc 0.93.2's ``RunInfo.load`` accepts (nothing else may be written there)
PIPEFUNC_FIELDS = (
    "all_output_names",
    "shapes",
    "resolved_shapes",
    "internal_shapes",
    "shape_masks",
    "run_folder",
    "mapspecs_as_strings",
    "storage",
    "error_handling",
    "pipefunc_version",
    "input_paths",
    "defaults_path",
)
#: pipemap's metadata: in pipemap.json (format 2), in run_info.json (format 1)
PIPEMAP_FIELDS = ("version", "pipemap_version", "created_at", "bound_path", "functions")

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "all_output_names": list,
    "shapes": dict,
    "shape_masks": dict,
    "mapspecs_as_strings": list,
    "storage": (str, dict),
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "internal_shapes": (dict, type(None)),
    "resolved_shapes": dict,
    "error_handling": str,
}


def _error(msg: str, *, missing: bool = False) -> Exception:
    from ._run_record import MissingRunFolderError, RunFolderError

    return MissingRunFolderError(msg) if missing else RunFolderError(msg)


def _read_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"`{path}` is not valid JSON ({exc}); the run folder is damaged"
        raise _error(msg) from None
    except RecursionError:
        msg = f"`{path}` is not a run record: its JSON is nested too deeply; the run folder is damaged"
        raise _error(msg) from None
    except OSError as exc:
        msg = f"Cannot read `{path}` ({type(exc).__name__}: {exc.strerror or exc})"
        raise _error(msg) from None
    if not isinstance(data, dict):
        msg = f"`{path}` must hold a JSON object, got {type(data).__name__}"
        raise _error(msg)
    return data


def _check_version(version: Any, path: Path, *, minimum: int) -> int:
    if not isinstance(version, int) or isinstance(version, bool) or not minimum <= version <= FORMAT_VERSION:
        msg = (
            f"`{path}` has format version {version!r}, but this pipemap reads versions up to"
            f" {FORMAT_VERSION}: upgrade pipemap (pipemap-storage) to read this run folder"
        )
        raise _error(msg)
    return version


def _read_pipemap_info(path: Path) -> dict[str, Any]:
    meta = _read_object(path)
    _check_version(meta.get("version"), path, minimum=2)
    for name in ("pipemap_version", "created_at", "bound_path"):
        if meta.get(name) is not None and not isinstance(meta[name], str):
            msg = f"`{path}`: field `{name}` must be a string, got {meta[name]!r}; the run folder is damaged"
            raise _error(msg)
    functions = meta.get("functions")
    if functions is not None and not (
        isinstance(functions, dict) and all(isinstance(k, str) and isinstance(v, dict) for k, v in functions.items())
    ):
        msg = f"`{path}`: field `functions` must map output names to objects, got {functions!r:.200}; the run folder is damaged"
        raise _error(msg)
    return {k: meta[k] for k in PIPEMAP_FIELDS if k in meta}


def read_record_json(run_folder: str | Path) -> tuple[Path, dict[str, Any]]:
    """The absolute folder and its record: ``run_info.json``'s fields plus pipemap's metadata.

    ``version`` in the result is the folder's format version: 2 with ``pipemap.json``, 1 for a
    ``run_info.json`` that carries pipemap's metadata itself (``pipemap.json`` is then not read),
    0 without either (pipefunc). Raises ``RunFolderError`` naming the folder or file when the
    folder is missing, being replaced, or a file is absent, malformed, damaged or too new.
    """
    folder = Path(run_folder).absolute()
    if not folder.exists():
        msg = f"`{run_folder}` is not a run folder: it does not exist"
        raise _error(msg, missing=True)
    if not folder.is_dir():
        msg = f"`{run_folder}` is not a run folder: it is a file, not a directory"
        raise _error(msg)
    if interrupted_clear(folder):
        raise _error(interrupted_clear_message(run_folder))
    path = folder / RUN_INFO
    if not path.is_file():
        kept = _kept_old_run(folder)
        if kept is not None:  # an in-place grow stopped before its new record: read the old run
            return read_record_json(kept)
        msg = f"`{run_folder}` is not a run folder: it has no `{RUN_INFO}` (pass the folder given as `run_folder` to run_map)"
        raise _error(msg, missing=True)
    data = _read_object(path)
    if "version" in data:  # format 1: pipemap's metadata is in run_info.json
        _check_version(data["version"], path, minimum=0)
    else:
        data["version"] = 0
        extra = folder / PIPEMAP_INFO
        if extra.is_file():
            data.update(_read_pipemap_info(extra))
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        names = ", ".join(f"`{m}`" for m in missing)
        msg = f"`{path}` is missing the required field{'s' if len(missing) > 1 else ''} {names}; the run folder is damaged"
        raise _error(msg)
    for name, kind in {**_REQUIRED, **_OPTIONAL}.items():
        value = data.get(name)
        if (name in _REQUIRED or value is not None) and not isinstance(value, kind):
            msg = f"`{path}`: field `{name}` has type {type(value).__name__}, expected {kind}"
            raise _error(msg)
    validate_run_info(data, path)  # deep types: a clear error instead of a crash further on
    return folder, data


def _kept_old_run(folder: Path) -> Path | None:
    """The complete old run an interrupted in-place grow left aside in ``folder`` (the newest
    ``.pipemap.grow-old-<n>`` with a ``run_info.json``), when the folder has no record of its own
    and no grow step is half done (a ``moving``/``restoring`` entry: the run is split between two
    places until the next ``run_map`` on the folder repairs it). Readers never repair: they read
    the copy where it is.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()); _kept_old_run(folder) is None
    True
    >>> (folder / ".pipemap.grow-old-2").mkdir(); _ = (folder / ".pipemap.grow-old-2" / RUN_INFO).write_text("{}")
    >>> _kept_old_run(folder).name
    '.pipemap.grow-old-2'
    """
    newest: tuple[int, Path] | None = None
    try:
        entries = list(folder.iterdir())
    except OSError:
        return None
    for entry in entries:
        kind, _, number = entry.name.removeprefix(GROW_PREFIX).partition("-")
        if not entry.name.startswith(GROW_PREFIX) or not number.isdigit():
            continue
        if kind != "old":
            return None  # a step half done: no single complete run to read
        if (entry / RUN_INFO).is_file() and (newest is None or int(number) > newest[0]):
            newest = (int(number), entry)
    return None if newest is None else newest[1]


def _key(key: str) -> str | tuple[str, ...]:
    return tuple(key.split(",")) if "," in key else key


def _shapes(d: dict[str, Any] | None) -> dict[Any, Any]:
    return {_key(k): tuple(v) if isinstance(v, list) else v for k, v in (d or {}).items()}


def decode_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The ``RunRecord`` fields (not inputs, defaults, bound values or folder) of a record read
    by :func:`read_record_json`; tuple names come back from their comma-joined keys."""
    storage = data["storage"]
    if isinstance(storage, dict):
        storage = {_key(k): v for k, v in storage.items()}
    internal = data.get("internal_shapes")
    shapes = _shapes(data["shapes"])
    out: dict[str, Any] = {
        "all_output_names": set(data["all_output_names"]),
        "shapes": shapes,
        "resolved_shapes": _shapes(data.get("resolved_shapes")) or dict(shapes),
        "internal_shapes": _shapes(internal) if internal is not None else None,
        "shape_masks": {k: tuple(bool(b) for b in v) for k, v in _shapes(data["shape_masks"]).items()},
        "mapspecs_as_strings": [str(s) for s in data["mapspecs_as_strings"]],
        "storage": storage,
        "error_handling": data.get("error_handling") or "raise",
        "pipemap_version": str(data.get("pipemap_version", data.get("pipefunc_version", "unknown"))),
    }
    if data.get("created_at") is not None:
        out["created_at"] = str(data["created_at"])
    if data.get("functions") is not None and data.get("version") == FORMAT_VERSION:  # (format 1 had none)
        out["functions"] = data["functions"]
    return out

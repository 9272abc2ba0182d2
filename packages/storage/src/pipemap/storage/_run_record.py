"""The run folder's ``run_info.json`` record (the stores are reopened by ``_open_store``).

See ``packages/storage/FORMAT.md`` for the on-disk layout. Reading a run folder needs only this
package: mapped outputs are found by parsing ``mapspecs_as_strings``.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> rec = RunRecord(inputs={"x": [1, 2]}, defaults={}, all_output_names={"y"}, shapes={"x": (2,), "y": (2,)},
...     resolved_shapes={"x": (2,), "y": (2,)}, internal_shapes=None, shape_masks={"y": (True,)},
...     run_folder=folder, mapspecs_as_strings=["x[i] -> y[i]"], storage="file_array")
>>> rec.dump()
>>> RunRecord.load(folder).inputs
{'x': [1, 2]}
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from ._atomic import atomic_write_bytes, deserialize, serialize, serialize_named
from ._registry import storage_id_for as _storage_id_for
from ._run_files import (
    FORMAT_VERSION,
    PIPEMAP_INFO,
    RUN_INFO,
    decode_fields,
    read_record_json,
)

__all__ = [
    "FORMAT_VERSION",
    "RunFolderError",
    "RunRecord",
    "mapped_outputs",
    "output_folder",
]


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("pipemap-storage")
    except Exception:  # noqa: BLE001
        return "unknown"


class RunFolderError(ValueError):
    """A run folder (or its ``run_info.json``) is missing, malformed or from a newer format.

    The message names the file and the field. A ``ValueError``.

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     RunRecord.load(tempfile.mkdtemp())
    ... except RunFolderError as error:
    ...     "has no `run_info.json`" in str(error)
    True
    """


class MissingRunFolderError(RunFolderError, FileNotFoundError):
    """The run folder or its ``run_info.json`` does not exist (pipefunc raises ``FileNotFoundError``)."""


def check_name(name: str) -> str:
    """Validate an input/output name that becomes a file or folder name.

    >>> check_name("foo.a")
    'foo.a'
    >>> check_name("../x")
    Traceback (most recent call last):
    ...
    ValueError: Name `../x` cannot be used as a file name in a run folder (it contains a path separator or '..')
    """
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in {".", ".."} or ".." in name:
        msg = f"Name `{name}` cannot be used as a file name in a run folder (it contains a path separator or '..')"
        raise ValueError(msg)
    return name


def output_folder(run_folder: str | Path, output_name: str) -> Path:
    """``<run_folder>/outputs/<output_name>`` (the name is validated).

    Parameters
    ----------
    run_folder : str or Path
        The run folder.
    output_name : str
        An output name (no path separator, no ``..``).

    Examples
    --------
    >>> output_folder("/r", "y").as_posix()
    '/r/outputs/y'
    """
    return Path(run_folder) / "outputs" / check_name(output_name)


_ARRAY_NAME = re.compile(r"([^\s,\[\]]+)\s*\[")


def mapped_outputs(mapspecs_as_strings: list[str]) -> dict[str, tuple[str, ...]]:
    """{output name: all outputs of its spec} for every spec with inputs (those map their outputs).

    Parameters
    ----------
    mapspecs_as_strings : list of str
        A pipeline's mapspecs (as recorded in ``run_info.json``).

    Examples
    --------
    >>> mapped_outputs(["x[i] -> y1[i], y2[i]", "... -> g[i]"])
    {'y1': ('y1', 'y2'), 'y2': ('y1', 'y2')}
    """
    result: dict[str, tuple[str, ...]] = {}
    for spec in mapspecs_as_strings:
        lhs, arrow, rhs = spec.partition("->")
        if not arrow:
            msg = f"Malformed mapspec string {spec!r} in run_info.json (no '->')"
            raise RunFolderError(msg)
        inputs = [n for n in _ARRAY_NAME.findall(lhs) if n != "..."]
        if not inputs:
            continue
        outputs = tuple(_ARRAY_NAME.findall(rhs))
        for name in outputs:
            result[name] = outputs
    return result


def _encode_key(key: str | tuple[str, ...]) -> str:
    return ",".join(key) if isinstance(key, tuple) else key


def _decode_key(key: str) -> str | tuple[str, ...]:
    return tuple(key.split(",")) if "," in key else key


def _encode_dict(d: Mapping[Any, Any] | None, value: Any = lambda v: list(v)) -> Any:
    if d is None:
        return None
    return {_encode_key(k): value(v) for k, v in d.items()}


def _shape_value(v: Any) -> Any:
    return list(v) if isinstance(v, (tuple, list)) else v


@dataclass
class RunRecord:
    """The ``run_info.json`` record of a run (the fields of pipefunc's ``RunInfo``).

    A plain, subclassable dataclass; ``resolved_shapes`` is updated as ``"?"`` sizes resolve.
    Tuple names (multi-output functions) are keys like ``("y1", "y2")`` in memory and
    ``"y1,y2"`` on disk. The runner's ``RunInfo`` extends it.

    Parameters
    ----------
    inputs : dict
        The run's inputs by (scope-flattened) name; stored as ``inputs/<name>.cloudpickle``.
    defaults : dict
        The pipeline's defaults; stored as ``defaults/defaults.cloudpickle``.
    all_output_names : set of str
        Every output name of the pipeline.
    shapes : dict
        The shapes known before the run, by array name (a tuple key for a multi-output function),
        with ``"?"`` for sizes resolved at run time.
    resolved_shapes : dict
        The same shapes with every size resolved so far (updated during the run).
    internal_shapes : dict or None
        The ``internal_shapes`` the run was given, by output name.
    shape_masks : dict
        The shape mask of every mapped array (True = external axis).
    run_folder : Path or None
        The run folder (made absolute), or None for a run without one.
    mapspecs_as_strings : list of str
        The pipeline's mapspecs, in function order.
    storage : str or dict
        The storage id of every mapped output, or ``{output name | tuple | "": id}``.
    error_handling : {"raise", "continue"}, default "raise"
        The run's error handling; resume requires the same.
    pipemap_version : str, optional
        The writing pipemap's version (default: the installed one).
    created_at : str, optional
        ISO 8601 time the run started (default: now, UTC).
    bound : dict or None, optional
        The functions' bound values, ``{output name ("y1,y2" for tuples): {parameter: value}}``;
        None when not recorded (pipefunc and older pipemap run folders).
    functions : dict or None, optional
        Per function (keyed by output name), the digests its stored values depend on (code,
        bound values, used defaults, settings, inputs; see FORMAT.md, ``functions``); None when
        not recorded. ``resume=True`` compares them to find stale functions.

    Examples
    --------
    >>> import tempfile
    >>> record = RunRecord(
    ...     inputs={"x": [1, 2, 3]}, defaults={}, all_output_names={"y"},
    ...     shapes={"x": (3,), "y": (3,)}, resolved_shapes={"x": (3,), "y": (3,)},
    ...     internal_shapes=None, shape_masks={"x": (True,), "y": (True,)},
    ...     run_folder=tempfile.mkdtemp(), mapspecs_as_strings=["x[i] -> y[i]"], storage="file_array")
    >>> record.dump()  # run_info.json, pipemap.json, inputs/, defaults/
    >>> loaded = RunRecord.load(record.run_folder)
    >>> loaded.inputs, loaded.storage_id_for("y")
    ({'x': [1, 2, 3]}, 'file_array')
    """

    inputs: dict[str, Any]
    defaults: dict[str, Any]
    all_output_names: set[str]
    shapes: dict[str | tuple[str, ...], tuple[Any, ...]]
    resolved_shapes: dict[str | tuple[str, ...], tuple[Any, ...]]
    internal_shapes: dict[str, Any] | None
    shape_masks: dict[str | tuple[str, ...], tuple[bool, ...]]
    run_folder: Path | None
    mapspecs_as_strings: list[str]
    storage: str | dict[str | tuple[str, ...], str]
    error_handling: str = "raise"
    pipemap_version: str = field(default_factory=_package_version)
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat())
    #: the functions' bound values, ``{output name ("y1,y2" for tuples): {parameter: value}}``;
    #: None when not recorded (pipefunc and older pipemap run folders)
    bound: dict[str, dict[str, Any]] | None = None
    #: per function (keyed by output name, "y1,y2" for tuples) what its values depend on, as hex
    #: digests (FORMAT.md `functions`); None when not recorded (pipefunc and older pipemap folders)
    functions: dict[str, dict[str, Any]] | None = None

    version: ClassVar[int] = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.run_folder is not None:
            self.run_folder = Path(self.run_folder).absolute()

    # -------------------------------------------------------------- paths
    @staticmethod
    def path(run_folder: str | Path) -> Path:
        """``<run_folder>/run_info.json``."""
        return Path(run_folder) / RUN_INFO

    def _folder(self) -> Path:
        if self.run_folder is None:
            msg = "This run has no run_folder"
            raise ValueError(msg)
        return self.run_folder

    @property
    def input_paths(self) -> dict[str, Path]:
        """{input name: ``<run_folder>/inputs/<name>.cloudpickle``}."""
        folder = self._folder()
        return {name: folder / "inputs" / f"{check_name(name)}.cloudpickle" for name in self.inputs}

    @property
    def defaults_path(self) -> Path:
        """``<run_folder>/defaults/defaults.cloudpickle``."""
        return self._folder() / "defaults" / "defaults.cloudpickle"

    @property
    def bound_path(self) -> Path:
        """``<run_folder>/defaults/bound.cloudpickle``."""
        return self._folder() / "defaults" / "bound.cloudpickle"

    # -------------------------------------------------------------- helpers
    def mapped_outputs(self) -> dict[str, tuple[str, ...]]:
        """{mapped output name: outputs of the same function}."""
        return mapped_outputs(self.mapspecs_as_strings)

    def storage_id_for(self, output_name: str) -> str:
        """The storage id chosen for ``output_name`` (per-output dict with ``""`` default resolved)."""
        group = self.mapped_outputs().get(output_name, (output_name,))
        return _storage_id_for(self.storage, group if len(group) > 1 else output_name)

    def _lookup(self, table: Mapping[Any, Any], name: str) -> Any:
        if name in table:
            return table[name]
        for key, value in table.items():
            if isinstance(key, tuple) and name in key:
                return value
        msg = f"Output `{name}` has no entry in this run's shapes/shape_masks (known: {sorted(map(str, table))})"
        raise KeyError(msg)

    def full_shape_and_mask(self, output_name: str) -> tuple[tuple[Any, ...], tuple[bool, ...]]:
        """The (resolved where known) full shape and shape mask of a mapped output."""
        try:
            shape = tuple(self._lookup(self.resolved_shapes, output_name))
        except KeyError:
            shape = tuple(self._lookup(self.shapes, output_name))
        mask = tuple(self._lookup(self.shape_masks, output_name))
        return shape, mask

    # -------------------------------------------------------------- dump/load
    def to_json_dict(self) -> dict[str, Any]:
        """The JSON-ready dict written to ``run_info.json``: pipefunc's ``RunInfo`` fields only."""
        folder = self._folder()
        internal = None
        if self.internal_shapes is not None:
            internal = {_encode_key(k): _shape_value(v) for k, v in self.internal_shapes.items()}
        return {
            "all_output_names": sorted(self.all_output_names),
            "shapes": _encode_dict(self.shapes, _shape_value),
            "resolved_shapes": _encode_dict(self.resolved_shapes, _shape_value),
            "internal_shapes": internal,
            "shape_masks": _encode_dict(self.shape_masks, _shape_value),
            "run_folder": str(folder),
            "mapspecs_as_strings": list(self.mapspecs_as_strings),
            "storage": self.storage if isinstance(self.storage, str) else _encode_dict(self.storage, lambda v: v),
            "error_handling": self.error_handling,
            "input_paths": {k: str(p.relative_to(folder)) for k, p in self.input_paths.items()},
            "defaults_path": str(self.defaults_path.relative_to(folder)),
        }

    def pipemap_json_dict(self) -> dict[str, Any]:
        """The JSON-ready dict written to ``pipemap.json``: pipemap's own metadata."""
        data: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "pipemap_version": self.pipemap_version,
            "created_at": self.created_at,
        }
        if self.bound is not None:
            data["bound_path"] = str(self.bound_path.relative_to(self._folder()))
        if self.functions is not None:
            data["functions"] = self.functions
        return data

    def dump_pipemap_json(self) -> None:
        """Write ``pipemap.json`` (atomically); :meth:`dump` writes it before ``run_info.json``."""
        text = json.dumps(self.pipemap_json_dict(), indent=4)
        atomic_write_bytes(self._folder() / PIPEMAP_INFO, text.encode())

    def dump(self) -> None:
        """Write inputs, defaults, bound values, ``pipemap.json`` and ``run_info.json`` (each
        file atomically; ``run_info.json`` last, as it vouches for the others)."""
        folder = self._folder()
        for name, path in self.input_paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, serialize_named(self.inputs[name], f"Input `{name}`"))
        self.defaults_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.defaults_path, serialize_named(self.defaults, "The defaults"))
        if self.bound is not None:
            try:
                payload = serialize(self.bound)
            except Exception as exc:  # noqa: BLE001 - an unpicklable bound value must not stop the run
                warnings.warn(
                    f"Could not record the bound values of the run in `{folder}` ({type(exc).__name__}: {exc});"
                    " a resume of this run cannot verify them.",
                    UserWarning,
                    stacklevel=2,
                )
                self.bound = None
            else:
                atomic_write_bytes(self.bound_path, payload)
        self.dump_pipemap_json()
        text = json.dumps(self.to_json_dict(), indent=4)
        atomic_write_bytes(self.path(folder), text.encode())

    @classmethod
    def load(cls, run_folder: str | Path) -> RunRecord:
        """Read the run folder's record (format 0 = pipefunc, 1 = older pipemap, 2), its inputs,
        defaults and bound values.

        The folder where the json was found becomes ``run_folder`` (moved folders work).
        """
        folder, data = read_record_json(run_folder)
        path = cls.path(folder)
        kwargs = decode_fields(data)
        kwargs["run_folder"] = folder
        kwargs["inputs"] = _load_inputs(folder, data, path)
        kwargs["defaults"] = _load_pickle(_relocate(folder, data.get("defaults_path", "defaults/defaults.cloudpickle")), path, "defaults")
        if data.get("bound_path") is not None:  # absent: not recorded (pipefunc, older pipemap)
            kwargs["bound"] = _load_bound(_relocate(folder, data["bound_path"]), path)
        known = {f.name for f in fields(cls) if f.init}
        return cls(**{k: v for k, v in kwargs.items() if k in known})


def _relocate(folder: Path, stored: str) -> Path:
    """Resolve a stored path against ``folder`` (legacy absolute paths keep their tail)."""
    p = Path(stored)
    if not p.is_absolute() and ".." not in p.parts:
        return folder / p
    if p.is_absolute() and ".." not in p.parts:
        if p.exists() and folder in p.parents:
            return p
        parts = p.parts
        for anchor in ("inputs", "defaults", "outputs"):
            if anchor in parts:
                return folder.joinpath(*parts[len(parts) - parts[::-1].index(anchor) - 1 :])
    msg = f"`{folder / RUN_INFO}` refers to `{stored}`, which is outside the run folder; refusing to read it"
    raise RunFolderError(msg)


def _load_pickle(path: Path, json_path: Path, what: str) -> Any:
    try:
        return deserialize(path.read_bytes())
    except Exception as exc:
        msg = f"Could not load {what} of the run in `{json_path.parent}` from `{path}` ({type(exc).__name__}: {exc})"
        raise RunFolderError(msg) from exc


def _load_bound(path: Path, json_path: Path) -> dict[str, dict[str, Any]]:
    bound = _load_pickle(path, json_path, "the bound values")
    if not (isinstance(bound, dict) and all(isinstance(k, str) and isinstance(v, dict) for k, v in bound.items())):
        msg = f"`{path}` (the bound values of the run in `{json_path.parent}`) must hold {{output name: {{parameter: value}}}}, got {type(bound).__name__}"
        raise RunFolderError(msg)
    return bound


def _load_inputs(folder: Path, data: dict[str, Any], json_path: Path) -> dict[str, Any]:
    paths = data.get("input_paths")
    if not isinstance(paths, dict):
        msg = f"`{json_path}` is missing the required field `input_paths` (a dict)"
        raise RunFolderError(msg)
    return {name: _load_pickle(_relocate(folder, p), json_path, f"input `{name}`") for name, p in paths.items()}

"""Deep type checks of a ``run_info.json`` document, before anything is built from it.

A hand-edited or damaged record must give a :class:`RunFolderError` that names the file and
the field, never a ``TypeError`` from deep inside a reader. Readers call
:func:`validate_run_info` on the decoded JSON (only JSON: nothing is unpickled).

>>> validate_run_info({"all_output_names": ["y"], "shapes": {"y": [2]}, "shape_masks": {"y": [True]},
...     "mapspecs_as_strings": ["x[i] -> y[i]"], "storage": "file_array"}, "run_info.json")
>>> validate_run_info({"all_output_names": ["y", 1]}, "run_info.json")
Traceback (most recent call last):
...
pipemap.storage._run_record.RunFolderError: `run_info.json`: field `all_output_names` must be a list of names (strings), got ['y', 1]
>>> validate_run_info({"mapspecs_as_strings": ["x[i -> y[i]"]}, "run_info.json")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pipemap.storage._run_record.RunFolderError: `run_info.json`: field `mapspecs_as_strings` holds a mapspec that does not parse, 'x[i -> y[i]' (...); the run folder is damaged
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["validate_run_info"]


def _error(path: str | os.PathLike[str], field: str, expected: str, value: Any) -> Exception:
    from ._run_record import RunFolderError

    shown = repr(value)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return RunFolderError(f"`{path}`: field `{field}` must be {expected}, got {shown}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_dim(v: Any) -> bool:
    return (_is_int(v) and v >= 0) or v == "?"


def _is_shape(v: Any) -> bool:
    return isinstance(v, list) and all(_is_dim(d) for d in v)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(s, str) and s for s in v)


def _check_table(data: dict[str, Any], path: Any, field: str, ok: Any, expected: str, *, optional: bool) -> None:
    if field not in data or (optional and data[field] is None):
        return
    table = data[field]
    if not isinstance(table, dict):
        raise _error(path, field, f"a JSON object of {expected}", table)
    for key, value in table.items():
        if not ok(value):
            raise _error(path, f"{field}.{key}", expected, value)


def _check_mapspec(spec: str, path: str | os.PathLike[str]) -> None:
    """Every recorded mapspec must parse: readers derive the mapped outputs and axes from them."""
    from pipemap.mapspec import MapSpec

    try:
        MapSpec.from_string(spec)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a damaged record
        from ._run_record import RunFolderError

        msg = f"`{path}`: field `mapspecs_as_strings` holds a mapspec that does not parse, {spec!r} ({exc}); the run folder is damaged"
        raise RunFolderError(msg) from None


#: no array can have this many elements (numpy indexes with int64)
MAX_ELEMENTS = 2**63 - 1


def _check_sizes(table: Any, path: Any, field: str) -> None:
    """Refuse shapes whose element count no array could have (before anything allocates)."""
    if not isinstance(table, dict):
        return
    for key, shape in table.items():
        count = 1
        for size in shape:
            if _is_int(size):
                count *= size
        if count > MAX_ELEMENTS:
            from ._run_record import RunFolderError

            msg = (
                f"`{path}`: field `{field}.{key}`: `{key}` has shape {shape}, that is {count:.3g} elements,"
                f" more than any array can hold; the run folder is damaged"
            )
            raise RunFolderError(msg)


def validate_run_info(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Raise ``RunFolderError`` naming ``path`` and the field when a present field has the wrong type.

    Missing required fields are left to the caller (it knows which ones it needs).
    """
    if "all_output_names" in data and not _is_str_list(data["all_output_names"]):
        raise _error(path, "all_output_names", "a list of names (strings)", data["all_output_names"])
    if "mapspecs_as_strings" in data and not (
        isinstance(data["mapspecs_as_strings"], list) and all(isinstance(s, str) for s in data["mapspecs_as_strings"])
    ):
        raise _error(path, "mapspecs_as_strings", "a list of mapspec strings", data["mapspecs_as_strings"])
    for spec in data.get("mapspecs_as_strings") or ():
        _check_mapspec(spec, path)
    if "storage" in data:
        storage = data["storage"]
        valid = isinstance(storage, str) or (
            isinstance(storage, dict) and all(isinstance(v, str) for v in storage.values())
        )
        if not valid:
            raise _error(path, "storage", "a storage id or an object mapping output names to storage ids", storage)
    shape_doc = 'a shape (a list of sizes: integers >= 0 or "?")'
    _check_table(data, path, "shapes", _is_shape, shape_doc, optional=False)
    _check_table(data, path, "resolved_shapes", _is_shape, shape_doc, optional=True)
    _check_table(
        data,
        path,
        "internal_shapes",
        lambda v: _is_shape(v) or _is_dim(v),
        'an internal shape (a size or a list of sizes, "?" for unknown)',
        optional=True,
    )
    _check_table(
        data,
        path,
        "shape_masks",
        lambda v: isinstance(v, list) and all(isinstance(b, bool) for b in v),
        "a shape mask (a list of true/false)",
        optional=False,
    )
    for field in ("shapes", "resolved_shapes"):
        _check_sizes(data.get(field), path, field)
    _check_table(data, path, "input_paths", lambda v: isinstance(v, str), "a relative file path", optional=False)
    if "defaults_path" in data and not isinstance(data["defaults_path"], str):
        raise _error(path, "defaults_path", "a relative file path", data["defaults_path"])
    if data.get("bound_path") is not None and not isinstance(data["bound_path"], str):
        raise _error(path, "bound_path", "a relative file path", data["bound_path"])
    handling = data.get("error_handling")
    if handling is not None and handling not in ("raise", "continue"):
        raise _error(path, "error_handling", '"raise" or "continue"', handling)

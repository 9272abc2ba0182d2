"""A read-only view of a run folder built from ``run_info.json`` alone (nothing is unpickled).

Inputs are loaded lazily, one at a time, only when a loader needs them (coordinates), so a run
whose inputs cannot be unpickled here can still be inspected and its outputs loaded.

>>> import tempfile
>>> from pipemap.storage import RunRecord
>>> folder = tempfile.mkdtemp()
>>> RunRecord(inputs={"x": [1, 2]}, defaults={}, all_output_names={"y"}, shapes={"x": (2,), "y": (2,)},
...     resolved_shapes={"x": (2,), "y": (2,)}, internal_shapes=None, shape_masks={"y": (True,)},
...     run_folder=folder, mapspecs_as_strings=["x[i] -> y[i]"], storage="file_array").dump()
>>> view = RunFolder.open(folder)
>>> view.output_names, view.is_mapped("y"), view.load_input("x")
(['y'], True, [1, 2])
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipemap.mapspec import MapSpec, MapSpecError, RaggedPlan
from pipemap.storage import (
    FileValue,
    RunFolderError,
    RunFolderInfo,
    RunRecord,
    StorageBase,
    get_storage_class,
    open_store,
    output_folder,
)

__all__ = ["LazyInputs", "OutputNotFoundError", "RunFolder", "RunFolderError"]

RUN_INFO = "run_info.json"
#: storages whose persisted folder another (lighter) backend reads directly
_READERS = {"shared_memory_dict": "dict", "zarr_memory": "zarr_file_array", "zarr_shared_memory": "zarr_file_array"}


class OutputNotFoundError(KeyError):
    """An output name that the run does not have (the message lists the existing ones).

    A ``KeyError``.

    Examples
    --------
    >>> import pipemap.io as pio
    >>> try:
    ...     pio.load_outputs("nope", run_folder=pio.example_run_folder())
    ... except OutputNotFoundError as error:
    ...     "existing outputs: s, t, y, z" in str(error)
    True
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass
class RunFolder:
    """The metadata of a run folder (storage's :class:`RunFolderInfo`) plus lazy access to its
    inputs and outputs."""

    folder: Path
    meta: RunFolderInfo
    record: RunRecord
    _stores: dict[str, StorageBase] = field(default_factory=dict)

    @classmethod
    def open(cls, run_folder: str | Path) -> RunFolder:
        """Read ``run_info.json`` through :meth:`RunFolderInfo.read`; :class:`RunFolderError` if it
        is absent, malformed, damaged or too new, or if its shapes contradict its mapspecs."""
        meta = RunFolderInfo.read(run_folder)
        folder, record = meta.folder, meta.record
        outputs = folder / "outputs"
        if outputs.exists() and not outputs.is_dir():
            msg = f"`{outputs}` is not a directory (a file is in its place); the run folder is damaged"
            raise RunFolderError(msg)
        check_shapes_match_mapspecs(record, meta.path)
        return cls(folder, meta, record)

    # ------------------------------------------------------------------ metadata
    @property
    def output_names(self) -> list[str]:
        """All output names, sorted."""
        return sorted(self.record.all_output_names)

    @property
    def mapspecs(self) -> list[str]:
        """The run's mapspecs as strings."""
        return list(self.record.mapspecs_as_strings)

    @property
    def version(self) -> int:
        """The format version of ``run_info.json``."""
        return self.meta.version

    @property
    def created_at(self) -> str | None:
        """The run's start time (ISO 8601) if recorded."""
        return self.meta.created_at

    @property
    def pipemap_version(self) -> str:
        """The version of the engine that wrote the run."""
        return self.meta.pipemap_version

    @property
    def written_by(self) -> str:
        """``"pipemap <version>"`` or, for folders written by pipefunc, ``"pipefunc <version>"``."""
        return self.meta.written_by

    def is_mapped(self, name: str) -> bool:
        """Whether ``name`` is a mapped output (stored element by element)."""
        return name in self.record.mapped_outputs()

    def check_names(self, names: tuple[str, ...] | list[str]) -> None:
        """Raise :class:`OutputNotFoundError` listing the existing outputs for unknown names."""
        for name in names:
            if not isinstance(name, str):
                msg = (
                    f"Output names are strings given as separate arguments"
                    f" (`load_xarray_dataset('a', 'b', run_folder=...)`), got {type(name).__name__} {name!r}"
                )
                raise TypeError(msg)
        known = self.record.all_output_names
        unknown = [n for n in names if n not in known]
        if unknown:
            msg = (
                f"Output(s) {', '.join(f'`{n}`' for n in unknown)} not found in the run at `{self.folder}`;"
                f" existing outputs: {', '.join(self.output_names) or '(none)'}"
            )
            raise OutputNotFoundError(msg)

    # ------------------------------------------------------------------ stores
    def store(self, name: str) -> StorageBase:
        """The (cached) storage of mapped output ``name``, opened read-only (nothing is created
        or changed in the run folder)."""
        if name not in self._stores:
            try:
                self._stores[name] = self._open_store(name)
            except RunFolderError:
                raise
            except RecursionError:
                msg = f"Cannot open the storage of output `{name}` in `{self.folder}`: its metadata is nested too deeply; the run folder is damaged"
                raise RunFolderError(msg) from None
            except (KeyError, ValueError, TypeError, ImportError, OSError) as exc:
                detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
                msg = f"Cannot open the storage of output `{name}` in `{self.folder}` ({type(exc).__name__}: {detail}); the run folder is damaged or needs a storage plugin that is not installed"
                raise RunFolderError(msg) from None
        return self._stores[name]

    def _open_store(self, name: str) -> StorageBase:
        reader_id = _READERS.get(self.record.storage_id_for(name))
        self.check_size(name, bytes_per_element=1)  # every reader needs at least the done mask
        if reader_id is None:
            return open_store(self.record, name, read_only=True)
        # read the persisted copy directly: no manager process, no in-memory copy
        full, mask = self.record.full_shape_and_mask(name)
        external = tuple(s for s, m in zip(full, mask) if m)
        internal = tuple(s for s, m in zip(full, mask) if not m)
        cls = get_storage_class(reader_id)
        folder = output_folder(self.folder, name)
        return cls.open_read_only(folder, external, internal or None, mask if internal else None)

    def check_size(self, name: str, bytes_per_element: int = 9) -> None:
        """Refuse, before allocating, a mapped output whose recorded shape needs more memory
        to read (``bytes_per_element`` of its full shape: an object pointer and a mask byte)
        than this machine has: the recorded shape is damaged, or the run is far too large."""
        try:
            full, _mask = self.record.full_shape_and_mask(name)
        except KeyError:
            return  # reported by the caller that needs the shape
        count = 1
        for size in full:
            if isinstance(size, int):
                count *= size
        needed, available = count * bytes_per_element, _physical_memory()
        if available and needed > available:
            msg = (
                f"Output `{name}` of the run at `{self.folder}` has shape {list(full)} ({count:.3g} elements)"
                f" according to `{self.folder / RUN_INFO}`; reading it needs {needed / 2**30:.3g} GiB, more than"
                f" this machine's {available / 2**30:.3g} GiB of memory: the recorded shape is damaged"
            )
            raise RunFolderError(msg)

    def value_file(self, name: str) -> FileValue:
        """The file holding single output ``name`` (names that would leave ``outputs/`` are refused)."""
        try:
            folder = output_folder(self.folder, name)
        except ValueError as exc:
            raise RunFolderError(f"{exc} (output names come from `{self.folder / RUN_INFO}`)") from None
        return FileValue(folder.with_name(f"{name}.cloudpickle"))

    # ------------------------------------------------------------------ inputs
    def input_path(self, name: str) -> Path:
        """Where input ``name`` is stored."""
        return self.meta.input_path(name)

    @property
    def input_names(self) -> list[str]:
        """Names of the run's inputs."""
        return self.meta.input_names

    def load_input(self, name: str) -> Any:
        """Unpickle input ``name`` (a clear error if that fails)."""
        return self.meta.load_input(name)


def _physical_memory() -> int:
    """Bytes of physical memory (0 if unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 0


def check_shapes_match_mapspecs(record: RunRecord, path: Path) -> None:
    """Raise :class:`RunFolderError` when a mapped output's recorded size along an axis differs
    from the recorded size of an input on that axis (a hand-edited or damaged record).

    >>> rec = RunRecord(inputs={}, defaults={}, all_output_names={"y"}, shapes={"x": (3,), "y": (5,)},
    ...     resolved_shapes={"x": (3,), "y": (5,)}, internal_shapes=None, shape_masks={"y": (True,)},
    ...     run_folder="/r", mapspecs_as_strings=["x[i] -> y[i]"], storage="file_array")
    >>> check_shapes_match_mapspecs(rec, Path("/r/run_info.json"))
    Traceback (most recent call last):
    ...
    pipemap.storage._run_record.RunFolderError: `/r/run_info.json`: output `y` has size 5 along axis `i`, but `x` has size 3 along it (mapspec `x[i] -> y[i]`); the recorded shapes are inconsistent, the run folder is damaged
    """
    shapes = {**record.shapes, **record.resolved_shapes}
    flat: dict[str, tuple[Any, ...]] = {}
    for key, shape in shapes.items():
        for name in key if isinstance(key, tuple) else (key,):
            flat[name] = tuple(shape) if isinstance(shape, tuple | list) else ()
    specs = []
    for text in record.mapspecs_as_strings:
        try:
            specs.append(MapSpec.from_string(text))
        except Exception as exc:  # noqa: BLE001 - any parse failure is a damaged record
            msg = f"`{path}`: mapspec {text!r} cannot be parsed ({exc}); the run folder is damaged"
            raise RunFolderError(msg) from None
    try:
        ragged = RaggedPlan.from_specs(specs)
    except (MapSpecError, NotImplementedError) as exc:
        msg = f"`{path}`: the ragged axes of its mapspecs are inconsistent ({exc}); the run folder is damaged"
        raise RunFolderError(msg) from None
    for text, spec in zip(record.mapspecs_as_strings, specs):
        if not spec.inputs:
            continue
        role = ragged.role_of(spec)
        if role == "elements":  # flat sizes: checked against the row lengths when loading
            continue
        if role is not None:  # the stored (outer) shapes of producers and reductions
            spec = ragged.effective[spec.output_names[0]]
        sizes: dict[str, tuple[int, str]] = {}  # axis -> (size, array that has it)
        arrays = [a for a in spec.inputs if a.name not in ragged.arrays] + list(spec.outputs)
        for array in arrays:
            recorded = flat.get(array.name)
            if recorded is None:
                continue
            for axis, size in zip(array.axes, recorded):
                if axis is None or not isinstance(size, int):
                    continue
                known = sizes.setdefault(axis, (size, array.name))
                if known[0] != size:
                    kind = "output" if array in spec.outputs else "input"
                    msg = (
                        f"`{path}`: {kind} `{array.name}` has size {size} along axis `{axis}`, but"
                        f" `{known[1]}` has size {known[0]} along it (mapspec `{text}`); the recorded shapes"
                        " are inconsistent, the run folder is damaged"
                    )
                    raise RunFolderError(msg)


class LazyInputs(Mapping[str, Any]):
    """The run's inputs, each unpickled on first access."""

    def __init__(self, view: RunFolder) -> None:
        self._view = view
        self._names = view.input_names
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._cache:
            self._cache[name] = self._view.load_input(name)
        return self._cache[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

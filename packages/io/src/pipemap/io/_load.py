"""Loading outputs of a run folder: masked arrays, single values, failures, and the table model.

Mapped outputs come back as object ``numpy.ma.MaskedArray`` of their full shape (internal axes
splatted). Missing elements are masked; failed elements (``error_handling="continue"``) hold their
``ErrorSnapshot`` / ``PropagatedErrorSnapshot``, unmasked, and a failed single output loads as its
snapshot, as pipefunc's loaders and the ``ResultDict`` give them. With ``mask_errors=True`` failed
elements are masked like missing ones and a failed single output loads as ``None`` (what
``load_xarray_dataset`` and ``load_dataframe`` present); :func:`load_errors` lists the failures.

>>> import pipemap.io as pio
>>> folder = pio.example_run_folder(missing=[1])
>>> pio.load_outputs("y", run_folder=folder).tolist()
[2, None, 6]
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pipemap.mapspec import MapSpec
from pipemap.storage import RAISED_FILE, FileValue, RunFolderError, StorageBase

from ._folder import LazyInputs, RunFolder
from ._model import Model, ShapeMismatchError, build_model
from ._ragged import padded, ragged_plan
from ._read import StorageRead, is_error, read_storage

__all__ = [
    "CorruptOutputError",
    "ElementError",
    "load_all_outputs",
    "load_errors",
    "load_outputs",
    "model_from_run_folder",
]


class CorruptOutputError(RunFolderError):
    """A stored output that cannot be read back (damaged file, missing class...).

    A ``RunFolderError`` (so a ``ValueError``); the message names the output and the file.

    Examples
    --------
    >>> from pipemap.storage import RunFolderError
    >>> issubclass(CorruptOutputError, RunFolderError)
    True
    """


def _unresolved(store: StorageBase) -> bool:
    return not store.full_shape_is_resolved()


def _empty_like(store: StorageBase) -> np.ma.MaskedArray:
    shape = tuple(s if isinstance(s, int) else 0 for s in store.full_shape)
    return np.ma.MaskedArray(np.empty(shape, dtype=object), mask=np.ones(shape, dtype=bool))


def _read_mapped(view: RunFolder, name: str, *, keep_errors: bool = False) -> StorageRead:
    store = view.store(name)
    view.check_size(name)  # before allocating the arrays of a (damaged) huge shape
    if _unresolved(store):  # a "?" size was never resolved: nothing of it was stored
        return StorageRead(array=_empty_like(store))
    try:
        return read_storage(store, keep_errors=keep_errors)
    except RunFolderError:
        raise
    except Exception as exc:
        msg = f"Could not read output `{name}` of the run at `{view.folder}` ({type(exc).__name__}: {exc})"
        raise CorruptOutputError(msg) from None


def _read_single(view: RunFolder, name: str, *, keep_errors: bool = False) -> Any:
    holder = view.value_file(name)
    if not holder.exists():
        return None
    try:
        value = holder.load()
    except Exception as exc:
        msg = f"Could not read output `{name}` from `{holder.path}` ({type(exc).__name__}: {exc}); the file is damaged or needs a module that is not installed"
        raise CorruptOutputError(msg) from None
    return None if not keep_errors and is_error(value) else value


def _maybe_load(value: Any) -> Any:
    """Inputs passed by reference (storages, file values) become their data."""
    if isinstance(value, StorageBase):
        return read_storage(value).array
    if isinstance(value, FileValue):
        return value.load()
    return value


def _load(view: RunFolder, name: str, *, mask_errors: bool = True, lengths: dict[str, np.ndarray] | None = None) -> Any:
    if view.is_mapped(name):
        if name in ragged_plan(view).arrays:  # padded to the longest row, masked beyond each row
            array, row_lengths = padded(view, name, _read_mapped(view, name, keep_errors=not mask_errors).array)
            if lengths is not None:
                lengths[name] = row_lengths
            return array
        return _read_mapped(view, name, keep_errors=not mask_errors).array
    return _read_single(view, name, keep_errors=not mask_errors)



def load_outputs(*output_names: str, run_folder: str | Path, mask_errors: bool = False) -> Any:
    """Load outputs of a (possibly partial or failed) run.

    Mapped outputs are object masked arrays (missing elements masked), single outputs their value
    (``None`` if absent). Failed elements and failed single outputs load as their error snapshots,
    as pipefunc's ``load_outputs`` gives them.

    Parameters
    ----------
    *output_names : str
        The outputs to load.
    run_folder : str or Path
        The run folder.
    mask_errors : bool, default False
        Mask failed elements too, and load a failed single output as ``None``.

    Returns
    -------
    object or list
        One name gives its value, several a list, none ``[]``.

    Examples
    --------
    >>> import pipemap.io as pio
    >>> y, t = pio.load_outputs("y", "t", run_folder=pio.example_run_folder())
    >>> y.tolist(), t
    ([2, 4, 6], 114)
    """
    view = RunFolder.open(run_folder)
    view.check_names(output_names)
    outputs = [_load(view, name, mask_errors=mask_errors) for name in output_names]
    return outputs[0] if len(output_names) == 1 else outputs


def load_all_outputs(run_folder: str | Path, *, mask_errors: bool = False) -> dict[str, Any]:
    """Load every output of a run: ``{name: value}`` over the sorted output names.

    Parameters
    ----------
    run_folder : str or Path
        The run folder.
    mask_errors : bool, default False
        Mask failed elements (and load failed single outputs as None) instead of returning their
        error snapshots, as in :func:`load_outputs`.

    Examples
    --------
    >>> import pipemap.io as pio
    >>> list(pio.load_all_outputs(pio.example_run_folder()))
    ['s', 't', 'y', 'z']
    """
    view = RunFolder.open(run_folder)
    return {name: _load(view, name, mask_errors=mask_errors) for name in view.output_names}


@dataclass
class ElementError:
    """One failed element: where it is, which function failed, why, and with which inputs.

    Returned by :func:`load_errors`.

    Parameters
    ----------
    output_name : str
        The output the element belongs to.
    index : tuple of int or None
        The element's index per axis (None for a single output).
    function : str
        The function that raised, or that was skipped for a propagated error.
    exception : str
        ``"Type: message"`` of the error.
    kwargs : dict
        The arguments of the failed call.
    propagated : bool
        True when the function was not called because an input had failed.
    record : ErrorSnapshot or PropagatedErrorSnapshot or None
        The stored snapshot (``reproduce()`` calls the function again).
    stopped_run : bool, default False
        True for the element a raise-mode run stopped on (from ``raised.json``).

    Examples
    --------
    >>> error = ElementError("y", (1,), "f", "ValueError: bad", {"x": 0}, False, None)
    >>> error.output_name, error.index, error.exception
    ('y', (1,), 'ValueError: bad')
    """

    output_name: str
    index: tuple[int, ...] | None
    function: str
    exception: str
    kwargs: dict[str, Any]
    propagated: bool
    record: Any
    #: the element a raise-mode run stopped on (nothing is stored for it; from ``raised.json``)
    stopped_run: bool = False

    def describe(self) -> str:
        """A one-line human description.

        >>> ElementError("y", (2,), "f", "ValueError: bad", {"x": 3}, False, None).describe()
        'y[2]: f(x=3) raised ValueError: bad'
        """
        where = f"{self.output_name}[{', '.join(map(str, self.index))}]" if self.index is not None else self.output_name
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.kwargs.items())
        verb = "was skipped because its inputs failed:" if self.propagated else "raised"
        stopped = " (the run stopped here; rerun with resume=True)" if self.stopped_run else ""
        return f"{where}: {self.function}({args}) {verb} {self.exception}{stopped}"


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, np.generic) and not isinstance(value, (np.void, np.object_)):
        value = value.item()  # `x=1.9`, not `x=np.float64(1.9)`
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _function_name(record: Any) -> str:
    name = getattr(record, "function_name", None)
    if isinstance(name, str):
        return name
    function = getattr(record, "function", None) or getattr(record, "skipped_function", None)
    return getattr(function, "__name__", None) or "?"


def _exception_text(record: Any) -> str:
    if hasattr(record, "exception_type"):
        return f"{record.exception_type}: {record.message}"
    exc = getattr(record, "exception", None)
    return f"{type(exc).__name__}: {exc}" if exc is not None else "?"


def _element_error(name: str, index: tuple[int, ...] | None, record: Any) -> ElementError:
    if hasattr(record, "attempted_kwargs"):  # a propagated (skipped) element
        causes = record.get_root_causes() if hasattr(record, "get_root_causes") else []
        reason = "; ".join(_exception_text(c) for c in causes) or str(getattr(record, "reason", "?"))
        return ElementError(name, index, _function_name(record), reason, dict(record.attempted_kwargs), True, record)
    kwargs = dict(getattr(record, "kwargs", None) or {})
    return ElementError(name, index, _function_name(record), _exception_text(record), kwargs, False, record)


def load_errors(*output_names: str, run_folder: str | Path) -> list[ElementError]:
    """The failed elements of a run (default: of every output), in output and index order.

    Parameters
    ----------
    *output_names : str
        The outputs to look at (none: all).
    run_folder : str or Path
        The run folder.

    Returns
    -------
    list of ElementError
        One per failed element, with the call that failed.

    Examples
    --------
    >>> import pipemap.io as pio
    >>> pio.load_errors(run_folder=pio.example_run_folder())  # a run without failures
    []
    """
    view = RunFolder.open(run_folder)
    view.check_names(output_names)
    errors: list[ElementError] = []
    for name in output_names or view.output_names:
        if view.is_mapped(name):
            read = _read_mapped(view, name)
            if not read.errors:
                continue
            shape = view.store(name).resolved_shape
            for linear, record in zip(read.failed.tolist(), read.errors):
                index = tuple(int(i) for i in np.unravel_index(linear, shape))
                errors.append(_element_error(name, index, record))
        else:
            holder = view.value_file(name)
            if holder.exists():
                try:
                    value = holder.load()
                except Exception:  # noqa: BLE001 - damaged single outputs are reported by load_outputs
                    continue
                if is_error(value):
                    errors.append(_element_error(name, None, value))
    stopped = _raised_element(view.folder, output_names)
    if stopped is not None:
        errors.append(stopped)
    return errors


def _raised_element(folder: Path, output_names: tuple[str, ...]) -> ElementError | None:
    """The element a raise-mode run stopped on, from ``raised.json`` (None without one)."""
    try:
        data = json.loads((folder / RAISED_FILE).read_text())
        outputs = [str(n) for n in data.get("outputs") or []]
        index = data.get("index")
        index = tuple(int(i) for i in index) if isinstance(index, list) else None
        name = outputs[0] if outputs else "?"
        if output_names and not set(outputs) & set(output_names):
            return None
        inputs = dict(data.get("inputs") or {})
        return ElementError(name, index, str(data["function"]), str(data["exception"]), inputs, False, data, stopped_run=True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


class _LazyOutputs(Mapping[str, Any]):
    """Outputs of a run folder, each read on first access."""

    def __init__(self, view: RunFolder) -> None:
        self._view = view
        self._cache: dict[str, Any] = {}
        #: the row lengths of the ragged outputs read so far
        self.lengths: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._view.record.all_output_names:
            raise KeyError(name)
        if name not in self._cache:
            self._cache[name] = _load(self._view, name, lengths=self.lengths)
        return self._cache[name]

    def __contains__(self, name: object) -> bool:
        return name in self._view.record.all_output_names

    def __iter__(self) -> Iterator[str]:
        return iter(self._view.output_names)

    def __len__(self) -> int:
        return len(self._view.output_names)


def model_from_run_folder(
    output_names: Sequence[str], run_folder: str | Path, *, load_intermediate: bool = True, ragged: str = "elements"
) -> Model:
    """The presentation model (see :mod:`pipemap.io._model`) of a run folder's outputs
    (``ragged``: see :func:`~pipemap.io._model.build_model`)."""
    view = RunFolder.open(run_folder)
    view.check_names(tuple(output_names))
    specs = [MapSpec.from_string(s) for s in view.mapspecs]
    outputs = _LazyOutputs(view)
    try:
        return build_model(
            specs,
            LazyInputs(view),
            outputs,
            ragged_lengths=outputs.lengths,
            ragged=ragged,
            output_names=list(output_names) or view.output_names,
            load_intermediate=load_intermediate,
            load_input=_maybe_load,
        )
    except ShapeMismatchError as exc:
        msg = f"The run at `{view.folder}` is inconsistent: {exc} (the stored inputs and outputs do not match `run_info.json`); the run folder is damaged"
        raise RunFolderError(msg) from None

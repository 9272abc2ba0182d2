"""Per-output progress of a run folder from metadata and storage masks only (nothing is unpickled).

Failed counts need a record of failures: elements are stored as pickled ``ErrorSnapshot`` objects,
which this module never unpickles. Runs in ``error_handling="raise"`` mode store no failures (0);
in ``"continue"`` mode the count comes from ``failures.json`` in the run folder when the runner
wrote one (``{"version": 1, "outputs": {name: [linear indices]}}``), else it is unknown (None).

>>> import tempfile
>>> from pipemap.storage import RunRecord
>>> folder = tempfile.mkdtemp()
>>> RunRecord(inputs={"x": [1, 2]}, defaults={}, all_output_names={"y"}, shapes={"x": (2,), "y": (2,)},
...     resolved_shapes={"x": (2,), "y": (2,)}, internal_shapes=None, shape_masks={"y": (True,)},
...     run_folder=folder, mapspecs_as_strings=["x[i] -> y[i]"], storage="file_array").dump()
>>> status = run_status(folder)
>>> status.outputs[0].done, status.outputs[0].missing, status.complete
(0, 2, False)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pipemap.storage import FAILURES_FILE, RAISED_FILE, RunFolderLock, read_element_counts

from ._folder import RunFolder, RunFolderError

__all__ = ["FAILURES_FILE", "OutputStatus", "RunStatus", "run_status"]

#: storages persisted as one pickle: counting their elements would mean unpickling everything
_PICKLED_WHOLE = {"dict", "shared_memory_dict"}


@dataclass
class OutputStatus:
    """Counts for one output (None = unknown without unpickling)."""

    name: str
    kind: str  # "mapped" or "single"
    shape: list[Any]
    storage: str | None
    total: int | None
    done: int | None
    failed: int | None
    missing: int | None
    note: str = ""
    resolved: bool = True


@dataclass
class RunStatus:
    """The status of a run folder."""

    run_folder: str
    started: str | None
    pipemap_version: str
    written_by: str
    format_version: int
    error_handling: str
    outputs: list[OutputStatus] = field(default_factory=list)
    #: the run holding the folder's lock: pid, host, started, ``alive`` (True, False, or None on
    #: another host); None when no run holds it
    lock: dict[str, Any] | None = None
    #: the element a raise-mode run stopped on (``raised.json``), e.g. ``"y[3]"``
    stopped_on: str | None = None
    #: the last run's elements per function, ``{function: {"reused": n, "computed": m}}``
    #: (``reuse_from=``; None when not recorded: pipefunc, older pipemap, an unfinished run)
    elements: dict[str, dict[str, int]] | None = None

    @property
    def complete(self) -> bool:
        """Every element whose count is known is stored (failed ones included)."""
        return all(o.missing == 0 for o in self.outputs if o.missing is not None) and all(
            o.resolved for o in self.outputs
        )

    @property
    def unknown(self) -> list[str]:
        """Outputs whose counts are unknown without unpickling."""
        return [o.name for o in self.outputs if o.missing is None and o.resolved]

    @property
    def has_failures(self) -> bool:
        """Some element is known to have failed."""
        return any(o.failed for o in self.outputs)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["complete"] = self.complete
        data["has_failures"] = self.has_failures
        data["unknown_counts"] = self.unknown
        return data


def run_status(run_folder: str | Path) -> RunStatus:
    """Collect the per-output status of ``run_folder`` (see the module docstring)."""
    view = RunFolder.open(run_folder)
    record = view.record
    status = RunStatus(
        run_folder=str(view.folder),
        started=view.created_at,
        pipemap_version=view.pipemap_version,
        written_by=view.written_by,
        format_version=view.version,
        error_handling=record.error_handling,
    )
    owner = RunFolderLock.read_owner(view.folder)
    if owner is not None:
        status.lock = {k: owner.get(k) for k in ("pid", "host", "started")}
        status.lock["alive"] = RunFolderLock.owner_alive(owner) if owner.get("pid") is not None else None
    status.stopped_on = _stopped_on(view.folder)
    status.elements = read_element_counts(view.folder)
    failures = view.meta.failure_counts()
    for name in view.output_names:
        if failures is not None:
            failed: int | None = failures.get(name, 0)
        else:
            failed = 0 if record.error_handling == "raise" else None
        if not view.is_mapped(name):
            done = int(view.value_file(name).exists())
            status.outputs.append(OutputStatus(name, "single", [], None, 1, done, failed, 1 - done))
            continue
        storage = record.storage_id_for(name)
        try:
            full, _mask = record.full_shape_and_mask(name)
        except KeyError as exc:  # a hand-edited record without this output's shape
            raise RunFolderError(f"`{view.folder / 'run_info.json'}`: {exc.args[0]}") from None
        shape = [s if isinstance(s, int) else "?" for s in full]
        entry = OutputStatus(name, "mapped", shape, storage, None, None, failed, None)
        if "?" in shape:
            entry.note = "shape not resolved yet (nothing stored)"
            entry.done = 0
            entry.resolved = False
        elif storage in _PICKLED_WHOLE:
            entry.total = int(np.prod([s for s, m in zip(full, _mask) if m], dtype=np.int64))
            entry.note = f"`{storage}` storage is one pickle: counts need unpickling"
        else:
            store = view.store(name)
            try:
                done_mask = np.asarray(store.done_mask(), dtype=bool)
            except OSError as exc:
                msg = f"Cannot read the storage of output `{name}` in `{view.folder}` ({type(exc).__name__}: {exc})"
                raise RunFolderError(msg) from None
            entry.total = int(done_mask.size)
            entry.done = int(done_mask.sum())
            entry.missing = entry.total - entry.done
        status.outputs.append(entry)
    return status


def _stopped_on(folder: Path) -> str | None:
    try:
        element = json.loads((folder / RAISED_FILE).read_text()).get("element")
    except (OSError, ValueError, AttributeError):
        return None
    return str(element) if element else "an element"


def describe_lock(lock: dict[str, Any] | None) -> str:
    """One line: is a run using the folder right now?

    >>> describe_lock(None)
    'no (the folder is not locked)'
    >>> describe_lock({"pid": 7, "host": "h", "started": "t", "alive": False})[:40]
    'no: process 7 on this host held the lock'
    """
    if lock is None:
        return "no (the folder is not locked)"
    if lock.get("pid") is None:
        return "unknown: the lock file is being written or is unreadable"
    who = f"process {lock.get('pid')}"
    if lock.get("alive") is None:
        return f"unknown: locked by {who} on host {lock.get('host')!r} since {lock.get('started')} (cannot be checked from here)"
    if lock["alive"]:
        return f"yes: {who} on this host since {lock.get('started')}"
    return f"no: {who} on this host held the lock but is gone (killed or crashed); resume=True continues the run"

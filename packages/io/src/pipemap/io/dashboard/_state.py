"""The dashboard's picture of a run folder, refreshed incrementally (nothing is unpickled here).

:class:`FolderState` re-reads ``run_info.json`` / ``pipemap.json`` only when their ``stat``
changes, ``failures.json`` likewise, and each mapped output through its incremental scanner
(``_scan``). A folder that is not (or no longer) a run folder, or a damaged file, becomes an
``error`` / ``damaged`` entry of the snapshot: a refresh never raises.

>>> import pipemap.io as pio
>>> state = FolderState(pio.example_run_folder(missing=[1]))
>>> snap = state.refresh()
>>> [(o["name"], o["done"], o["missing"]) for o in snap["outputs"] if o["name"] == "y"]
[('y', 2, 1)]
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pipemap.mapspec import MapSpec
from pipemap.storage import FAILURES_FILE, PIPEMAP_INFO, RunFolderLock, output_folder

from .._folder import RunFolder, RunFolderError
from ._graph import pipeline_order
from ._probe import Probe
from ._rate import rate_and_eta
from ._scan import ChunkedScan, FileArrayScan, MaskScan, Scan

__all__ = ["DONE", "FAILED", "MISSING", "PROPAGATED", "FolderState", "OutputEntry"]

DONE, FAILED, PROPAGATED, MISSING = 0, 1, 2, 3
_PICKLED_WHOLE = {"dict", "shared_memory_dict"}
#: a refresh closer than this to the previous one returns the previous snapshot
MIN_INTERVAL = 0.4


@dataclass
class OutputEntry:
    """One output of the run and how it is scanned."""

    name: str
    kind: str  # "mapped" or "single"
    shape: tuple[int, ...] = ()
    axes: tuple[str, ...] = ()
    storage: str = ""
    scan: Scan | None = None
    note: str = ""
    version: int = 0
    #: linear indices known to be propagated (skipped), learned from the failure records
    propagated: set[int] = field(default_factory=set)
    #: failures of a running function, read from the stored elements (``_probe``)
    probe: Probe = field(default_factory=Probe)


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_size)


def _output_axes(specs: list[MapSpec], name: str, mask: tuple[bool, ...]) -> tuple[str, ...]:
    for spec in specs:
        for out in spec.outputs:
            if out.name == name:
                axes = [str(a) for a in out.axes]
                external = [a for a, m in zip(axes, mask) if m]
                return tuple(external)
    return tuple(f"axis{k}" for k in range(sum(mask)))


class FolderState:
    """The live state of ``run_folder``; :meth:`refresh` returns a JSON-ready snapshot.

    >>> import pipemap.io as pio
    >>> state = FolderState(pio.example_run_folder())
    >>> snap = state.refresh()
    >>> snap["error"], state.codes("z").tolist()
    ('', [[0, 0], [0, 0], [0, 0]])
    """

    def __init__(self, run_folder: str | Path) -> None:
        self.path = Path(run_folder)
        self.lock = threading.RLock()
        self.view: RunFolder | None = None
        self.outputs: dict[str, OutputEntry] = {}
        self.failures: dict[str, np.ndarray] = {}
        self.failures_damaged = ""
        self.error = ""
        self.reused: dict[str, int] = {}
        self.running = False
        self.owner: dict[str, Any] | None = None
        self._meta_key: tuple[Any, ...] | None = None
        self._failures_key: tuple[int, int, int] | None = None
        self._snapshot: dict[str, Any] | None = None
        self._last = 0.0
        self.generation = 0  # bumps when the run record is re-read

    # ------------------------------------------------------------------ refresh
    def refresh(self, *, force: bool = False) -> dict[str, Any]:
        """Re-read what changed and return the snapshot (see the module docstring)."""
        with self.lock:
            now = time.monotonic()
            if not force and self._snapshot is not None and now - self._last < MIN_INTERVAL:
                return self._snapshot
            started = time.perf_counter()
            self._refresh_meta()
            reads = 0
            if self.view is not None:
                self._refresh_failures()
                self._read_lock()
                # failures not listed (yet): a running function's, or a folder without failures.json
                # (pipefunc's, or a run killed before writing it): read the elements for error records
                probing = self.view.record.error_handling == "continue" and (self.running or self._failures_key is None)
                for entry in self.outputs.values():
                    if entry.scan is not None:
                        reads += self._scan_output(entry, probing)
            self._snapshot = self._build(reads, time.perf_counter() - started)
            self._last = time.monotonic()
            return self._snapshot

    def _scan_output(self, entry: OutputEntry, probing: bool) -> int:
        """Refresh one output's scan (and probe); any error is shown as damaged, never raised."""
        assert entry.scan is not None and self.view is not None
        try:
            if entry.scan.refresh():
                entry.version += 1
            if probing:
                entry.probe.queue(entry.scan.new)
            if entry.probe.pending and entry.probe.run(self.view.store(entry.name)):
                entry.propagated |= entry.probe.propagated
                entry.version += 1
            entry.scan.damaged.pop("refresh", None)
        except Exception as exc:  # noqa: BLE001 - e.g. a folder that became unreadable
            entry.scan.damaged["refresh"] = f"cannot read the output's storage ({type(exc).__name__}: {exc})"
        return entry.scan.last_reads

    def _read_lock(self) -> None:
        assert self.view is not None
        owner = RunFolderLock.read_owner(self.view.folder)
        alive = RunFolderLock.owner_alive(owner) if owner and owner.get("pid") is not None else None
        self.running = bool(owner) and alive is not False
        self.owner = None if owner is None else {"pid": owner.get("pid"), "host": owner.get("host"), "alive": alive}

    def _refresh_meta(self) -> None:
        key = (_stat_key(self.path / "run_info.json"), _stat_key(self.path / PIPEMAP_INFO), _stat_key(self.path / ".pipemap.clearing"))
        if key == self._meta_key and (self.view is not None or self.error):
            return
        self._meta_key = key
        try:
            view = RunFolder.open(self.path)
        except RunFolderError as exc:
            self.view, self.error = None, str(exc)
            return
        except Exception as exc:  # noqa: BLE001 - never crash the server on a damaged folder
            self.view, self.error = None, f"cannot read `{self.path}` ({type(exc).__name__}: {exc}); it may be damaged"
            return
        self.view, self.error = view, ""
        self.reused = _reused_counts(view.meta.fields) or _reused_counts(_read_json(self.path / PIPEMAP_INFO))
        self.generation += 1
        self._setup_outputs(view)

    def _setup_outputs(self, view: RunFolder) -> None:
        specs = []
        for text in view.mapspecs:
            try:
                specs.append(MapSpec.from_string(text))
            except Exception:  # noqa: BLE001, S112 - checked by RunFolder.open already
                continue
        old = self.outputs
        self.outputs = {}
        for name in pipeline_order(view.mapspecs, view.output_names):
            if not view.is_mapped(name):
                self.outputs[name] = OutputEntry(name, "single")
                continue
            entry = self._mapped_entry(view, specs, name)
            previous = old.get(name)
            if previous is not None and previous.scan is not None and entry.scan is not None and (
                previous.shape, previous.storage, type(previous.scan)) == (entry.shape, entry.storage, type(entry.scan)):
                entry.scan, entry.version, entry.propagated = previous.scan, previous.version, previous.propagated
                entry.probe = previous.probe
            self.outputs[name] = entry

    def _mapped_entry(self, view: RunFolder, specs: list[MapSpec], name: str) -> OutputEntry:
        storage = view.record.storage_id_for(name)
        try:
            full, mask = view.record.full_shape_and_mask(name)
        except KeyError:
            return OutputEntry(name, "mapped", storage=storage, note="damaged: no shape recorded in run_info.json")
        external = tuple(s for s, m in zip(full, mask) if m)
        axes = _output_axes(specs, name, tuple(mask))
        entry = OutputEntry(name, "mapped", axes=axes, storage=storage)
        if not all(isinstance(s, int) for s in external):
            entry.note = "shape not resolved yet (nothing stored)"
            return entry
        entry.shape = tuple(int(s) for s in external)
        size = int(np.prod(entry.shape, dtype=np.int64))
        if storage in _PICKLED_WHOLE:
            entry.note = f"`{storage}` storage is one pickle: counts are known when the run ends (`pipemap status --elements`)"
            return entry
        try:
            view.check_size(name, bytes_per_element=1)
            folder = output_folder(view.folder, name)
            if storage == "file_array":
                view.store(name)  # validates shape.json against the record
                entry.scan = FileArrayScan(folder, size)
            elif storage == "chunked":
                view.store(name)
                entry.scan = ChunkedScan(folder, size)
            else:
                store = view.store(name)
                entry.scan = MaskScan(size, store.done_mask)
        except RunFolderError as exc:
            entry.note = f"damaged: {exc}"
        except Exception as exc:  # noqa: BLE001
            entry.note = f"damaged: cannot open its storage ({type(exc).__name__}: {exc})"
        return entry

    def _refresh_failures(self) -> None:
        key = _stat_key(self.path / FAILURES_FILE)
        if key == self._failures_key:
            return
        self._failures_key = key
        self.failures_damaged = ""
        if key is None:
            self.failures = {}
            return
        try:
            data = json.loads((self.path / FAILURES_FILE).read_text())
            self.failures = {str(k): np.unique(np.asarray(v, dtype=np.int64)) for k, v in data["outputs"].items()}
        except Exception as exc:  # noqa: BLE001 - shown as damaged
            self.failures_damaged = f"`{FAILURES_FILE}` is damaged ({type(exc).__name__}: {exc}); failed counts unknown"
            self.failures = {}
        for entry in self.outputs.values():
            entry.version += 1

    # ------------------------------------------------------------------ per output
    def failed_indices(self, name: str) -> np.ndarray:
        """Linear indices of the stored failed (or skipped) elements of mapped output ``name``."""
        entry = self.outputs.get(name)
        listed = self.failures.get(name, np.empty(0, dtype=np.int64))
        if entry is None or entry.scan is None:
            return listed
        if entry.probe.failed:
            listed = np.union1d(listed, np.fromiter(entry.probe.failed, dtype=np.int64))
        listed = listed[(listed >= 0) & (listed < entry.scan.size)]
        return listed[entry.scan.mask[listed]]

    def codes(self, name: str) -> np.ndarray:
        """State code per element (``DONE``, ``FAILED``, ``PROPAGATED``, ``MISSING``) in the
        output's external shape; empty when the output is not scanned."""
        entry = self.outputs[name]
        if entry.scan is None:
            return np.zeros((0,), dtype=np.int8)
        code = np.where(entry.scan.mask, DONE, MISSING).astype(np.int8)
        failed = self.failed_indices(name)
        code[failed] = FAILED
        if entry.propagated:
            prop = np.fromiter(entry.propagated, dtype=np.int64)
            prop = prop[(prop < code.size)]
            code[prop[code[prop] == FAILED]] = PROPAGATED
        return code.reshape(entry.shape)

    # ------------------------------------------------------------------ snapshot
    def _build(self, reads: int, seconds: float) -> dict[str, Any]:
        snap: dict[str, Any] = {"run_folder": str(self.path.resolve()), "error": self.error, "time": time.time()}
        snap["refresh"] = {"reads": reads, "seconds": round(seconds, 4)}
        if self.view is None:
            snap["outputs"] = []
            return snap
        view = self.view
        snap["running"], snap["lock"] = self.running, self.owner
        snap["started"] = view.created_at
        snap["written_by"] = view.written_by
        snap["error_handling"] = view.record.error_handling
        snap["damaged"] = [self.failures_damaged] if self.failures_damaged else []
        reused = self.reused
        start = _parse_time(view.created_at)
        snap["outputs"] = [self._output_json(e, reused, start, snap["running"]) for e in self.outputs.values()]
        for o in snap["outputs"]:
            snap["damaged"].extend(f"{o['name']}: {d}" for d in o["damaged"])
        snap["generation"] = self.generation
        return snap

    def _output_json(self, entry: OutputEntry, reused: dict[str, int], start: float | None, running: bool) -> dict[str, Any]:
        assert self.view is not None
        out: dict[str, Any] = {
            "name": entry.name, "kind": entry.kind, "shape": list(entry.shape), "axes": list(entry.axes),
            "storage": entry.storage, "note": entry.note, "version": entry.version, "damaged": [],
            "total": None, "done": None, "failed": None, "missing": None, "rate": None, "eta": None,
        }
        if entry.name in reused:
            out["reused"] = reused[entry.name]
        if entry.note.startswith("damaged"):
            out["damaged"].append(entry.note)
        n_failed = len(self.failures.get(entry.name, ())) if not self.failures_damaged else None
        if self.view.record.error_handling == "raise" and not self.failures:
            n_failed = 0
        if entry.kind == "single":
            stored = int(self.view.value_file(entry.name).exists())
            failed = min(n_failed, stored) if n_failed is not None else None
            out.update(total=1, done=stored - (failed or 0), failed=failed, missing=1 - stored)
            return out
        scan = entry.scan
        if scan is None:
            return out
        stored = int(scan.mask.sum())
        failed = int(self.failed_indices(entry.name).size) if n_failed is not None else None
        out.update(total=scan.size, done=stored - (failed or 0), failed=failed, missing=scan.size - stored)
        if failed is None and not entry.note:
            out["note"] = "failed elements are not recorded (no readable failures.json): done counts them too"
        out["damaged"].extend(f"{path}: {why}" for path, why in scan.damaged.items())
        if entry.probe.damaged:
            out["damaged"].append(entry.probe.damaged)
        if entry.probe.pending:
            out["checking"] = entry.probe.pending  # stored elements not yet read for failures
            out["note"] = (out["note"] + "; " if out["note"] else "") + f"reading {entry.probe.pending} stored elements to find failures"
        if scan.has_times:
            out["rate"], out["eta"] = rate_and_eta(scan.events, start, scan.size - stored, running=running)
        return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _reused_counts(fields: Any) -> dict[str, int]:
    """Reused elements per output from the run record (``pipemap.json``): the runner records
    ``elements`` (``{function: {"reused": n, "computed": m}}``) and ``element_outputs``
    (``{function: [outputs]}``); ``{}`` when nothing was reused or nothing is recorded.

    >>> _reused_counts({"elements": {"f": {"reused": 4, "computed": 1}}, "element_outputs": {"f": ["y", "z"]}})
    {'y': 4, 'z': 4}
    >>> _reused_counts({"elements": {"f": {"reused": 0, "computed": 5}}, "element_outputs": {"f": ["y"]}})
    {}
    """
    elements = fields.get("elements") if hasattr(fields, "get") else None
    outputs = fields.get("element_outputs") if hasattr(fields, "get") else None
    if not isinstance(elements, dict) or not isinstance(outputs, dict):
        return {}
    placed: dict[str, int] = {}
    for function, counts in elements.items():
        n = counts.get("reused") if isinstance(counts, dict) else None
        if isinstance(n, int) and not isinstance(n, bool) and isinstance(outputs.get(function), list):
            placed.update(dict.fromkeys(map(str, outputs[function]), n))
    return placed if any(placed.values()) else {}  # nothing reused: no column

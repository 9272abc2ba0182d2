"""``reuse_from=``: take finished elements from other run folders by element key, and write keys.

:class:`RunKeys` is the run's element-key bookkeeping (runs with a ``run_folder`` only): before a
mapped function computes, :meth:`RunKeys.prepare` writes ``keys/<output>.npy`` for its outputs
and copies every element whose key is found among the *done* elements of a ``reuse_from``
folder (error snapshots and unreadable values excepted) into this run's storage, with one
vectorised join (sort + searchsorted) and bulk reads and writes. The scheduler then sees them as
stored. Counts of reused and computed elements per function end up in ``pipemap.json``.

>>> normalize_reuse_from(None), [p.name for p in normalize_reuse_from(["a", "b"])]
([], ['a', 'b'])
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pipemap.storage import RunFolderError, RunFolderInfo, copy_elements, open_store, read_keys, write_keys

from pipemap.runner.engine._summary import _caller_stacklevel
from pipemap.runner.worker._errors import error_types

if TYPE_CHECKING:
    from pipemap.storage import RunRecord, StorageBase

    from pipemap.runner.engine._element_keys import KeyBook
    from pipemap.runner.model._pipefunc import PipeFunc

__all__ = ["ReuseWarning", "RunKeys", "Source", "normalize_reuse_from", "open_sources"]

class ReuseWarning(UserWarning):
    """A ``reuse_from`` folder gave nothing, or some elements cannot have keys (never reused).

    The message names the folder, or the functions and inputs whose elements get no key (values
    that cannot be hashed stably, functions that cannot be fingerprinted, ragged axes).

    Examples
    --------
    >>> issubclass(ReuseWarning, UserWarning)
    True
    """


def normalize_reuse_from(reuse_from: object) -> list[Path]:
    """``None``, a folder or a list of folders -> absolute paths (in the given order)."""
    if reuse_from is None:
        return []
    if isinstance(reuse_from, str | Path):
        items: list[Any] = [reuse_from]
    elif isinstance(reuse_from, list | tuple):
        items = list(reuse_from)
    else:
        msg = f"`reuse_from` must be a run folder (str or Path) or a list of them, got {type(reuse_from).__name__}."
        raise TypeError(msg)
    out = []
    for item in items:
        if not isinstance(item, str | Path):
            msg = f"`reuse_from` must hold run folders (str or Path), got {item!r}."
            raise TypeError(msg)
        out.append(Path(item).absolute())
    return out


@dataclass
class Source:
    """One folder elements may be taken from (its record is read without unpickling anything)."""

    folder: Path
    record: RunRecord
    label: str
    own: bool = False  # an old run of this run's own folder (an in-place grow)
    #: its element files may be moved into the new run (a copy deleted when the run ends)
    movable: bool = False
    reused: int = 0
    looked_up: int = 0
    _keys: dict[str, np.ndarray | None] = field(default_factory=dict)
    _key_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _stores: dict[str, StorageBase] = field(default_factory=dict)

    def keys(self, name: str) -> np.ndarray | None:
        """Flat ``(n, 2)`` keys of output ``name`` (None: none recorded)."""
        if name not in self._keys:
            keys = read_keys(self.folder, name) if name in self.record.mapped_outputs() else None
            self._keys[name] = None if keys is None else keys.reshape(-1, 2)
            if keys is not None:
                self._key_shapes[name] = keys.shape
        return self._keys[name]

    def forget(self, name: str, indices: np.ndarray) -> None:
        """Give the elements ``indices`` of output ``name`` "no key" in this folder's key file
        (written before their files change: the in-place grow's folder swap, own copies only)."""
        keys = self.keys(name)
        if keys is None:
            return
        indices = indices[indices < len(keys)]
        if not len(indices) or not (keys[indices] != 0).any():
            return
        keys = keys.copy()
        keys[indices] = 0
        write_keys(self.folder, name, keys.reshape(self._key_shapes[name]))
        self._keys[name] = keys

    def store(self, name: str) -> StorageBase:
        if name not in self._stores:
            self._stores[name] = open_store(self.record, name, read_only=True)
        return self._stores[name]

    def has_any_keys(self) -> bool:
        return (self.folder / "keys").is_dir()


def open_sources(folders: list[Path], labels: list[str] | None = None) -> list[Source]:
    """Read every folder's record; a missing or damaged folder is an error naming it."""
    sources = []
    for k, folder in enumerate(folders):
        try:
            record = RunFolderInfo.read(folder).record
        except RunFolderError as exc:
            msg = f"`reuse_from` folder `{folder}` cannot be used: {exc}"
            raise RunFolderError(msg) from None
        sources.append(Source(folder, record, labels[k] if labels else str(folder)))
    return sources


@dataclass
class RunKeys:
    """Keys and reuse of one run (see the module docstring)."""

    run_folder: Path
    book: KeyBook
    sources: list[Source]
    resumed: bool = False  # False: a fresh run, whose storages start empty (no mask to read)
    reused: dict[str, int] = field(default_factory=dict)
    computed: dict[str, int] = field(default_factory=dict)
    #: the outputs of each function counted (the run record places counts on outputs with it)
    outputs_of: dict[str, list[str]] = field(default_factory=dict)
    #: the done masks ``prepare`` read for the function just prepared (None: read them again)
    done_masks: list[np.ndarray] | None = None
    #: keys of outputs whose stored elements do not (yet) match them: restored once recomputed
    _pending: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def prepare(self, f: PipeFunc, storages: tuple[StorageBase, ...]) -> tuple[tuple[int, ...] | None, int]:
        """Write ``f``'s keys and fill its missing elements from the sources; return the
        internal shape taken from a source when this run's is still unknown, and how many
        elements were taken."""
        keys = self.book.element_keys(f).reshape(-1, 2)
        self.outputs_of[f.__name__] = list(f.output_names)
        done = [s.done_mask() if self.resumed else np.zeros(len(keys), dtype=bool) for s in storages]
        self.done_masks = done if self.resumed else None  # (the scheduler takes them if nothing is filled)
        for name, done_o in zip(f.output_names, done):
            written = keys
            old = None
            if done_o.any():  # a resume: an element stored under another key must not claim this one
                old = read_keys(self.run_folder, name)
                stale = done_o if old is None or old.size != keys.size else done_o & (old.reshape(-1, 2) != keys).any(1)
                if stale.any():
                    written = keys.copy()
                    written[stale] = 0
                    self._pending[name] = (keys, written)
            if old is not None and old.size == written.size and np.array_equal(old.reshape(-1, 2), written):
                continue  # the same keys are on disk already (resuming a finished run)
            write_keys(self.run_folder, name, written.reshape((*_ext_shape(storages[0]), 2)))
        internal: tuple[int, ...] | None = None
        n = 0
        if self.sources:
            has_key = (keys != 0).any(1)
            need_all = has_key & ~(np.logical_and.reduce(done) if len(done) > 1 else done[0])
            before = int(np.count_nonzero(~need_all & has_key))
            if need_all.any():
                for name, s, done_o in zip(f.output_names, storages, done):
                    internal = self._fill(name, s, keys, np.flatnonzero(need_all & ~done_o)) or internal
                self.done_masks = None  # elements were filled: the masks changed
                after = [s.done_mask() for s in storages]
                now = np.logical_and.reduce(after) if len(after) > 1 else after[0]
                n = int(np.count_nonzero(now & has_key)) - before
                if n > 0:
                    self.reused[f.__name__] = self.reused.get(f.__name__, 0) + n
        return internal, max(n, 0)

    def finish(self, f: PipeFunc, storages: tuple[StorageBase, ...], computed: Any) -> None:
        """``computed`` (linear indices) were recomputed by this run: their keys are valid again."""
        self.computed[f.__name__] = self.computed.get(f.__name__, 0) + len(computed)
        for name, s in zip(f.output_names, storages):
            pending = self._pending.pop(name, None)
            if pending is None or not len(computed):
                continue
            keys, written = pending
            idx = np.asarray(computed, dtype=np.int64)
            written[idx] = keys[idx]
            write_keys(self.run_folder, name, written.reshape((*_ext_shape(s), 2)))

    def _fill(self, name: str, store: StorageBase, keys: np.ndarray, need: np.ndarray) -> tuple[int, ...] | None:
        internal = None
        types = error_types()
        for source in self.sources:
            if not len(need):
                break
            old = source.keys(name)
            if old is None:
                continue
            source.looked_up += len(need)
            try:
                old_store = source.store(name)
                old_done = old_store.done_mask()
            except Exception as exc:  # noqa: BLE001 - a damaged source output: nothing taken from it
                warnings.warn(f"`reuse_from` folder `{source.label}`: output `{name}` cannot be read ({exc}); not reused.", ReuseWarning, stacklevel=_caller_stacklevel())
                continue
            if len(old_done) != len(old):
                continue  # keys and values of different shapes: the folder is inconsistent
            new_idx, old_idx = _join(keys, need, old, np.flatnonzero(old_done & (old != 0).any(1)))
            if not len(new_idx):
                continue
            if not all(isinstance(d, int) for d in store.internal_shape) and all(isinstance(d, int) for d in old_store.internal_shape):
                store.internal_shape = tuple(old_store.internal_shape)
                internal = store.internal_shape
            move = source.own and source.movable
            forget = functools.partial(source.forget, name) if move else None
            got = copy_elements(store, old_store, new_idx, old_idx, types, move=move, forget=forget)
            if len(got):
                source.reused += len(got)
                need = np.setdiff1d(need, got, assume_unique=True)
        return internal

    def report(self) -> None:
        """Warn about sources that gave nothing and about elements that cannot have keys."""
        ours = set(self.book.producer)
        for source in self.sources:
            if source.reused or source.own:  # (the folder's own old runs: a killed grow may leave one without keys)
                continue
            theirs = set(source.record.all_output_names)
            if not source.has_any_keys():
                why = "it has no element keys (written by pipefunc or an older pipemap)"
            elif not ours & theirs:
                why = f"it is a run of another pipeline (its outputs: {', '.join(sorted(theirs))})"
            elif source.looked_up:
                why = "no element matched (another pipeline, edited functions or other inputs)"
            else:
                continue
            warnings.warn(f"`reuse_from` folder `{source.label}`: nothing reused, {why}.", ReuseWarning, stacklevel=_caller_stacklevel())
        if self.sources and self.book.unstable:
            parts = "; ".join(f"{what}: {why}" for what, why in sorted(self.book.unstable.items()))
            warnings.warn(
                f"Some elements have no element key and are never reused (nor offered for reuse): {parts}.",
                ReuseWarning,
                stacklevel=_caller_stacklevel(),
            )

    def counts(self) -> dict[str, dict[str, int]]:
        """``{function: {"reused": n, "computed": m}}`` for this run."""
        names = list(dict.fromkeys([*self.reused, *self.computed]))
        return {n: {"reused": self.reused.get(n, 0), "computed": self.computed.get(n, 0)} for n in names}


def _ext_shape(storage: StorageBase) -> tuple[int, ...]:
    return tuple(int(d) for d in storage.shape)


def _join(keys: np.ndarray, need: np.ndarray, old: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``need`` whose key is among ``old[candidates]``: (new indices, old indices).

    Elements whose key is the one stored at their own index are matched first without sorting
    (a re-run or a grown first axis: nearly all); the others by sorting the candidates' keys.
    """
    empty = np.empty(0, dtype=np.int64)
    if not len(candidates) or not len(need):
        return empty, empty
    # the common case first (a re-run, a grown first axis): the same key at the same index
    usable = np.zeros(len(old), dtype=bool)
    usable[candidates] = True
    if need[0] >= 0 and need[-1] - need[0] + 1 == len(need) and (len(need) < 2 or bool((np.diff(need) == 1).all())):
        lo, hi = int(need[0]), min(int(need[-1]) + 1, len(old))  # a range (a fresh run): views, no gathers
        pos = np.arange(max(hi - lo, 0))
        hit = usable[lo:hi] & (old[lo:hi] == keys[lo:hi]).all(1) if hi > lo else np.zeros(0, dtype=bool)
        inside = need[: len(hit)]
    else:
        pos = np.flatnonzero(need < len(old))
        inside = need[pos]
        hit = usable[inside] & (old[inside] == keys[inside]).all(1)
    at_same = inside[hit].astype(np.int64)
    if len(at_same) == len(need):
        return at_same, at_same
    rest = np.ones(len(need), dtype=bool)
    rest[pos[hit]] = False
    new_rest, old_rest = _join_sorted(keys, need[rest], old, candidates)
    return np.concatenate([at_same, new_rest]), np.concatenate([at_same, old_rest])


def _join_sorted(keys: np.ndarray, need: np.ndarray, old: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The general join: sort the candidates' keys, search each needed key."""
    if not len(candidates) or not len(need):
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    lane0 = old[candidates, 0]
    if 8 * len(need) < len(candidates):  # few wanted keys: keep the candidates that may match, sort those
        wanted0 = np.sort(keys[need, 0])
        at = np.minimum(np.searchsorted(wanted0, lane0), len(wanted0) - 1)
        maybe = wanted0[at] == lane0
        candidates, lane0 = candidates[maybe], lane0[maybe]
        if not len(candidates):
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
    order = np.argsort(lane0, kind="stable")
    sorted0 = lane0[order]
    wanted = keys[need]
    pos = np.searchsorted(sorted0, wanted[:, 0])
    pos = np.minimum(pos, len(sorted0) - 1)
    old_idx = candidates[order[pos]]
    hit = (sorted0[pos] == wanted[:, 0]) & (old[old_idx, 1] == wanted[:, 1])
    return need[hit].astype(np.int64), old_idx[hit].astype(np.int64)

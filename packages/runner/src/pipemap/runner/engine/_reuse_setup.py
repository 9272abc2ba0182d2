"""Setting up ``reuse_from=`` for a run: the sources, the in-place grow, the run's :class:`RunKeys`.

:func:`plan_reuse` runs first on the locked run folder: it repairs a grow interrupted by a crash
(``pipemap.storage.repair_grow``), opens every ``reuse_from`` folder (a missing or damaged one
is an error naming it, before anything changes) and, when ``run_folder`` is itself one of them,
moves its run aside (:meth:`ReusePlan.begin`, just before the new record is written). The old
copies are deleted when the new run succeeds (:meth:`ReusePlan.finish`).

>>> plan_reuse(None, None, resume=False) is None
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipemap.storage import RunRecord, begin_grow, finish_grow, grow_copies, repair_grow, write_element_counts

from pipemap.runner.engine._element_keys import KeyBook
from pipemap.runner.engine._reuse import RunKeys, Source, normalize_reuse_from, open_sources

if TYPE_CHECKING:
    from pipemap.runner.engine._run_info import RunInfo
    from pipemap.runner.model._pipeline import Pipeline

__all__ = ["ReusePlan", "plan_reuse", "start_keys"]


@dataclass
class ReusePlan:
    """The sources of one run and what to do with its folder's old copies."""

    run_folder: Path | None
    sources: list[Source] = field(default_factory=list)
    grow: bool = False  # run_folder is a reuse_from folder: move its run aside before the new record
    resume: bool = False  # the run continues the folder's run (its storages may hold elements)
    begun: bool = False

    def begin(self) -> None:
        """Move the folder's run aside (an in-place grow) and add it as the first source."""
        if not self.grow or self.run_folder is None or self.begun:
            return
        if RunRecord.path(self.run_folder).is_file():
            copy = begin_grow(self.run_folder)
            source = open_sources([copy], [f"{self.run_folder} (its previous run)"])[0]
            source.own = source.movable = True
            self.sources.insert(0, source)
        self.begun = True

    def abort(self) -> None:
        """Preparation failed after :meth:`begin`: put the old run back."""
        if self.begun and self.run_folder is not None:
            repair_grow(self.run_folder)

    def finish(self, keys: RunKeys | None) -> None:
        """The run succeeded: record the counts, delete the old copies of the folder."""
        if self.run_folder is None:
            return
        if keys is not None:
            write_element_counts(self.run_folder, keys.counts(), keys.outputs_of)
        if grow_copies(self.run_folder):
            finish_grow(self.run_folder)


def plan_reuse(run_folder: str | Path | None, reuse_from: object, *, resume: bool) -> ReusePlan | None:
    """Repair, validate and open the sources (see the module docstring); None without a run folder."""
    folders = normalize_reuse_from(reuse_from)
    if run_folder is None:
        if folders:
            msg = "`reuse_from` needs a `run_folder` (the reused elements are written into its storage)."
            raise ValueError(msg)
        return None
    folder = Path(run_folder).absolute()
    repair_grow(folder)
    in_place = folder in folders
    sources = open_sources([f for f in dict.fromkeys(folders) if f != folder])
    copies = grow_copies(folder)
    if in_place and not copies and RunRecord.path(folder).exists():
        open_sources([folder])  # a readable run folder (an error naming it otherwise); none yet: a first run
    if not resume and not in_place and copies:  # a fresh run: old copies of an earlier grow go
        finish_grow(folder)
        copies = []
    labels = [f"{folder} (an earlier run)"] * len(copies)
    own = open_sources(list(reversed(copies)), labels)
    for source in own:
        source.own = source.movable = True
    return ReusePlan(folder, own + sources, grow=in_place and not resume, resume=resume)


def start_keys(plan: ReusePlan | None, pipeline: Pipeline, info: RunInfo) -> RunKeys | None:
    """The run's :class:`RunKeys` (None when the run has no run folder)."""
    if plan is None or info.run_folder is None:
        return None
    return RunKeys(Path(info.run_folder), KeyBook(pipeline, info), plan.sources, resumed=plan.resume)

"""Guards a run applies to its ``run_folder`` before it replaces or resumes it: nothing the user
stored there is deleted, and outputs no record vouches for are never served.

>>> import tempfile
>>> check_safe_to_delete(Path(tempfile.mkdtemp()))  # an empty folder may be replaced
"""

from __future__ import annotations

from pathlib import Path

from pipemap.storage import PIPEMAP_INFO, RunRecord, is_bookkeeping_name

__all__ = ["check_safe_to_delete", "refuse_unvouched_outputs"]


def check_safe_to_delete(folder: Path) -> None:
    """``resume=False`` replaces the run folder: refuse when it is not a run folder at all (a
    non-empty directory without ``run_info.json``), so that nothing the user stored there is lost.

    A run folder is replaced whatever pipeline wrote it (a sub-pipeline, another pipeline), as
    pipefunc does: the old run goes atomically (``clear_run_folder``).
    """
    if not folder.exists():
        return
    if not folder.is_dir():
        msg = f"`run_folder={str(folder)!r}` exists and is not a directory."
        raise ValueError(msg)
    if RunRecord.path(folder).is_file():
        return
    entries = sorted(p.name for p in folder.iterdir() if not is_bookkeeping_name(p.name))
    if entries and not set(entries) <= _RUN_LAYOUT:  # a run whose record was lost may go
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        msg = (
            f"`run_folder={str(folder)!r}` is a non-empty directory that is not a pipemap run folder"
            f" (no `run_info.json`; it holds {shown}); refusing to delete it. Choose an empty or new folder."
        )
        raise ValueError(msg)


#: the top-level entries a run writes besides ``run_info.json``
_RUN_LAYOUT = frozenset(
    {"outputs", "inputs", "defaults", "keys", PIPEMAP_INFO, "failures.json", "pipefunc_status.json", "attempts", "raised.json", "ragged", "slurm"}
)


def refuse_unvouched_outputs(folder: Path) -> None:
    """``resume=True`` on a folder without ``run_info.json``: outputs left there (a fresh run
    killed by an older pipemap while it cleared the folder, or copied in) say nothing about the
    inputs they were computed from, so they are never served as finished work."""
    outputs = folder / "outputs"
    try:
        leftovers = sorted(p.name for p in outputs.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return
    if leftovers:
        shown = ", ".join(leftovers[:5]) + (", ..." if len(leftovers) > 5 else "")
        msg = (
            f"`run_folder={str(folder)!r}` has outputs ({shown}) but no `run_info.json`, so nothing"
            " records which inputs they were computed from; refusing to resume from them."
            " Use `resume=False` to replace them."
        )
        raise ValueError(msg)

"""The SLURM side of ``pipemap status``: the job ids a ``SlurmExecutor`` submission recorded in
``RUN/slurm/jobs.json`` and what ``squeue`` (or ``sacct``) says about them, per function.

pipemap-io does not import the runner: the record's format (version 1) is documented in
``pipemap.runner.slurm._layout`` and read here as plain JSON.

>>> fold("COMPLETED"), fold("PENDING"), fold("RUNNING"), fold("TIMEOUT")
('done', 'pending', 'running', 'failed')
>>> job_progress(None) is None
True
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

STATES = ("pending", "running", "done", "failed")
_PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "SUSPENDED", "STOPPED"}
_RUNNING = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"}


def fold(state: str) -> str:
    """A SLURM state as pending / running / done / failed."""
    word = state.split()[0].rstrip("+") if state else ""
    if word in _PENDING:
        return "pending"
    if word in _RUNNING:
        return "running"
    return "done" if word == "COMPLETED" else "failed"


def read_jobs(run_folder: str | Path) -> dict[str, Any] | None:
    """``RUN/slurm/jobs.json``, or None when the run was not submitted to SLURM."""
    try:
        return dict(json.loads((Path(run_folder) / "slurm" / "jobs.json").read_text()))
    except (OSError, ValueError):
        return None


def _states(ids: list[str]) -> dict[str, list[str]] | None:
    """job id -> raw states of its tasks; None when neither squeue nor sacct answers."""
    out: dict[str, list[str]] = {}
    answered = False
    if shutil.which("squeue"):
        for job in ids:  # one call per job: squeue rejects a list holding one id it has forgotten
            proc = subprocess.run(
                ["squeue", "--states=all", "-h", "-r", "-j", job, "-o", "%i|%T"], capture_output=True, text=True, check=False
            )
            if proc.returncode == 0 or "Invalid job id" in proc.stderr:
                answered = True
            for line in proc.stdout.splitlines():
                jid, _, state = line.strip().partition("|")
                out.setdefault(jid.partition("_")[0], []).append(state)
    missing = [j for j in ids if j not in out]
    if missing and shutil.which("sacct"):
        proc = subprocess.run(
            ["sacct", "-n", "-P", "-X", "-j", ",".join(missing), "-o", "JobID,State"], capture_output=True, text=True, check=False
        )
        if proc.returncode == 0:
            answered = True
            for line in proc.stdout.splitlines():
                jid, _, state = line.strip().partition("|")
                out.setdefault(jid.partition("_")[0], []).append(state)
    return out if answered else None


def job_progress(jobs: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """Per function of ``jobs``: its job id(s), task count and tasks per state (``None`` counts:
    SLURM no longer knows the job, or cannot be asked from here)."""
    if jobs is None:
        return None
    ids = [str(r["job_id"]) for r in jobs.get("functions", [])]
    ids += [str(r["seal_job_id"]) for r in jobs.get("functions", []) if r.get("seal_job_id")]
    states = _states(ids)
    rows = []
    for rec in jobs.get("functions", []):
        row: dict[str, Any] = {
            "function": rec["function"],
            "outputs": rec.get("outputs", []),
            "kind": rec["kind"],
            "job_id": str(rec["job_id"]),
            "n_tasks": rec.get("n_tasks"),
            "n_elements": rec.get("n_elements"),
        }
        known = None if states is None else states.get(str(rec["job_id"]))
        for s in STATES:
            row[s] = None if known is None else sum(1 for k in known if fold(k) == s)
        if known is not None and row["pending"] and rec["kind"] == "array":
            # a pending array is listed as one line ("17_[3-9]") until its tasks start
            row["pending"] = max(0, int(rec.get("n_tasks") or 0) - row["running"] - row["done"] - row["failed"])
        rows.append(row)
    return rows

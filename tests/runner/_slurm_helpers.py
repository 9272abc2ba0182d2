"""Shared by the ``slurm``-marked tests: is a SLURM cluster there (else skip, with the reason),
and cancel-and-wait for a run folder's jobs so no array task outlives its test.

Loaded by file path (the tests use ``--import-mode=importlib``): see ``load_helpers`` in each test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

START = "bash tools/slurm/local_slurm.sh start"


def need_cluster() -> None:
    """Skip (visibly, with the reason) unless ``sinfo`` shows a usable node."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        pytest.skip(f"no SLURM client tools on PATH (start a local cluster with `{START}`, needs root and apt-get)")
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip("`sinfo` did not answer within 10 s: no SLURM controller running")
    states = out.stdout.split()
    if out.returncode != 0 or not any(s.rstrip("*~#") in ("idle", "mixed", "allocated", "completing") for s in states):
        pytest.skip(f"no usable SLURM node (sinfo: {out.stderr.strip() or states}); start one with `{START}`")


def job_ids(run_folder: Path) -> list[str]:
    try:
        data = json.loads((Path(run_folder) / "slurm" / "jobs.json").read_text())
    except FileNotFoundError:
        return []
    ids = []
    for rec in data["functions"]:
        ids.append(str(rec["job_id"]))
        if rec.get("seal_job_id"):
            ids.append(str(rec["seal_job_id"]))
    return ids


def active(ids: list[str]) -> list[str]:
    if not ids:
        return []
    out = subprocess.run(
        ["squeue", "-h", "-r", "-j", ",".join(ids), "-o", "%i %T"], capture_output=True, text=True, check=False
    )
    return [line for line in out.stdout.splitlines() if line.strip()]


def cancel_and_wait(run_folder: Path, timeout: float = 30.0) -> None:
    """scancel every job of ``run_folder`` and wait until SLURM lists none of them running."""
    ids = job_ids(run_folder)
    if not ids:
        return
    subprocess.run(["scancel", *ids], capture_output=True, check=False)
    deadline = time.monotonic() + timeout
    while active(ids) and time.monotonic() < deadline:
        time.sleep(0.2)


def wait_done(run_folder: Path, timeout: float = 120.0) -> None:
    """Wait until no job of ``run_folder`` is pending or running."""
    ids = job_ids(run_folder)
    deadline = time.monotonic() + timeout
    while active(ids):
        if time.monotonic() > deadline:
            cancel_and_wait(run_folder)
            pytest.fail(f"the jobs {ids} of {run_folder} did not finish within {timeout} s")
        time.sleep(0.2)

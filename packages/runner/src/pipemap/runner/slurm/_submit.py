"""Submission: plan every function of a prepared run, write the scripts, ``sbatch`` them in
topological order with ``--dependency`` (the whole pipeline queued at once) and record the job
ids in ``RUN/slurm/jobs.json``.

Dependencies: ``afterok`` on the upstream jobs; with ``error_handling="continue"`` each array
job gets a *seal* job (``afterany``) that stores what a failed task left missing as errors, and
dependents wait ``afterok`` on the seal instead.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
from pipemap.mapspec import external_shape_from_mask, shape_is_resolved

from pipemap.runner.engine._mapped import _without_errors
from pipemap.runner.model._retry_policy import effective_policy
from pipemap.runner.slurm._jobs import SlurmTaskError, sbatch, scancel
from pipemap.runner.slurm._layout import JOBS_VERSION, SlurmFolder, function_key
from pipemap.runner.slurm._plan import JobPlan, compact, plan_function, upstream_keys
from pipemap.runner.slurm._script import log_pattern, render_script, render_seal_script
from pipemap.runner.worker._modes import ErrorHandling

if TYPE_CHECKING:
    from pipemap.runner.engine._prepare import Prepared
    from pipemap.runner.model._pipefunc import PipeFunc
    from pipemap.runner.slurm._options import SlurmExecutor


def missing_elements(prep: Prepared, f: PipeFunc) -> range | np.ndarray | None:
    """The linear indices of ``f`` not stored yet (None: its size is not known before it runs)."""
    info = prep.run_info
    full = info.resolved_shapes[f.output_name]
    ext = external_shape_from_mask(full, info.shape_masks[f.output_name])
    if not shape_is_resolved(ext):
        return None
    size = int(np.prod(ext)) if ext else 1
    storages = [prep.store[n] for n in f.output_names]
    masks = []
    for s in storages:
        s.shape = tuple(int(d) for d in ext)
        done = s.done_mask()
        masks.append(_without_errors(s, done) if prep.retry_failed else done)
    done_all = np.logical_and.reduce(masks) if len(masks) > 1 else masks[0]
    return compact(np.flatnonzero(~np.asarray(done_all).reshape(-1)).astype(np.int64), size)


def _single_needed(prep: Prepared, f: PipeFunc) -> bool:
    return not all(getattr(prep.store[n], "exists", lambda: False)() for n in f.output_names)


def plan_run(ex: SlurmExecutor, prep: Prepared) -> list[JobPlan]:
    """One :class:`JobPlan` per function that has something left to do, in topological order."""
    planned: dict[str, JobPlan] = {}
    for f in prep.pipeline.sorted_functions:
        deps = upstream_keys(prep.pipeline, f, planned)
        if f.requires_mapping:
            todo = missing_elements(prep, f)
            if todo is not None and len(todo) == 0 and not deps:
                continue
            n = len(todo) if todo is not None else 1
            plan = plan_function(f, todo, ex.task_size(f.output_names[0], n), deps)
            if todo is not None and len(todo) == 0:  # nothing missing now, upstream reruns: its elements
                plan.todo = None  # that depend on them are missing then ("all" when it starts)
        else:
            if not deps and not _single_needed(prep, f):
                continue
            plan = plan_function(f, None, 1, deps)
        planned[plan.key] = plan
    return list(planned.values())


def sealed_keys(prep: Prepared, plans: list[JobPlan]) -> set[str]:
    """The array jobs that get a seal job: all of them in continue mode, else those whose retry
    policy retries a lost array task (:class:`~._jobs.SlurmTaskError`)."""
    if prep.error_handling == ErrorHandling.CONTINUE:
        return {p.key for p in plans if p.kind == "array"}
    probe = SlurmTaskError("f", "0", "")
    out = set()
    for f in prep.pipeline.functions:
        policy = effective_policy(getattr(f, "retries", None), prep.retries)
        if f.requires_mapping and policy is not None and policy.retries(probe):
            out.add(function_key(f.output_names))
    return out


def submit_plans(
    ex: SlurmExecutor, plans: list[JobPlan], folder: SlurmFolder, error_handling: ErrorHandling, sealed: set[str] | None = None
) -> dict[str, Any]:
    """Write the scripts, submit every job (a seal job after the arrays in ``sealed``), write
    ``jobs.json``; its content."""
    run = str(folder.run_folder)
    waits_on: dict[str, str] = {}  # key -> the job id its dependents wait for
    records: list[dict[str, Any]] = []
    submitted: list[str] = []
    if sealed is None:
        sealed = {p.key for p in plans if p.kind == "array"} if error_handling == ErrorHandling.CONTINUE else set()
    try:
        for plan in plans:
            folder.write_json(folder.plan(plan.key), plan.to_json(folder))
            script = folder.script(plan.key)
            script.write_text(render_script(ex, plan, run))
            deps = [waits_on[k] for k in plan.depends_on if k in waits_on]
            job_id = sbatch(str(script), "afterok:" + ":".join(deps) if deps else None)
            submitted.append(job_id)
            seal_id = None
            if plan.key in sealed and plan.kind == "array":
                seal_script = folder.script(plan.key, "seal")
                seal_script.write_text(render_seal_script(ex, plan, run, job_id))
                seal_id = sbatch(str(seal_script), f"afterany:{job_id}")
                submitted.append(seal_id)
            waits_on[plan.key] = seal_id or job_id
            records.append(
                {
                    "function": plan.function,
                    "key": plan.key,
                    "outputs": list(plan.outputs),
                    "kind": plan.kind,
                    "job_id": job_id,
                    "seal_job_id": seal_id,
                    "attempt": 1,
                    "n_tasks": plan.n_tasks,
                    "n_elements": plan.n_elements,
                    "depends_on": list(plan.depends_on),
                    "log": log_pattern(run, plan.key, plan.kind),
                }
            )
    except BaseException:
        scancel(submitted)
        raise
    data = {"version": JOBS_VERSION, "submitted": time.time(), "error_handling": error_handling.value, "functions": records}
    folder.write_json(folder.jobs, data)
    return data


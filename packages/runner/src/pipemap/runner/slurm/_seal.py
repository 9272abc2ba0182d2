"""The seal job of an array job (``python -m pipemap.runner.slurm.task --seal RUN KEY JOB_ID``):
it runs after the array job however that ended (``--dependency=afterany``) and deals with the
planned elements the array left missing (tasks killed by walltime, node loss, the OOM killer,
``scancel``):

1. with a retry policy that retries :class:`SlurmTaskError` and attempts left: submit a new array
   job for exactly those elements plus its own seal, and point the jobs that depended on this
   seal at the new one (``scontrol update ... dependency=``); ``jobs.json`` records it;
2. else, ``error_handling="continue"``: store them as error snapshots naming the job, the failed
   tasks and the log files, so the dependent jobs run;
3. else (raise mode): exit 1, so SLURM cancels the dependent jobs.

Elements whose function raised in raise mode (the task left a marker) are never resubmitted.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from pipemap.runner.executors._dispatch import lost_chunk_result
from pipemap.runner.model._retry_policy import effective_policy
from pipemap.runner.slurm._jobs import SlurmTaskError, query_states, sbatch
from pipemap.runner.slurm._layout import SlurmFolder
from pipemap.runner.slurm._plan import JobPlan
from pipemap.runner.slurm._script import log_pattern, render_script, render_seal_script
from pipemap.runner.slurm._task_state import function_of, load_spec, make_runner
from pipemap.runner.slurm._todo import intersect, planned_todo
from pipemap.runner.worker._modes import ErrorHandling


def _failed_tasks(job_id: str) -> list[str]:
    try:
        states = query_states([job_id])
    except Exception:  # noqa: BLE001 - the error message is only less specific
        return []
    return sorted({f"{s.job_id}_{s.task}: {s.state}" for s in states if s.task is not None and s.folded == "failed"})


def _dependents(jobs: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [rec for rec in jobs["functions"] if key in rec.get("depends_on", [])]


def _active(job_ids: list[str]) -> set[str]:
    try:
        return {s.job_id for s in query_states(job_ids) if s.folded in ("pending", "running")}
    except Exception:  # noqa: BLE001
        return set(job_ids)


def _resubmit(folder: SlurmFolder, spec: dict[str, Any], rec: dict[str, Any], plan: JobPlan) -> tuple[str, str]:
    """Queue ``plan`` again with a new seal; re-point the dependents; record it in jobs.json."""
    from pipemap.runner.slurm._options import SlurmExecutor  # (the executor's options, pickled at submission)

    ex = spec.get("executor") or SlurmExecutor()
    run = str(folder.run_folder)
    folder.write_json(folder.plan(plan.key), plan.to_json(folder))
    attempt = int(rec.get("attempt", 1)) + 1
    script = folder.script(plan.key, f"run{attempt}")
    script.write_text(render_script(ex, plan, run))
    job_id = sbatch(str(script))
    seal_script = folder.script(plan.key, f"seal{attempt}")
    seal_script.write_text(render_seal_script(ex, plan, run, job_id))
    seal_id = sbatch(str(seal_script), f"afterany:{job_id}")

    def change(data: dict[str, Any]) -> None:
        for r in data["functions"]:
            if r["key"] == plan.key:
                r.setdefault("earlier", []).append({"job_id": r["job_id"], "seal_job_id": r.get("seal_job_id")})
                r.update(job_id=job_id, seal_job_id=seal_id, attempt=attempt, n_tasks=plan.n_tasks, n_elements=plan.n_elements)

    jobs = folder.update_jobs(change)
    waits = {r["key"]: str(r.get("seal_job_id") or r["job_id"]) for r in jobs["functions"]}
    for dep in _dependents(jobs, plan.key):
        upstream = [waits[k] for k in dep.get("depends_on", []) if k in waits]
        still = [j for j in upstream if j == seal_id or j in _active([j])]
        subprocess.run(
            ["scontrol", "update", f"JobId={dep['job_id']}", f"Dependency=afterok:{':'.join(still)}"],
            capture_output=True, check=False,
        )
    return job_id, seal_id


def seal(run_folder: Path, key: str, job_id: str) -> int:
    """See the module docstring; the exit status."""
    folder = SlurmFolder(run_folder)
    spec = load_spec(run_folder)
    runner = make_runner(run_folder, spec)
    f = function_of(runner, key)
    failures, runner.failures = runner.failures, None
    job = runner.prepare_mapped(f)
    planned, data = planned_todo(folder, key)
    missing = job.todo if planned is None else intersect(job.todo, planned)
    if not len(missing):
        return 0
    bad = _failed_tasks(job_id)
    error = SlurmTaskError(f.__name__, job_id, log_pattern(str(run_folder), key, "array"), bad)
    raised = any((folder.root / "raised").glob(f"{key}-{job_id}_*"))
    jobs = folder.read_jobs() or {"functions": []}
    rec: dict[str, Any] = next((r for r in jobs["functions"] if r["key"] == key), {})
    policy = effective_policy(getattr(f, "retries", None), spec.get("retries"))
    attempt = int(rec.get("attempt", 1))
    if not raised and rec and policy is not None and policy.retries(error) and attempt < policy.attempts:
        plan = JobPlan(f.__name__, key, tuple(f.output_names), "array", missing, int(data["per_task"]), ())
        new_job, new_seal = _resubmit(folder, spec, rec, plan)
        print(f"{error}\nattempt {attempt + 1} of {policy.attempts}: resubmitted {len(missing)} element(s) as job {new_job} (seal {new_seal})")
        return 0
    if runner.prep.error_handling != ErrorHandling.CONTINUE:
        print(f"{error}\n{len(missing)} element(s) of `{f.__name__}` are missing; the dependent jobs are cancelled.")
        return 1
    lost = lost_chunk_result(job.task, missing, error)
    for storage, values in zip(job.storages, lost.values or ()):
        storage.dump_many(missing, values)
    if failures is not None:
        failures.begin(f.output_names, missing)
        failures.record(f.output_names, lost.failed_linear)
        failures.flush()
    print(f"stored {len(missing)} missing element(s) of `{f.__name__}` as errors: {error}")
    return 0

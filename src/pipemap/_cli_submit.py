"""``pipemap submit FILE.py[:PIPELINE] --run-folder DIR [--resume]``: queue a pipeline defined in
a Python file on SLURM and return at once (``SlurmExecutor(wait=False)``).

The file is executed (not as ``__main__``) and must define the pipeline (variable ``pipeline``
unless named after the colon) and its inputs (variable ``inputs``, or ``--inputs NAME``).

>>> parser = argparse.ArgumentParser(); sub = parser.add_subparsers()
>>> add_submit_command(sub)
>>> args = parser.parse_args(["submit", "sweep.py:pipe", "--run-folder", "r", "--max-concurrent", "4"])
>>> args.file, args.run_folder, args.max_concurrent
('sweep.py:pipe', 'r', 4)
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
import time
from pathlib import Path
from typing import Any


def add_submit_command(commands: Any) -> None:
    """Register ``submit`` on the ``pipemap`` parser's subcommands."""
    p = commands.add_parser(
        "submit",
        help="queue a pipeline from a Python file on SLURM (job arrays) and return",
        description=(
            "Run FILE.py (not as __main__), take its pipeline (variable `pipeline`, or the name after"
            " the colon) and inputs (`--inputs NAME`, default `inputs`), and queue the whole run on"
            " SLURM: one job array per mapped function, chained with --dependency. Returns once"
            " queued; watch with `pipemap status DIR`, continue after walltime/node loss/scancel with --resume."
        ),
    )
    p.add_argument("file", metavar="FILE.py[:PIPELINE]", help="the Python file defining the pipeline")
    p.add_argument("--run-folder", required=True, help="the run folder (on a file system the nodes share)")
    p.add_argument("--inputs", default="inputs", metavar="NAME", help="the variable holding the inputs (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="submit only the elements still missing")
    p.add_argument("--retry-failed", action="store_true", help="with --resume: also re-run elements stored as failed")
    p.add_argument("--error-handling", choices=["raise", "continue"], default="raise")
    p.add_argument("--storage", default=None, help="file_array (default) or chunked")
    p.add_argument("--partition")
    p.add_argument("--account")
    p.add_argument("--time", help="wall time of one array task, e.g. 00:30:00")
    p.add_argument("--mem", help="memory per task, e.g. 4G")
    p.add_argument("--cpus-per-task", type=int, default=1)
    p.add_argument("--max-concurrent", type=int, default=None, help="array tasks running at once (%%N)")
    p.add_argument("--elements-per-task", type=int, default=None)
    p.add_argument("--seconds-per-element", type=float, default=None, help="an estimate, sizes tasks with --task-seconds")
    p.add_argument("--task-seconds", type=float, default=600.0, help="target wall time of one array task")
    p.add_argument("--sbatch", action="append", default=[], metavar="OPTION", help="an extra sbatch option (repeatable)")
    p.add_argument("--setup", action="append", default=[], metavar="LINE", help="a shell line run before Python (repeatable)")
    p.set_defaults(handler=cmd_submit)


def load_pipeline(spec: str, inputs_name: str) -> tuple[Any, Any]:
    """``(pipeline, inputs)`` from ``FILE.py[:PIPELINE]``; a clear error when either is missing."""
    file, _, name = spec.partition(":")
    path = Path(file)
    if not path.is_file():
        msg = f"`{file}`: no such Python file."
        raise ValueError(msg)
    sys.path.insert(0, str(path.parent.absolute()))
    namespace = runpy.run_path(str(path), run_name="__pipemap_submit__")
    name = name or "pipeline"
    for wanted in (name, inputs_name):
        if wanted not in namespace:
            known = ", ".join(sorted(k for k in namespace if not k.startswith("_")))
            msg = f"`{file}` defines no variable `{wanted}` (it defines: {known})."
            raise ValueError(msg)
    return namespace[name], namespace[inputs_name]


def cmd_submit(args: argparse.Namespace) -> int:
    """Queue the run; print the job ids. Exit 0 once queued, 2 on bad arguments."""
    from pipemap.runner import run_map
    from pipemap.runner.slurm import SlurmCommandError, SlurmExecutor, SlurmRunError

    try:
        pipeline, inputs = load_pipeline(args.file, args.inputs)
        ex = SlurmExecutor(
            partition=args.partition,
            account=args.account,
            time=args.time,
            memory=args.mem,
            cpus_per_task=args.cpus_per_task,
            max_concurrent=args.max_concurrent,
            extra_sbatch=tuple(args.sbatch),
            setup=tuple(args.setup),
            task_seconds=args.task_seconds,
            seconds_per_element=args.seconds_per_element,
            elements_per_task=args.elements_per_task,
            wait=False,
        )
        start = time.perf_counter()
        run_map(
            pipeline, inputs, run_folder=args.run_folder, executor=ex, resume=args.resume, retry_failed=args.retry_failed,
            error_handling=args.error_handling, storage=args.storage,
        )
    except (ValueError, TypeError, SlurmCommandError, SlurmRunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    jobs = json.loads((Path(args.run_folder) / "slurm" / "jobs.json").read_text())
    for rec in jobs["functions"]:
        print(f"{rec['function']}: job {rec['job_id']} ({rec['kind']}, {rec['n_tasks']} task(s))")
    if not jobs["functions"]:
        print("nothing to submit: every element is stored")
    print(f"queued in {elapsed:.2f} s; follow with: pipemap status {args.run_folder}")
    return 0

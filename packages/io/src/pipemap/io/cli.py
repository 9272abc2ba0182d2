"""The ``pipemap`` command line for run folders: ``status``, ``export``, ``errors``, ``dashboard``.

Each subcommand stores its handler with ``set_defaults(handler=...)``; the umbrella's
``pipemap.api:main`` adds more subcommands (``demo``) to :func:`build_parser`'s parser through
``parser.subparsers`` before dispatching the same way.

Exit codes: 0 ok, 1 run incomplete or failed elements, 2 not a run folder, a damaged one (one line
on stderr, never a traceback) or bad arguments, 141 the reader of the output went away (``| head``).

>>> parser = build_parser()
>>> args = parser.parse_args(["status", "some_run", "--json"])
>>> args.handler.__name__, args.json
('cmd_status', True)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from ._folder import OutputNotFoundError, RunFolderError

__all__ = ["EXIT_INCOMPLETE", "EXIT_NOT_A_RUN", "EXIT_OK", "build_parser", "main"]

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_NOT_A_RUN = 2
#: the reader of stdout went away (``| head``): 128 + SIGPIPE, as a Unix tool killed by it
EXIT_BROKEN_PIPE = 141

DESCRIPTION = """\
pipemap runs Python functions over N-dimensional parameter grids and stores every result in a
run folder (the `run_folder` you gave to `run_map` / `pipeline.map`). These commands inspect and
convert such a folder; they never run anything.

examples:
  pipemap status my_run              how far is the run? (per output: done / failed / missing)
  pipemap errors my_run              which elements failed, grouped by exception, with their inputs
  pipemap status my_run --elements   element counts per output: done / failed / propagated / missing
  pipemap export my_run --to parquet results.parquet
                                     one row per element, a column per input and output
  pipemap dashboard my_run           a live web page of the run (http://127.0.0.1:8765/)
  pipemap status my_run --png s.png  a picture of the element states (needs matplotlib)

exit codes: 0 ok, 1 run incomplete or has failed elements, 2 not a run folder / damaged / bad arguments
"""


Handler = Callable[..., int]


def _command(func: Callable[[argparse.Namespace, TextIO], int]) -> Handler:
    """Make a handler callable as ``handler(args)`` or ``handler(args, out)`` that turns the
    expected errors into a message on stderr and an exit code (never a traceback)."""

    @functools.wraps(func)
    def handler(args: argparse.Namespace, out: TextIO | None = None) -> int:
        from ._export import ExportError
        from ._load import CorruptOutputError

        try:
            return int(func(args, out if out is not None else sys.stdout))
        except BrokenPipeError:  # `pipemap errors RUN | head`: the reader left; stop quietly
            _silence_stdout()
            return EXIT_BROKEN_PIPE
        except CorruptOutputError as exc:
            _error(str(exc))
            return EXIT_INCOMPLETE
        except (RunFolderError, OutputNotFoundError, ExportError) as exc:
            _error(str(exc))
            return EXIT_NOT_A_RUN
        except Exception as exc:  # noqa: BLE001 - a damaged folder must never end in a traceback
            folder = getattr(args, "run_folder", "?")
            _error(f"cannot read the run folder `{folder}` ({type(exc).__name__}: {exc}); it may be damaged")
            return EXIT_NOT_A_RUN

    return handler


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
        pass


def _error(message: str) -> None:
    """One line on stderr."""
    print("error: " + " ".join(message.split("\n")), file=sys.stderr)


def _print_table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")


def _count(value: int | None) -> str:
    return "n/a" if value is None else str(value)


def _write_slurm(rows: list[dict[str, Any]], out: TextIO) -> None:
    """The SLURM jobs of the run (``SlurmExecutor``): array tasks per state, per function."""
    out.write("\nSLURM jobs (tasks per state; ? = SLURM no longer knows the job or cannot be asked):\n")
    table = [["FUNCTION", "JOB", "KIND", "TASKS", "PENDING", "RUNNING", "DONE", "FAILED"]]
    for r in rows:
        counts = ["?" if r[s] is None else str(r[s]) for s in ("pending", "running", "done", "failed")]
        table.append([r["function"], r["job_id"], r["kind"], str(r["n_tasks"]), *counts])
    _print_table(table, out)


@_command
def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    """``pipemap status RUN_FOLDER``."""
    from ._status import describe_lock, run_status

    if getattr(args, "elements", False):
        from ._cli_elements import write_element_summary

        return EXIT_OK if write_element_summary(args.run_folder, out, as_json=args.json) else EXIT_INCOMPLETE
    from ._slurm_jobs import job_progress, read_jobs

    if getattr(args, "png", None):
        from ._plot import write_status_png

        try:
            path = write_status_png(args.run_folder, args.png, output=args.output)
        except ImportError:
            _error("--png needs matplotlib: pip install 'pipemap-io[plot]'")
            return EXIT_NOT_A_RUN
        print(f"wrote {path}", file=sys.stderr if args.json else out)  # --json: stdout stays JSON
    status = run_status(args.run_folder)
    code = EXIT_OK if status.complete and not status.has_failures else EXIT_INCOMPLETE
    slurm = job_progress(read_jobs(args.run_folder))
    if args.json:
        data = status.to_json()
        if slurm is not None:
            data["slurm"] = slurm
        out.write(json.dumps(data, indent=2) + "\n")
        return code
    out.write(f"run folder : {status.run_folder}\n")
    out.write(f"started    : {status.started or 'unknown'}\n")
    out.write(f"running    : {describe_lock(status.lock)}\n")
    out.write(
        f"written by : {status.written_by} (run folder format v{status.format_version}),"
        f" error_handling={status.error_handling}\n\n"
    )
    rows = [["OUTPUT", "KIND", "SHAPE", "STORAGE", "DONE", "FAILED", "MISSING", "NOTE"]]
    for o in status.outputs:
        shape = "(" + ", ".join(map(str, o.shape)) + ("," if len(o.shape) == 1 else "") + ")" if o.kind == "mapped" else "-"
        rows.append(
            [o.name, o.kind, shape, o.storage or "-", _count(o.done), _count(o.failed), _count(o.missing), o.note]
        )
    _print_table(rows, out)
    if any(o.failed is None for o in status.outputs):
        out.write(
            "\nfailed: n/a = not recorded in the run folder's metadata; `pipemap errors` reads the"
            " elements to find them\n"
        )
    if slurm is not None:
        _write_slurm(slurm, out)
    if status.elements and any(c.get("reused") for c in status.elements.values()):
        out.write("\nlast run, per function: reused (from `reuse_from` folders) / computed\n")
        _print_table(
            [["FUNCTION", "REUSED", "COMPUTED"]]
            + [[f, str(c.get("reused", 0)), str(c.get("computed", 0))] for f, c in status.elements.items()],
            out,
        )
    summary = "complete" if status.complete else "incomplete"
    if status.has_failures:
        summary += ", with failed elements"
    if status.unknown:
        summary += f" (counts unknown for {', '.join(status.unknown)})"
    if status.stopped_on:
        summary += f"; the last run stopped on an error in {status.stopped_on} (`pipemap errors` shows it)"
    out.write(f"\nstatus: {summary}\n")
    return code


@_command
def cmd_errors(args: argparse.Namespace, out: TextIO) -> int:
    """``pipemap errors RUN_FOLDER``."""
    from pipemap.storage import to_jsonable

    from ._load import load_errors

    errors = load_errors(*args.output, run_folder=args.run_folder)
    if args.json:
        records = [
            {
                "output": e.output_name,
                "index": list(e.index) if e.index is not None else None,
                "function": e.function,
                "exception": e.exception,
                "inputs": {k: to_jsonable(v) for k, v in e.kwargs.items()},
                "propagated": e.propagated,
            }
            for e in errors
        ]
        out.write(json.dumps(records, indent=2) + "\n")
    elif not errors:
        out.write("no failed elements\n")
    elif getattr(args, "all", False):
        for e in errors:
            out.write(e.describe() + "\n")
        n_root = sum(not e.propagated for e in errors)
        out.write(f"\n{len(errors)} failed element(s): {n_root} raised, {len(errors) - n_root} skipped because an input failed\n")
    else:
        from ._cli_elements import write_grouped_errors

        write_grouped_errors(errors, out)
    return EXIT_INCOMPLETE if errors else EXIT_OK


@_command
def cmd_dashboard(args: argparse.Namespace, out: TextIO) -> int:
    """``pipemap dashboard RUN_FOLDER [--port N] [--host H]``: serve until Ctrl-C."""
    from ._folder import RunFolder
    from .dashboard import DashboardError, DashboardServer

    RunFolder.open(args.run_folder)  # not a run folder: a clear error before listening
    try:
        server = DashboardServer(args.run_folder, args.host, args.port, verbose=args.verbose)
    except DashboardError as exc:
        _error(str(exc))
        return EXIT_NOT_A_RUN
    out.write(f"pipemap dashboard of {args.run_folder} at {server.url} (Ctrl-C stops it)\n")
    out.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        out.write("stopped\n")
    return EXIT_OK


@_command
def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    """``pipemap export RUN_FOLDER --to FORMAT OUT``."""
    from ._export import export_run

    path = export_run(
        args.run_folder, args.to, args.out, output_names=tuple(args.output), load_intermediate=not args.no_intermediate
    )
    out.write(f"wrote {path}\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The ``pipemap`` parser; ``parser.subparsers`` accepts more commands (each sets ``handler``).

    >>> sorted(build_parser().subparsers.choices)
    ['dashboard', 'errors', 'export', 'status']
    """
    parser = argparse.ArgumentParser(
        prog="pipemap",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    parser.subparsers = sub  # type: ignore[attr-defined]

    p = sub.add_parser(
        "status",
        help="show per-output progress of a run folder (done / failed / missing)",
        description="Per output: kind, shape, storage and how many elements are done, failed and missing;"
        " plus when the run started and which pipemap wrote it. Reads only metadata and storage masks.",
    )
    p.add_argument("run_folder", metavar="RUN_FOLDER", help="the run folder (contains run_info.json)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument(
        "--elements", action="store_true",
        help="count elements per state (done / failed / propagated / missing) and error type; reads the failed elements",
    )
    p.add_argument("--png", metavar="FILE", help="also write a picture of the element states (needs matplotlib)")
    p.add_argument("--output", metavar="NAME", help="with --png: only this mapped output")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser(
        "dashboard",
        help="serve a live web page of a run folder (counts, grid heatmaps, failures, pipeline)",
        description="Serve a web page that follows a run folder while it is written: per output"
        " done / failed / missing, rate and ETA; a heatmap of each mapped output's elements; the"
        " failed elements with their tracebacks; the pipeline graph. Reads the folder only.",
    )
    p.add_argument("run_folder", metavar="RUN_FOLDER", help="the run folder (contains run_info.json)")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default: %(default)s; 0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, this machine only)")
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.set_defaults(handler=cmd_dashboard)

    p = sub.add_parser(
        "errors",
        help="list the failed elements with their exception and inputs",
        description="List every failed element (runs made with error_handling='continue'): where, which"
        " function, the exception, and the inputs it was called with.",
    )
    p.add_argument("run_folder", metavar="RUN_FOLDER", help="the run folder (contains run_info.json)")
    p.add_argument("--output", action="append", default=[], metavar="NAME", help="only this output (repeatable)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--all", action="store_true", help="one line per failed element instead of groups")
    p.set_defaults(handler=cmd_errors)

    p = sub.add_parser(
        "export",
        help="write the results to netcdf, zarr, parquet or csv",
        description="Convert the results to a file: netcdf/zarr hold an xarray Dataset (dims from the"
        " mapspec axes, inputs as coordinates); parquet/csv hold a table with one row per element.",
    )
    p.add_argument("run_folder", metavar="RUN_FOLDER", help="the run folder (contains run_info.json)")
    p.add_argument("--to", required=True, choices=["netcdf", "zarr", "parquet", "csv"], help="output format")
    p.add_argument("out", metavar="OUT", help="file (or zarr folder) to write")
    p.add_argument("--output", action="append", default=[], metavar="NAME", help="only this output (repeatable)")
    p.add_argument(
        "--no-intermediate", action="store_true", help="do not use intermediate outputs as coordinates"
    )
    p.set_defaults(handler=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None, *, parser: argparse.ArgumentParser | None = None) -> int:
    """Parse ``argv`` and run the chosen command; return the exit code.

    >>> main(["status", "/nonexistent/run"])  # the reason goes to stderr
    2
    """
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    handler: Any = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_NOT_A_RUN
    return int(handler(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

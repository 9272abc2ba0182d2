"""The ``pipemap`` command line: ``demo`` plus the run-folder commands of ``pipemap.io.cli``.

>>> from pipemap.cli import build_parser
>>> "demo" in build_parser().format_help()
True
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from pipemap._cli_submit import add_submit_command

__all__ = ["build_parser", "main"]


def _subparsers(parser: argparse.ArgumentParser) -> Any:
    for action in parser._actions:  # argparse keeps the subparsers action among the actions
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(title="commands", metavar="COMMAND")


def build_parser() -> argparse.ArgumentParser:
    """The full parser: io's commands (status, export, errors), ``demo`` and ``submit`` (SLURM)."""
    try:
        from pipemap.io.cli import build_parser as io_parser
    except ImportError:  # io not installed: demo only
        parser = argparse.ArgumentParser(prog="pipemap", description="Run pipelines over parameter grids.")
    else:
        parser = io_parser()
    commands = _subparsers(parser)
    demo = commands.add_parser(
        "demo",
        help="run a small example sweep (3000 oscillator simulations) and print its summary",
        description=(
            "Run the demo pipeline: a 60 x 50 sweep of a driven, damped oscillator over drive "
            "frequency and damping, a reduction finding each resonance peak, and a summary. "
            "Results are stored in --run-folder (inspect them with `pipemap status DIR`)."
        ),
    )
    demo.add_argument("--run-folder", default="pipemap_demo_run", help="where results go (default: %(default)s)")
    demo.add_argument("--parallel", action="store_true", help="use a process pool instead of running inline")
    demo.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    demo.set_defaults(handler=_demo_command)
    add_submit_command(commands)
    return parser


def _demo_command(args: argparse.Namespace) -> int:
    from pipemap.demo import plot_resonance, run_demo

    start = time.perf_counter()
    summary = run_demo(
        args.run_folder,
        parallel=args.parallel,
        show_progress=False if args.no_progress else "rich",
    )
    elapsed = time.perf_counter() - start
    print(f"pipemap demo: 3000 simulations + 50 reductions + 1 summary in {elapsed:.2f} s")
    print(f"results stored in {args.run_folder}/ (try: pipemap status {args.run_folder})")
    print(
        f"resonance peak at omega = {summary['peak_at_lightest']:.3f} for damping "
        f"{summary['lightest_damping']:.2f}, omega = {summary['peak_at_heaviest']:.3f} for damping "
        f"{summary['heaviest_damping']:.2f}"
    )
    picture = plot_resonance(args.run_folder)  # None without matplotlib: nothing more to say
    if picture is not None:
        print(f"resonance curves drawn in {picture}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())

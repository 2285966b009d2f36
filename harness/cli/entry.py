"""Command line: ``annsweep run | datasets | algorithms | results | plot | leaderboard | report | limit``."""

from __future__ import annotations

import argparse
import signal
import sys
from importlib import metadata
from pathlib import Path

from harness import paths
from harness.cli import algorithms, datasets, limit, report, results, run
from harness.cli import options as opt

COMMAND_GROUPS = (run, datasets, algorithms, results, report, limit)


def version() -> str:
    """``annsweep X.Y.Z`` from the installed distribution's metadata (the source tree's if not installed)."""
    try:
        return f"annsweep {metadata.version('annsweep')}"
    except metadata.PackageNotFoundError:
        return "annsweep (not installed: run `pip install -e .`)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="annsweep", formatter_class=opt.HelpFormatter,
        description="Benchmark approximate nearest-neighbour and retrieval methods: sweeps in pinned workers, "
                    "recall against exact ground truth, figures, leaderboards and a report site.",
        epilog="`annsweep COMMAND --help` for each command's options.")
    parser.add_argument("--version", action="version", version=version())
    parser.add_argument("--data-dir", help="prepared datasets (default: $ANNSWEEP_DATA_DIR or datasets/)")
    parser.add_argument("--results-dir", help="result files (default: $ANNSWEEP_RESULTS_DIR or results/)")
    parser.add_argument("--algorithms-dir", help="adapter folders (default: $ANNSWEEP_ALGORITHMS_DIR or algorithms/)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # bad options end here: exit 2, before any work
    # `annsweep results export | head` should end quietly, as other Unix tools do.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # Folders given as options travel as arguments (never through os.environ).
    args.data_dir = Path(args.data_dir) if args.data_dir else paths.data_dir()
    args.results_dir = Path(args.results_dir) if args.results_dir else paths.results_dir()
    args.algorithms_dir = Path(args.algorithms_dir) if args.algorithms_dir else paths.algorithms_dir()
    try:
        return args.func(args)
    except (ValueError, OSError) as exc:  # our errors name the file or run; no traceback for bad input
        print(f"annsweep: error: {exc}", file=sys.stderr)
        return 2

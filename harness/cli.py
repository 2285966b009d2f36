"""Command line: ``annsweep run | datasets | algorithms | results``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import pandas as pd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="annsweep", description=__doc__)
    parser.add_argument("--data-dir", help="prepared datasets (default: $ANNSWEEP_DATA_DIR or datasets/)")
    parser.add_argument("--results-dir", help="result files (default: $ANNSWEEP_RESULTS_DIR or results/)")
    parser.add_argument("--algorithms-dir", help="adapter folders (default: $ANNSWEEP_ALGORITHMS_DIR or algorithms/)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run algorithms on a dataset, each build in its own pinned worker")
    run.add_argument("--algorithm", "-a", help="comma-separated names (default: all that accept the dataset)")
    run.add_argument("--dataset", "-d", default="random-xs-dense", help="registry name or path to an .hdf5 file")
    run.add_argument("--k", type=int, default=10, help="neighbours per query (default 10)")
    run.add_argument("--runs", type=int, default=3, help="timed repeats per query setting (default 3)")
    run.add_argument("--timeout", type=float, default=None, help="seconds per build before the worker is killed")
    run.add_argument("--force", action="store_true", help="rerun builds that already have a result file")
    run.add_argument("--core", type=int, help="core to pin workers to (default: the highest available)")
    run.add_argument("--group", help="only this run group of each config.yml")
    run.add_argument("--modes", default="single,batch", help="single, batch or both (default: both)")

    ds = sub.add_parser("datasets", help="list or prepare datasets")
    ds_sub = ds.add_subparsers(dest="action", required=True)
    ds_sub.add_parser("list", help="registered datasets and whether each is prepared")
    prep = ds_sub.add_parser("prepare", help="build a dataset file with exact ground truth")
    prep.add_argument("name", nargs="+")
    prep.add_argument("--force", action="store_true", help="rebuild even if present")

    sub.add_parser("algorithms", help="list the adapters found under algorithms/")

    res = sub.add_parser("results", help="tables of stored results")
    res_sub = res.add_subparsers(dest="action", required=True)
    exp = res_sub.add_parser("export", help="write every run as one table")
    exp.add_argument("--format", choices=["csv"], default="csv")
    exp.add_argument("--output", "-o", help="file to write (default: standard output)")
    exp.add_argument("--dataset")
    show = res_sub.add_parser("show", help="summary per algorithm: best QPS above a recall threshold")
    show.add_argument("--dataset")
    show.add_argument("--threshold", type=float, default=0.9)

    args = parser.parse_args(argv)
    # `annsweep results export | head` should end quietly, as other Unix tools do.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if args.data_dir:
        os.environ["ANNSWEEP_DATA_DIR"] = args.data_dir
    if args.results_dir:
        os.environ["ANNSWEEP_RESULTS_DIR"] = args.results_dir
    if args.algorithms_dir:
        os.environ["ANNSWEEP_ALGORITHMS_DIR"] = args.algorithms_dir
    try:
        return COMMANDS[args.command](args)
    except (ValueError, OSError) as exc:  # our errors name the file or run; no traceback for bad input
        print(f"annsweep: error: {exc}", file=sys.stderr)
        return 2


def cmd_run(args: argparse.Namespace) -> int:
    from harness import results, runner
    from harness.datasets import open_dataset

    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if not modes or set(modes) - set(runner.MODES):
        raise ValueError(f"--modes must be a subset of {','.join(runner.MODES)}, got {args.modes!r}")
    options = runner.RunOptions(k=args.k, runs=args.runs, force=args.force, core=args.core, modes=modes,
                                group=args.group, results_root=results.results_dir())
    if args.timeout is not None:
        options.timeout_s = args.timeout
    dataset = open_dataset(args.dataset)
    names = args.algorithm.split(",") if args.algorithm else runner.algorithms_for(dataset)
    outcomes = runner.run_sweep([n.strip() for n in names if n.strip()], args.dataset, options)
    frame = results.load(options.results_root, dataset.name)
    frame = frame[(frame["k"] == args.k) & frame["algorithm"].isin(names)]
    if len(frame):
        print()
        print(_table(results.summarize(frame)))
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        print(f"\n{len(failed)} build(s) failed:")
        for o in failed:
            print(f"  {o.algorithm} {o.build}: {o.error}")
    return 1 if failed else 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from harness import datasets

    if args.action == "list":
        for spec, present in datasets.registry_status():
            mark = "prepared" if present else "no source" if datasets.sources_missing(spec) else "-"
            print(f"{spec.name:24s} {spec.kind:7s} {spec.distance:10s} {mark:9s} {spec.description}")
        print(f"\ndata dir: {datasets.data_dir()}\nsource dir: {datasets.source_dir()}")
        return 0
    for name in args.name:
        path = datasets.prepare(name, force=args.force)
        print(f"{name}: {path}")
    return 0


def cmd_algorithms(args: argparse.Namespace) -> int:
    from harness import configs

    for name, definition in configs.discover().items():
        cls = definition.load_adapter_class()
        builds = definition.builds()
        settings = sum(len(b.queries) for b in builds)
        print(f"{name:14s} accepts {','.join(sorted(cls.accepts)):13s} {len(builds):3d} builds "
              f"{settings:4d} query settings  {definition.description}")
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    from harness import results

    frame = results.load(dataset=args.dataset)
    if args.action == "export":
        out = args.output or sys.stdout
        frame.to_csv(out, index=False)
        if args.output:
            print(f"{len(frame)} runs written to {Path(args.output)}", file=sys.stderr)
        return 0
    if frame.empty:
        print(f"no results under {results.results_dir()}")
        return 0
    print(_table(results.summarize(frame, args.threshold)))
    return 0


def _table(frame: pd.DataFrame) -> str:
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 60):
        return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")


COMMANDS = {"run": cmd_run, "datasets": cmd_datasets, "algorithms": cmd_algorithms, "results": cmd_results}

if __name__ == "__main__":
    sys.exit(main())

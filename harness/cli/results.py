"""``annsweep results runs | show | export``: the stored runs as tables, and in other tools' formats."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli import options as opt

EXPORT_FORMATS = ["csv"]


def register(sub: argparse._SubParsersAction) -> None:
    res = sub.add_parser("results", help="tables of stored results, and exports", formatter_class=opt.HelpFormatter)
    res_sub = res.add_subparsers(dest="action", required=True)
    exp = res_sub.add_parser("export", help="write every run as one table, or in another tool's format",
                             formatter_class=opt.HelpFormatter)
    exp.add_argument("--format", choices=EXPORT_FORMATS, default="csv",
                     help="csv: one table of every run")
    exp.add_argument("--output", "-o", help="file to write (default: standard output)")
    exp.add_argument("--dataset", "-d", help="only this dataset (default: every dataset with results)")
    exp.add_argument("--k", "-k", type=opt.at_least(1), help="only results for this k (default: every k)")
    runs = res_sub.add_parser("runs", help="every run: series, settings, recall and qrels metrics, QPS, index size",
                              formatter_class=opt.HelpFormatter)
    runs.add_argument("--dataset", "-d", help="only this dataset (default: every dataset with results)")
    runs.add_argument("--k", "-k", type=opt.at_least(1), help="only results for this k (default: every k)")
    runs.add_argument("--mode", type=opt.mode, help="single, batch or batch-<N>t (default: every mode)")
    runs.add_argument("--markdown", action="store_true", help="a Markdown table (for notes and READMEs)")
    show = res_sub.add_parser("show", help="summary per algorithm: best QPS above a recall threshold",
                              formatter_class=opt.HelpFormatter)
    show.add_argument("--dataset", "-d", help="only this dataset (default: every dataset with results)")
    show.add_argument("--threshold", type=opt.recall, default=0.9, help="recall the QPS column is taken at")
    res.set_defaults(func=cmd_results)


def cmd_results(args: argparse.Namespace) -> int:
    from harness import results

    frame = opt.load_selected(args.results_dir, args.dataset, getattr(args, "k", None))
    if args.action == "export":
        if args.format == "csv":
            out = args.output or sys.stdout
            frame.to_csv(out, index=False)
            if args.output:
                print(f"{len(frame)} runs written to {Path(args.output)}", file=sys.stderr)
        return 0
    if frame.empty:
        print(f"no results under {args.results_dir}")
        return 0
    if args.action == "runs":
        if args.mode is not None:
            frame = frame[frame["mode"] == args.mode]
        table = results.run_table(frame).drop(columns=["build"])
        print(opt.table(table, markdown=args.markdown))
        return 0
    print(opt.table(results.summarize(frame, args.threshold)))
    return 0

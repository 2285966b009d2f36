"""``annsweep results runs | show | export``: the stored runs as tables, and in other tools' formats."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli import options as opt

EXPORT_FORMATS = ["csv", "trec", "ann-benchmarks"]


def register(sub: argparse._SubParsersAction) -> None:
    res = sub.add_parser("results", help="tables of stored results, and exports", formatter_class=opt.HelpFormatter)
    res_sub = res.add_subparsers(dest="action", required=True)
    exp = res_sub.add_parser("export", help="write every run as one table, or in another tool's format",
                             formatter_class=opt.HelpFormatter)
    exp.add_argument("--format", choices=EXPORT_FORMATS, default="csv",
                     help="csv: one table of every run; trec: a TREC run file per run (qid Q0 docid rank score "
                          "tag, the dataset's ids) and manifest.csv, in the folder -o; ann-benchmarks: a result "
                          "file per run that ann-benchmarks' load_all_results/compute_metrics read, in the folder "
                          "-o (its results/ folder: <dataset>/<k>/<algorithm>[-batch]/<params>.hdf5)")
    exp.add_argument("--output", "-o", help="csv: the file to write (default: standard output); trec and "
                                            "ann-benchmarks: the folder to write into (required)")
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
    show.add_argument("--k", "-k", type=opt.at_least(1), help="only results for this k (default: every k, apart)")
    show.add_argument("--mode", type=opt.mode, help="single, batch or batch-<N>t (default: every mode, apart)")
    show.add_argument("--threshold", type=opt.recall, default=0.9, help="recall the QPS column is taken at")
    show.add_argument("--recall", choices=["tie-aware", "ab"], default="tie-aware", help=opt.RECALL_HELP)
    res.set_defaults(func=cmd_results)


def cmd_results(args: argparse.Namespace) -> int:
    from harness import results

    if args.action == "export" and args.format != "csv" and not args.output:
        raise ValueError(f"--format {args.format} writes a folder of files: give it with -o DIR")
    frame = opt.load_selected(args.results_dir, args.dataset, getattr(args, "k", None))
    if args.action == "export":
        return export(args, frame)
    if frame.empty:
        print(f"no results under {args.results_dir}")
        return 0
    if args.mode is not None:
        frame = frame[frame["mode"] == args.mode]
    if args.action == "runs":
        print(opt.table(results.run_table(frame).drop(columns=["build"]), markdown=args.markdown))
    else:
        print(opt.table(results.summarize(frame, args.threshold, recall=args.recall)))
    if note := results.recall_note(frame):  # recall_ab NaN: files written before it was stored
        print(note, file=sys.stderr)
    return 0


def export(args: argparse.Namespace, frame) -> int:
    """``results export``: csv to a file or standard output; trec and ann-benchmarks into the folder -o
    (:mod:`harness.report.export_trec`, :mod:`harness.report.export_ann_benchmarks`)."""
    if args.format == "csv":
        frame.to_csv(args.output or sys.stdout, index=False)
        if args.output:
            print(f"{len(frame)} runs written to {Path(args.output)}", file=sys.stderr)
        return 0
    if frame.empty:  # a named dataset or k without results was refused by load_selected, naming those with some
        raise ValueError(f"no results under {args.results_dir}")
    if args.format == "trec":
        from harness.report.export_trec import MANIFEST, export_trec

        files = export_trec(args.results_dir, args.output, dataset=args.dataset, k=args.k, data_dir=args.data_dir)
        print(f"{len(files)} TREC run files and {MANIFEST} written to {Path(args.output)}", file=sys.stderr)
    else:
        from harness.report.export_ann_benchmarks import export_ann_benchmarks

        summary = export_ann_benchmarks(args.results_dir, args.output, dataset=args.dataset, k=args.k,
                                        data_dir=args.data_dir)
        print(f"{summary.describe()}\nwritten to {Path(args.output)} (ann-benchmarks reads it as its results/ "
              "folder)", file=sys.stderr)
    return 0

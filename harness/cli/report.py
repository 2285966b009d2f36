"""``annsweep plot | leaderboard | report``: figures, leaderboards and the report site from stored runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from harness import paths
from harness.cli import options as opt


def _add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", "-d", help="only this dataset (default: every dataset with results)")
    p.add_argument("--k", "-k", type=opt.at_least(1), help="only results for this k (default: every k)")
    p.add_argument("--mode", type=opt.mode,
                   help="only this mode: single, batch or batch-<N>t (default: every mode, apart)")
    p.add_argument("--output-dir", "-o", help="where to write (default: $ANNSWEEP_PLOTS_DIR or plots/)")


def register(sub: argparse._SubParsersAction) -> None:
    from harness.report.metrics import RUN_METRICS

    plot = sub.add_parser("plot", help="figures: a Pareto frontier per algorithm (PNG and SVG)",
                          formatter_class=opt.HelpFormatter)
    _add_selection(plot)
    plot.add_argument("--x", choices=list(RUN_METRICS),
                      help="x metric (default: the recall of --recall, with the standard figures: qps, build_time, "
                           "index_size and p99 against recall, and qps against nDCG@10 where there are qrels)")
    plot.add_argument("--y", choices=list(RUN_METRICS),
                      help="y metric (default: the standard figures' qps, build_time, index_size, p99)")
    plot.add_argument("--raw", action="store_true", help="also draw every run, faint")
    plot.add_argument("--recall", choices=["tie-aware", "ab"], default="tie-aware", help=opt.RECALL_HELP)
    plot.add_argument("--x-scale", choices=["linear", "logit"],
                      help="logit spreads out the high-recall end (default: linear)")
    plot.set_defaults(func=cmd_plot)

    board = sub.add_parser("leaderboard", help="best QPS at recall >= threshold: table, CSV, Markdown, bars",
                           formatter_class=opt.HelpFormatter)
    _add_selection(board)
    board.add_argument("--threshold", type=opt.recall, default=0.9, help="recall a run must reach to count")
    board.add_argument("--recall", choices=["tie-aware", "ab"], default="tie-aware", help=opt.RECALL_HELP)
    board.set_defaults(func=cmd_leaderboard)

    rep = sub.add_parser("report", help="figures, leaderboards and a static site under plots/",
                         formatter_class=opt.HelpFormatter)
    _add_selection(rep)
    rep.add_argument("--threshold", type=opt.recall, default=0.9, help="recall a run must reach to count")
    rep.add_argument("--raw", action="store_true", help="also draw every run, faint")
    rep.add_argument("--x-scale", choices=["linear", "logit"],
                     help="logit spreads out the high-recall end (default: linear)")
    rep.add_argument("--check", action="store_true",
                     help="open every page in headless Chromium: fail on console errors, broken links, "
                          "figures without hover labels")
    rep.set_defaults(func=cmd_report)


def selected(args: argparse.Namespace) -> tuple[pd.DataFrame, Path]:
    """The stored runs the plot/leaderboard/report options select, and the output folder."""
    frame = opt.load_selected(args.results_dir, args.dataset, args.k)
    if args.mode is not None:
        frame = frame[frame["mode"] == args.mode]
    if (frame["status"] == "ok").sum() == 0:
        where = args.results_dir / (args.dataset or "")
        raise ValueError(f"no successful runs under {where}"
                         + (f" for k={args.k}" if args.k else "") + (f" in {args.mode} mode" if args.mode else "")
                         + " (run `annsweep run` first)")
    return frame, Path(args.output_dir) if args.output_dir else paths.plots_dir()


def cmd_plot(args: argparse.Namespace) -> int:
    from harness.report import plots

    frame, out_dir = selected(args)
    pairs = [(args.x or "recall", args.y)] if args.y else None
    if args.x and not args.y:
        pairs = [(args.x, y) for y in dict.fromkeys(y for _, y in plots.STANDARD_FIGURES) if y != args.x]
    figures = plots.plot_dataset(frame, out_dir, pairs=pairs, raw=args.raw, x_scale=args.x_scale,
                                 recall=args.recall)
    for fig in figures:
        print(" ".join(str(p) for p in fig.paths))
    if not figures:
        print("nothing to plot: no run has both metrics", file=sys.stderr)
        return 1
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from harness.report import leaderboard

    frame, out_dir = selected(args)
    from harness import results

    board = leaderboard.leaderboard(frame, args.threshold, recall=args.recall)
    print(f"{leaderboard.heading(args.threshold, results.recall_column(args.recall))}:")
    print(opt.table(board.drop(columns=["contention_s"])))
    if note := results.recall_note(frame, args.recall):
        print(note, file=sys.stderr)
    written = leaderboard.write(board, out_dir, args.threshold, quality=results.recall_column(args.recall))
    print("\nwritten: " + ", ".join(str(p) for p in written))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import page as report
    from harness.report import sitecheck

    if args.check and sitecheck.find_chromium() is None:  # refused before anything is written
        print("annsweep: error: report --check needs Chromium: install chromium or set ANNSWEEP_CHROMIUM to "
              "its path", file=sys.stderr)
        return 2
    frame, out_dir = selected(args)
    page = report.write_report(frame, out_dir, args.threshold, raw=args.raw, x_scale=args.x_scale,
                              algorithms_dir=args.algorithms_dir)
    print(f"report: {page}")
    if args.check:
        try:
            view = report.check_in_browser(page, screenshot=out_dir / "report.png")
        except report.ChromiumMissing as exc:
            print(f"annsweep: error: {exc}", file=sys.stderr)
            return 2
        print(f"chromium: {view.pages} pages, {view.figures} figures with {view.points} points, {view.tables} "
              f"tables ({view.table_rows} rows); screenshot of the index: {view.screenshot}")
        if not view.ok:
            print(f"annsweep: error: {len(view.problems)} problem(s) in the report:\n  "
                  + "\n  ".join(view.problems), file=sys.stderr)
            return 1
    return 0

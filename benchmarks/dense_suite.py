"""Every dense adapter on the dense datasets: leaderboards, build costs and who wins where, one session.

    .venv/bin/python benchmarks/dense_suite.py [--datasets a,b,...] [--algorithms a,b,...] [--queries N]
                                               [--runs 3] [--jobs 1] [--report-only] [--markdown FILE]

Each dataset is swept with ``annsweep run`` from the shipped config.yml of every adapter (no group
chosen, as a new user runs them), batch and single modes, ``--runs`` repeats.  ``--queries N`` sweeps
the first N queries of a dataset instead of all of them (a file ``<name>-q<N>`` with the same ground
truth rows, written next to the datasets): the hours a sweep takes are mostly queries asked
``runs`` times in each mode at each setting.

Then, from the stored results (trusted runs only: single-thread proof passed, no cache flag), per
dataset and mode:
- the leaderboard at recall@10 >= 0.90: best QPS, its recall and parameters; adapters that never
  reach 0.90 are listed with their best recall; the range of recall the adapter's grid covers;
- the build of each adapter that is fastest at >= 0.90 (else its most accurate build): build time,
  index bytes, RSS growth during the build;
- who wins at 0.90, 0.95 and 0.99: the fastest adapter, the runner-up and the ratio between them;
- the flagged runs of each adapter and what flagged them, and the builds that failed (timeouts,
  errors): an adapter without a finished build is still listed on the leaderboard.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # its sibling modules, however this file is loaded

from query_subsets import first_queries, subset_name  # noqa: E402

from harness import paths, results  # noqa: E402
from harness.kit import DENSE, Catalogue  # noqa: E402
from harness.report.leaderboard import best_point  # noqa: E402
from harness.report.metrics import run_metric  # noqa: E402
from harness.run import runner  # noqa: E402

DATASETS = ["random-s-dense", "wordnet-wordllama", "mnist-784-euclidean"]
THRESHOLDS = (0.90, 0.95, 0.99)


def dense_adapters() -> list[str]:
    catalogue = Catalogue()
    return [n for n in catalogue.names() if DENSE in catalogue.adapter_class(catalogue.get(n)).accepts]


def flag_reason(run: pd.Series) -> str:
    if run.get("caching_suspected") is True:
        return "cache"
    if run["cpu_ratio"] > 1.05:
        return "cpu/wall > 1.05"
    if run["contention_s"] > 0.25 * run["best_time_s"]:
        return "threads competing"
    if run["outside_wait_s"] > 0.10 * run["best_time_s"]:
        return "another process on the core"
    return "cpu/wall < 0.90"


def tables(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    recall, qps = run_metric("recall"), run_metric("qps")
    ok = frame[(frame["status"] == "ok") & (frame["k"] == 10)]
    trusted = ok[results.trusted(ok)]
    board, builds, wins, flags = [], [], [], []
    for (dataset, mode), every in ok.groupby(["dataset", "mode"]):
        runs = trusted[(trusted["dataset"] == dataset) & (trusted["mode"] == mode)]
        for algorithm in sorted(set(every["algorithm"]) - set(runs["algorithm"])):  # listed, never ranked
            mine = every[every["algorithm"] == algorithm]
            board.append({"dataset": dataset, "mode": mode, "algorithm": algorithm, "qps@0.90": np.nan,
                          "recall": np.nan, "max recall": np.nan,
                          "grid covers": f"{mine['recall'].min():.3f}-{mine['recall'].max():.3f} (untrusted)",
                          "params": f"all {len(mine)} runs flagged"})
        for algorithm in sorted(set(frame.loc[frame["dataset"] == dataset, "algorithm"]) - set(every["algorithm"])):
            board.append({"dataset": dataset, "mode": mode, "algorithm": algorithm, "qps@0.90": np.nan,
                          "recall": np.nan, "max recall": np.nan, "grid covers": "",
                          "params": "no build finished (see failed builds)"})
        for algorithm, mine in runs.groupby("algorithm"):
            best = best_point(mine, 0.90, recall, qps)
            top = mine.loc[mine["recall"].idxmax()]
            board.append({"dataset": dataset, "mode": mode, "algorithm": algorithm,
                          "qps@0.90": best["qps"] if best is not None else np.nan,
                          "recall": best["recall"] if best is not None else np.nan,
                          "max recall": top["recall"],
                          "grid covers": f"{mine['recall'].min():.3f}-{top['recall']:.3f}",
                          "params": f"{best['build']} {best['query_params']}" if best is not None else ""})
            if mode == "batch":
                chosen = best if best is not None else top
                builds.append({"dataset": dataset, "algorithm": algorithm, "build": chosen["build"],
                               "build s": chosen["build_time_s"], "index MiB": chosen["index_size_bytes"] / 2**20,
                               "RSS growth MiB": chosen["rss_delta_bytes"] / 2**20,
                               "at 0.90": best is not None})
        for threshold in THRESHOLDS:
            ranked = sorted(((p["qps"], a) for a, g in runs.groupby("algorithm")
                             if (p := best_point(g, threshold, recall, qps)) is not None), reverse=True)
            wins.append({"dataset": dataset, "mode": mode, "recall >=": threshold,
                         "winner": ranked[0][1] if ranked else "-", "qps": ranked[0][0] if ranked else np.nan,
                         "runner-up": ranked[1][1] if len(ranked) > 1 else "-",
                         "ratio": ranked[0][0] / ranked[1][0] if len(ranked) > 1 else np.nan,
                         "reaching": len(ranked)})
    flagged = ok[~results.trusted(ok)]
    for (dataset, algorithm), runs in flagged.groupby(["dataset", "algorithm"]):
        reasons = runs.apply(flag_reason, axis=1).value_counts()
        flags.append({"dataset": dataset, "algorithm": algorithm, "flagged": len(runs),
                      "of": int(((ok["dataset"] == dataset) & (ok["algorithm"] == algorithm)).sum()),
                      "why": ", ".join(f"{r} ({c})" for r, c in reasons.items())})
    failed = frame[(frame["status"] != "ok") & (frame["k"] == 10)].drop_duplicates(["dataset", "algorithm", "build"])
    failures = [{"dataset": f["dataset"], "algorithm": f["algorithm"], "build": f["build"],
                 "error": f["error"].splitlines()[0][:100] if isinstance(f["error"], str) else ""}
                for _, f in failed.iterrows()]
    board_frame = pd.DataFrame(board)
    if len(board_frame):
        board_frame = board_frame.sort_values(["dataset", "mode", "qps@0.90", "max recall"],
                                              ascending=[True, True, False, False])
    return {"leaderboard at recall@10 >= 0.90": board_frame, "builds (batch)": pd.DataFrame(builds),
            "who wins": pd.DataFrame(wins), "flagged runs": pd.DataFrame(flags),
            "failed builds": pd.DataFrame(failures)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--algorithms", default=None, help="comma-separated (default: every dense adapter)")
    parser.add_argument("--queries", type=int, default=None, help="sweep only the first N queries of each dataset")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="builds at once, each on its own core")
    parser.add_argument("--results-dir", default=None)
    parser.add_argument("--report-only", action="store_true", help="only the tables of stored results")
    parser.add_argument("--markdown", default=None, help="also write the tables to this Markdown file")
    args = parser.parse_args()
    root = Path(args.results_dir) if args.results_dir else paths.results_dir()
    algorithms = args.algorithms.split(",") if args.algorithms else dense_adapters()
    names = []
    for name in (n.strip() for n in args.datasets.split(",") if n.strip()):
        target = first_queries(name, args.queries) if args.queries else name
        names.append(subset_name(name, args.queries) if args.queries else name)
        if not args.report_only:
            options = runner.RunOptions(runs=args.runs, results_root=root, jobs=args.jobs,
                                        use_all_cores=args.jobs > 1)
            runner.run_sweep(algorithms, str(target), options)
    frame = pd.concat([results.load(root, name) for name in names], ignore_index=True)
    out = []
    for title, table in tables(frame[frame["algorithm"].isin(algorithms)]).items():
        out.append(f"## {title}\n\n" + (tabulate(table, headers="keys", showindex=False, tablefmt="github",
                                                  floatfmt=".3g") if len(table) else "none"))
    text = "\n\n".join(out)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Our blocked inverted index versus the reference Seismic, through the harness.

    .venv/bin/python benchmarks/blocked_vs_seismic.py [--datasets wordnet-splade-tiny,random-s-sparse]
                                                      [--runs 3] [--force]

Runs `annsweep run -a blocked,seismic,exact` on each dataset (same session, same
pinned core, batch mode by default), then prints, from batch mode, each algorithm's best
QPS at recall@10 ≥ 0.90 and ≥ 0.95, the QPS ratios blocked / seismic and
blocked / exact, build time and index memory, and the recall-vs-QPS table of
both approximate adapters. Results stay in results/ (or --results-dir).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from harness import paths, results
from harness.run import runner

ALGORITHMS = ["blocked", "seismic", "exact"]
THRESHOLDS = (0.90, 0.95)


def best_above(frame: pd.DataFrame, algorithm: str, threshold: float) -> pd.Series | None:
    rows = frame[(frame["algorithm"] == algorithm) & (frame["recall"] >= threshold)]
    return rows.loc[rows["qps"].idxmax()] if len(rows) else None


def report(frame: pd.DataFrame, dataset: str) -> None:
    frame = frame[(frame["status"] == "ok") & (frame["mode"] == "batch")]
    print(f"\n=== {dataset} (batch mode, k=10) ===")
    flagged = frame[~frame["single_thread_ok"].astype(bool)]
    print(f"runs flagged by the single-thread proof: {len(flagged)} of {len(frame)}")
    for threshold in THRESHOLDS:
        best = {a: best_above(frame, a, threshold) for a in ALGORITHMS}
        parts = []
        for a, row in best.items():
            parts.append(f"{a} {row['qps']:.0f} QPS (recall {row['recall']:.4f})" if row is not None else f"{a} —")
        print(f"recall ≥ {threshold:.2f}: " + "; ".join(parts))
        if best["blocked"] is not None and best["seismic"] is not None:
            print(f"  blocked / seismic = {best['blocked']['qps'] / best['seismic']['qps']:.2f}")
        if best["blocked"] is not None and best["exact"] is not None:
            print(f"  blocked / exact   = {best['blocked']['qps'] / best['exact']['qps']:.2f}")
    builds = (frame.groupby(["algorithm", "build"])
              .agg(build_time_s=("build_time_s", "first"), index_mib=("index_size_bytes", "first"),
                   rss_delta_mib=("rss_delta_bytes", "first"))
              .reset_index())
    builds["index_mib"] = builds["index_mib"].where(builds["index_mib"] >= 0) / 2**20
    builds["rss_delta_mib"] = builds["rss_delta_mib"] / 2**20
    print("\nbuilds:")
    print(builds.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print("\nrecall@10 vs QPS:")
    table = frame[frame["algorithm"].isin(["blocked", "seismic"])].copy()
    table["query"] = table["query_params"].map(lambda p: " ".join(f"{k}={v}" for k, v in json.loads(p).items()))
    table = table.sort_values(["algorithm", "build", "recall"])
    print(table[["algorithm", "build", "query", "recall", "qps", "cpu_ratio", "contention_s", "single_thread_ok"]]
          .to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="wordnet-splade-tiny,random-s-sparse")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="batch", help="runner modes (the comparison reads batch)")
    parser.add_argument("--force", action="store_true", help="rerun builds that already have results")
    parser.add_argument("--results-dir", default=None)
    args = parser.parse_args()
    root = paths.results_dir() if args.results_dir is None else Path(args.results_dir)
    for dataset in args.datasets.split(","):
        options = runner.RunOptions(runs=args.runs, force=args.force, results_root=root,
                                    modes=tuple(args.modes.split(",")))
        runner.run_sweep(ALGORITHMS, dataset, options)
    for dataset in args.datasets.split(","):
        frame = results.load(root, dataset)
        report(frame[frame["k"] == 10], dataset)


if __name__ == "__main__":
    main()

"""Blocked versus Seismic (and exact) over the sparse workload suite: one table, one session.

    .venv/bin/python benchmarks/sparse_suite.py [--datasets a,b,...] [--algorithms blocked,...] [--runs 3] [--jobs 1]
                                                [--queries N] [--results-dir DIR] [--force] [--report-only]

Every dataset is swept with `annsweep run -a blocked,seismic,exact` from the shipped config.yml of
each adapter (no group chosen, as a new user runs them), batch mode, one pinned core, ``--runs``
repeats.  Then, per dataset, from the trusted batch runs (single-thread proof passed, no cache
flag): the best QPS of each adapter at recall@10 ≥ 0.90 and ≥ 0.95 and the ratios blocked /
Seismic and blocked / exact; the index bytes of each adapter's fastest build at ≥ 0.90 (and its
RSS growth during the build) and their ratio, and the bytes ratio of the fastest builds at ≥ 0.95;
the build-time ratio of the builds fastest at ≥ 0.90; and the number of flagged runs.  Datasets
neither prepared nor preparable (raw sources missing) are skipped with a line.

With the other sparse engines swept too (``--algorithms blocked,seismic,exact,kannolo,pisa-impact,
pyserini-impact``), the table adds blocked / kANNolo and blocked / PISA (PISA's fastest query
algorithm: all of them are exact over the quantized weights), and a second table gives every
adapter's best QPS (each PISA algorithm on its own) at 0.90 and 0.95.  ``--queries N`` sweeps the
first N queries of each dataset (``benchmarks/query_subsets.py``).

Default suite: the synthetic sparse-d*-q* sets (document length ~40/120/250, query length
~20/40/70/120) and the learned-sparse collections wordnet-splade-tiny, cranfield-splade-tiny,
cisi-splade-tiny, limit-splade-tiny (long documents) and foldoc-splade-tiny (long documents,
queries not drawn from them).
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

from harness import paths, results  # noqa: E402
from harness.data.dataset import DatasetError  # noqa: E402
from harness.data.registry import REGISTRY, SPARSE_SUITE, sources_missing  # noqa: E402
from harness.data.store import dataset_path  # noqa: E402
from harness.report.leaderboard import best_point  # noqa: E402
from harness.report.metrics import run_metric  # noqa: E402
from harness.run import runner  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))  # its sibling modules, however this file is loaded
from query_subsets import first_queries, subset_name  # noqa: E402

SUITE = [s.name for s in SPARSE_SUITE] + ["wordnet-splade-tiny", "cranfield-splade-tiny", "cisi-splade-tiny",
                                          "limit-splade-tiny", "foldoc-splade-tiny"]
ALGORITHMS = ["blocked", "seismic", "exact"]
OTHERS = {"kannolo": "k", "pisa-impact": "pisa"}  # ratios blocked / these, when they were swept


def fastest(runs: pd.DataFrame, algorithm: str, threshold: float) -> pd.Series | None:
    return best_point(runs[runs["algorithm"] == algorithm], threshold, run_metric("recall"), run_metric("qps"))


def row(dataset: str, frame: pd.DataFrame) -> dict:
    ok = frame[(frame["status"] == "ok") & (frame["mode"] == "batch") & (frame["k"] == 10)]
    trusted = ok[results.trusted(ok)]
    out: dict = {"dataset": dataset, "flagged": len(ok) - len(trusted)}
    for threshold in (0.90, 0.95):
        best = {a: fastest(trusted, a, threshold) for a in ALGORITHMS}
        b, s, e = best["blocked"], best["seismic"], best["exact"]
        out[f"b/s@{threshold:.2f}"] = b["qps"] / s["qps"] if b is not None and s is not None else np.nan
        out[f"b/e@{threshold:.2f}"] = b["qps"] / e["qps"] if b is not None and e is not None else np.nan
        if threshold == 0.90:
            out["blocked qps"] = b["qps"] if b is not None else np.nan
            out["seismic qps"] = s["qps"] if s is not None else np.nan
            if b is not None and s is not None:
                out["bytes b/s"] = b["index_size_bytes"] / s["index_size_bytes"]
                out["rss b/s"] = b["rss_delta_bytes"] / max(s["rss_delta_bytes"], 1)
                out["build b/s"] = b["build_time_s"] / s["build_time_s"]
                out["blocked MiB"] = b["index_size_bytes"] / 2**20
                out["seismic MiB"] = s["index_size_bytes"] / 2**20
        elif b is not None and s is not None:  # the fastest builds at 0.95 may be others
            out["bytes b/s@0.95"] = b["index_size_bytes"] / s["index_size_bytes"]
        for other, tag in OTHERS.items():
            if (trusted["algorithm"] == other).any():
                o = fastest(trusted, other, threshold)
                out[f"b/{tag}@{threshold:.2f}"] = b["qps"] / o["qps"] if b is not None and o is not None else np.nan
    for algorithm, tag in (("blocked", "b"), ("seismic", "s")):  # what the shipped grid covers
        recall = trusted.loc[trusted["algorithm"] == algorithm, "recall"]
        out[f"recall {tag}"] = f"{recall.min():.2f}-{recall.max():.3f}" if len(recall) else "-"
    return out


def leaderboard(dataset: str, frame: pd.DataFrame) -> list[dict]:
    """Every series' best QPS at recall@10 >= 0.90 and 0.95 (trusted batch runs), and its recall range."""
    ok = frame[(frame["status"] == "ok") & (frame["mode"] == "batch") & (frame["k"] == 10)]
    trusted = ok[results.trusted(ok)].assign(series=lambda t: results.series_of(t))
    rows = []
    for series, runs in trusted.groupby("series", sort=True):
        out = {"dataset": dataset, "series": series,
               "recall": f"{runs['recall'].min():.3f}-{runs['recall'].max():.3f}"}
        for threshold in (0.90, 0.95):
            best = best_point(runs, threshold, run_metric("recall"), run_metric("qps"))
            out[f"qps@{threshold:.2f}"] = best["qps"] if best is not None else np.nan
        rows.append(out)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(SUITE))
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS),
                        help="which of them to sweep (the table reads the stored results of all three)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="builds at once, each on its own core")
    parser.add_argument("--queries", type=int, default=None, help="sweep only the first N queries of each dataset")
    parser.add_argument("--results-dir", default=None)
    parser.add_argument("--force", action="store_true", help="rerun builds that have results")
    parser.add_argument("--report-only", action="store_true", help="only print the table of stored results")
    args = parser.parse_args()
    root = Path(args.results_dir) if args.results_dir else paths.results_dir()
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    done = []
    for name in names:
        prepared = dataset_path(name).exists()
        missing = sources_missing(REGISTRY[name]) if name in REGISTRY and not prepared else []
        if missing:
            print(f"skip {name}: sources missing ({missing[0]})")
            continue
        try:
            target = str(first_queries(name, args.queries)) if args.queries else name
            if not args.report_only:
                options = runner.RunOptions(runs=args.runs, force=args.force, results_root=root, modes=("batch",),
                                        jobs=args.jobs, use_all_cores=args.jobs > 1)
                runner.run_sweep([a.strip() for a in args.algorithms.split(",") if a.strip()], target, options)
        except DatasetError as exc:
            print(f"skip {name}: {exc}")
            continue
        done.append(subset_name(name, args.queries) if args.queries else name)
    table = pd.DataFrame([row(name, results.load(root, name)) for name in done])
    print()
    print(tabulate(table, headers="keys", showindex=False, floatfmt=".2f"))
    board = pd.DataFrame([r for name in done for r in leaderboard(name, results.load(root, name))])
    if len(board):
        print()
        print(tabulate(board, headers="keys", showindex=False, floatfmt=",.0f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

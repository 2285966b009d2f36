"""The BM25 engines on the text datasets: agreement with the reference BM25, retrieval quality, speed.

    .venv/bin/python benchmarks/lexical_suite.py [--datasets a,b,...] [--algorithms a,b,...] [--runs 3] [--jobs 1]
                                                 [--results-dir DIR] [--force] [--report-only]

Each text dataset (default: cranfield-text, cisi-text, limit-text) is swept with ``annsweep run`` from
the shipped config.yml of every BM25 engine (pyserini-bm25, pisa-bm25, tantivy-bm25, bm25s), batch
mode, ``--runs`` repeats.  The table, from trusted runs: per dataset and series, at k1 0.9 / b 0.4
where the engine takes them (tantivy's are fixed at 1.2 / 0.75), recall@10 against the dataset's
reference BM25 (Lucene's English analysis, k1 0.9, b 0.4: how far the engine's ranking is from it),
nDCG@10 against the qrels, and QPS; one row per build (tantivy's tokenizers, bm25s's), runs of
other k1/b left out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import paths, results  # noqa: E402
from harness.run import runner  # noqa: E402

DATASETS = ["cranfield-text", "cisi-text", "limit-text"]
ALGORITHMS = ["pyserini-bm25", "pisa-bm25", "tantivy-bm25", "bm25s"]
ANSERINI = {"k1": 0.9, "b": 0.4}


def at_anserini_setting(run: pd.Series) -> bool:
    """True when the run's k1/b are 0.9/0.4, or the engine has no k1/b to set."""
    params = {**json.loads(run["build_params"] or "{}"), **json.loads(run["query_params"] or "{}")}
    return all(params.get(name, value) == value for name, value in ANSERINI.items())


def table(root: Path, datasets: list[str]) -> pd.DataFrame:
    rows = []
    for dataset in datasets:
        frame = results.load(root, dataset)
        if frame.empty:
            continue
        ok = frame[(frame["status"] == "ok") & (frame["mode"] == "batch") & (frame["k"] == 10)]
        ok = ok.assign(series=results.series_of(ok), trusted=results.trusted(ok))
        for (series, build), every in ok.groupby(["series", "build"], sort=True):
            runs = every[every["trusted"] & every.apply(at_anserini_setting, axis=1)]
            if not every.apply(at_anserini_setting, axis=1).any():
                continue  # another k1/b
            if runs.empty:
                rows.append({"dataset": dataset, "series": series, "build": build, "flagged": len(every)})
                continue
            best = runs.loc[runs["qps"].idxmax()]
            params = {**json.loads(best["build_params"] or "{}"), **json.loads(best["query_params"] or "{}")}
            rows.append({"dataset": dataset, "series": series, "build": build,
                         "k1/b": "0.9/0.4" if "k1" in params else "fixed",
                         "recall@10 vs reference": best["recall"], "nDCG@10": best["nDCG@10"], "qps": best["qps"],
                         "flagged": len(every) - int(every["trusted"].sum())})
    return pd.DataFrame(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="builds at once, each on its own core")
    parser.add_argument("--results-dir", default=None)
    parser.add_argument("--force", action="store_true", help="rerun builds that have results")
    parser.add_argument("--report-only", action="store_true", help="only print the table of stored results")
    args = parser.parse_args()
    root = Path(args.results_dir) if args.results_dir else paths.results_dir()
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if not args.report_only:
        options = runner.RunOptions(runs=args.runs, force=args.force, results_root=root, modes=("batch",),
                                        jobs=args.jobs, use_all_cores=args.jobs > 1)
        for dataset in datasets:
            runner.run_sweep([a.strip() for a in args.algorithms.split(",") if a.strip()], dataset, options)
    print(tabulate(table(root, datasets), headers="keys", showindex=False, floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Stored results as tables: every run of every result file under a folder as one pandas row
(:func:`load`), the curve each run is drawn on (:func:`series_of`), and the summaries the command
line prints (:func:`summarize`, :func:`run_table`).  Reading only: result files are written by
:mod:`harness.results.files`.

Every run carries two recalls@k (see the README, "Two recall conventions"): ``recall``, annsweep's
tie-aware one (a hit within a relative 1e-5 of the k-th true distance), and ``recall_ab``,
ann-benchmarks' (within d_k + 1e-3, absolute).  Files written before ``recall_ab`` existed read NaN
there (:func:`recall_note` says how many runs).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from harness import paths
from harness.results.files import plain

RUN_COLUMNS = [
    "dataset", "k", "algorithm", "series", "build", "mode", "threads", "status", "recall", "recall_ab", "qps",
    "query_params",
    "build_params",
    "build_time_s", "index_size_bytes", "rss_delta_bytes", "uss_delta_bytes", "best_time_s", "repeat_times_s",
    "peak_rss_bytes", "index_cache", "index_load_time_s",
    "repeat_spread", "latency_p50_us", "latency_p95_us", "latency_p99_us", "latency_p999_us", "cpu_ratio",
    "other_threads_cpu_s", "contention_s", "outside_wait_s", "storage_read_bytes", "active_threads", "num_threads",
    "affinity", "single_thread_ok", "canary_time_s", "cache_ratio", "caching_suspected", "warmup_s",
    "nDCG@10", "R@2", "R@10", "R@100", "RR@10", "extra_metrics", "environment", "error", "file",
]


# --recall: which convention a table, figure or leaderboard ranks by, and the run column holding it.
RECALL_CONVENTIONS = {"tie-aware": "recall", "ab": "recall_ab"}
RECALL_DESCRIPTIONS = {"tie-aware": "tie-aware, rel 1e-5", "ab": "ann-benchmarks, abs 1e-3"}


def recall_column(convention: str) -> str:
    """The run column of a recall convention (``tie-aware`` → ``recall``, ``ab`` → ``recall_ab``)."""
    try:
        return RECALL_CONVENTIONS[convention]
    except KeyError:
        raise ValueError(f"unknown recall convention {convention!r} (known: "
                         f"{', '.join(RECALL_CONVENTIONS)})") from None


def recall_note(frame: pd.DataFrame, convention: str = "ab") -> str:
    """A line naming the successful runs without a value of ``convention``'s recall (result files
    written before annsweep stored ann-benchmarks' recall), or "" when every run has it."""
    column = recall_column(convention)
    ok = frame[frame["status"] == "ok"]
    missing = int(pd.to_numeric(ok.get(column, pd.Series(np.nan, index=ok.index)), errors="coerce").isna().sum())
    if not missing:
        return ""
    return (f"note: {missing} of {len(ok)} run(s) have no {column} ({RECALL_DESCRIPTIONS[convention]}): their "
            f"result files predate it; shown as NaN, never ranked")


def iter_result_files(root: Path, dataset: str | None = None) -> Iterator[Path]:
    root = Path(root)
    base = root / dataset if dataset else root
    if not base.exists():
        return
    for path in sorted(base.rglob("*.h5")):
        if not path.name.startswith("."):
            yield path


def read_runs(path: Path) -> list[dict[str, Any]]:
    """One dict per run (query setting × mode) in a result file; a failed build with no run gives one row."""
    with h5py.File(path, "r") as f:
        top = {k: plain(v) for k, v in f.attrs.items()}
        base = {
            "dataset": top.get("dataset"), "k": top.get("k"), "algorithm": top.get("algorithm"),
            "build": top.get("build_slug"), "build_params": top.get("build_params", "{}"),
            "threads": top.get("threads", 1),  # files written before --threads: one thread
            "build_time_s": top.get("build_time_s", np.nan),
            "index_size_bytes": top.get("index_size_bytes", np.nan),
            "rss_delta_bytes": top.get("rss_delta_bytes", np.nan),
            "uss_delta_bytes": top.get("uss_delta_bytes", np.nan),
            "peak_rss_bytes": top.get("peak_rss_bytes", np.nan),  # -1: unknown; absent from older files
            "index_cache": top.get("index_cache", ""),  # --index-cache: "loaded", "saved" or ""
            "index_load_time_s": top.get("index_load_time_s", np.nan),
            "environment": top.get("environment", "{}"),
            "file": str(path),
        }
        rows = []
        runs = f.get("runs")
        for name in sorted(runs) if runs is not None else []:
            attrs = {k: plain(v) for k, v in runs[name].attrs.items()}
            row = {**base, **{c: attrs.get(c) for c in RUN_COLUMNS if c in attrs}}
            row["series"] = attrs.get("series") or top.get("algorithm")  # the curve it is drawn on
            row["status"] = attrs.get("status", "ok")
            row["error"] = attrs.get("error", "")
            rows.append(row)
        if top.get("status") != "ok" and not any(r["status"] != "ok" for r in rows):
            rows.append({**base, "series": top.get("algorithm"), "status": "failed",
                         "error": top.get("error", "unknown error")})
    for row in rows:
        check_row(row)
    return rows


MODE_PATTERN = re.compile(r"single|batch|batch-([2-9]|[1-9][0-9]+)t")


def mode_threads(mode: object) -> int | None:
    """The threads of a run mode: 1 for ``single`` and ``batch``, N for ``batch-Nt`` (N >= 2), None for
    anything else (``batch-1t`` too: one thread is ``batch``)."""
    match = MODE_PATTERN.fullmatch(mode) if isinstance(mode, str) else None
    if match is None:
        return None
    return int(match.group(1)) if match.group(1) else 1


def threaded_mode(threads: int) -> str:
    """The batch mode of ``threads`` threads: ``batch`` for one, ``batch-Nt`` for N (kept apart everywhere)."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    return "batch" if threads == 1 else f"batch-{threads}t"


def check_row(row: dict[str, Any]) -> None:
    """Refuse (ValueError) a row no run of annsweep could have written: the tables, plots and
    leaderboard then never rank a recall of 1.5 or an infinite QPS."""
    for key in ("dataset", "algorithm"):
        if not isinstance(row.get(key), str) or not row[key]:
            raise ValueError(f"attribute {key!r} is {row.get(key)!r}, not a name")
    if isinstance(row.get("k"), bool) or not isinstance(row.get("k"), int) or row["k"] < 1:
        raise ValueError(f"attribute 'k' is {row.get('k')!r}, not a positive integer")
    if row["status"] != "ok":
        return
    threads = mode_threads(row.get("mode"))
    if threads is None:
        raise ValueError(f"a run's mode is {row.get('mode')!r} (single, batch or batch-<N>t with N >= 2)")
    if row.get("threads", 1) != threads:
        raise ValueError(f"a run in mode {row['mode']!r} is in a file of {row.get('threads')!r} thread(s)")
    for key, low, high in (("recall", 0.0, 1.0), ("qps", 0.0, np.inf), ("best_time_s", 0.0, np.inf)):
        value = row.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) \
                or not low <= value <= high or (key != "recall" and value == 0):
            raise ValueError(f"a run's {key} is {value!r}")
    value = row.get("recall_ab")  # absent (or NaN) in files written before it was stored
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                              or not (np.isnan(value) or 0.0 <= value <= 1.0)):
        raise ValueError(f"a run's recall_ab is {value!r}")


def load(root: Path | str | None = None, dataset: str | None = None) -> pd.DataFrame:
    """All runs under ``root`` (default ``paths.results_dir()``) as a DataFrame, one row per run."""
    root = Path(root) if root is not None else paths.results_dir()
    rows = []
    for path in iter_result_files(root, dataset):
        try:
            rows.extend(read_runs(path))
        except Exception as exc:  # one bad file must not hide the others: skipped, named
            print(f"annsweep: skipping {path}: not a readable result file ({type(exc).__name__}: {exc})",
                  file=sys.stderr)
    frame = pd.DataFrame(rows, columns=RUN_COLUMNS)
    return frame


def trusted(frame: pd.DataFrame) -> pd.Series:
    """Runs that count: succeeded, passed the single-thread proof and were not answered from a cache
    (a run without a flag, e.g. an older file, counts)."""
    ok = frame["status"] == "ok"
    proof = frame["single_thread_ok"] if "single_thread_ok" in frame else pd.Series(True, index=frame.index)
    cache = frame["caching_suspected"] if "caching_suspected" in frame else pd.Series(False, index=frame.index)
    return ok & (proof.astype("object") != False) & (cache.astype("object") != True)  # noqa: E712


def summarize(frame: pd.DataFrame, threshold: float = 0.9, recall: str = "tie-aware") -> pd.DataFrame:
    """Per (dataset, k, series, mode): runs, failures, best recall, and the best QPS at recall ≥ threshold
    among the trusted runs (flagged ones are counted, never picked).

    ``recall`` is the convention thresholded (``tie-aware`` or ``ab``); the columns are named after
    it (``max_recall``/``recall`` or ``max_recall_ab``/``recall_ab``), and the best run's recall
    under the other convention is shown beside it.  A series is the algorithm, or one method of an
    adapter that stands for several (a pipeline's shape).
    """
    column = recall_column(recall)
    other = recall_column("ab" if recall == "tie-aware" else "tie-aware")
    rows = []
    frame = frame.assign(series=series_of(frame), trusted=trusted(frame))
    for name in (column, other):  # absent from a hand-made table, NaN in files before recall_ab
        frame[name] = pd.to_numeric(frame[name], errors="coerce") if name in frame else np.nan
    for (dataset, k, algorithm, mode), g in frame.groupby(["dataset", "k", "series", "mode"], dropna=False,
                                                          sort=True):
        ok = g[g["status"] == "ok"]
        above = ok[ok["trusted"] & (ok[column] >= threshold)]
        best = above.loc[above["qps"].idxmax()] if len(above) else None
        rows.append({
            "dataset": dataset, "k": k, "algorithm": algorithm, "mode": mode, "runs": len(ok),
            "failed": int((g["status"] != "ok").sum()),
            f"max_{column}": ok[column].max() if len(ok) else np.nan,
            f"qps@{threshold:g}": best["qps"] if best is not None else np.nan,
            column: best[column] if best is not None else np.nan,
            other: best[other] if best is not None else np.nan,
            **({"nDCG@10": best["nDCG@10"] if best is not None else np.nan}
               if ok["nDCG@10"].notna().any() else {}),  # datasets with qrels
            "params": (f"{best['build']} {best['query_params']}" if best is not None else ""),
            "not_single_thread": int((ok["single_thread_ok"] == False).sum()),  # noqa: E712
            "caching_suspected": int((ok["caching_suspected"] == True).sum()),  # noqa: E712
        })
    return pd.DataFrame(rows)


def series_of(frame: pd.DataFrame) -> pd.Series:
    """The curve of each run: its ``series`` (the algorithm when a row has none)."""
    if "series" not in frame:
        return frame["algorithm"]
    return frame["series"].where(frame["series"].notna(), frame["algorithm"])


TASK_COLUMNS = ("nDCG@10", "R@2", "R@10", "R@100", "RR@10")


def run_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every successful run as one row: series, settings, quality (kNN recall and the qrels metrics
    the runs have), QPS and index size; sorted by dataset, k, mode, series and QPS (fastest first)."""
    ok = frame[frame["status"] == "ok"]
    size = pd.to_numeric(ok["index_size_bytes"], errors="coerce")
    ok = ok.assign(series=series_of(ok), index_mib=size.where(size >= 0) / 2**20)
    task = [c for c in TASK_COLUMNS if c in ok and ok[c].notna().any()]
    columns = ["dataset", "k", "mode", "series", "build", "query_params", "recall", "recall_ab", *task, "qps",
               "index_mib"]
    table = ok[columns].sort_values(["dataset", "k", "mode", "series", "qps"],
                                    ascending=[True, True, True, True, False])
    return table.reset_index(drop=True)

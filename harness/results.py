"""Result files: one HDF5 file per build, one group per (query setting, mode).

Path: ``results/<dataset>/k=<k>/<algorithm>/<build-slug>.h5``.

File attrs: ``algorithm``, ``dataset``, ``k``, ``build_params`` (JSON),
``status`` (``ok`` | ``failed``), ``error``, ``build_time_s``, memory
deltas, ``index_size_bytes``, ``environment`` (JSON).  Each group
``runs/<nnn>-<mode>`` holds ``neighbors`` (nq×k ids), ``scores`` (their exact
distances, smaller is closer), ``latencies_ns`` (repeats×nq, single mode) and
attrs with the query params (JSON), every repeat's wall time, ``qps``,
``recall``, the single-thread proof and ``series`` (the curve the run is drawn on: the
algorithm's name, or e.g. a pipeline's shape).

A result file is written under a temporary name and renamed when complete,
so a killed run never leaves a half-written ``.h5``.  Reading never writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

FORMAT_VERSION = 1
TMP_MARKER = ".tmp-"


def results_dir() -> Path:
    return Path(os.environ.get("ANNSWEEP_RESULTS_DIR", "results"))


def result_path(root: Path, dataset: str, k: int, algorithm: str, build_slug: str) -> Path:
    return Path(root) / dataset / f"k={k}" / algorithm / f"{build_slug}.h5"


def temp_path(final: Path) -> Path:
    """Where a result is written before it is complete (hidden, never loaded)."""
    return final.with_name(f".{final.name}{TMP_MARKER}{os.getpid()}")


def stale_temp_files(final: Path) -> list[Path]:
    return sorted(final.parent.glob(f".{final.name}{TMP_MARKER}*"))


def read_status(path: Path) -> tuple[str, str] | None:
    """(status, error) of a readable result file; None if absent or unreadable."""
    try:
        with h5py.File(path, "r") as f:
            return str(_plain(f.attrs.get("status", "failed"))), str(_plain(f.attrs.get("error", "")))
    except OSError:
        return None


def write_attrs(obj: h5py.HLObject, values: dict[str, Any]) -> None:
    """Store attrs; dicts and lists become JSON, None becomes an empty string."""
    for key, value in values.items():
        if value is None:
            value = ""
        elif isinstance(value, (dict, list, tuple)) and not isinstance(value, np.ndarray):
            value = json.dumps(value, sort_keys=True, default=str)
        obj.attrs[key] = value


def mark_failed(final: Path, partial: Path | None, error: str, base_attrs: dict[str, Any]) -> Path:
    """Record a failed build at ``final``, keeping any complete groups from ``partial``."""
    final.parent.mkdir(parents=True, exist_ok=True)
    source = None
    if partial is not None and partial.exists():
        try:
            with h5py.File(partial, "r+") as f:
                write_attrs(f, {**{k: v for k, v in base_attrs.items() if k not in f.attrs}, "status": "failed",
                                "error": error})
            source = partial
        except OSError:
            partial.unlink(missing_ok=True)  # corrupt: the worker died while writing it
    if source is None:
        source = temp_path(final)
        with h5py.File(source, "w") as f:
            write_attrs(f, {"format_version": FORMAT_VERSION, **base_attrs, "status": "failed", "error": error})
    os.replace(source, final)
    return final


# --- reading -----------------------------------------------------------------------------------

RUN_COLUMNS = [
    "dataset", "k", "algorithm", "series", "build", "mode", "status", "recall", "qps", "query_params", "build_params",
    "build_time_s", "index_size_bytes", "rss_delta_bytes", "uss_delta_bytes", "best_time_s", "repeat_times_s",
    "repeat_spread", "latency_p50_us", "latency_p95_us", "latency_p99_us", "latency_p999_us", "cpu_ratio",
    "other_threads_cpu_s", "contention_s", "active_threads", "num_threads", "affinity", "single_thread_ok", "warmup_s",
    "nDCG@10", "R@2", "R@10", "R@100", "RR@10", "extra_metrics", "environment", "error", "file",
]


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
        top = {k: _plain(v) for k, v in f.attrs.items()}
        base = {
            "dataset": top.get("dataset"), "k": top.get("k"), "algorithm": top.get("algorithm"),
            "build": top.get("build_slug"), "build_params": top.get("build_params", "{}"),
            "build_time_s": top.get("build_time_s", np.nan),
            "index_size_bytes": top.get("index_size_bytes", np.nan),
            "rss_delta_bytes": top.get("rss_delta_bytes", np.nan),
            "uss_delta_bytes": top.get("uss_delta_bytes", np.nan),
            "environment": top.get("environment", "{}"),
            "file": str(path),
        }
        rows = []
        runs = f.get("runs")
        for name in sorted(runs) if runs is not None else []:
            attrs = {k: _plain(v) for k, v in runs[name].attrs.items()}
            row = {**base, **{c: attrs.get(c) for c in RUN_COLUMNS if c in attrs}}
            row["series"] = attrs.get("series") or top.get("algorithm")  # the curve it is drawn on
            row["status"] = attrs.get("status", "ok")
            row["error"] = attrs.get("error", "")
            rows.append(row)
        if top.get("status") != "ok" and not any(r["status"] != "ok" for r in rows):
            rows.append({**base, "series": top.get("algorithm"), "status": "failed",
                         "error": top.get("error", "unknown error")})
        return rows


def load(root: Path | str | None = None, dataset: str | None = None) -> pd.DataFrame:
    """All runs under ``root`` (default ``results/``) as a DataFrame, one row per run."""
    root = Path(root) if root is not None else results_dir()
    rows = []
    for path in iter_result_files(root, dataset):
        try:
            rows.extend(read_runs(path))
        except OSError as exc:
            rows.append({"file": str(path), "status": "unreadable", "error": str(exc)})
    frame = pd.DataFrame(rows, columns=RUN_COLUMNS)
    return frame


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def summarize(frame: pd.DataFrame, threshold: float = 0.9) -> pd.DataFrame:
    """Per (dataset, series, mode): runs, failures, best recall, and the best QPS at recall ≥ threshold.

    A series is the algorithm, or one method of an adapter that stands for several (a pipeline's shape).
    """
    rows = []
    frame = frame.assign(series=series_of(frame))
    for (dataset, algorithm, mode), g in frame.groupby(["dataset", "series", "mode"], dropna=False, sort=True):
        ok = g[g["status"] == "ok"]
        above = ok[ok["recall"] >= threshold]
        best = above.loc[above["qps"].idxmax()] if len(above) else None
        rows.append({
            "dataset": dataset, "algorithm": algorithm, "mode": mode, "runs": len(ok),
            "failed": int((g["status"] != "ok").sum()),
            "max_recall": ok["recall"].max() if len(ok) else np.nan,
            f"qps@{threshold:g}": best["qps"] if best is not None else np.nan,
            "recall": best["recall"] if best is not None else np.nan,
            **({"nDCG@10": best["nDCG@10"] if best is not None else np.nan}
               if ok["nDCG@10"].notna().any() else {}),  # datasets with qrels
            "params": (f"{best['build']} {best['query_params']}" if best is not None else ""),
            "not_single_thread": int((ok["single_thread_ok"] == False).sum()),  # noqa: E712
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
    columns = ["dataset", "k", "mode", "series", "build", "query_params", "recall", *task, "qps", "index_mib"]
    table = ok[columns].sort_values(["dataset", "k", "mode", "series", "qps"],
                                    ascending=[True, True, True, True, False])
    return table.reset_index(drop=True)

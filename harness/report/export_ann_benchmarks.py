"""`annsweep results export --format ann-benchmarks`: every stored run as the result file that
ann-benchmarks itself would have written for it, so that its own ``load_all_results`` and
``compute_metrics`` (and so its plots and website) read annsweep's runs.

Layout (``out_dir`` plays the part of ann-benchmarks' ``results/`` folder, which its code finds
relative to the working directory)::

    <out_dir>/<dataset>/<k>/<algorithm>[-<N>t][-batch]/<build and query params>.hdf5

Each file is what ``ann_benchmarks.results.store_results`` writes (commit f402b2c): datasets
``times`` (per query, seconds, float32), ``neighbors`` (nq×k int32, -1 padded) and ``distances``
(nq×k float32, +inf padded), and the attrs of ``runner.run_individual_query`` and ``runner.run``:
``batch_mode``, ``best_search_time`` (seconds per query: 1 / QPS), ``candidates``, ``expect_extra``,
``name``, ``run_count``, ``distance``, ``count``, ``build_time``, ``index_size`` (kB of resident
memory the build added, as ann-benchmarks measures it), ``algo``, ``dataset``, the adapter's extra
metrics, and ``annsweep_*`` attrs (both recalls, the index size the adapter reported, the flags).

Distances: annsweep stores, for every returned id, its exact distance under *smaller is closer*:
euclidean = L2 distance and angular = 1 − cosine, which are ann-benchmarks' ``euclidean`` and
``angular`` (``ann_benchmarks/distance.py``), rounded to float32 as ann-benchmarks stores them.
ann-benchmarks has no inner-product metric; an ``ip`` run is exported with ``distance = "ip"`` and
distances −dot (its ``compute_metrics`` never reads the metric name; its own recall then applies
d_k + 1e-3 to −dot, which is annsweep's ``recall_ab`` of that run).

Modes: ``single`` → ``batch_mode`` False; ``batch`` and ``batch-Nt`` → True, the N-thread runs as
an algorithm of their own (``<algorithm>-Nt``) so ann-benchmarks' curves do not mix thread counts.
Failed builds without runs are skipped (and counted); the completed runs of a failed build are
exported, as ann-benchmarks stores each query group when it completes.  Runs flagged by the
single-thread proof or the cache canary are exported with ``annsweep_trusted = False``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from tqdm import tqdm

from harness.data.dataset import Dataset, DatasetError
from harness.data.store import dataset_path
from harness.results.files import plain
from harness.results.tables import iter_result_files, mode_threads


@dataclass
class ExportSummary:
    """What an export wrote and what it left out (and why)."""

    files: list[Path] = field(default_factory=list)
    result_files: int = 0
    untrusted: int = 0  # exported runs the single-thread proof or the cache canary flagged
    skipped: list[str] = field(default_factory=list)  # one line per result file or run left out

    def describe(self) -> str:
        text = f"exported {len(self.files)} run(s) from {self.result_files} result file(s)"
        if self.untrusted:
            text += f" ({self.untrusted} flagged: annsweep_trusted = False)"
        if self.skipped:
            text += f"; skipped {len(self.skipped)}:\n" + "\n".join(f"  {line}" for line in self.skipped)
        return text


def export_ann_benchmarks(results_dir: Path | str, out_dir: Path | str, dataset: str | None = None,
                          k: int | None = None, data_dir: Path | str | None = None,
                          progress: bool = True) -> ExportSummary:
    """Write one ann-benchmarks result file per stored run under ``results_dir`` (optionally of one
    ``dataset`` and one ``k``) into ``out_dir``; returns what was written and skipped.

    ``data_dir`` is only consulted for result files written before they recorded their distance
    (the dataset file there, if present, names it)."""
    out_dir = Path(out_dir)
    summary = ExportSummary()
    used: set[Path] = set()
    paths = list(iter_result_files(Path(results_dir), dataset))
    for path in tqdm(paths, desc="ann-benchmarks export", unit="file", disable=not progress):
        try:
            with h5py.File(path, "r") as f:
                top = {key: plain(value) for key, value in f.attrs.items()}
                if k is not None and top.get("k") != k:
                    continue
                summary.result_files += 1
                runs = f.get("runs")
                if runs is None or not len(runs):
                    summary.skipped.append(f"{path}: no run ({top.get('status', '?')}: {top.get('error', '')})")
                    continue
                distance = top.get("scored_distance") or _dataset_distance(str(top.get("dataset")), data_dir)
                if not distance:
                    summary.skipped.append(f"{path}: the file predates its distance and dataset "
                                           f"{top.get('dataset')!r} is not in the data folder to name it")
                    continue
                for name in sorted(runs):
                    group = runs[name]
                    if plain(group.attrs.get("status", "ok")) != "ok":
                        summary.skipped.append(f"{path} {name}: run status {plain(group.attrs.get('status'))}")
                        continue
                    try:  # one run that cannot be converted leaves the file's other runs exported
                        target, attrs, arrays = _convert(top, group, distance, out_dir, used)
                    except (KeyError, ValueError) as exc:
                        summary.skipped.append(f"{path} {name}: cannot be converted ({type(exc).__name__}: {exc})")
                        continue
                    _write(target, attrs, arrays)
                    used.add(target)
                    summary.files.append(target)
                    summary.untrusted += not attrs["annsweep_trusted"]
        except (OSError, KeyError, ValueError) as exc:
            summary.skipped.append(f"{path}: not a readable result file ({type(exc).__name__}: {exc})")
    return summary


def _dataset_distance(name: str, data_dir: Path | str | None) -> str:
    """The distance of dataset ``name`` from its file in the data folder ("" if it is not there)."""
    path = dataset_path(name, data_dir)
    if not path.is_file():
        return ""
    try:
        with Dataset(path, name=name) as ds:
            return ds.distance
    except DatasetError:
        return ""


def _convert(top: dict[str, Any], group: h5py.Group, distance: str, out_dir: Path,
             used: set[Path]) -> tuple[Path, dict[str, Any], dict[str, np.ndarray]]:
    """The path, attrs and datasets of one run's ann-benchmarks result file."""
    attrs = {key: plain(value) for key, value in group.attrs.items()}
    mode = str(attrs["mode"])
    threads = mode_threads(mode)
    if threads is None:
        raise ValueError(f"unknown mode {mode!r}")
    neighbors = group["neighbors"][()].astype(np.int32)
    distances = group["scores"][()].astype(np.float32)
    distances[neighbors < 0] = np.inf  # store_results pads a short answer with -1 / inf
    nq, k = neighbors.shape
    best_time_s = float(attrs["best_time_s"])
    if "latencies_ns" in group:  # single mode: each query's own time in the fastest repeat
        repeats = np.atleast_1d(np.asarray(attrs.get("repeat_times_s", [best_time_s]), dtype=float))
        times = group["latencies_ns"][()][int(np.argmin(repeats))] / 1e9
    else:  # a batch: its wall time shared out, as run_individual_query does without get_batch_latencies
        times = np.full(nq, best_time_s / nq)
    build_params = json.loads(top.get("build_params") or "{}")
    query_params = json.loads(attrs.get("query_params") or "{}")
    algorithm = str(top["algorithm"]) + (f"-{threads}t" if threads > 1 else "")
    series = str(attrs.get("series") or top["algorithm"]) + (f"-{threads}t" if threads > 1 else "")
    batch = mode != "single"
    shown = ", ".join(f"{key}={value}" for key, value in {**build_params, **query_params}.items())
    rss = top.get("rss_delta_bytes", np.nan)
    trusted = bool(attrs.get("single_thread_ok", True)) and not bool(attrs.get("caching_suspected", False))
    out = {
        # runner.run_individual_query
        "batch_mode": batch, "best_search_time": best_time_s / nq,
        "candidates": float((neighbors >= 0).sum(axis=1).mean()), "expect_extra": False,
        "name": f"{series}({shown})", "run_count": int(top.get("runs", 1)), "distance": distance, "count": int(k),
        # runner.run
        "build_time": float(top.get("build_time_s", np.nan)),
        "index_size": float(rss) / 1024 if isinstance(rss, int | float) else np.nan,
        "algo": series, "dataset": str(top["dataset"]),
        # what annsweep knows besides
        "annsweep_recall": float(attrs.get("recall", np.nan)),
        "annsweep_recall_ab": float(attrs.get("recall_ab", np.nan)),
        "annsweep_index_size_bytes": int(top.get("index_size_bytes", -1)),
        "annsweep_mode": mode, "annsweep_build": str(top.get("build_slug", "")),
        "annsweep_query_params": json.dumps(query_params, sort_keys=True),
        "annsweep_trusted": trusted, "annsweep_qps": float(attrs.get("qps", np.nan)),
    }
    extra = json.loads(attrs.get("extra_metrics") or "{}") if isinstance(attrs.get("extra_metrics"), str) else {}
    out.update({key: value for key, value in extra.items() if isinstance(value, int | float) and key not in out})
    # build_result_filepath's file name: the definition's arguments and the query arguments as JSON.
    stem = re.sub(r"\W+", "_", json.dumps([build_params, query_params], sort_keys=True)).strip("_") or "default"
    folder = out_dir / str(top["dataset"]) / str(k) / (algorithm + ("-batch" if batch else ""))
    target, n = folder / f"{stem}.hdf5", 2
    while target in used:  # two runs with the same parameters (e.g. two series of one adapter)
        target, n = folder / f"{stem}_{n}.hdf5", n + 1
    return target, out, {"times": times.astype(np.float32), "neighbors": neighbors, "distances": distances}


def _write(target: Path, attrs: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """One file, written under a temporary name and renamed (a reader never sees half of it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            for key, value in attrs.items():
                f.attrs[key] = value
            f.create_dataset("times", data=arrays["times"], dtype="f")
            f.create_dataset("neighbors", data=arrays["neighbors"], dtype="i")
            f.create_dataset("distances", data=arrays["distances"], dtype="f")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)

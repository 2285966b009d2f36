"""BigANN-style figures from stored results: one metric against another, a Pareto frontier per algorithm.

Reads the results table only (``harness.results.load``); never writes into result files.
Figures go to ``plots/`` as PNG and SVG, named ``<dataset>_k<k>_<mode>_<y>-vs-<x>``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from harness.report.metrics import RunMetric, pareto_frontier, run_metric, with_recall  # noqa: E402
from harness.results import series_of, trusted  # noqa: E402

# The figures `annsweep plot` draws when no --x/--y is given: (x, y), recall on x ("recall" stands for
# the convention plot_dataset is given: tie-aware by default, or ann-benchmarks'; the axis label says which).
# Runs of datasets with relevance judgements also get the task-quality frontier (none drawn without them).
STANDARD_FIGURES = [("recall", "qps"), ("recall", "build_time"), ("recall", "index_size"), ("recall", "p99"),
                    ("nDCG@10", "qps")]
FORMATS = ("png", "svg")
# Recall 1.0 is infinitely far right on a logit axis: values are clipped this close to 0 and 1.
LOGIT_CLIP = 1e-4


@dataclass(frozen=True)
class Figure:
    dataset: str
    k: int
    mode: str
    x: str
    y: str
    paths: tuple[Path, ...]


def file_stem(*parts: object) -> str:
    """A file name from values read out of result files (a dataset name, a mode): only characters
    that cannot leave the output folder or hide the file; never empty."""
    text = re.sub(r"[^A-Za-z0-9@=+.,:_-]", "-", "_".join(str(p) for p in parts)).lstrip(".")
    return text[:200] or "unnamed"


def algorithm_colors(algorithms: list[str]) -> dict[str, tuple]:
    """One stable colour per algorithm name (sorted), shared by every figure of a report."""
    cmap = plt.get_cmap("tab10" if len(algorithms) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(sorted(algorithms))}


# tab20 pairs a dark and a light shade of each hue, so beyond ten series the marker tells them apart.
MARKERS = "os^Dv<>PX*"


def algorithm_marker(algorithm: str, colors: dict[str, tuple]) -> str:
    """The marker of ``algorithm``: its rank in the sorted palette, so neighbours never share one."""
    names = sorted(colors)
    return MARKERS[names.index(algorithm) % len(MARKERS)] if algorithm in colors else "o"


def machine_of(frame: pd.DataFrame) -> str:
    """'CPU model, core N' from the runs' environment records ('cores 0, 1' for one CPU model whose
    runs were pinned to several cores, 'various machines' for several CPU models)."""
    cores: dict[str, set[str]] = {}
    for text in frame["environment"].dropna():
        try:
            env = json.loads(text) if isinstance(text, str) else {}
        except json.JSONDecodeError:
            continue
        cores.setdefault(str(env.get("cpu_model", "?")), set()).add(str(env.get("core", "?")))
    if len(cores) != 1:
        return "various machines" if cores else "unknown machine"
    model, used = cores.popitem()
    return f"{model}, core{'s' if len(used) > 1 else ''} {', '.join(sorted(used))}"


def ok_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs figures and the leaderboard draw on: successful, single-threaded, not from a cache."""
    return frame[trusted(frame)]


def draw(frame: pd.DataFrame, x: RunMetric, y: RunMetric, *, title: str, k: int, colors: dict[str, tuple],
         raw: bool = False, x_scale: str | None = None) -> plt.Figure | None:
    """One figure: each series' Pareto frontier of (x, y); None when no run has both values.

    A series is an algorithm, or one method of an adapter that stands for several (a pipeline's
    re-rank or fusion): the ``series`` column of the results table.
    """
    xs, ys = x.values(frame), y.values(frame)
    have = ~(xs.isna() | ys.isna())
    if not have.any():
        return None
    fig, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    logit = x_scale == "logit"
    series = series_of(frame)
    for algorithm in sorted(series[have].unique()):
        mine = (series == algorithm) & have
        px, py = xs[mine].to_numpy(), ys[mine].to_numpy()
        if logit:
            px = np.clip(px, LOGIT_CLIP, 1 - LOGIT_CLIP)
        front = pareto_frontier(px, py, x.higher_is_better, y.higher_is_better)
        color = colors.get(algorithm, "black")
        if raw:
            ax.scatter(px, py, color=color, alpha=0.2, s=12, linewidths=0)
        ax.plot(px[front], py[front], "-", marker=algorithm_marker(algorithm, colors), color=color,
                label=algorithm, markersize=4.5, linewidth=1.5)
    if x.reference is not None:
        ax.axvline(x.reference, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("logit" if logit else "log" if x.log_scale and x_scale != "linear" else "linear")
    ax.set_yscale("log" if y.log_scale else "linear")
    ax.set_xlabel(x.label.format(k=k))
    ax.set_ylabel(y.label.format(k=k))
    ax.set_title(title, fontsize=10)
    missing = int(xs.isna().sum() if x.name == "recall_ab" else ys.isna().sum() if y.name == "recall_ab" else 0)
    if missing:  # result files written before ann-benchmarks' recall was stored: said, not hidden
        ax.annotate(f"{missing} run(s) without recall_ab (older result files) not drawn", (0.01, 0.01),
                    xycoords="axes fraction", fontsize=7, color="grey")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)  # never over the data
    return fig


def plot_dataset(frame: pd.DataFrame, out_dir: Path, *, pairs: list[tuple[str, str]] | None = None,
                 raw: bool = False, x_scale: str | None = None,
                 colors: dict[str, tuple] | None = None, recall: str = "tie-aware") -> list[Figure]:
    """Every figure for every (dataset, k, mode) in ``frame``; returns what was written.

    ``recall`` (``tie-aware`` or ``ab``) is the convention the metric ``recall`` of ``pairs`` stands
    for (``recall_ab`` can also be named directly); figure files are named after the metric drawn."""
    pairs = pairs or STANDARD_FIGURES
    metrics = [(run_metric(with_recall(a, recall)), run_metric(with_recall(b, recall))) for a, b in pairs]
    frame = ok_runs(frame)
    colors = colors or algorithm_colors(list(series_of(frame).unique()))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for (dataset, k, mode), group in frame.groupby(["dataset", "k", "mode"], sort=True):
        title = f"{dataset} · k={k} · {mode} mode\n{machine_of(group)}"
        for x, y in metrics:
            fig = draw(group, x, y, title=title, k=int(k), colors=colors, raw=raw, x_scale=x_scale)
            if fig is None:  # e.g. p99 latency exists in single mode only
                continue
            stem = file_stem(dataset, f"k{k}", mode, f"{y.name}-vs-{x.name}")
            paths = tuple(out_dir / f"{stem}.{fmt}" for fmt in FORMATS)
            for path in paths:
                fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(Figure(dataset, int(k), mode, x.name, y.name, paths))
    return written

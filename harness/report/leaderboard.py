"""The leaderboard: per dataset, k and mode, each algorithm's best QPS at recall ≥ a threshold.

Reads the results table only.  Written as a terminal table, CSV, Markdown and a bar chart.  The
recall thresholded is one of two conventions (``recall``: tie-aware, the default; ``recall_ab``:
ann-benchmarks'); the board keeps both of the best run, and every heading names the one ranked by.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness import results
from harness.report import formats, plots
from harness.report.metrics import RunMetric, recall_metric, run_metric

GROUP = ["dataset", "k", "mode"]
COLUMNS = [
    "dataset", "k", "mode", "rank", "algorithm", "qps", "recall", "recall_ab", "max_recall", "build", "query_params",
    "build_time_s", "index_mib", "peak_rss_mib", "repeat_spread", "cpu_ratio", "contention_s", "runs", "flagged",
]


def best_point(runs: pd.DataFrame, threshold: float, quality: RunMetric, speed: RunMetric) -> pd.Series | None:
    """The run with the best ``speed`` among those with ``quality`` ≥ threshold (None if there is none)."""
    q, s = quality.values(runs), speed.values(runs)
    above = runs[(q >= threshold) & s.notna()]
    if above.empty:
        return None
    s = speed.values(above)
    return above.loc[s.idxmax() if speed.higher_is_better else s.idxmin()]


def leaderboard(frame: pd.DataFrame, threshold: float = 0.9, quality: str | None = None,
                speed: str = "qps", recall: str = "tie-aware") -> pd.DataFrame:
    """One row per (dataset, k, mode, algorithm), ranked by speed at quality ≥ threshold.

    ``quality`` defaults to the recall of convention ``recall`` (``tie-aware`` or ``ab``).
    Algorithms without a run above the threshold are listed last with an empty
    speed and their best quality (`max_recall`), so a missing entry is visible.
    """
    quality_metric = recall_metric(recall) if quality is None else run_metric(quality)
    speed_metric = run_metric(speed)
    ok = frame[frame["status"] == "ok"]
    # An adapter with several methods has a row per method; flagged runs are counted, never ranked.
    ok = ok.assign(series=results.series_of(ok), trusted=results.trusted(ok))
    rows = []
    for (dataset, k, mode, algorithm), runs in ok.groupby(GROUP + ["series"], sort=True):
        best = best_point(runs[runs["trusted"]], threshold, quality_metric, speed_metric)
        row = {"dataset": dataset, "k": int(k), "mode": mode, "algorithm": algorithm, "runs": len(runs),
               "flagged": int((~runs["trusted"]).sum()), "max_recall": quality_metric.values(runs).max()}
        if best is not None:
            row.update({
                "qps": _value(speed_metric, best), "recall": best["recall"],
                "recall_ab": _value(run_metric("recall_ab"), best),
                "build": best["build"], "query_params": formats.params(best["query_params"]),
                "build_time_s": best["build_time_s"],
                "index_mib": _value(run_metric("index_size"), best),
                "peak_rss_mib": _value(run_metric("peak_rss"), best),
                "repeat_spread": best["repeat_spread"], "cpu_ratio": best["cpu_ratio"],
                "contention_s": best.get("contention_s", np.nan),
            })
        rows.append(row)
    board = pd.DataFrame(rows, columns=COLUMNS)
    if board.empty:
        return board
    ascending = not speed_metric.higher_is_better
    board = board.sort_values(GROUP + ["qps"], ascending=[True, True, True, ascending], na_position="last")
    board["rank"] = board.groupby(GROUP)["qps"].rank(ascending=ascending, method="min")
    board["rank"] = board["rank"].astype("Int64")
    return board.reset_index(drop=True)


def _value(metric: RunMetric, run: pd.Series) -> float:
    return float(metric.values(run.to_frame().T).iloc[0])


def heading(threshold: float, quality: str = "recall", k: object = "k") -> str:
    """What a board ranks by, in words: e.g. "best QPS at recall@10 (ann-benchmarks, abs 1e-3) ≥ 0.9"."""
    return f"best QPS at {run_metric(quality).label.format(k=k)} ≥ {threshold:g}"


def to_markdown(board: pd.DataFrame, threshold: float, quality: str = "recall") -> str:
    """A Markdown document: one table per (dataset, k, mode); ``quality`` names the metric thresholded."""
    parts = [f"# Leaderboard: {heading(threshold, quality)}\n",
             "\n`recall` is tie-aware (a hit within a relative 1e-5 of the k-th true distance), `recall_ab` "
             "ann-benchmarks' (within d_k + 1e-3); `max_recall` is the best of the metric ranked by.\n"]
    for (dataset, k, mode), group in board.groupby(GROUP, sort=True):
        parts.append(f"\n## {dataset}, k={k}, {mode} mode\n")
        shown = group.drop(columns=GROUP).copy()
        shown["qps"] = shown["qps"].map(lambda v: f"{v:,.0f}" if pd.notna(v) else "")
        parts.append(shown.to_markdown(index=False, floatfmt=".4g") + "\n")
    return "".join(parts)


def bar_chart(board: pd.DataFrame, out_dir: Path, threshold: float,
              colors: dict[str, tuple] | None = None, quality: str = "recall") -> list[Path]:
    """One horizontal bar chart of best QPS per (dataset, k, mode); PNG and SVG."""
    import matplotlib.pyplot as plt

    colors = colors or plots.algorithm_colors(list(board["algorithm"].unique()))
    written = []
    for (dataset, k, mode), group in board.groupby(GROUP, sort=True):
        group = group[group["qps"].notna()].sort_values("qps")
        if group.empty:
            continue
        fig, ax = plt.subplots(figsize=(8, 1.2 + 0.45 * len(group)), layout="constrained")
        ax.barh(group["algorithm"], group["qps"], color=[colors.get(a, "grey") for a in group["algorithm"]])
        column = quality if quality in ("recall", "recall_ab") else "recall"
        for i, (qps, value) in enumerate(zip(group["qps"], group[column], strict=True)):
            ax.annotate(f" {qps:,.0f} ({column} {value:.3f})", (qps, i), va="center", fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel(f"Queries per second at {run_metric(quality).label.format(k=k)} ≥ {threshold:g} (1/s)")
        ax.set_title(f"{dataset} · k={k} · {mode} mode", fontsize=10)
        ax.margins(x=0.35)
        stem = plots.file_stem("leaderboard", dataset, f"k{k}", mode)
        paths = [out_dir / f"{stem}.{fmt}" for fmt in plots.FORMATS]
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in paths:
            fig.savefig(path, dpi=110)
        plt.close(fig)
        written.extend(paths)
    return written


def write(board: pd.DataFrame, out_dir: Path, threshold: float, quality: str = "recall") -> list[Path]:
    """leaderboard.csv, leaderboard.md and the bar charts in ``out_dir``; ``quality`` is the metric the
    board was ranked by (``recall_ab`` for ``leaderboard(..., recall="ab")``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv, md = out_dir / "leaderboard.csv", out_dir / "leaderboard.md"
    board.to_csv(csv, index=False)
    md.write_text(to_markdown(board, threshold, quality))
    return [csv, md, *bar_chart(board, out_dir, threshold, quality=quality)]

"""The registry of run metrics (plot axes, Pareto directions, leaderboard columns) and the Pareto
frontier they orient."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.results import recall_column


@dataclass(frozen=True)
class RunMetric:
    """A quantity of one run, read from the results table (one row per run).

    ``higher_is_better`` orients both the plot axis and the Pareto frontier;
    ``log_scale`` is the default axis scale; ``reference`` draws a dashed line.
    """

    name: str
    label: str  # "{k}" is replaced by the run's k
    values: Callable[[pd.DataFrame], pd.Series]
    higher_is_better: bool
    log_scale: bool = False
    reference: float | None = None


def _column(name: str, scale: float = 1.0, valid_min: float | None = None) -> Callable[[pd.DataFrame], pd.Series]:
    def read(frame: pd.DataFrame) -> pd.Series:
        if name not in frame:
            return pd.Series(np.nan, index=frame.index, dtype=float)
        values = pd.to_numeric(frame[name], errors="coerce").astype(float)
        if valid_min is not None:  # e.g. index_size_bytes = -1: the adapter did not report it
            values = values.where(values >= valid_min)
        return values * scale
    return read


RUN_METRICS: dict[str, RunMetric] = {m.name: m for m in [
    # Two conventions of one recall@k (README, "Two recall conventions"); the label names which.
    RunMetric("recall", "recall@{k} (tie-aware, rel 1e-5)", _column("recall"), True, reference=0.90),
    RunMetric("recall_ab", "recall@{k} (ann-benchmarks, abs 1e-3)", _column("recall_ab"), True, reference=0.90),
    RunMetric("qps", "Queries per second (1/s)", _column("qps"), True, log_scale=True),
    RunMetric("build_time", "Build time (s)", _column("build_time_s"), False, log_scale=True),
    RunMetric("index_size", "Index size (MiB)", _column("index_size_bytes", 2.0**-20, valid_min=0), False,
              log_scale=True),
    RunMetric("build_rss", "RSS growth during build (MiB)", _column("rss_delta_bytes", 2.0**-20), False,
              log_scale=True),
    # The worker's peak resident memory at the end of the build (dataset included; -1: not recorded).
    RunMetric("peak_rss", "Peak RSS of the build (MiB)", _column("peak_rss_bytes", 2.0**-20, valid_min=0), False,
              log_scale=True),
    RunMetric("p50", "p50 latency (µs)", _column("latency_p50_us"), False, log_scale=True),
    RunMetric("p99", "p99 latency (µs)", _column("latency_p99_us"), False, log_scale=True),
    # Task metrics against relevance judgements, for datasets that carry qrels (a run column
    # named after the measure, as ir-measures spells it).
    RunMetric("nDCG@10", "nDCG@10 (qrels)", _column("nDCG@10"), True),
    RunMetric("R@2", "Recall@2 of relevant documents (qrels)", _column("R@2"), True),
    RunMetric("R@10", "Recall@10 of relevant documents (qrels)", _column("R@10"), True),
    RunMetric("R@100", "Recall@100 of relevant documents (qrels)", _column("R@100"), True),
    RunMetric("RR@10", "MRR@10 (qrels)", _column("RR@10"), True),
]}


def run_metric(name: str) -> RunMetric:
    try:
        return RUN_METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r} (known: {', '.join(RUN_METRICS)})") from None


def recall_metric(convention: str = "tie-aware") -> RunMetric:
    """The recall metric of a convention: ``tie-aware`` (annsweep's, the default) or ``ab``
    (ann-benchmarks')."""
    return RUN_METRICS[recall_column(convention)]


def with_recall(name: str, convention: str = "tie-aware") -> str:
    """A metric name with "recall" standing for the chosen convention's recall (any other name as given)."""
    return recall_column(convention) if name == "recall" else name


def pareto_frontier(x: np.ndarray, y: np.ndarray, x_higher_is_better: bool = True,
                    y_higher_is_better: bool = True) -> np.ndarray:
    """Indices of the points no other point beats on both axes, in increasing x.

    A point is dropped when another is at least as good on both axes and better
    on one.  NaN points are never on the frontier.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    gx = x if x_higher_is_better else -x  # "goodness": higher is better on both
    gy = y if y_higher_is_better else -y
    valid = np.flatnonzero(~(np.isnan(x) | np.isnan(y)))
    order = valid[np.lexsort((-gy[valid], -gx[valid]))]  # best x first; ties: best y first
    keep, best_y = [], -np.inf
    for i in order:
        if gy[i] > best_y:
            keep.append(i)
            best_y = gy[i]
    keep = np.asarray(keep, dtype=np.int64)
    return keep[np.argsort(x[keep], kind="stable")]

"""Metrics: quality of returned neighbours against exact ground truth, and the registry of run
metrics (axes and Pareto directions of the plots, columns of the leaderboard)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# A returned id counts as a true neighbour when its exact distance is within
# this relative tolerance of the k-th true distance, so that ties at the k-th
# place (and float32 noise in the library) are not counted as misses.
RELATIVE_TOLERANCE = 1e-5
# Tiny absolute floor for k-th distances at (or very near) zero.
ABSOLUTE_TOLERANCE = 1e-7


class InvalidResultError(ValueError):
    """An adapter returned ids that cannot be a valid answer (duplicates, out of range)."""


def validate_ids(ids: np.ndarray, n_train: int, k: int, adapter: str) -> np.ndarray:
    """Check an nq×k id matrix (−1 = no result); return it as int64.

    Raises :class:`InvalidResultError` naming the adapter and the first bad query.
    """
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.shape[1] != k:
        raise InvalidResultError(f"adapter {adapter!r} returned an array of shape {ids.shape}, expected (nq, {k})")
    if not np.issubdtype(ids.dtype, np.integer):
        raise InvalidResultError(f"adapter {adapter!r} returned ids of dtype {ids.dtype}, expected integers")
    ids = ids.astype(np.int64, copy=False)
    bad = (ids < -1) | (ids >= n_train)
    if bad.any():
        q = int(np.argwhere(bad)[0][0])
        raise InvalidResultError(
            f"adapter {adapter!r} returned out-of-range id(s) {ids[q][bad[q]].tolist()} for query {q} "
            f"(valid ids are 0..{n_train - 1})"
        )
    s = np.sort(ids, axis=1)
    dup = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
    if dup.any():
        q = int(np.argwhere(dup)[0][0])
        values = np.unique(s[q, 1:][dup[q]]).tolist()
        raise InvalidResultError(f"adapter {adapter!r} returned duplicate id(s) {values} for query {q}")
    return ids


def knn_recall(returned_distances: np.ndarray, true_distances: np.ndarray, k: int) -> np.ndarray:
    """Tie-aware recall@k per query.

    ``returned_distances`` (nq×k) are the exact distances of the returned ids
    (+inf for a missing result); ``true_distances`` (nq×≥k) the ground truth,
    sorted, smaller is closer.
    """
    if true_distances.shape[1] < k:
        raise ValueError(f"ground truth has depth {true_distances.shape[1]}, cannot compute recall@{k}")
    kth = true_distances[:, k - 1].astype(np.float64)
    threshold = kth + np.maximum(RELATIVE_TOLERANCE * np.abs(kth), ABSOLUTE_TOLERANCE)
    hits = returned_distances[:, :k] <= threshold[:, None]
    return hits.sum(axis=1) / k


def latency_percentiles(latencies_ns: np.ndarray) -> dict[str, float]:
    """p50/p95/p99/p999 of per-query latencies, in microseconds."""
    lat = np.asarray(latencies_ns, dtype=np.float64) / 1e3
    return {
        f"latency_{name}_us": float(np.percentile(lat, q))
        for name, q in (("p50", 50), ("p95", 95), ("p99", 99), ("p999", 99.9))
    }


# --- task metrics against relevance judgements --------------------------------------------------

DEFAULT_TASK_MEASURES = ("nDCG@10", "R@10", "RR@10", "R@100")


def task_measures(k: int, names: Sequence[str] = DEFAULT_TASK_MEASURES, n_docs: int | None = None) -> list[str]:
    """The ir-measures names recorded for a run with k results per query: a dataset may name its own
    (attr ``task_measures``, e.g. LIMIT's R@2/R@10/R@100); cut-offs beyond k are left out, unless k
    covers all ``n_docs`` documents (a complete ranking: R@100 of 46 documents is R@46)."""
    complete = n_docs is not None and k >= n_docs
    return [name for name in names if complete or int(name.rpartition("@")[2] or 0) <= k]


def task_metrics(ids: np.ndarray, doc_ids: Sequence[str], query_ids: Sequence[str],
                 qrels: Mapping[str, Mapping[str, int]], k: int,
                 names: Sequence[str] = DEFAULT_TASK_MEASURES) -> dict[str, float]:
    """nDCG@10, R@10, MRR@10 (RR@10) and, for k >= 100 (or k >= all documents), R@100 of a run, with ir-measures.

    The run ranks each query's returned ids in the order the adapter returned them
    (score k - rank); -1 (no result) is skipped.  Means are over the judged queries,
    as trec_eval computes them; a judged query that returned nothing scores 0.
    """
    import ir_measures

    measures = [ir_measures.parse_measure(name) for name in task_measures(k, names, len(doc_ids))]
    run = {query_ids[q]: {doc_ids[d]: float(k - rank) for rank, d in enumerate(row) if d >= 0}
           for q, row in enumerate(np.asarray(ids))}
    judged = {qid: dict(docs) for qid, docs in qrels.items() if qid in run}
    for qid in judged:  # trec_eval skips queries absent from the run; they count as 0 here
        if not run[qid]:
            run[qid] = {"__none__": 0.0}
    values = ir_measures.calc_aggregate(measures, judged, run)
    return {str(m): float(values.get(m, 0.0)) for m in measures}


# --- the registry of run metrics: plot axes, Pareto directions, leaderboard columns -----------------

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
    RunMetric("recall", "Recall@{k}", _column("recall"), True, reference=0.90),
    RunMetric("qps", "Queries per second (1/s)", _column("qps"), True, log_scale=True),
    RunMetric("build_time", "Build time (s)", _column("build_time_s"), False, log_scale=True),
    RunMetric("index_size", "Index size (MiB)", _column("index_size_bytes", 2.0**-20, valid_min=0), False,
              log_scale=True),
    RunMetric("build_rss", "RSS growth during build (MiB)", _column("rss_delta_bytes", 2.0**-20), False,
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

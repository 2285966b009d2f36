"""How good a run's answers are: id validation, recall@k against exact ground truth under two
conventions (annsweep's tie-aware one and ann-benchmarks'), latency percentiles, and task metrics
against relevance judgements (ir-measures)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# A returned id counts as a true neighbour when its exact distance is within
# this relative tolerance of the k-th true distance, so that ties at the k-th
# place (and float32 noise in the library) are not counted as misses.
RELATIVE_TOLERANCE = 1e-5
# Tiny absolute floor for k-th distances at (or very near) zero.
ABSOLUTE_TOLERANCE = 1e-7
# ann-benchmarks' convention (ann_benchmarks/plotting/metrics.py, knn_threshold and the epsilon=1e-3
# default of get_recall_values and knn): a hit is a returned distance <= d_k + 1e-3, absolute.
AB_EPSILON = 1e-3


class InvalidResultError(ValueError):
    """An adapter returned ids that cannot be a valid answer (duplicates, out of range)."""


def answer_rows(answers: list, k: int, adapter: str) -> np.ndarray:
    """Single mode's answers (one per query) as an nq×k id matrix padded with -1, each answer checked
    as batch mode's matrix is: a 1-D array of integers, at most k of them (an empty answer is fine)."""
    ids = np.full((len(answers), k), -1, dtype=np.int64)
    for i, answer in enumerate(answers):
        a = np.asarray(answer)
        if a.size == 0:
            continue
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            raise InvalidResultError(f"adapter {adapter!r} answered query {i} with {a.dtype} values of shape "
                                     f"{a.shape}, expected a 1-D array of integer ids")
        if len(a) > k:
            raise InvalidResultError(f"adapter {adapter!r} returned {len(a)} ids for k={k} (query {i})")
        ids[i, : len(a)] = a
    return ids


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


def knn_recall_ab(returned_distances: np.ndarray, true_distances: np.ndarray, k: int) -> np.ndarray:
    """ann-benchmarks' recall@k per query ("k-nn" in its plots): a returned id is a hit when its
    distance is at most the k-th true distance + 1e-3 (absolute, whatever the distances' scale).

    Computed as ann-benchmarks computes it from the files it reads: the returned distances rounded
    to float32 (its result files store them so; annsweep's ``scores`` too), the k-th true distance
    in the dtype the dataset file stores it (pass the distances as stored: ``write_output`` writes
    float64, annsweep float32), the threshold ``d_k + 1e-3`` in that dtype (NumPy 2 keeps a float32
    plus a Python float in float32, as the scalar in its loop).  So the recall that ann-benchmarks'
    own ``compute_metrics`` gives for an exported run is this one.
    """
    if true_distances.shape[1] < k:
        raise ValueError(f"ground truth has depth {true_distances.shape[1]}, cannot compute recall@{k}")
    kth = np.asarray(true_distances[:, k - 1])
    if kth.dtype not in (np.float32, np.float64):
        kth = kth.astype(np.float64)
    threshold = kth + AB_EPSILON
    returned = np.asarray(returned_distances[:, :k], dtype=np.float32)
    hits = returned <= threshold[:, None]
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

"""Combining two rankings of the same collection (the fusion shape of the pipeline adapter).

A ranking is a pair (ids, scores), best first, from one retriever.  Two ways to fuse them:

* **convex interpolation** (Bruch, Gai, Ingber, "An Analysis of Fusion Functions for Hybrid
  Retrieval", 2023; Wang et al., "To Interpolate or not to Interpolate", 2022):
  ``α · norm(s_a) + (1 − α) · norm(s_b)`` over the union of the two candidate lists, where
  ``norm`` is min-max (to [0, 1]) or z-score (mean 0, standard deviation 1) over each list; a
  document missing from one list gets that list's minimum normalised score (it ranked below
  everything retrieved there);
* **reciprocal rank fusion** (Cormack, Clarke, Büttcher, SIGIR 2009): ``Σ 1 / (k + rank)`` with
  rank starting at 1 and k = 60; a missing document contributes nothing.

Ties in the fused score are broken by document id, so a fused ranking is deterministic.
"""

from __future__ import annotations

import numpy as np

RRF_K = 60


def normalise(scores: np.ndarray, method: str) -> np.ndarray:
    """Scores of one candidate list, min-max or z-score normalised (a constant list becomes 0)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    if method == "minmax":
        span = scores.max() - scores.min()
        return (scores - scores.min()) / span if span > 0 else np.zeros_like(scores)
    if method == "zscore":
        std = scores.std()
        return (scores - scores.mean()) / std if std > 0 else np.zeros_like(scores)
    raise ValueError(f"unknown normalisation {method!r} (minmax or zscore)")


def _order(ids: np.ndarray, fused: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((ids, -fused))[:k]  # by fused score, ties by id
    return ids[order], fused[order]


def interpolate(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], alpha: float, k: int,
                method: str = "minmax") -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of ``alpha · norm(a) + (1 − alpha) · norm(b)`` over the union of both lists."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    ids = np.union1d(np.asarray(a[0]), np.asarray(b[0])).astype(np.int64)
    fused = np.zeros(len(ids))
    for (list_ids, scores), weight in ((a, alpha), (b, 1 - alpha)):
        list_ids = np.asarray(list_ids, dtype=np.int64)
        if list_ids.size == 0:
            continue
        norm = normalise(scores, method)
        column = np.full(len(ids), norm.min())  # absent from this list: below all it retrieved
        column[np.searchsorted(ids, list_ids)] = norm
        fused += weight * column
    return _order(ids, fused, k)


def reciprocal_rank_fusion(rankings: list[np.ndarray], k: int, rrf_k: int = RRF_K) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` by ``Σ 1 / (rrf_k + rank)`` over the rankings (ids best first, rank from 1)."""
    ids = np.unique(np.concatenate([np.asarray(r, dtype=np.int64) for r in rankings])) if rankings else np.zeros(0, int)
    fused = np.zeros(len(ids))
    for ranking in rankings:
        ranking = np.asarray(ranking, dtype=np.int64)
        fused[np.searchsorted(ids, ranking)] += 1.0 / (rrf_k + np.arange(1, len(ranking) + 1))
    return _order(ids, fused, k)

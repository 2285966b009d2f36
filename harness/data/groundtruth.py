"""Exact distances and exact ground truth (the top-100 of every query by brute force).

``distances`` always follow the ann-benchmarks rule *smaller is closer*: euclidean → L2
distance, angular → 1 − cosine, ip → −(inner product).  Ground truth is exact: candidates from a
brute-force search, then re-scored in float64 so that near-ties are ordered by their true distance.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from harness.data.dataset import GROUND_TRUTH_DEPTH, Matrix


def distances_of(train: Matrix, queries: Matrix, ids: np.ndarray, distance: str) -> np.ndarray:
    """Exact float64 distance between each query and each of its ``ids`` (−1 → +inf).

    ``ids`` is nq×k; the result has the same shape and follows *smaller is closer*.
    """
    ids = np.asarray(ids)
    nq, k = ids.shape
    valid = (ids >= 0) & (ids < train.shape[0])
    safe = np.where(valid, ids, 0)
    out = np.empty((nq, k), dtype=np.float64)
    if sp.issparse(train):
        q = sp.csr_matrix(queries, dtype=np.float64)
        t = sp.csr_matrix(train, dtype=np.float64)
        for i in range(nq):
            out[i] = -(t[safe[i]] @ q[i].T).toarray().ravel()
    else:
        q = np.asarray(queries, dtype=np.float64)
        block = max(1, (1 << 23) // max(1, k * train.shape[1]))  # ~64 MiB of float64 per block
        for start in range(0, nq, block):
            stop = min(nq, start + block)
            x = np.asarray(train[safe[start:stop]], dtype=np.float64)  # b×k×d
            qq = q[start:stop, None, :]
            if distance == "euclidean":
                out[start:stop] = np.sqrt(((x - qq) ** 2).sum(-1))
            elif distance == "angular":
                dot = (x * qq).sum(-1)
                norms = np.linalg.norm(x, axis=-1) * np.linalg.norm(qq, axis=-1)
                out[start:stop] = 1.0 - dot / np.maximum(norms, 1e-30)
            elif distance == "ip":
                out[start:stop] = -(x * qq).sum(-1)
            else:
                raise ValueError(f"unknown distance {distance!r}")
    out[~valid] = np.inf
    return out


def compute_ground_truth(
    train: Matrix, test: Matrix, distance: str, depth: int = GROUND_TRUTH_DEPTH, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``depth`` neighbours of every test point: (ids int32, distances float32).

    Candidates come from brute force (faiss flat for dense, blocked scipy
    products for sparse) with a margin, and are re-ranked in float64.
    """
    n = train.shape[0]
    depth = min(depth, n)
    margin = min(n, depth + 32)
    nq = test.shape[0]
    ids = np.empty((nq, depth), dtype=np.int32)
    dist = np.empty((nq, depth), dtype=np.float32)
    # faiss's flat search is much faster per query on large blocks; sparse blocks are
    # bounded by the dense block×n score matrix they produce.
    block = 4096 if not sp.issparse(train) else 256
    search = _dense_candidates(train, distance) if not sp.issparse(train) else None
    train_t = sp.csr_matrix(train).T.tocsr() if sp.issparse(train) else None
    for start in tqdm(range(0, nq, block), desc="ground truth", unit="block", disable=not progress):
        stop = min(nq, start + block)
        if search is not None:
            cand = search(np.ascontiguousarray(test[start:stop], dtype=np.float32), margin)
        else:
            scores = (sp.csr_matrix(test[start:stop]) @ train_t).toarray()
            cand = np.argpartition(-scores, margin - 1, axis=1)[:, :margin] if margin < n else np.tile(
                np.arange(n), (stop - start, 1)
            )
        d = distances_of(train, test[start:stop], cand, distance)
        order = np.lexsort((cand, d), axis=1)[:, :depth]  # by distance, ties by id
        ids[start:stop] = np.take_along_axis(cand, order, 1)
        dist[start:stop] = np.take_along_axis(d, order, 1)
    return ids, dist


def _dense_candidates(train: np.ndarray, distance: str):
    import faiss

    x = np.ascontiguousarray(train, dtype=np.float32)
    if distance == "angular":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    index = faiss.IndexFlatL2(x.shape[1]) if distance == "euclidean" else faiss.IndexFlatIP(x.shape[1])
    index.add(x)

    def search(q: np.ndarray, k: int) -> np.ndarray:
        if distance == "angular":
            q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
        return index.search(q, k)[1]

    return search

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
        t = train if sp.isspmatrix_csr(train) else sp.csr_matrix(train)  # rows cast below, not the whole matrix
        for i in range(nq):
            out[i] = -(t[safe[i]].astype(np.float64) @ q[i].T).toarray().ravel()
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

    Candidates come from brute force over chunks of the documents (faiss flat search for dense,
    blocks of sparse products for sparse), each chunk's best ``depth + 32`` merged in a heap, then
    re-ranked in float64.  Memory stays bounded by the chunk sizes, whatever the collection's size.
    """
    n = train.shape[0]
    depth = min(depth, n)
    margin = min(n, depth + 32)
    nq = test.shape[0]
    if sp.issparse(train):
        cand = _sparse_candidates(sp.csr_matrix(train), sp.csr_matrix(test), margin, progress)
    else:
        cand = _dense_candidates(train, test, distance, margin, progress)
    ids = np.empty((nq, depth), dtype=np.int32)
    dist = np.empty((nq, depth), dtype=np.float32)
    block = 1024
    for start in tqdm(range(0, nq, block), desc="ground truth: exact re-rank", unit="block",
                      disable=not progress or nq <= block):
        stop = min(nq, start + block)
        c = cand[start:stop]
        d = distances_of(train, test[start:stop], c, distance)
        order = np.lexsort((c, d), axis=1)[:, :depth]  # by distance, ties by id
        ids[start:stop] = np.take_along_axis(c, order, 1)
        dist[start:stop] = np.take_along_axis(d, order, 1)
    return ids, dist


# Documents per chunk, and the bytes a block of sparse scores may take (the product, its dense
# copy and argpartition's indices: ~16 bytes a score): ~0.5 GiB at any collection size.
DOC_CHUNK = 1 << 18
SCORE_BUDGET_BYTES = 1 << 29


def _doc_chunks(n: int) -> range:
    return range(0, n, DOC_CHUNK)


def _dense_candidates(train: np.ndarray, test: np.ndarray, distance: str, margin: int,
                      progress: bool) -> np.ndarray:
    """The ``margin`` nearest of every query by faiss flat search, one chunk of documents at a time."""
    import faiss
    from faiss.contrib.exhaustive_search import knn_ground_truth

    def unit(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30) if distance == "angular" else x

    chunks = _doc_chunks(train.shape[0])
    blocks = (unit(train[s:s + DOC_CHUNK]) for s in tqdm(chunks, desc="ground truth: documents", unit="chunk",
                                                          disable=not progress or len(chunks) < 2))
    metric = faiss.METRIC_L2 if distance == "euclidean" else faiss.METRIC_INNER_PRODUCT
    return knn_ground_truth(unit(test), blocks, margin, metric_type=metric)[1]


def _sparse_candidates(train: sp.csr_matrix, test: sp.csr_matrix, margin: int, progress: bool) -> np.ndarray:
    """The ``margin`` highest inner products of every query: per chunk of documents, blocks of queries
    times the chunk's transpose, each block's best kept in a faiss ResultHeap."""
    import faiss

    nq = test.shape[0]
    heap = faiss.ResultHeap(nq, margin, keep_max=True)
    chunks = _doc_chunks(train.shape[0])
    bar = tqdm(total=len(chunks) * nq, desc="ground truth: queries × document chunks", unit="query",
               disable=not progress, unit_scale=True)
    for s in chunks:
        chunk_t = train[s:s + DOC_CHUNK].T.tocsr()
        size = chunk_t.shape[1]
        keep = min(margin, size)
        block = max(1, SCORE_BUDGET_BYTES // (16 * size))
        scores_k = np.full((nq, margin), -np.inf, dtype=np.float32)
        ids_k = np.full((nq, margin), -1, dtype=np.int64)
        for start in range(0, nq, block):
            stop = min(nq, start + block)
            scores = (test[start:stop] @ chunk_t).toarray()
            best = np.argpartition(-scores, keep - 1, axis=1)[:, :keep] if keep < size else \
                np.tile(np.arange(size), (stop - start, 1))
            scores_k[start:stop, :keep] = np.take_along_axis(scores, best, 1)
            ids_k[start:stop, :keep] = best + s
            bar.update(stop - start)
            del scores
        heap.add_result(scores_k, ids_k)
    bar.close()
    heap.finalize()
    return heap.I

"""Exact brute-force search: the baseline every other adapter is measured against.

Dense data uses a faiss flat index (``IndexFlatL2`` for euclidean,
``IndexFlatIP`` for inner product; angular normalises train and queries and
uses inner product).  Sparse data (distance ``ip``) uses an inverted index
built with scipy: the train matrix is kept as CSC, so a query's score vector
is the train columns of the query's terms (their posting lists) weighted by
the query's values; the top ``k`` are found with ``argpartition`` and then
sorted (ties by id).

Sparse batches are scored query by query into a block of score rows, then
the block's top ``k`` are selected at once.  A single sparse×sparse product
per block (``Q_block @ train.T``) gives the same scores but measured 2×
slower with scipy on SPLADE-like data (random-s-sparse: ~4 ms vs ~2 ms per
query), because its output is nearly dense and the general SpGEMM sorts it.

Threads: faiss is held to one thread with ``faiss.omp_set_num_threads(1)`` (``limit_threads``);
scipy's sparse products run on the calling thread.
"""

from __future__ import annotations

import faiss
import numpy as np
import scipy.sparse as sp

from harness.kit import DENSE, SPARSE, Algorithm, normalize_rows

_BLOCK_FLOATS = 1 << 20  # 4 MiB of float32 scores per block of sparse queries (stays in cache)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest entries of each row of ``scores``, best first (ties by id)."""
    n = scores.shape[1]
    if k < n:
        cand = np.argpartition(scores, n - k, axis=1)[:, n - k :]
    else:
        cand = np.broadcast_to(np.arange(n), scores.shape).copy()
    s = np.take_along_axis(scores, cand, 1)
    order = np.lexsort((cand, -s), axis=1)
    return np.take_along_axis(cand, order, 1)


class Exact(Algorithm):
    """Brute force: faiss flat for dense data, a scipy inverted index for sparse data."""

    accepts = frozenset({DENSE, SPARSE})
    distances = frozenset({"angular", "euclidean", "ip"})
    _index: faiss.Index | None = None
    _train_csc: sp.csc_matrix | None = None

    @classmethod
    def limit_threads(cls, threads: int = 1) -> None:  # no parallel_batch: always asked for 1
        faiss.omp_set_num_threads(1)

    def fit(self, dataset) -> None:
        train = dataset.train
        self._n, self._d = int(train.shape[0]), int(train.shape[1])
        if sp.issparse(train):
            if self.metric != "ip":
                raise ValueError(f"{self.label}: sparse data supports only distance 'ip', not {self.metric!r}")
            self._train_csc = sp.csc_matrix(train, dtype=np.float32)
            self._train_csc.sort_indices()
            return
        x = np.ascontiguousarray(train, dtype=np.float32)
        if self.metric == "angular":
            x = normalize_rows(x)
        self._index = faiss.IndexFlatL2(self._d) if self.metric == "euclidean" else faiss.IndexFlatIP(self._d)
        self._index.add(x)

    # --- querying -----------------------------------------------------------
    def query(self, vector, k: int) -> np.ndarray:
        if self._train_csc is not None:
            return self._sparse_query(vector, k)
        q = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        if self.metric == "angular":
            q = normalize_rows(q)
        ids = self._index.search(q, k)[1][0]
        return ids[ids >= 0].astype(np.int64, copy=False)

    def batch_query(self, queries, k: int) -> np.ndarray:
        if self._train_csc is not None:
            return self._sparse_batch(queries, k)
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if self.metric == "angular":
            q = normalize_rows(q)
        return self._index.search(q, k)[1].astype(np.int64, copy=False)  # faiss pads with -1

    def _sparse_scores(self, terms: np.ndarray, weights: np.ndarray, out: np.ndarray) -> None:
        """Inner products of one query (its term ids and weights) with every train row, into ``out``."""
        if len(terms):
            out[:] = self._train_csc[:, terms] @ weights  # posting lists of the terms, weighted
        else:
            out[:] = 0.0

    def _sparse_query(self, vector, k: int) -> np.ndarray:
        row = sp.csr_matrix(vector)
        scores = np.empty((1, self._n), dtype=np.float32)
        self._sparse_scores(row.indices, row.data.astype(np.float32, copy=False), scores[0])
        return _top_k(scores, min(k, self._n))[0].astype(np.int64, copy=False)

    def _sparse_batch(self, queries, k: int) -> np.ndarray:
        q = sp.csr_matrix(queries, dtype=np.float32)
        nq = q.shape[0]
        kk = min(k, self._n)
        out = np.full((nq, k), -1, dtype=np.int64)
        if kk == 0:
            return out
        block = max(1, min(nq, _BLOCK_FLOATS // max(1, self._n)))
        scores = np.empty((block, self._n), dtype=np.float32)
        for start in range(0, nq, block):
            stop = min(nq, start + block)
            for j, i in enumerate(range(start, stop)):
                lo, hi = q.indptr[i], q.indptr[i + 1]
                self._sparse_scores(q.indices[lo:hi], q.data[lo:hi], scores[j])
            out[start:stop, :kk] = _top_k(scores[: stop - start], kk)
        return out

    # --- optional facts -----------------------------------------------------
    def index_size_bytes(self) -> int | None:
        if self._train_csc is not None:
            m = self._train_csc
            return int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes)
        if self._index is not None:
            return int(self._n) * int(self._d) * 4
        return None

    def extra_metrics(self) -> dict[str, float]:
        if self._index is not None:
            return {"dist_comps": float(self._n)}  # per query: every train point
        return {}

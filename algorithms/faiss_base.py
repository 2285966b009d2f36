"""What the faiss adapters share: metric mapping, query preparation, search, index size and the
distance-computation counter.

faiss is held to one thread with ``faiss.omp_set_num_threads(1)`` (``limit_threads``), on top of
the worker's ``OMP_NUM_THREADS=1`` and threadpoolctl limits.  Angular distance is inner product
over normalised vectors (train and queries); euclidean is L2; ip is inner product.
"""

from __future__ import annotations

import faiss
import numpy as np

from harness.kit import DENSE, Algorithm, normalize_rows


class FaissAdapter(Algorithm):
    """Base of the faiss adapters: a subclass builds ``self._index`` in ``fit`` and names the faiss
    statistics object that counts distance computations (``stats``)."""

    accepts = frozenset({DENSE})
    distances = frozenset({"angular", "euclidean", "ip"})
    _nq = 0  # queries since the last query setting, for dist_comps

    @staticmethod
    def stats():
        """faiss's global counters of this index type (``faiss.cvar.hnsw_stats``, ...), or None."""
        return None

    @classmethod
    def limit_threads(cls) -> None:
        faiss.omp_set_num_threads(1)

    @property
    def faiss_metric(self) -> int:
        return faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT

    def vectors(self, x: np.ndarray) -> np.ndarray:
        """Rows as faiss takes them: contiguous float32, normalised for angular distance."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        return normalize_rows(x) if self.metric == "angular" else x

    def apply_query_params(self) -> None:
        stats = self.stats()
        if stats is not None:
            stats.reset()
        self._nq = 0

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        q = self.vectors(np.asarray(vector).reshape(1, -1))
        self._nq += 1
        ids = self._index.search(q, k)[1][0]
        return ids[ids >= 0].astype(np.int64, copy=False)

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        q = self.vectors(queries)
        self._nq += q.shape[0]
        return self._index.search(q, k)[1].astype(np.int64, copy=False)  # faiss pads with -1

    def index_size_bytes(self) -> int:
        """Bytes that ``faiss.write_index`` would produce, counted without keeping them."""
        total = 0

        def count(buf: bytes) -> int:
            nonlocal total
            total += len(buf)
            return len(buf)

        writer = faiss.PyCallbackIOWriter(count)
        faiss.write_index(self._index, writer)
        del writer  # flushes the last chunk
        return total

    def extra_metrics(self) -> dict[str, float]:
        stats = self.stats()
        if stats is None or not self._nq:
            return {}
        return {"dist_comps": float(stats.ndis) / self._nq}

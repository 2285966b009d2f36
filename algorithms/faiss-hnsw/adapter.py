"""HNSW graph index from faiss (``IndexHNSWFlat``).

Build parameters: ``M`` (default 32) and ``efConstruction`` (default 40).
Query parameter: ``efSearch``.  Euclidean uses L2; ip uses inner product;
angular normalises train and queries and uses inner product.

The worker that runs this adapter is single-threaded: the runner pins it to
one core and sets faiss/OpenMP to one thread before importing this module, so
the adapter does not call ``faiss.omp_set_num_threads`` itself.  Building is
deterministic with one thread (faiss draws HNSW levels from a fixed seed).
"""

from __future__ import annotations

from typing import Any, ClassVar

import faiss
import numpy as np

from algorithms.faiss_size import serialized_size
from harness.algorithm import DENSE, Algorithm, normalize_rows, positive_int

NAME = "faiss-hnsw"






def _positive_int(name: str, value: Any) -> int:
    return positive_int(NAME, name, value)


class FaissHNSW(Algorithm):
    """faiss ``IndexHNSWFlat`` (dense data, all three distances)."""

    accepts: ClassVar[frozenset[str]] = frozenset({DENSE})
    distances: ClassVar[frozenset[str]] = frozenset({"angular", "euclidean", "ip"})

    def __init__(self, metric: str, M: int = 32, efConstruction: int = 40, **build_params: Any) -> None:
        if metric not in self.distances:
            raise ValueError(f"{NAME}: unsupported distance {metric!r} (supported: {sorted(self.distances)})")
        if build_params:
            raise ValueError(f"{NAME}: unknown build parameter(s) {sorted(build_params)} (known: M, efConstruction)")
        self.M = _positive_int("M", M)
        self.efConstruction = _positive_int("efConstruction", efConstruction)
        super().__init__(metric, M=self.M, efConstruction=self.efConstruction)
        self._index: faiss.IndexHNSWFlat | None = None
        self._n = 0
        self._nq = 0
        self._ef = 16  # faiss's default efSearch

    def fit(self, dataset) -> None:
        if dataset.kind not in self.accepts:
            raise ValueError(f"{NAME}: unsupported input kind {dataset.kind!r} (accepts {sorted(self.accepts)})")
        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        if self.metric == "angular":
            x = normalize_rows(x)
        faiss_metric = faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
        index = faiss.IndexHNSWFlat(int(x.shape[1]), self.M, faiss_metric)
        index.hnsw.efConstruction = self.efConstruction
        index.add(x)
        index.hnsw.efSearch = self._ef
        self._index = index
        self._n = int(x.shape[0])

    def set_query_params(self, efSearch: int = 16, **params: Any) -> None:
        if params:
            raise ValueError(f"{NAME}: unknown query parameter(s) {sorted(params)} (known: efSearch)")
        self._ef = _positive_int("efSearch", efSearch)
        super().set_query_params(efSearch=self._ef)
        # faiss searches with max(efSearch, k) itself, so no clamping to k is needed here.
        if self._index is not None:
            self._index.hnsw.efSearch = self._ef
        faiss.cvar.hnsw_stats.reset()
        self._nq = 0

    def _prep(self, q: np.ndarray) -> np.ndarray:
        if self._index is None:
            raise RuntimeError(f"{NAME}: query called before fit()")
        q = np.ascontiguousarray(q, dtype=np.float32)
        return normalize_rows(q) if self.metric == "angular" else q

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        q = self._prep(np.asarray(vector).reshape(1, -1))
        self._nq += 1
        ids = self._index.search(q, k)[1][0]
        return ids[ids >= 0].astype(np.int64, copy=False)

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        q = self._prep(queries)
        self._nq += q.shape[0]
        return self._index.search(q, k)[1].astype(np.int64, copy=False)  # faiss pads with -1

    def index_size_bytes(self) -> int | None:
        return serialized_size(self._index) if self._index is not None else None

    def extra_metrics(self) -> dict[str, float]:
        if not self._nq:
            return {}
        return {"dist_comps": float(faiss.cvar.hnsw_stats.ndis) / self._nq}

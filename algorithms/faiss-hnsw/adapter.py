"""HNSW graph index from faiss (``IndexHNSWFlat``).

Build parameters: ``M`` and ``efConstruction``.  Query parameter: ``efSearch`` (faiss searches
with max(efSearch, k) itself).  Metrics, threads, size and ``dist_comps``: ``algorithms/faiss_base.py``.
Building is deterministic with one thread (faiss draws HNSW levels from a fixed seed).
"""

from __future__ import annotations

import faiss

from algorithms.faiss_base import FaissAdapter
from harness.kit import Param


class FaissHNSW(FaissAdapter):
    build_parameters = (Param("M", int, 32, low=1), Param("efConstruction", int, 40, low=1))
    query_parameters = (Param("efSearch", int, 16, low=1),)  # faiss's defaults
    stats = staticmethod(lambda: faiss.cvar.hnsw_stats)

    def fit(self, dataset) -> None:
        x = self.vectors(dataset.train)
        self._index = faiss.IndexHNSWFlat(int(x.shape[1]), self.build_params["M"], self.faiss_metric)
        self._index.hnsw.efConstruction = self.build_params["efConstruction"]
        self._index.add(x)
        self.apply_query_params()

    def restore(self) -> None:
        self._expect(self._index, faiss.IndexHNSWFlat, "type")

    def apply_query_params(self) -> None:
        if hasattr(self, "_index"):
            self._index.hnsw.efSearch = self.query_params["efSearch"]
        super().apply_query_params()

"""HNSW graph index from the ``usearch`` library (Unum).

Build parameters: ``connectivity`` (M, the graph degree; usearch refuses < 2), ``expansion_add``
(efConstruction) and ``dtype``, the scalar kind the vectors are stored and compared in: ``f32``,
``f16`` (half the memory; float32 queries are cast) or ``i8``.  Query parameter:
``expansion_search`` (ef; usearch searches with a beam of at least k by itself).

Distances map to usearch metrics: angular → ``cos``, euclidean → ``l2sq`` (same ranking as
euclidean), ip → ``ip``.  ``i8`` is accepted for angular distance only: usearch casts every vector
(train and query) to int8 as ``trunc(127 · x / ‖x‖)``, whatever the metric, so the norms are lost and
``l2sq`` or ``ip`` over i8 would rank by cosine.  Keys are the train row numbers.

usearch pads a batch when fewer than k results exist (k > n): keys 0 and distances NaN past each
row's ``counts``; the adapter cuts there and pads with -1 instead.

Threads: usearch has no global pool; each ``add``/``search`` call starts ``threads`` workers (0 =
every core).  Every call here passes ``threads=1``, so the work runs in the calling thread; no other
call the adapter makes starts a thread.
"""

from __future__ import annotations

import numpy as np
from usearch.index import Index

from harness.kit import DENSE, Algorithm, Param

_METRICS = {"angular": "cos", "euclidean": "l2sq", "ip": "ip"}


class Usearch(Algorithm):
    accepts = frozenset({DENSE})
    distances = frozenset(_METRICS)
    build_parameters = (
        Param("connectivity", int, 16, low=2),
        Param("expansion_add", int, 128, low=1),
        Param("dtype", str, "f32", choices=("f32", "f16", "i8")),
    )
    query_parameters = (Param("expansion_search", int, 64, low=1),)
    fixed_parameters = {"threads": "the adapter passes threads=1 to every add and search (one-core benchmark)"}

    def __init__(self, metric: str, **build_params) -> None:
        super().__init__(metric, **build_params)
        if self.build_params["dtype"] == "i8" and metric != "angular":
            raise ValueError(f"{self.label}: dtype 'i8' is only correct for angular distance, not {metric}: "
                             "usearch scales every vector to unit norm before rounding it to int8")

    def fit(self, dataset) -> None:
        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        self._n = int(x.shape[0])
        # dtype is always given: with dtype=None usearch picks f16 by itself on some hardware.
        self._index = Index(ndim=int(x.shape[1]), metric=_METRICS[self.metric], dtype=self.build_params["dtype"],
                            connectivity=self.build_params["connectivity"],
                            expansion_add=self.build_params["expansion_add"])
        if self._n:
            self._index.add(np.arange(self._n, dtype=np.uint64), x, threads=1)
        self._search = self._index.search
        self.apply_query_params()

    def apply_query_params(self) -> None:
        if hasattr(self, "_index"):  # a setting may be checked before fit
            self._index.expansion_search = self.query_params["expansion_search"]
        self._nq = self._dist_comps = 0

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        # One query gives a Matches already cut to the results found (no padding); its uint64 keys
        # are train row numbers, read as int64 without a copy.
        m = self._search(vector, k, threads=1)
        self._nq += 1
        self._dist_comps += m.computed_distances
        return m.keys.view(np.int64)

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        nq = queries.shape[0]
        if not nq:
            return np.full((0, k), -1, dtype=np.int64)
        m = self._search(np.ascontiguousarray(queries, dtype=np.float32), k, threads=1)
        self._nq += nq
        self._dist_comps += m.computed_distances
        ids = m.keys.astype(np.int64)
        ids[np.arange(k)[None, :] >= m.counts[:, None]] = -1  # usearch's padding (key 0) past counts
        return ids

    def index_size_bytes(self) -> int:
        return int(self._index.serialized_length)

    def extra_metrics(self) -> dict[str, float]:
        return {"dist_comps": self._dist_comps / self._nq} if self._nq else {}

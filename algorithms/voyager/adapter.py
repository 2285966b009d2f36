"""HNSW graph index from Spotify's ``voyager`` library (an hnswlib descendant).

Build parameters: ``M`` (graph degree; voyager crashes below 2), ``ef_construction`` and
``storage``, the type the vectors are kept in: ``float32``, ``e4m3`` (8-bit float, 1 sign, 4 exponent
and 3 mantissa bits; values must lie in [-448, 448]) or ``float8`` (8-bit fixed point in [-1, 1], so
angular distance only, where voyager normalises vectors before storing them).  Query parameter:
``query_ef`` (search beam; voyager refuses a beam below k, so it is raised to k when smaller).
Builds are deterministic: the level generator is seeded (``random_seed``) and insertion runs on one
thread.

Distances map to voyager spaces: angular → ``Space.Cosine`` (voyager normalises train and query
vectors), euclidean → ``Space.Euclidean`` (squared L2, same ranking), ip → ``Space.InnerProduct``.
Ids are the train row numbers.  voyager raises ``RecallError`` when fewer than k results exist
(k > n), so the adapter asks for min(k, n) and pads with -1.

Threads: voyager has no global pool; ``add_items`` and ``query`` of several vectors start
``num_threads`` workers (-1, the default, = one per core).  Both are called with ``num_threads=1``,
which runs the work in the calling thread; a single-vector query always runs there.
"""

from __future__ import annotations

import numpy as np
from voyager import Index, Space, StorageDataType

from harness.kit import DENSE, Algorithm, Param

_SPACES = {"angular": Space.Cosine, "euclidean": Space.Euclidean, "ip": Space.InnerProduct}
_STORAGE = {"float32": StorageDataType.Float32, "e4m3": StorageDataType.E4M3, "float8": StorageDataType.Float8}
_E4M3_MAX = 448.0
_SEED = 1


class Voyager(Algorithm):
    accepts = frozenset({DENSE})
    distances = frozenset(_SPACES)
    build_parameters = (
        Param("M", int, 12, low=2),
        Param("ef_construction", int, 200, low=1),
        Param("storage", str, "float32", choices=tuple(_STORAGE)),
    )
    query_parameters = (Param("query_ef", int, 10, low=1),)
    fixed_parameters = {"num_threads": "the adapter passes num_threads=1 to add_items and query (one-core benchmark)",
                        "random_seed": f"held at {_SEED} for deterministic builds"}

    def __init__(self, metric: str, **build_params) -> None:
        super().__init__(metric, **build_params)
        if self.build_params["storage"] == "float8" and metric != "angular":
            raise ValueError(f"{self.label}: storage 'float8' is only available for angular distance, not {metric}: "
                             "it keeps values in [-1, 1], which only normalised vectors are sure to fit")

    def fit(self, dataset) -> None:
        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        self._n = int(x.shape[0])
        if self.build_params["storage"] == "e4m3" and self.metric != "angular" and self._n \
                and float(np.abs(x).max()) > _E4M3_MAX:
            raise ValueError(f"{self.label}: storage 'e4m3' holds values in [-448, 448] only; "
                             f"this dataset reaches {float(np.abs(x).max()):g}")
        self._index = Index(_SPACES[self.metric], num_dimensions=int(x.shape[1]), M=self.build_params["M"],
                            ef_construction=self.build_params["ef_construction"], random_seed=_SEED,
                            max_elements=max(1, self._n), storage_data_type=_STORAGE[self.build_params["storage"]])
        if self._n:
            self._index.add_items(x, ids=np.arange(self._n), num_threads=1)
        self._knn = self._index.query
        self.apply_query_params()

    def apply_query_params(self) -> None:
        self._k = None  # the beam is set for the next k asked

    def _set_k(self, k: int) -> None:
        """At most n results exist (voyager raises RecallError past them); the beam must be >= k."""
        self._k, self._kk = k, min(k, self._n)
        self._ef = max(self.query_params["query_ef"], self._kk)

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        if k != self._k:
            self._set_k(k)
        if self._kk == 0:
            return np.empty(0, dtype=np.int64)
        # One vector: a (k,) row of uint64 ids, read as int64 without a copy.
        return self._knn(vector, k=self._kk, num_threads=1, query_ef=self._ef)[0].view(np.int64)

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        if k != self._k:
            self._set_k(k)
        out = np.full((queries.shape[0], k), -1, dtype=np.int64)
        if self._kk and len(queries):
            x = np.ascontiguousarray(queries, dtype=np.float32)
            out[:, : self._kk] = self._knn(x, k=self._kk, num_threads=1, query_ef=self._ef)[0]
        return out

    def index_size_bytes(self) -> int:
        return len(self._index.as_bytes())  # what Index.save writes

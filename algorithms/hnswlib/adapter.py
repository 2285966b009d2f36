"""HNSW graph index from the ``hnswlib`` library.

Build parameters: ``M`` (graph degree) and ``ef_construction``.  Query parameter: ``ef`` (search
beam width; hnswlib needs ef >= k, so it is raised to k when smaller).  Distances map to hnswlib
spaces: euclidean → ``l2``, angular → ``cosine`` (hnswlib normalises vectors itself), ip → ``ip``.

Threads: hnswlib has its own pool; ``fit`` sets it to one thread (``set_num_threads(1)``, which
every search then uses) and batch searches pass ``num_threads=1`` as well.
"""

from __future__ import annotations

import hnswlib
import numpy as np

from harness.kit import DENSE, Algorithm, Param

_SPACES = {"euclidean": "l2", "angular": "cosine", "ip": "ip"}
_SEED = 100


class Hnswlib(Algorithm):
    accepts = frozenset({DENSE})
    distances = frozenset(_SPACES)
    build_parameters = (Param("M", int, 16, low=1), Param("ef_construction", int, 200, low=1))
    query_parameters = (Param("ef", int, 10, low=1),)

    def fit(self, dataset) -> None:
        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        self._n = int(x.shape[0])
        self._index = hnswlib.Index(space=_SPACES[self.metric], dim=int(x.shape[1]))
        self._index.init_index(max_elements=max(1, self._n), ef_construction=self.build_params["ef_construction"],
                               M=self.build_params["M"], random_seed=_SEED)
        self._index.set_num_threads(1)
        self._index.add_items(x, np.arange(self._n), num_threads=1)
        self._knn = self._index.knn_query
        self.apply_query_params()

    def apply_query_params(self) -> None:
        self._k = None  # the beam is set for the next k asked

    def _set_k(self, k: int) -> None:
        """hnswlib needs ef >= k: the beam is max(ef, k); at most n results exist."""
        self._index.set_ef(max(self.query_params["ef"], k))
        self._k, self._kk = k, min(k, self._n)

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        # The hot path of single mode: one comparison, then the library, its thread count already 1
        # (set_num_threads in fit); the row of uint64 labels is the answer (integer ids).
        if k != self._k:
            self._set_k(k)
        if self._kk == 0:
            return np.empty(0, dtype=np.int64)
        return self._knn(vector, self._kk)[0][0]

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        if k != self._k:
            self._set_k(k)
        out = np.full((queries.shape[0], k), -1, dtype=np.int64)
        if self._kk and len(queries):
            x = np.ascontiguousarray(queries, dtype=np.float32)
            out[:, : self._kk] = self._knn(x, k=self._kk, num_threads=1)[0]
        return out

    def index_size_bytes(self) -> int:
        return int(self._index.index_file_size())

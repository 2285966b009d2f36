"""HNSW graph index from the ``hnswlib`` library.

Build parameters: ``M`` (graph degree, default 16) and ``ef_construction``
(default 200).  Query parameter: ``ef`` (search beam width).  Distances map to
hnswlib spaces: euclidean → ``l2``, angular → ``cosine`` (hnswlib normalises
vectors itself), ip → ``ip``.

The worker that runs this adapter is single-threaded (the runner pins it to
one core and limits threads before importing this module); hnswlib has its
own thread pool, so ``fit`` sets it to one thread and every ``knn_query`` call
passes ``num_threads=1``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import hnswlib
import numpy as np

from harness.algorithm import DENSE, Algorithm, positive_int

NAME = "hnswlib"
_SPACES = {"euclidean": "l2", "angular": "cosine", "ip": "ip"}
_SEED = 100




def _positive_int(name: str, value: Any) -> int:
    return positive_int(NAME, name, value)


class Hnswlib(Algorithm):
    """hnswlib HNSW index (dense data, all three distances)."""

    accepts: ClassVar[frozenset[str]] = frozenset({DENSE})
    distances: ClassVar[frozenset[str]] = frozenset(_SPACES)

    def __init__(self, metric: str, M: int = 16, ef_construction: int = 200, **build_params: Any) -> None:
        if metric not in self.distances:
            raise ValueError(f"{NAME}: unsupported distance {metric!r} (supported: {sorted(self.distances)})")
        if build_params:
            raise ValueError(f"{NAME}: unknown build parameter(s) {sorted(build_params)} (known: M, ef_construction)")
        self.M = _positive_int("M", M)
        self.ef_construction = _positive_int("ef_construction", ef_construction)
        super().__init__(metric, M=self.M, ef_construction=self.ef_construction)
        self._index: hnswlib.Index | None = None
        self._n = 0
        self._ef = 10
        self._current_ef: int | None = None

    def fit(self, dataset) -> None:
        if dataset.kind not in self.accepts:
            raise ValueError(f"{NAME}: unsupported input kind {dataset.kind!r} (accepts {sorted(self.accepts)})")
        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        self._n = int(x.shape[0])
        index = hnswlib.Index(space=_SPACES[self.metric], dim=int(x.shape[1]))
        index.init_index(
            max_elements=max(1, self._n), ef_construction=self.ef_construction, M=self.M, random_seed=_SEED
        )
        index.set_num_threads(1)
        index.add_items(x, np.arange(self._n), num_threads=1)
        self._index = index
        self._current_ef = None

    def set_query_params(self, ef: int = 10, **params: Any) -> None:
        if params:
            raise ValueError(f"{NAME}: unknown query parameter(s) {sorted(params)} (known: ef)")
        self._ef = _positive_int("ef", ef)
        super().set_query_params(ef=self._ef)

    def _prepare(self, k: int) -> int:
        if self._index is None:
            raise RuntimeError(f"{NAME}: query called before fit()")
        # hnswlib requires ef >= k (with a smaller beam it cannot return k
        # results and raises), so the effective ef is clamped up to k.
        ef = max(self._ef, k)
        if ef != self._current_ef:
            self._index.set_ef(ef)
            self._current_ef = ef
        return min(k, self._n)

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        kk = self._prepare(k)
        if kk == 0:
            return np.empty(0, dtype=np.int64)
        labels, _ = self._index.knn_query(vector, k=kk, num_threads=1)
        return labels[0].astype(np.int64)

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        kk = self._prepare(k)
        nq = queries.shape[0]
        out = np.full((nq, k), -1, dtype=np.int64)
        if kk and nq:
            labels, _ = self._index.knn_query(np.ascontiguousarray(queries, dtype=np.float32), k=kk, num_threads=1)
            out[:, :kk] = labels
        return out

    def index_size_bytes(self) -> int | None:
        return int(self._index.index_file_size()) if self._index is not None else None

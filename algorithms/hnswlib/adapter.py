"""HNSW graph index from the ``hnswlib`` library.

Build parameters: ``M`` (graph degree) and ``ef_construction``.  Query parameter: ``ef`` (search
beam width; hnswlib needs ef >= k, so it is raised to k when smaller).  Distances map to hnswlib
spaces: euclidean → ``l2``, angular → ``cosine`` (hnswlib normalises vectors itself), ip → ``ip``.

Threads: hnswlib has its own pool; ``fit`` sets it to ``self.threads`` threads (1 unless the sweep
runs ``--threads N``: ``set_num_threads``, which every search then uses), builds with as many
(``add_items(num_threads=...)``) and batch searches pass ``num_threads`` as well (``parallel_batch``:
with N threads hnswlib splits a batch's queries over N threads of its own).

Saved and loaded (``--index-cache``) with hnswlib's own ``save_index`` / ``load_index`` (one file);
a loaded index gets the same thread setting and query state as a built one.
"""

from __future__ import annotations

from pathlib import Path

import hnswlib
import numpy as np

from harness.kit import DENSE, Algorithm, Param

_SPACES = {"euclidean": "l2", "angular": "cosine", "ip": "ip"}
_SEED = 100
_INDEX_FILE = "hnswlib.bin"


class Hnswlib(Algorithm):
    accepts = frozenset({DENSE})
    distances = frozenset(_SPACES)
    build_parameters = (Param("M", int, 16, low=1), Param("ef_construction", int, 200, low=1))
    query_parameters = (Param("ef", int, 10, low=1),)
    library = "hnswlib"
    parallel_batch = True  # knn_query(num_threads=N) answers a batch on N threads

    def fit(self, dataset) -> None:
        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        self._n = int(x.shape[0])
        self._index = hnswlib.Index(space=_SPACES[self.metric], dim=int(x.shape[1]))
        self._index.init_index(max_elements=max(1, self._n), ef_construction=self.build_params["ef_construction"],
                               M=self.build_params["M"], random_seed=_SEED)
        self._index.set_num_threads(self.threads)
        self._index.add_items(x, np.arange(self._n), num_threads=self.threads)
        self._ready()

    def _ready(self) -> None:
        """What a built or loaded index needs before queries: its threads (one, or N), the query state."""
        self._index.set_num_threads(self.threads)
        self._knn = self._index.knn_query
        self.apply_query_params()

    def save_index(self, folder: Path) -> bool:
        self._index.save_index(str(Path(folder) / _INDEX_FILE))
        return True

    def load_index(self, folder: Path, dataset) -> bool:
        index = hnswlib.Index(space=_SPACES[self.metric], dim=int(dataset.dimension))
        index.load_index(str(Path(folder) / _INDEX_FILE), max_elements=max(1, dataset.n_train))
        found = (index.get_current_count(), index.M, index.ef_construction)
        wanted = (dataset.n_train, self.build_params["M"], self.build_params["ef_construction"])
        if found != wanted:
            raise ValueError(f"{self.label}: the saved index has (points, M, ef_construction) {found}, "
                             f"this build {wanted}")
        self._index, self._n = index, int(dataset.n_train)
        self._ready()
        return True

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
            out[:, : self._kk] = self._knn(x, k=self._kk, num_threads=self.threads)[0]
        return out

    def index_size_bytes(self) -> int:
        return int(self._index.index_file_size())

"""Random-projection tree forest from Spotify's ``annoy`` library.

Build parameter: ``n_trees`` (trees in the forest; more trees: larger index, better recall at a
given search_k).  Query parameter: ``search_k`` (how many candidate items the search collects from
the forest's leaves before ranking them by exact distance; default, when absent: annoy's own
n_trees x k).  A search_k of at least n x n_trees visits every leaf of every tree: exhaustive.
Builds are seeded (``set_seed``).  Distances map to annoy metrics: angular -> ``angular``
(sqrt(2 - 2 cos): same order as 1 - cos), euclidean -> ``euclidean``, ip -> ``dot`` (maximum
inner product: annoy builds the trees over vectors with one extra coordinate that makes their
norms equal, and ranks candidates by the plain dot product).

annoy has no batch query: ``batch_query`` loops over the queries in Python.  Vectors are handed
over as Python lists (annoy reads a sequence item by item; a list of floats is read ~2x faster than
a numpy row).  k > n: annoy returns the n items it has.

The index is saved to a file in a fresh temporary folder (its size is ``index_size_bytes``) and,
as annoy does after every save, searched memory-mapped from it (prefaulted); the folder is
removed when the adapter is garbage collected or at exit.  The save is in build time.

Threads: ``build(n_trees, n_jobs=1)``; annoy still starts one std::thread for the build and the
calling thread waits for it (one thread works at a time).  Queries run on the calling thread.
"""

from __future__ import annotations

import os

import numpy as np
from annoy import AnnoyIndex

from harness.kit import DENSE, Algorithm, Param

_METRICS = {"angular": "angular", "euclidean": "euclidean", "ip": "dot"}
_SEED = 42
_MAX_SEARCH_K = 10**9  # annoy takes search_k as a C int


class Annoy(Algorithm):
    accepts = frozenset({DENSE})
    distances = frozenset(_METRICS)
    build_parameters = (Param("n_trees", int, 100, low=1, high=10_000),)
    query_parameters = (Param("search_k", int, None, low=1, high=_MAX_SEARCH_K),)
    fixed_parameters = {"n_jobs": "held at 1 (one thread)"}

    def fit(self, dataset) -> None:
        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        self._n, d = x.shape
        self._dir = self.build_folder()
        self._index = AnnoyIndex(int(d), _METRICS[self.metric])
        self._index.set_seed(_SEED)
        for i in range(self._n):  # row by row: a list of the whole matrix would take ~8x its memory
            self._index.add_item(i, x[i].tolist())
        self._index.build(self.build_params["n_trees"], n_jobs=1)
        self._path = os.path.join(self._dir, "index.ann")
        self._index.save(self._path, prefault=True)  # annoy then serves the index from this file
        self.apply_query_params()

    def apply_query_params(self) -> None:
        self._search_k = -1 if self.query_params["search_k"] is None else self.query_params["search_k"]

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        return np.array(self._index.get_nns_by_vector(vector.tolist(), k, self._search_k), dtype=np.int64)

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        out = np.full((queries.shape[0], k), -1, dtype=np.int64)
        get, search_k = self._index.get_nns_by_vector, self._search_k
        for i in range(queries.shape[0]):
            ids = get(queries[i].tolist(), k, search_k)
            out[i, : len(ids)] = ids
        return out

    def index_size_bytes(self) -> int:
        return os.path.getsize(self._path)

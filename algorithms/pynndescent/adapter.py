"""NN-descent k-NN graph search from the ``pynndescent`` library (Numba JIT).

The build runs NN-descent (from a random-projection forest) to an approximate k-NN graph, then
``prepare()`` turns it into the search graph (diversified, symmetrised, degree pruned) and a search
tree that picks each query's entry points.  Build parameters: ``n_neighbors`` (graph degree, must
be smaller than the number of train points), ``pruning_degree_multiplier`` (search-graph degree cap
as a multiple of n_neighbors), ``diversify_prob`` (share of redundant edges removed, 0-1) and
optionally ``n_trees`` and ``leaf_size`` of the forest (library defaults when absent), and
``search_tree_leaf_budget``: how many leaves of the search tree seed each query (default 1; a
budget of at least the number of leaves seeds every point: exhaustive, whatever the graph).  Query
parameter: ``epsilon`` (the search expands candidates closer than (1 + epsilon) x the current
k-th distance, in the library's internal distance; larger is slower and more exact).  Builds are
seeded (``random_state``) and the index is built ``compressed`` (the k-NN graph and forest, needed
only to build, are dropped).

Distances: euclidean -> ``euclidean``; angular -> ``cosine`` (dense data is normalised by the
library and searched with a -log2(dot) proxy).  pynndescent's ``dot`` metric normalises too, so
it is cosine, not maximum inner product: ip is not offered.  The proxy maps every non-positive
cosine to one distance (1.0), so points with cos <= 0 come back in arbitrary order (only matters
when k reaches them).

k > n, or a search that reached fewer than k points: pynndescent fills the missing slots with
the id its -1 maps to and an infinite distance (1.0 after the cosine correction); those slots
are dropped (single mode) or set to -1 (batch mode).  Under angular distance a real result with
that id and cos <= 0 cannot be told from padding and is dropped as well.

JIT: NN-descent's kernels are compiled on every build (they take the distance as an argument
and are not cached on disk: about 40 s of one core), so build time includes that compilation;
the search functions come from pynndescent's disk cache.  ``fit`` ends with one query so that
nothing is left to compile when queries are timed; that query is in build time.

Threads: the worker exports NUMBA_NUM_THREADS=1 before the import; ``limit_threads`` also calls
``numba.set_num_threads(1)``, the build passes ``n_jobs=1`` and batch queries run serially
(``parallel_batch_queries=False``, the default).  Size: bytes of the pickled (compressed) index.
"""

from __future__ import annotations

import pickle

import numba
import numpy as np
from pynndescent import NNDescent

from harness.kit import DENSE, Algorithm, Param

_METRICS = {"euclidean": "euclidean", "angular": "cosine"}
_SEED = 42


class _ByteCounter:
    """A file that only counts what is written to it (pickled size without the copy)."""

    def __init__(self) -> None:
        self.n = 0

    def write(self, data) -> int:
        size = memoryview(data).nbytes  # bytes, or a buffer of a large array
        self.n += size
        return size


class PyNNDescent(Algorithm):
    accepts = frozenset({DENSE})
    distances = frozenset(_METRICS)
    build_parameters = (Param("n_neighbors", int, 30, low=2),
                        Param("pruning_degree_multiplier", float, 1.5, low=0, low_open=True),
                        Param("diversify_prob", float, 1.0, low=0, high=1),
                        Param("n_trees", int, None, low=1), Param("leaf_size", int, None, low=1),
                        Param("search_tree_leaf_budget", int, 1, low=1, high=1_000_000))
    query_parameters = (Param("epsilon", float, 0.1, low=0),)
    fixed_parameters = {"n_jobs": "held at 1 (one thread)", "random_state": "fixed seed for deterministic builds"}

    @classmethod
    def limit_threads(cls, threads: int = 1) -> None:  # no parallel_batch: always asked for 1
        numba.set_num_threads(1)

    def fit(self, dataset) -> None:
        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        n, p = x.shape[0], self.build_params
        if p["n_neighbors"] >= n:
            raise ValueError(f"{self.label}: n_neighbors={p['n_neighbors']} must be smaller than the "
                             f"number of train points ({n})")
        self._index = NNDescent(x, metric=_METRICS[self.metric], n_neighbors=p["n_neighbors"],
                                pruning_degree_multiplier=p["pruning_degree_multiplier"],
                                diversify_prob=p["diversify_prob"], n_trees=p["n_trees"], leaf_size=p["leaf_size"],
                                search_tree_leaf_budget=p["search_tree_leaf_budget"],
                                random_state=_SEED, n_jobs=1, compressed=True)
        self._index.prepare()
        self._n = n
        # Slots the search could not fill hold vertex_order[-1] at the distance of an empty slot.
        self._pad_id = int(self._index._vertex_order[-1])
        self._pad_dist = 1.0 if self.metric == "angular" else np.inf
        self._index.query(x[:1], k=1)  # compiles (or loads) everything a query runs: in build time

    def _search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids, dist = self._index.query(q, k=min(k, self._n), epsilon=self.query_params["epsilon"])
        return ids.astype(np.int64, copy=False), (ids == self._pad_id) & (dist >= self._pad_dist)

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        # No single-vector call: a one-row batch.
        ids, pad = self._search(vector.reshape(1, -1), k)
        return ids[0][~pad[0]] if pad[0, -1] else ids[0]

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        out = np.full((queries.shape[0], k), -1, dtype=np.int64)
        if not queries.shape[0]:
            return out
        ids, pad = self._search(np.ascontiguousarray(queries, dtype=np.float32), k)
        for i in np.flatnonzero(pad.any(axis=1)):  # rare: keep the real ids, in order, then -1
            kept = ids[i][~pad[i]]
            ids[i] = -1
            ids[i, : len(kept)] = kept
        out[:, : ids.shape[1]] = ids
        return out

    def index_size_bytes(self) -> int:
        counter = _ByteCounter()
        pickle.dump(self._index, counter, protocol=pickle.HIGHEST_PROTOCOL)
        return counter.n

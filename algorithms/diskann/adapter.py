"""Vamana graph index held in memory (DiskANN's ``StaticMemoryIndex``) from ``diskannpy`` 0.7.0.

Vamana is DiskANN's graph: one flat layer in which each point links to at most ``graph_degree`` (R)
neighbours, picked by robust pruning with slack ``alpha`` (>= 1; larger keeps longer edges, so
searches take fewer hops) among the candidates a greedy search from the medoid visits.

Build parameters: ``graph_degree`` (R), ``complexity`` (L, the candidate list of the build's
searches; at least R) and ``alpha``.  Query parameter: ``complexity`` (L, the search list; raised
to k when smaller, as diskannpy would).

Distances map to diskannpy metrics: euclidean → ``l2``, angular → ``cosine`` (DiskANN normalises
train and query vectors itself and ranks by cosine; checked against brute force on vectors of
unequal norms), ip → ``mips`` (real maximum inner product on the raw vectors).

diskannpy 0.7.0 pins numpy 1.25, against the project's numpy 2: the adapter runs in a virtualenv
of its own (``environment:`` in config.yml), and this module imports diskannpy only inside its
methods, so the project's interpreter can list the adapter and check its parameters.

The index is written to a fresh temporary folder per build (removed with the adapter) and loaded
back; ``index_size_bytes`` is the size of the files the index loads (graph, vectors, metadata;
diskannpy's own copy of the input, ``ann_vectors.bin``, is deleted after the build).  The build is
deterministic with one thread (identical files on rebuild).  With k > n diskannpy fills the row
past n with garbage ids, so k is cut to n and the row padded with -1.

Threads: every diskannpy call that takes ``num_threads`` gets 1: the build, the load and
``batch_search`` (which calls ``omp_set_num_threads(1)`` before its OpenMP loop); single
``search`` runs in the caller's thread.  ``limit_threads`` also sets both OpenMP runtimes diskannpy
bundles (libgomp, and Intel's libiomp5 under its MKL) to one thread through threadpoolctl (the
worker's ``OMP_NUM_THREADS=1`` does the same at load).
"""

from __future__ import annotations

import os

import numpy as np

from algorithms.diskann_base import PREFIX as _PREFIX
from algorithms.diskann_base import DiskANNBase
from harness.kit import Param

_METRICS = {"euclidean": "l2", "angular": "cosine", "ip": "mips"}


class DiskANNMemory(DiskANNBase):
    distances = frozenset(_METRICS)
    build_parameters = (*DiskANNBase.build_parameters, Param("alpha", float, 1.2, low=1.0))
    query_parameters = (Param("complexity", int, 10, low=1),)
    fixed_parameters = {"num_threads": "every build, load and batch search runs on one thread (num_threads=1)"}

    def fit(self, dataset) -> None:
        import diskannpy

        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        self._n = int(x.shape[0])
        self._dir = self.build_folder()
        p = self.build_params
        diskannpy.build_memory_index(x, distance_metric=_METRICS[self.metric], index_directory=self._dir,
                                     complexity=p["complexity"], graph_degree=p["graph_degree"], alpha=p["alpha"],
                                     num_threads=1, vector_dtype=np.float32, index_prefix=_PREFIX)
        os.remove(os.path.join(self._dir, f"{_PREFIX}_vectors.bin"))  # the input's copy; the index has its own
        self._index = diskannpy.StaticMemoryIndex(self._dir, num_threads=1, index_prefix=_PREFIX,
                                                  initial_search_complexity=p["complexity"])
        self._search = self._index.search
        self.apply_query_params()

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        self._list_for(k)
        return self._search(vector, self._kk, self._L).identifiers.astype(np.int64)

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        self._list_for(k)
        out = np.full((queries.shape[0], k), -1, dtype=np.int64)
        if len(queries) and self._kk:
            x = np.ascontiguousarray(queries, dtype=np.float32)
            out[:, : self._kk] = self._index.batch_search(x, self._kk, self._L, num_threads=1).identifiers
        return out

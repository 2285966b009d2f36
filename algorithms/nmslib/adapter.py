"""Graph indexes from NMSLIB (``nmslib``): HNSW and SW-graph (the flat navigable small world graph).

Build parameters: ``method`` (``hnsw`` or ``sw-graph``), ``efConstruction`` (beam width while
inserting; default 200) and the degree: ``M`` for hnsw (default 16; layer 0 keeps 2·M links),
``NN`` for sw-graph (default 10).  Query parameter: ``efSearch`` (search beam width; both methods
search with at least k).  Distances map to NMSLIB spaces: angular → ``cosinesimil`` (1 − cos; hnsw
normalises the vectors of its optimised index itself), euclidean → ``l2``, ip → ``negdotprod``
(−dot: maximum inner product).

The PyPI wheel of nmslib 2.1.2 is a generic build without SIMD (its import banner says so; silenced here):
its distance functions are scalar, so it is several times slower than a native build would be;
that is the nmslib measured here.  NMSLIB draws its random numbers (hnsw levels, sw-graph entry
points) from a per-thread generator seeded with 0 when a thread first uses it; ``fit`` builds in
a fresh thread (started and joined, the only one running), so that every build starts from that
seed and is the same, even when one process builds twice.

Threads: ``createIndex`` gets ``indexThreadQty=1`` (its default is every core) and
``knnQueryBatch`` ``num_threads=1`` (its default too is every core; with 1 it loops in the calling
thread).  Single queries run in the calling thread.  The index size is that of ``saveIndex`` with
the data (index and data files), written once to a temporary folder and removed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading

import numpy as np

from harness.kit import DENSE, Algorithm, Param


def _import_nmslib():
    """Import nmslib with the process's output descriptors shut: the generic wheel prints its no-SIMD
    banner from C++ on every import (said once, in this docstring, not in every listing and log)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        import nmslib as module
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)
    return module


nmslib = _import_nmslib()

_SPACES = {"angular": "cosinesimil", "euclidean": "l2", "ip": "negdotprod"}
_DEGREE = {"hnsw": ("M", 16), "sw-graph": ("NN", 10)}  # each method's degree parameter and its default


class Nmslib(Algorithm):
    accepts = frozenset({DENSE})
    distances = frozenset(_SPACES)
    build_parameters = (Param("method", str, "hnsw", choices=tuple(_DEGREE)),
                        Param("M", int, None, low=1), Param("NN", int, None, low=1),
                        Param("efConstruction", int, 200, low=1))
    query_parameters = (Param("efSearch", int, 10, low=1),)
    fixed_parameters = {"indexThreadQty": "the index is built on one thread (indexThreadQty=1)",
                        "num_threads": "batch queries run on one thread (num_threads=1)"}

    def __init__(self, metric: str, **build_params) -> None:
        super().__init__(metric, **build_params)
        method = self.build_params["method"]
        degree, default = _DEGREE[method]
        for name, _ in _DEGREE.values():
            if name != degree and self.build_params[name] is not None:
                raise ValueError(f"{self.label}: {name} is not a parameter of method {method} (its degree is {degree})")
        if self.build_params[degree] is None:
            self.build_params[degree] = default
        self._degree = degree

    def fit(self, dataset) -> None:
        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        self._n = int(x.shape[0])
        method = self.build_params["method"]
        self._index = nmslib.init(method=method, space=_SPACES[self.metric], data_type=nmslib.DataType.DENSE_VECTOR,
                                  dtype=nmslib.DistType.FLOAT)
        self._index.addDataPointBatch(x)
        params = {self._degree: self.build_params[self._degree], "efConstruction": self.build_params["efConstruction"],
                  "indexThreadQty": 1}
        failure: list[BaseException] = []

        def build() -> None:
            try:
                self._index.createIndex(params, print_progress=False)
            except BaseException as exc:  # re-raised in the caller's thread
                failure.append(exc)

        thread = threading.Thread(target=build, name="nmslib-build")  # a fresh thread: a fresh seed-0 generator
        thread.start()
        thread.join()
        if failure:
            raise failure[0]
        self._knn = self._index.knnQuery
        self.apply_query_params()

    def apply_query_params(self) -> None:
        if hasattr(self, "_index"):
            self._index.setQueryTimeParams({"efSearch": self.query_params["efSearch"]})

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        # nmslib returns (int32 ids, distances), best first, at most n of them.
        return self._knn(vector, k)[0].astype(np.int64)

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        out = np.full((queries.shape[0], k), -1, dtype=np.int64)
        if not len(queries):
            return out
        results = self._index.knnQueryBatch(np.ascontiguousarray(queries, dtype=np.float32), k=k, num_threads=1)
        for i, (ids, _) in enumerate(results):  # one (ids, distances) pair per query, ids possibly fewer than k
            out[i, :len(ids)] = ids
        return out

    def index_size_bytes(self) -> int:
        with tempfile.TemporaryDirectory(prefix="annsweep-nmslib-") as folder:
            self._index.saveIndex(os.path.join(folder, "index"), save_data=True)
            return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))

"""Graph indexes from NGT (Yahoo Japan, ``ngtpy``): ANNG and ONNG.

ANNG is NGT's default graph, built by inserting points one by one and linking each to the
``edge_size`` nearest points found by searching the graph so far (links are kept both ways).
ONNG is an ANNG refined by ``ngtpy.Optimizer``: each node keeps its ``outdegree`` nearest outgoing
edges and up to ``indegree`` incoming ones, then shortcut edges are removed (path adjustment).
The optimiser's search-parameter tuning and accuracy table are skipped: they cost ~25x the rest
(212 s of CPU on 10k points) and only set defaults that the query parameters here replace.  PANNG
(pruned ANNG) cannot be made through ``ngtpy`` (``create`` refuses graph_type='PANNG').

Build parameters: ``graph`` (``anng`` or ``onng``), ``edge_size`` (edges per point at insertion;
NGT's default 10; the ONNG paper starts from 100, which costs ~5 min of CPU on 100k points),
``outdegree`` and ``indegree`` (ONNG only; default 10 and 120).  Query parameters: ``epsilon``
(the search explores up to (1 + epsilon) x the current k-th distance; > -1, default 0.1) and
``edge_size`` (edges followed per visited node: 0 all (default: measured better recall per
distance computation), > 0 that many, -1 the index's setting (40), -2 a number growing with epsilon).
The index lives in a fresh temporary folder per build, removed with the adapter.

Distances map to NGT distance types: angular → ``Normalized L2`` (NGT normalises points and
queries; L2 between unit vectors ranks as 1 − cos.  ``Normalized Cosine`` is not used: its graph
search never returns a few points, e.g. 6 of random-xs-dense's 10k even when queried with the point
itself, which L2 finds), euclidean → ``L2``, ip → ``Inner Product`` (NGT appends a coordinate so
that maximum inner product becomes nearest L2 neighbour: real MIPS, not cosine).

Threads: insertion runs in NGT's own worker pool, held to one worker by
``batch_insert(num_threads=1)`` (its default is 8; the one worker does the work while the caller
waits).  ``batch_search``, the conversion of its results and the optimiser's path adjustment are
OpenMP loops without a thread argument: they follow the OpenMP limit, set by the worker's
``OMP_NUM_THREADS=1`` and again by ``limit_threads`` (threadpoolctl on NGT's bundled libgomp).
Single queries run in the caller's thread.  ``dist_comps`` is NGT's count of distance
computations per query; NGT counts single searches only (``batch_search`` adds nothing).
"""

from __future__ import annotations

import os
import shutil

import ngtpy
import numpy as np
from threadpoolctl import threadpool_limits

from harness.kit import DENSE, Algorithm, Param

_DISTANCES = {"angular": "Normalized L2", "euclidean": "L2", "ip": "Inner Product"}
_ONNG_DEFAULTS = {"outdegree": 10, "indegree": 120}


class NGT(Algorithm):
    accepts = frozenset({DENSE})
    distances = frozenset(_DISTANCES)
    build_parameters = (Param("graph", str, "anng", choices=("anng", "onng")),
                        Param("edge_size", int, 10, low=1),
                        Param("outdegree", int, None, low=1), Param("indegree", int, None, low=1))
    query_parameters = (Param("epsilon", float, 0.1, low=-1, low_open=True),
                        Param("edge_size", int, 0, low=-2))
    fixed_parameters = {"num_threads": "insertion runs on one thread (batch_insert(num_threads=1))"}
    _nq = 0  # single queries since the last query setting, for dist_comps

    def __init__(self, metric: str, **build_params) -> None:
        super().__init__(metric, **build_params)
        if self.build_params["graph"] == "anng":
            given = [name for name in _ONNG_DEFAULTS if self.build_params[name] is not None]
            if given:
                raise ValueError(f"{self.label}: {given[0]} is only meaningful with graph: onng")
        else:
            for name, value in _ONNG_DEFAULTS.items():
                if self.build_params[name] is None:
                    self.build_params[name] = value

    @classmethod
    def limit_threads(cls, threads: int = 1) -> None:  # no parallel_batch: always asked for 1
        threadpool_limits(limits=1, user_api="openmp")

    def fit(self, dataset) -> None:
        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        self._n = int(x.shape[0])
        self._dir = self.build_folder()
        anng = os.path.join(self._dir, "anng")
        ngtpy.create(anng, int(x.shape[1]), edge_size_for_creation=self.build_params["edge_size"],
                     distance_type=_DISTANCES[self.metric], object_type="Float")
        index = ngtpy.Index(anng, log_disabled=True)
        if self._n:
            index.batch_insert(x, num_threads=1)
        index.save()
        index.close()
        self._path = anng
        if self.build_params["graph"] == "onng":
            self._path = os.path.join(self._dir, "onng")
            optimizer = ngtpy.Optimizer(log_disabled=True)
            optimizer.set(num_of_outgoings=self.build_params["outdegree"],
                          num_of_incomings=self.build_params["indegree"])
            # Degree and path adjustment only (see above).
            optimizer.set_processing_modes(shortcut_reduction=True, search_parameter_optimization=False,
                                           prefetch_parameter_optimization=False, accuracy_table_generation=False)
            optimizer.execute(anng, self._path)
            shutil.rmtree(anng)  # only the ONNG is searched (and counted in the index size)
        self._index = ngtpy.Index(self._path, log_disabled=True)
        self.apply_query_params()

    def apply_query_params(self) -> None:
        self._eps, self._edges = self.query_params["epsilon"], self.query_params["edge_size"]
        if hasattr(self, "_index"):
            self._index.set(epsilon=self._eps, edge_size=self._edges)  # what batch_search uses
            self._dc0, self._nq = self._index.get_num_of_distance_computations(), 0

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        # NGT returns at most n ids (k > n is fine), best first, as an int32 array.
        self._nq += 1
        return self._index.search(vector, k, self._eps, self._edges, with_distance=False).astype(np.int64)

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        nq = queries.shape[0]
        out = np.full((nq, k), -1, dtype=np.int64)
        if not nq or not self._n:
            return out
        results = ngtpy.BatchResults()
        self._index.batch_search(np.ascontiguousarray(queries, dtype=np.float32), results, k, with_distance=False)
        ids = results.get_indexed_ids()  # all rows' ids end to end; get_index() gives the row offsets
        if len(ids) == nq * k:
            out[:] = ids.reshape(nq, k)
        else:
            starts = results.get_index()
            for i in range(nq):
                row = ids[starts[i]:starts[i + 1]]
                out[i, :len(row)] = row
        return out

    def index_size_bytes(self) -> int:
        return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(self._path) for f in files)

    def extra_metrics(self) -> dict[str, float]:
        if not self._nq:
            return {}
        return {"dist_comps": (self._index.get_num_of_distance_computations() - self._dc0) / self._nq}

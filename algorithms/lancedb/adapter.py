"""LanceDB (``lancedb`` 0.40.0, embedded, over Lance files): a vector database benchmarked as an engine.

What is measured is the database as its users get it: the synchronous Python API, which hands every
call to a background asyncio loop and the Rust (tokio + DataFusion) query engine.  That client
overhead, a few milliseconds per call, is part of every query time.

Data: a table (``id`` int64, ``vector`` fixed-size float32 list) in a fresh temporary folder per
build (removed when the adapter is garbage-collected, or at exit), then one vector index on
``vector``.  Build parameters:

* ``index_type`` (required): ``IVF_PQ`` (inverted file over product-quantised codes) or
  ``IVF_HNSW_SQ`` (one HNSW graph of scalar-quantised vectors per IVF partition);
* ``num_partitions`` (required): IVF partitions (k-means cells; lance trains fewer, with a warning,
  when there are too few points per cell);
* IVF_PQ: ``sub_vector_dim``, dimensions per PQ sub-vector (``num_sub_vectors`` = d / sub_vector_dim,
  so one grid fits every dimension; must divide d; default: lance's choice of num_sub_vectors);
* IVF_HNSW_SQ: ``m`` (graph degree, lance default 20) and ``ef_construction`` (lance default 300).

Query parameters: ``nprobes`` (partitions searched; lance's minimum and maximum both), ``refine_factor``
(re-rank k × refine_factor candidates with the stored float32 vectors; none by default, both index
types) and, for IVF_HNSW_SQ, ``ef`` (search beam; lance needs ef ≥ the candidates it is asked for, so
the adapter raises it to k × refine_factor when smaller).  Most exact: nprobes = num_partitions with a
large refine_factor.  Distances: angular → ``cosine``, euclidean → ``l2``, ip → ``dot`` (checked
against brute force, vectors of uneven norms).  lance's k-means takes no seed: builds are not
bit-for-bit repeatable.

Batch mode is lance's multi-vector search: ``table.search(<array of queries>)`` answers many queries
in one call, its rows tagged with ``query_index``.  lance runs a call's queries concurrently, and each
query that re-ranks keeps a file descriptor open meanwhile: 10,000 queries in one call fail with "Too
many open files" (ulimit -n 20,000), so the adapter sends them 100 per call (larger calls were no
cheaper per query).

Threads: lancedb cannot be held to one thread.  ``limit_threads`` sets ``LANCE_CPU_THREADS=1`` (lance's
CPU pool) before lancedb is imported (``fit`` imports it; the pool is sized when it starts).
``LANCE_IO_THREADS`` is left unset: at 1 it deadlocks ``create_index`` (lancedb 0.40.0).  The tokio
runtime keeps its own workers (8 ``lancedb-tokio-w`` threads, ``TOKIO_WORKER_THREADS`` is ignored) and
the asyncio loop runs on a second Python thread; only the worker's affinity holds them to its core.
If they compete with the querying thread, the single-thread proof flags the run.
``index_size_bytes`` is the size of the table's folder (vectors, ids and the index files): what the
engine keeps on disk and reads from (the re-rank step reads the stored vectors).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import numpy as np

from harness.kit import DENSE, REQUIRED, Algorithm, Param

if importlib.util.find_spec("lancedb") is None:  # imported in fit, after limit_threads; unavailable without it
    raise ImportError("lancedb is not installed")

_DISTANCES = {"angular": "cosine", "euclidean": "l2", "ip": "dot"}
_HNSW_ONLY = ("m", "ef_construction")
# Queries per multi-vector search call: lance runs all queries of a call at once, and each one that
# re-ranks holds a file open (10,000 at once fail with "Too many open files" at ulimit -n 20,000).
BATCH = 100


def folder_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


class LanceDB(Algorithm):
    accepts = frozenset({DENSE})
    distances = frozenset(_DISTANCES)
    build_parameters = (Param("index_type", str, REQUIRED, choices=("IVF_PQ", "IVF_HNSW_SQ")),
                        Param("num_partitions", int, REQUIRED, low=1), Param("sub_vector_dim", int, None, low=1),
                        Param("m", int, None, low=2), Param("ef_construction", int, None, low=1))
    query_parameters = (Param("nprobes", int, 1, low=1), Param("refine_factor", int, None, low=1),
                        Param("ef", int, None, low=1))
    fixed_parameters = {"num_sub_vectors": "given as sub_vector_dim (num_sub_vectors = d / sub_vector_dim)",
                        "distance_type": "set by the dataset's distance"}
    _table = None

    def __init__(self, metric: str, **build_params: Any) -> None:
        super().__init__(metric, **build_params)
        p = self.build_params
        self._hnsw = p["index_type"] == "IVF_HNSW_SQ"
        wrong = [name for name in _HNSW_ONLY if p[name] is not None] if not self._hnsw else (
            ["sub_vector_dim"] if p["sub_vector_dim"] is not None else [])
        if wrong:
            raise ValueError(f"{self.label}: {wrong[0]} is not a parameter of index_type {p['index_type']}")

    @classmethod
    def limit_threads(cls, threads: int = 1) -> None:  # no parallel_batch: always asked for 1
        os.environ["LANCE_CPU_THREADS"] = "1"  # read once, when lance's CPU pool starts (after import)

    def fit(self, dataset) -> None:
        self.limit_threads()  # again, for an adapter made outside the catalogue
        import lancedb
        import pyarrow as pa
        from lancedb.index import IvfHnswSq, IvfPq

        p = self.build_params
        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        n, d = x.shape
        self._n = int(n)
        if p["num_partitions"] > n:
            raise ValueError(f"{self.label}: num_partitions={p['num_partitions']} exceeds the train points ({n})")
        if p["sub_vector_dim"] is not None and d % p["sub_vector_dim"]:
            raise ValueError(f"{self.label}: sub_vector_dim={p['sub_vector_dim']} must divide the dimension {d}")
        self._path = self.build_folder()
        data = pa.table({"id": pa.array(np.arange(n, dtype=np.int64)),
                         "vector": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), d)})
        self._table = lancedb.connect(self._path).create_table("vectors", data=data)
        distance = _DISTANCES[self.metric]
        if self._hnsw:
            extra = {name: p[name] for name in _HNSW_ONLY if p[name] is not None}
            config = IvfHnswSq(distance_type=distance, num_partitions=p["num_partitions"], **extra)
        else:
            subs = {} if p["sub_vector_dim"] is None else {"num_sub_vectors": d // p["sub_vector_dim"]}
            config = IvfPq(distance_type=distance, num_partitions=p["num_partitions"], **subs)
        self._table.create_index("vector", config=config)

    def apply_query_params(self) -> None:
        if self.query_params["ef"] is not None and not self._hnsw:
            raise ValueError(f"{self.label}: ef is a query parameter of index_type IVF_HNSW_SQ only")

    def _search(self, queries: np.ndarray, k: int):
        """The query builder's result table (``id``, ``_distance``; a batch adds ``query_index``)."""
        q = self.query_params
        search = self._table.search(queries).distance_type(_DISTANCES[self.metric]).limit(k).nprobes(q["nprobes"])
        if q["refine_factor"] is not None:
            search = search.refine_factor(q["refine_factor"])
        if self._hnsw and q["ef"] is not None:  # lance refuses ef below the candidates it must return
            search = search.ef(max(q["ef"], k * (q["refine_factor"] or 1)))
        # Naming _distance keeps lance from warning on every query that it adds the column anyway.
        return search.select(["id", "_distance"]).to_arrow()

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        return self._search(vector, k).column("id").to_numpy()

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        out = np.full((queries.shape[0], k), -1, dtype=np.int64)
        for start in range(0, queries.shape[0], BATCH):
            found = self._search(queries[start : start + BATCH], k)
            which = found.column("query_index").to_numpy()
            order = np.argsort(which, kind="stable")  # keeps each query's rows in their (best-first) order
            which, ids = which[order], found.column("id").to_numpy()[order]
            rank = np.arange(len(which)) - np.searchsorted(which, which)
            out[start + which, rank] = ids
        return out

    def index_size_bytes(self) -> int:
        return folder_bytes(self._path)

"""Milvus Lite 3.2 (``milvus-lite``) driven through pymilvus's ``MilvusClient``: an engine, not a library.

Milvus Lite 3 is the in-process edition of Milvus: a ``.db`` folder of Parquet segments plus a gRPC
server on 127.0.0.1 that runs as threads of the same Python process; each segment gets a FAISS index.
Every call (insert, search) is a protobuf-encoded gRPC request over the loopback, decoded and answered
in Python by the server, and its result decoded by pymilvus.  That client/server overhead is part of
what users get, so it is part of every measured query here.

Build parameters: ``index_type`` (``HNSW``; ``HNSW_SQ``: HNSW over 8-bit scalar-quantised vectors;
``IVF_FLAT``; ``IVF_SQ8``: IVF over 8-bit codes) with ``M`` and ``efConstruction`` (HNSW types,
Milvus's defaults 16 and 200) or ``nlist`` (IVF types, default 128; Milvus Lite clamps it to the rows
of a segment).  ``IVF_PQ`` is refused: Milvus Lite 3.2.2 raises NotImplementedError for it at load.
Query parameters: ``ef`` (HNSW types, default 64; not raised to k) or ``nprobe`` (IVF types, default
10; FAISS visits at most nlist cells, so nprobe >= nlist is exhaustive, and exact for IVF_FLAT).  The
SQ types have no exact re-ranking.  Builds are deterministic: FAISS's HNSW levels and k-means use
fixed seeds.

Distances: angular → ``COSINE`` (Milvus Lite normalises rows and queries itself, then uses inner
product), euclidean → ``L2``, ip → ``IP``.  Ids are the int64 primary keys, set to the row index.

The build creates the collection and its index, releases it, inserts the rows, flushes them to
Parquet segments and loads the collection, which builds every segment's FAISS index synchronously
(searching before would scan the unindexed rows brute force: recall 1.0 at any ef).  Released, the
collection's background worker builds nothing after a flush, so nothing runs on during the queries.
Each build gets a fresh temporary folder, removed (with the server stopped) when the adapter is
garbage collected or at exit.  ``index_size_bytes`` counts every file in it: the Parquet segments
(the vectors) plus the FAISS index files (the vectors again, with the graph or lists).

Cost of the engine: every search request first builds, in pure Python, a visibility mask over every
stored row (deduplication by primary key, deletions), ~0.7 µs a row: ~70 ms per request at 100k
rows, whatever the index.  A batch pays it once; single-query mode pays it for every query.

Threads: the adapter starts Milvus Lite's server itself, as pymilvus does for a ``.db`` path
(``milvus_lite.adapter.grpc.server``: a MilvusServicer on a grpc.server), but with a request pool of
one thread instead of 10 (pymilvus has no setting for it), and connects ``MilvusClient`` to it.  FAISS
runs in that request thread; OpenMP's thread count is per thread (``faiss.omp_set_num_threads`` in
the main thread does not reach it), so the pool's initializer sets it to one in the thread itself,
on top of the worker's ``OMP_NUM_THREADS=1``.  What cannot be held: gRPC's C core starts threads of
its own (an event engine of ``Clamp(cores, 4, 16)`` threads, a timer and a "lifeguard" thread), plus
the server's polling thread and the collection's (idle) background worker.  A query passes from the
caller through gRPC's I/O threads and the server's poller to the request thread and back while the
caller waits; the single-thread proof sees two busy threads taking turns (the caller encoding and
decoding, the request thread searching), so most of the CPU is off the query thread.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faiss
import grpc
import numpy as np
from milvus_lite.adapter.grpc.servicer import MilvusServicer
from milvus_lite.db import MilvusLite as LiteDB
from pymilvus import DataType, MilvusClient
from pymilvus.grpc_gen.milvus_pb2_grpc import add_MilvusServiceServicer_to_server

from harness.kit import DENSE, Algorithm, Param

_METRICS = {"angular": "COSINE", "euclidean": "L2", "ip": "IP"}
_HNSW, _IVF = ("HNSW", "HNSW_SQ"), ("IVF_FLAT", "IVF_SQ8")
_COLLECTION = "annsweep"
_MAX_MESSAGE = 256 << 20  # Milvus Lite's gRPC message limit
_REQUEST_BYTES = 32 << 20  # vectors per insert/search request, far below it


def _start_server(folder: str) -> tuple[grpc.Server, LiteDB, int]:
    """Milvus Lite's gRPC server on ``folder``, as pymilvus starts it for a ``.db`` path
    (milvus_lite.adapter.grpc.server), except for its request pool: one thread, not 10, whose
    OpenMP/FAISS thread count is set to one by the thread itself (an omp_set_num_threads call in
    another thread does not reach it)."""
    db = LiteDB(folder)
    pool = ThreadPoolExecutor(max_workers=1, initializer=faiss.omp_set_num_threads, initargs=(1,))
    server = grpc.server(pool, options=[("grpc.max_receive_message_length", _MAX_MESSAGE),
                                        ("grpc.max_send_message_length", _MAX_MESSAGE)])
    add_MilvusServiceServicer_to_server(MilvusServicer(db), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, db, port


def _shutdown(client: MilvusClient, server: grpc.Server, db: LiteDB, folder: str) -> None:
    """Close the client, stop the server (its threads end), close the data folder, remove it."""
    try:
        client.close()
        server.stop(grace=None).wait(10)
        db.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class MilvusLite(Algorithm):
    accepts = frozenset({DENSE})
    distances = frozenset(_METRICS)
    build_parameters = (Param("index_type", str, "HNSW", choices=_HNSW + _IVF),
                        Param("M", int, None, low=2), Param("efConstruction", int, None, low=1),
                        Param("nlist", int, None, low=1))
    query_parameters = (Param("ef", int, None, low=1), Param("nprobe", int, None, low=1))

    def __init__(self, metric: str, **build_params: Any) -> None:
        if build_params.get("index_type") == "IVF_PQ":
            raise ValueError(f"{self.label}: index_type IVF_PQ is not implemented in Milvus Lite 3.2.2 "
                             f"(use {', '.join(_HNSW + _IVF)})")
        super().__init__(metric, **build_params)
        p = self.build_params
        hnsw = p["index_type"] in _HNSW
        wrong = [name for name in ("M", "efConstruction", "nlist") if p[name] is not None
                 and (name == "nlist") == hnsw]
        if wrong:
            raise ValueError(f"{self.label}: {wrong[0]} does not apply to index_type {p['index_type']}")
        self._index = ({"M": p["M"] or 16, "efConstruction": p["efConstruction"] or 200} if hnsw
                       else {"nlist": p["nlist"] or 128})

    def fit(self, dataset) -> None:
        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        self._n, d = x.shape
        self._chunk = max(1, _REQUEST_BYTES // (4 * d))
        folder = tempfile.mkdtemp(prefix="annsweep-milvus-")
        self._folder = os.path.join(folder, "milvus.db")
        server, db, port = _start_server(self._folder)
        # pymilvus pings every 10 s, and the server allows two pings without data: a request longer than
        # ~30 s (an index build at load) was cut off with "too_many_pings".  A loopback needs no keepalive.
        self._client = client = MilvusClient(uri=f"http://127.0.0.1:{port}",
                                             grpc_options={"grpc.keepalive_time_ms": 2**31 - 1,
                                                           "grpc.keepalive_permit_without_calls": False})
        self._finalizer = weakref.finalize(self, _shutdown, client, server, db, folder)

        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=d)
        client.create_collection(_COLLECTION, schema=schema)
        index = client.prepare_index_params()
        # Milvus Lite reads build parameters only from a nested "params" key (pymilvus flattens a plain one).
        index.add_index(field_name="vector", index_type=self.build_params["index_type"],
                        metric_type=_METRICS[self.metric], params={"params": self._index})
        # sync=False: pymilvus would wait for the index with AllocTimestamp, which Milvus Lite lacks.
        client.create_index(_COLLECTION, index, sync=False)
        client.release_collection(_COLLECTION)  # released: flushes schedule no background index build
        for start in range(0, self._n, self._chunk):
            client.insert(_COLLECTION, [{"id": i, "vector": x[i]} for i in range(start, min(start + self._chunk,
                                                                                               self._n))])
        client.flush(_COLLECTION)  # rows → Parquet segments (a search would scan unflushed rows brute force)
        client.load_collection(_COLLECTION)  # builds every segment's FAISS index, synchronously
        self.apply_query_params()

    def apply_query_params(self) -> None:
        hnsw = self.build_params["index_type"] in _HNSW
        wrong = "nprobe" if hnsw else "ef"
        if self.query_params.get(wrong) is not None:
            raise ValueError(f"{self.label}: query parameter {wrong} does not apply to index_type "
                             f"{self.build_params['index_type']}")
        name = "ef" if hnsw else "nprobe"
        value = self.query_params.get(name)
        self._search_params = {} if value is None else {name: value}

    def _search(self, queries: np.ndarray, k: int) -> list:
        return self._client.search(_COLLECTION, data=queries, limit=k, anns_field="vector",
                                   search_params=self._search_params)

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        # One hit list of int64 primary keys (= row indexes), best first; shorter when k > n.
        return np.asarray(self._search(np.asarray(vector, dtype=np.float32).reshape(1, -1), k)[0].ids,
                          dtype=np.int64)

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        # One search request per chunk of queries, answered by the server in one FAISS call per segment.
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        out = np.full((queries.shape[0], k), -1, dtype=np.int64)
        for start in range(0, queries.shape[0], self._chunk):
            for i, hits in enumerate(self._search(queries[start:start + self._chunk], k), start):
                out[i, : len(hits.ids)] = hits.ids
        return out

    def index_size_bytes(self) -> int:
        return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(self._folder)
                   for f in files)

"""Chroma (``chromadb`` 1.5.9, embedded): the HNSW index of a vector database, benchmarked as an engine.

What is measured is the database as its users get it: the Python client, its Rust bindings, the
SQLite store and the hnswlib graph underneath.  The client's overhead is part of every query time.

Data: a ``PersistentClient`` over a fresh temporary folder per build (removed when the adapter is
garbage-collected, or at exit), telemetry off, no embedding function (vectors go in as given).  Ids
are the row numbers as strings, added at most ``client.get_max_batch_size()`` (5,461) per call.

Parameters, named as chroma's HNSW configuration names them (its defaults in brackets):

* build: ``max_neighbors`` (16; hnswlib's M) and ``ef_construction`` (100); ``batch_size``,
  ``sync_threshold`` and ``resize_factor`` stay at chroma's defaults;
* query: ``ef_search`` (100), the search beam (hnswlib widens it to k when smaller).

chroma reads ``ef_search`` when it loads the index: ``collection.modify()`` records a new value but
the index already loaded in the process keeps searching with the old one.  So a query setting
writes the new value with ``modify()``, closes the client and opens a new one on the same folder:
the same graph is loaded again from disk, now with the new ``ef_search`` (~0.1 s for 100k points,
untimed).  ``fit`` reopens once too, so every setting searches an index loaded the same way.

Distances: angular → space ``cosine`` (1 − cos), euclidean → ``l2`` (chroma returns the *squared*
L2 distance: same ranking), ip → ``ip`` (chroma's distance is 1 − dot: same ranking as −dot;
checked against brute force on vectors of uneven norms).

Batch mode is chroma's own batch call, ``query(query_embeddings=<all queries>, n_results=k)``;
``include=[]`` asks for ids only (no documents, metadata or distances fetched).

Threads: chroma cannot be held to one thread.  Its Rust runtime starts tokio workers and SQLite
(sqlx) worker threads whatever is set (``TOKIO_WORKER_THREADS=1`` changes nothing; pinned to one
core there are 3 tokio and 2-5 sqlx threads); ``num_threads=1`` is passed in the HNSW configuration,
but chroma 1.5.9 drops it from the stored configuration, so nothing shows it is used.  Only the
worker's affinity holds them all to its core: if they compete with the querying thread, the
single-thread proof flags the run.  ``index_size_bytes`` is the size of the persist folder (SQLite
store and HNSW files): what the engine keeps on disk for the collection.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import weakref

import numpy as np

from harness.kit import DENSE, Algorithm, Param

if importlib.util.find_spec("chromadb") is None:  # imported in fit; unavailable without it
    raise ImportError("chromadb is not installed")

_SPACES = {"angular": "cosine", "euclidean": "l2", "ip": "ip"}
_NAME = "annsweep"


def folder_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def _connect(path: str):
    import chromadb  # here, not at module import: the catalogue lists adapters without loading chroma
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))


def _close(client, path: str) -> None:
    try:
        client.close()
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Chroma(Algorithm):
    accepts = frozenset({DENSE})
    distances = frozenset(_SPACES)
    build_parameters = (Param("max_neighbors", int, 16, low=2), Param("ef_construction", int, 100, low=1))
    query_parameters = (Param("ef_search", int, 100, low=1),)
    fixed_parameters = {"num_threads": "always 1 (the harness runs one thread)",
                        "space": "set by the dataset's distance"}
    _collection = None

    def fit(self, dataset) -> None:
        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        self._n = int(x.shape[0])
        self._path = tempfile.mkdtemp(prefix="annsweep-chroma-")
        self._client = _connect(self._path)
        self._finalizer = weakref.finalize(self, _close, self._client, self._path)
        self._ef = self.query_params["ef_search"]
        hnsw = {"space": _SPACES[self.metric], "max_neighbors": self.build_params["max_neighbors"],
                "ef_construction": self.build_params["ef_construction"], "ef_search": self._ef, "num_threads": 1}
        collection = self._client.create_collection(_NAME, embedding_function=None, configuration={"hnsw": hnsw})
        step = self._client.get_max_batch_size()
        for start in range(0, self._n, step):
            stop = min(start + step, self._n)
            collection.add(ids=[str(i) for i in range(start, stop)], embeddings=x[start:stop])
        self._reopen()

    def _reopen(self) -> None:
        """Close the client (persisting everything) and load the collection again from disk."""
        self._finalizer.detach()
        self._client.close()
        self._client = _connect(self._path)
        self._finalizer = weakref.finalize(self, _close, self._client, self._path)
        self._collection = self._client.get_collection(_NAME)

    def apply_query_params(self) -> None:
        ef = self.query_params["ef_search"]
        if self._collection is not None and ef != self._ef:
            self._collection.modify(configuration={"hnsw": {"ef_search": ef}})
            self._reopen()  # only a freshly loaded index searches with the new ef_search
            self._ef = ef

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        ids = self._collection.query(query_embeddings=[vector], n_results=k, include=[])["ids"][0]
        return np.array(ids, dtype=np.int64)  # "17" -> 17 (the ids are the row numbers)

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        out = np.full((queries.shape[0], k), -1, dtype=np.int64)
        if len(queries):
            rows = self._collection.query(query_embeddings=np.ascontiguousarray(queries, dtype=np.float32),
                                          n_results=k, include=[])["ids"]
            width = min(self._n, k)  # ids per row, as strings: "17" -> 17
            if all(len(row) == width for row in rows):
                out[:, :width] = np.array(rows, dtype=np.int64).reshape(len(rows), width)
            else:
                for i, row in enumerate(rows):
                    out[i, : len(row)] = np.array(row, dtype=np.int64)
        return out

    def index_size_bytes(self) -> int:
        return folder_bytes(self._path)

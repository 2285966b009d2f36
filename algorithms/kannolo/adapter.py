"""kANNolo (``kannolo`` 0.15.1, Rust, MIT licence): HNSW over dense and learned-sparse vectors.

kANNolo (Delfino, Ermini, Nardini, Rulli, Venturini; ECIR 2025) is the Seismic authors' library of
graph indexes; big-ann-benchmarks' sparse track was won by graph methods, and its sparse HNSW is the
graph method of that kind.  The index is HNSW (Malkov & Yashunin): a hierarchy of proximity graphs,
each node linked to at most ``m`` neighbours (2·m on the ground layer), built by inserting every
point with a beam search of width ``ef_construction``; a query descends the upper layers greedily
and searches the ground layer with a beam of ``ef_search`` candidates (at least k).

Classes used: ``SparsePlainHNSW`` (CSR documents; inner product, the only score for sparse input)
and ``DensePlainHNSW`` (``dotproduct`` or ``euclidean``; angular datasets are normalised here and
searched by inner product).  Both store vector values as float16 (queries stay float32): at its most
exact setting (``ef_search`` ≥ n) the ranking is exact up to float16 rounding of the documents, as
with Seismic, and near-ties at rank k can swap.  Sparse term ids are stored as 16-bit integers:
datasets with more than 65,536 columns are refused before the build.

Build parameters: ``m`` (32) and ``ef_construction`` (200), the library's defaults.  Query
parameter: ``ef_search`` (required).  ``early_exit_threshold`` stays ``None`` (no early stop).

Input checks the library does not make: it aborts the process (a Rust panic with ``panic=abort``)
when a query names a term id beyond the documents' largest, so those terms are dropped from every
query (no document has them: they add nothing to any score); documents' term ids must be strictly
increasing, which ``sum_duplicates`` ensures.

Threads: the build inserts large layers in parallel batches on Rayon's global pool, which reads
``RAYON_NUM_THREADS`` once when it starts: ``limit_threads`` sets it to 1 (called by the catalogue
before the adapter is made, and by ``fit``), and the worker's core pin sizes the pool to one as
well.  ``search`` runs on the calling thread; ``batch_search`` is called with ``num_threads=1``, a
plain loop on the calling thread.

``index_size_bytes`` is the size of the file ``save`` writes (graph and float16 vectors), written
once into the build's temporary folder when it is first asked for (after the timed build).
"""

from __future__ import annotations

import os

import kannolo
import numpy as np
import scipy.sparse as sp

from harness.kit import DENSE, REQUIRED, SPARSE, Algorithm, Param, normalize_rows

_MAX_TERMS = 1 << 16  # term ids are stored as u16


class Kannolo(Algorithm):
    accepts = frozenset({DENSE, SPARSE})
    distances = frozenset({"angular", "euclidean", "ip"})
    build_parameters = (Param("m", int, 32, low=2), Param("ef_construction", int, 200, low=1))
    query_parameters = (Param("ef_search", int, REQUIRED, low=1),)
    fixed_parameters = {"num_threads": "always 1 (the harness runs one thread)",
                        "early_exit_threshold": "None: the beam search never stops early",
                        "metric": "from the dataset's distance (sparse: inner product)"}
    _index = None

    @classmethod
    def limit_threads(cls, threads: int = 1) -> None:  # no parallel_batch: always asked for 1
        """Rayon's global pool reads RAYON_NUM_THREADS once, at the library's first parallel call."""
        os.environ["RAYON_NUM_THREADS"] = "1"

    def fit(self, dataset) -> None:
        self.limit_threads()  # again, for an adapter made outside the catalogue: before the first parallel call
        m, ef = self.build_params["m"], self.build_params["ef_construction"]
        self._sparse = sp.issparse(dataset.train)
        if self._sparse:
            train = sp.csr_matrix(dataset.train, dtype=np.float32)
            if train.shape[1] > _MAX_TERMS:
                raise ValueError(f"{self.label}: kannolo stores term ids as 16-bit integers; this dataset has "
                                 f"{train.shape[1]:,} columns (at most {_MAX_TERMS:,})")
            train.sum_duplicates()  # sorts each row's term ids, which the library requires
            # Query terms from here on are in no document: dropped (the library aborts on them).
            self._terms = int(train.indices.max()) + 1 if train.nnz else 0
            self._index = kannolo.SparsePlainHNSW.build_from_arrays(
                train.indices.astype(np.int32), train.data, train.indptr.astype(np.int64),
                m=m, ef_construction=ef)
        else:
            self._normalise = self.metric == "angular"
            x = normalize_rows(dataset.train) if self._normalise else np.asarray(dataset.train, dtype=np.float32)
            self._index = kannolo.DensePlainHNSW.build_from_array(
                np.ascontiguousarray(x).ravel(), int(x.shape[1]), m=m, ef_construction=ef,
                metric="euclidean" if self.metric == "euclidean" else "dotproduct")

    def apply_query_params(self) -> None:
        self._ef = self.query_params["ef_search"]

    def _sparse_query(self, vector) -> tuple[np.ndarray, np.ndarray]:
        row = vector if getattr(vector, "format", None) == "csr" else sp.csr_matrix(vector)
        keep = row.indices < self._terms
        return (np.ascontiguousarray(row.indices[keep], dtype=np.int32),
                np.ascontiguousarray(row.data[keep], dtype=np.float32))

    def _dense_rows(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return np.ascontiguousarray(normalize_rows(x) if self._normalise else x)

    def query(self, vector, k: int) -> np.ndarray:
        if self._sparse:
            ids = self._index.search(*self._sparse_query(vector), k, ef_search=self._ef)[1]
        else:
            ids = self._index.search(self._dense_rows(vector).ravel(), k, ef_search=self._ef)[1]
        return ids[ids >= 0]

    def batch_query(self, queries, k: int) -> np.ndarray:
        if self._sparse:
            q = sp.csr_matrix(queries, dtype=np.float32)[:, : self._terms]
            nq = q.shape[0]
            ids = self._index.batch_search(q.indices.astype(np.int32), q.data, q.indptr.astype(np.int64), k,
                                           ef_search=self._ef, num_threads=1)[1]
        else:
            x = self._dense_rows(queries)
            nq = x.shape[0]
            ids = self._index.batch_search(x.ravel(), k, ef_search=self._ef, num_threads=1)[1]
        return np.asarray(ids, dtype=np.int64).reshape(nq, k)

    def index_size_bytes(self) -> int | None:
        if self._index is None:
            return None
        if not hasattr(self, "_size"):
            path = os.path.join(self.build_folder(), "index.kannolo")
            self._index.save(path)
            self._size = os.path.getsize(path)
            os.remove(path)
        return self._size

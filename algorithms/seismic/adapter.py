"""Seismic, the reference implementation (``pyseismic-lsr`` 0.5.4, Rust, MIT licence).

Seismic (Bruch, Nardini, Rulli, Venturini; SIGIR 2024) is an inverted index for
learned sparse vectors: each term's posting list keeps at most ~``n_postings``
of its highest-weight documents (a global budget of ``n_postings`` × vocabulary
postings, no list longer than ``max_fraction`` × ``n_postings``), split into
blocks by clustering (about ``centroid_fraction`` × list length blocks, at least
``min_cluster_size`` documents each); every block carries a *summary* (a
sparse vector keeping ``summary_energy`` of the block's L1 mass).  A query
walks the lists of its ``query_cut`` largest terms, and scores a block's
documents exactly (from a forward index) only when the block's summary score
exceeds ``heap_factor`` × the current k-th best score.  Optionally (``nknn``
> 0 at build, ``n_knn`` > 0 at query time) the result is refined with a
k-NN graph.

Parameters, named as the library names them:

* build: ``n_postings`` (3500), ``centroid_fraction`` (0.1), ``min_cluster_size``
  (2), ``summary_energy`` (0.4), ``max_fraction`` (1.5), ``doc_cut`` (15),
  ``nknn`` (0) — library defaults in brackets; ``knn_path`` and
  ``batched_indexing`` stay at their defaults, ``num_threads`` is always 1;
* query: ``query_cut``, ``heap_factor`` (required), ``n_knn`` (0).

Most exact setting: ``n_postings`` ≥ the longest posting list (no pruning),
``heap_factor=0`` (no block is skipped) and ``query_cut`` ≥ the query's nnz.
Even then the ranking is only exact up to float16 rounding: the forward index
stores document weights as float16 (queries stay float32), so scores differ
from float32 ones by up to ~5e-4 relative and near-ties at rank k can swap.

Using the library through its Python API (part of what is measured):

* documents go in with ``SeismicDataset.add_documents_by_id`` (CSR arrays,
  document ids are the row numbers as strings);
* queries address components as *strings* of the term id (``"42"``) in the
  library's fixed-width dtype (``get_seismic_string()``, ``<U100``): ``fit``
  precomputes a table of the vocabulary's id strings and a query's components
  are ``table[row.indices]``;
* results are ``(query_id, score, doc_id)`` tuples with string ids, mapped back
  to ints; ``batch_search`` results are placed by their query id, because
  with more than one Rayon thread the library returns them out of order.

Conversion cost (``benchmarks/seismic_conversion.py``, interleaved best of 5, one
pinned core of a shared 2-core VM): converting queries and parsing results
alone takes ~5 µs per query in both modes on ``wordnet-splade-tiny`` (~22
nnz/query): 7.7 % of the adapter's time at the fastest setting (query_cut 3,
heap_factor 1.0: 69 µs/query), ~5 % at query_cut 4 / heap_factor 0.8 and
2.5–4.5 % at recall@10 ≥ 0.99 (query_cut 6–8, heap_factor 0.5: 175–230
µs/query).  On ``random-s-sparse`` (~40 nnz/query, n_postings 1500) it is
6–11 µs per query: 4–5 % at query_cut 3 / heap_factor 1.0 (~150 µs/query),
1.4–2.4 % at query_cut 10 / heap_factor 0.8 (~450 µs/query).  The adapter's
total overhead over bare ``search``/``batch_search`` calls on pre-converted
queries measured 5–15 µs per query on wordnet in the same runs.

Threads: the worker pins itself to one core and starts with ``RAYON_NUM_THREADS=1``;
``limit_threads`` (called before the adapter is made, and again by ``fit``) sets the variable
before the library's first parallel call (Rayon reads it once, when its global pool starts), and
``num_threads=1`` is passed everywhere the API takes it.  pyseismic 0.5.4 ignores
``num_threads=1`` (build *and* ``batch_search``): its Rayon pool has one thread per *allowed*
core unless ``RAYON_NUM_THREADS=1`` is set.  Measured on 2 cores, unpinned and unset: CPU/wall
1.84 (build) and 1.85 (``batch_search``); in the worker with the pin undone and the variable
unset: CPU/wall 1.75, 3 threads, flagged.  Pinned to one core, Rayon sizes its pool by the
affinity, so the pin alone already gives one pool thread.

Even with one pool thread, ``batch_search`` runs on that Rayon thread while the calling (timing)
thread sleeps: the work is sequential (CPU/wall ≤ 1, most CPU off the timing thread) and the
proof's run-queue measure (``contention_s``) tells this hand-off from competition, so it passes.
``query`` (``search``) runs on the calling thread.

``index_size_bytes`` is the library's own total (``print_space_usage_byte``
prints it to fd 1; ``fit`` captures and parses that output: forward index +
posting lists + summaries + k-NN graph).  If the output cannot be parsed it
falls back to an estimate from nnz (forward index only) and
``size_is_estimate`` is set.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

import numpy as np
import scipy.sparse as sp

from harness.kit import REQUIRED, SPARSE, Algorithm, Param


def capture_fd1(fn) -> str:
    """Run ``fn()`` and return what it wrote to file descriptor 1 (native code prints there)."""
    sys.stdout.flush()
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(1)
        try:
            os.dup2(tmp.fileno(), 1)
            fn()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode(errors="replace")


def batch_inputs(table: np.ndarray, queries) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """(query ids, components, values) of a CSR batch, as ``batch_search`` takes them.

    Query ids are the row numbers; components are ``table[term ids]`` (the
    library's string dtype).  Slicing one converted array per query is ~30 %
    faster than ``np.split``.
    """
    q = sp.csr_matrix(queries, dtype=np.float32)
    nq = q.shape[0]
    strings = table[q.indices]
    bounds = q.indptr.tolist()
    components = [strings[bounds[i] : bounds[i + 1]] for i in range(nq)]
    values = [q.data[bounds[i] : bounds[i + 1]] for i in range(nq)]
    return np.arange(nq).astype(table.dtype), components, values


def batch_ids(found: list[list[tuple[str, float, str]]], nq: int, k: int) -> np.ndarray:
    """``batch_search`` results as an nq×k id array, rows placed by their query id, padded with -1.

    The library returns rows out of order when it runs on several threads; a
    query with no hit has an empty row that names no query, and stays -1.
    """
    lengths = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
    rows = np.fromiter((int(hits[0][0]) if hits else -1 for hits in found), dtype=np.int64, count=len(found))
    ids = np.fromiter((int(h[2]) for hits in found for h in hits), dtype=np.int64, count=int(lengths.sum()))
    starts = np.cumsum(lengths) - lengths
    out = np.full((nq, k), -1, dtype=np.int64)
    out[np.repeat(rows, lengths), np.arange(len(ids)) - np.repeat(starts, lengths)] = ids
    return out


class Seismic(Algorithm):
    """pyseismic-lsr's SeismicIndex over the CSR train matrix, queried on one thread."""

    accepts = frozenset({SPARSE})
    distances = frozenset({"ip"})
    # Defaults: the library's own (SeismicIndex.build_from_dataset, pyseismic-lsr 0.5.4).
    build_parameters = (
        Param("n_postings", int, 3500, low=1), Param("centroid_fraction", float, 0.1, low=0, high=1, low_open=True),
        Param("min_cluster_size", int, 2, low=1), Param("summary_energy", float, 0.4, low=0, high=1, low_open=True),
        Param("max_fraction", float, 1.5, low=1), Param("doc_cut", int, 15, low=1), Param("nknn", int, 0, low=0),
    )
    query_parameters = (Param("query_cut", int, REQUIRED, low=1), Param("heap_factor", float, REQUIRED, low=0),
                        Param("n_knn", int, 0, low=0))
    fixed_parameters = {"num_threads": "always 1 (the harness runs one thread)",
                        "knn_path": "not supported (the k-NN graph is built with nknn)",
                        "batched_indexing": "only lowers peak build memory; left at the library default"}
    _index = None
    _query: tuple[int, float, int] | None = None

    @classmethod
    def limit_threads(cls, threads: int = 1) -> None:  # no parallel_batch: always asked for 1
        """Rayon's global pool reads RAYON_NUM_THREADS once, at the library's first parallel call."""
        os.environ["RAYON_NUM_THREADS"] = "1"

    def fit(self, dataset) -> None:
        self.limit_threads()  # again, for a Seismic made outside the catalogue: before the first parallel call
        from seismic import SeismicDataset, SeismicIndex, get_seismic_string

        train = sp.csr_matrix(dataset.train, dtype=np.float32)
        train.sum_duplicates()  # also sorts: components must be strictly increasing within a row
        self._n, dim = int(train.shape[0]), int(train.shape[1])
        data = SeismicDataset(dim=dim)
        data.add_documents_by_id(
            [str(i) for i in range(self._n)], train.indices.astype(np.int64), train.data,
            train.indptr.astype(np.int64),
        )
        index = SeismicIndex.build_from_dataset(data, **self.build_params, num_threads=1)
        del data
        self._index = index
        # Components are addressed by the string of their id ("42"), in the library's dtype.
        self._table = np.arange(dim).astype(get_seismic_string())
        self.space_usage = capture_fd1(index.print_space_usage_byte)
        match = re.search(r"Total:\s*(\d+)\s*Bytes", self.space_usage)
        self.size_is_estimate = match is None
        # Fallback: float16 value + uint16 component per nonzero (the forward index alone).
        self._size = int(match.group(1)) if match else int(index.nnz) * 4

    def apply_query_params(self) -> None:
        if self.query_params["n_knn"] and not self.build_params["nknn"]:
            raise ValueError(f"{self.label}: n_knn={self.query_params['n_knn']} needs a k-NN graph "
                             "(build parameter nknn > 0)")
        self._query = (self.query_params["query_cut"], self.query_params["heap_factor"], self.query_params["n_knn"])

    def _ready(self, what: str) -> tuple[int, float, int]:
        if self._index is None:
            raise RuntimeError(f"{self.label}: {what} called before fit()")
        if self._query is None:
            raise RuntimeError(f"{self.label}: {what} called before set_query_params()")
        return self._query

    def query(self, vector, k: int) -> np.ndarray:
        query_cut, heap_factor, n_knn = self._ready("query()")
        row = vector if getattr(vector, "format", None) == "csr" else sp.csr_matrix(vector)
        found = self._index.search("0", self._table[row.indices], np.asarray(row.data, dtype=np.float32), k,
                                   query_cut, heap_factor, n_knn)
        return np.fromiter((int(r[2]) for r in found), dtype=np.int64, count=len(found))

    def batch_query(self, queries, k: int) -> np.ndarray:
        query_cut, heap_factor, n_knn = self._ready("batch_query()")
        query_ids, components, values = batch_inputs(self._table, queries)
        found = self._index.batch_search(query_ids, components, values, k, query_cut, heap_factor, n_knn,
                                         num_threads=1)
        return batch_ids(found, len(components), k)

    def index_size_bytes(self) -> int | None:
        return getattr(self, "_size", None)

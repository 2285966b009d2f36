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

Threads: the worker pins itself to one core and sets ``RAYON_NUM_THREADS=1``
before importing adapters; ``fit`` sets the variable again before the
library's first parallel call (Rayon reads it once, when its global pool
starts), and ``num_threads=1`` is passed everywhere the API takes it.
pyseismic 0.5.4 ignores ``num_threads=1`` (build *and* ``batch_search``):
its Rayon pool has one thread per *allowed* core unless ``RAYON_NUM_THREADS=1``
is set.  Measured on 2 cores, unpinned and unset: CPU/wall 1.84 (build) and
1.85 (``batch_search``); in the worker with the pin undone and the variable
unset: CPU/wall 1.75, 3 threads, flagged.  Pinned to one core, Rayon sizes its
pool by the affinity, so the pin alone already gives one pool thread.

Even with one pool thread, ``batch_search`` runs on that Rayon thread while
the calling (timing) thread waits: the work is sequential, CPU/wall ≤ 1, but
the worker's proof counts the pool thread's CPU as "CPU off the query
thread" and flags batch runs (``single_thread_ok`` false, 2 busy threads).
``query`` (``search``) runs on the calling thread and passes.

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
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from harness.algorithm import SPARSE, Algorithm

NAME = "seismic"

# Library defaults of SeismicIndex.build_from_dataset (pyseismic-lsr 0.5.4) and their checks.
BUILD_DEFAULTS: dict[str, Any] = {
    "n_postings": 3500, "centroid_fraction": 0.1, "min_cluster_size": 2, "summary_energy": 0.4,
    "max_fraction": 1.5, "doc_cut": 15, "nknn": 0,
}
QUERY_DEFAULTS: dict[str, Any] = {"n_knn": 0}
REQUIRED_QUERY = ("query_cut", "heap_factor")
FIXED = {"num_threads": "always 1 (the harness runs one thread)",
         "knn_path": "not supported (the k-NN graph is built with nknn)",
         "batched_indexing": "only lowers peak build memory; left at the library default"}


def _limit_rayon_threads() -> None:
    """Rayon's global pool reads RAYON_NUM_THREADS once, at the first parallel call."""
    os.environ["RAYON_NUM_THREADS"] = "1"


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{NAME}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _number(name: str, value: Any, low: float, high: float, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{NAME}: {name} must be a number, got {value!r}")
    value = float(value)
    if not (low < value if low_open else low <= value) or not value <= high:
        bracket = "(" if low_open else "["
        raise ValueError(f"{NAME}: {name} must be in {bracket}{low}, {high}], got {value!r}")
    return value


def _check_unknown(kind: str, given: dict[str, Any], known: set[str]) -> None:
    fixed = sorted(set(given) & set(FIXED))
    if fixed:
        raise ValueError(f"{NAME}: {kind} parameter {fixed[0]} cannot be set: {FIXED[fixed[0]]}")
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"{NAME}: unknown {kind} parameter(s) {unknown} (known: {sorted(known)})")


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

    accepts: ClassVar[frozenset[str]] = frozenset({SPARSE})
    distances: ClassVar[frozenset[str]] = frozenset({"ip"})

    def __init__(self, metric: str, **build_params: Any) -> None:
        if metric not in self.distances:
            raise ValueError(f"{NAME}: unsupported distance {metric!r} (supported: {sorted(self.distances)})")
        _check_unknown("build", build_params, set(BUILD_DEFAULTS))
        params = {**BUILD_DEFAULTS, **build_params}
        self._build = {
            "n_postings": _positive_int("n_postings", params["n_postings"]),
            "centroid_fraction": _number("centroid_fraction", params["centroid_fraction"], 0.0, 1.0, True),
            "min_cluster_size": _positive_int("min_cluster_size", params["min_cluster_size"]),
            "summary_energy": _number("summary_energy", params["summary_energy"], 0.0, 1.0, True),
            "max_fraction": _number("max_fraction", params["max_fraction"], 1.0, float("inf")),
            "doc_cut": _positive_int("doc_cut", params["doc_cut"]),
            "nknn": _positive_int("nknn", params["nknn"], 0),
        }
        super().__init__(metric, **build_params)
        self._index = None
        self._table: np.ndarray | None = None
        self._n = 0
        self._size: int | None = None
        self.size_is_estimate = False
        self.space_usage = ""
        self._query: tuple[int, float, int] | None = None

    # --- building -----------------------------------------------------------
    def _limit_threads(self) -> None:
        _limit_rayon_threads()

    def fit(self, dataset) -> None:
        if dataset.kind not in self.accepts:
            raise ValueError(f"{NAME}: unsupported input kind {dataset.kind!r} (accepts {sorted(self.accepts)})")
        self._limit_threads()  # before the library's first parallel call in this process
        from seismic import SeismicDataset, SeismicIndex, get_seismic_string

        train = sp.csr_matrix(dataset.train, dtype=np.float32)
        train.sum_duplicates()  # also sorts: components must be strictly increasing within a row
        self._n, dim = int(train.shape[0]), int(train.shape[1])
        data = SeismicDataset(dim=dim)
        data.add_documents_by_id(
            [str(i) for i in range(self._n)], train.indices.astype(np.int64), train.data,
            train.indptr.astype(np.int64),
        )
        index = SeismicIndex.build_from_dataset(data, **self._build, num_threads=1)
        del data
        self._index = index
        # Components are addressed by the string of their id ("42"), in the library's dtype.
        self._table = np.arange(dim).astype(get_seismic_string())
        self.space_usage = capture_fd1(index.print_space_usage_byte)
        match = re.search(r"Total:\s*(\d+)\s*Bytes", self.space_usage)
        self.size_is_estimate = match is None
        # Fallback: float16 value + uint16 component per nonzero (the forward index alone).
        self._size = int(match.group(1)) if match else int(index.nnz) * 4

    def set_query_params(self, **params: Any) -> None:
        _check_unknown("query", params, set(REQUIRED_QUERY) | set(QUERY_DEFAULTS))
        missing = [p for p in REQUIRED_QUERY if p not in params]
        if missing:
            raise ValueError(f"{NAME}: query parameter(s) {missing} are required")
        params = {**QUERY_DEFAULTS, **params}
        query_cut = _positive_int("query_cut", params["query_cut"])
        heap_factor = _number("heap_factor", params["heap_factor"], 0.0, float("inf"))
        n_knn = _positive_int("n_knn", params["n_knn"], 0)
        if n_knn and not self._build["nknn"]:
            raise ValueError(f"{NAME}: n_knn={n_knn} needs a k-NN graph (build parameter nknn > 0)")
        super().set_query_params(**params)
        self._query = (query_cut, heap_factor, n_knn)

    # --- querying -----------------------------------------------------------
    def _ready(self, what: str) -> tuple[Any, tuple[int, float, int]]:
        if self._index is None:
            raise RuntimeError(f"{NAME}: {what} called before fit()")
        if self._query is None:
            raise RuntimeError(f"{NAME}: {what} called before set_query_params()")
        return self._index, self._query

    def query(self, vector, k: int) -> np.ndarray:
        index, (query_cut, heap_factor, n_knn) = self._ready("query()")
        row = vector if getattr(vector, "format", None) == "csr" else sp.csr_matrix(vector)
        found = index.search("0", self._table[row.indices], np.asarray(row.data, dtype=np.float32), k,
                             query_cut, heap_factor, n_knn)
        return np.fromiter((int(r[2]) for r in found), dtype=np.int64, count=len(found))

    def batch_query(self, queries, k: int) -> np.ndarray:
        index, (query_cut, heap_factor, n_knn) = self._ready("batch_query()")
        query_ids, components, values = batch_inputs(self._table, queries)
        found = index.batch_search(query_ids, components, values, k, query_cut, heap_factor, n_knn,
                                   num_threads=1)
        return batch_ids(found, len(components), k)

    # --- optional facts -----------------------------------------------------
    def index_size_bytes(self) -> int | None:
        return self._size

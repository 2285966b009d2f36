"""Blocked inverted index for learned sparse vectors: our C implementation of the Seismic design.

Bruch, Nardini, Rulli, Venturini, "Efficient Inverted Indexes for Approximate Retrieval over
Learned Sparse Representations" (SIGIR 2024).  The core is pure C11
(``algorithms/blocked/blocked_index.c``), wrapped by the extension module ``algorithms._blocked``
(``blocked_module.c``), built by ``pip install -e .`` (see ``setup.py``).

Index (build parameters, defaults = the reference library's, pyseismic-lsr 0.5.4):

* forward index: every document's full vector (uint16 term ids; weights float32, or float16 with
  ``value_type="f16"``);
* static pruning: ``pruning="global"`` keeps the ``n_postings`` × (number of non-empty lists)
  largest entries overall, at most ``max_fraction`` × ``n_postings`` per list (the reference's
  default); ``pruning="fixed"`` keeps the ``n_postings`` largest entries of every list;
* blocking: each pruned list is clustered by one-pass random k-means into
  ``centroid_fraction`` × length blocks (documents scored against centroids by their ``doc_cut``
  largest entries, 0 = all); clusters with fewer than ``min_cluster_size`` documents are merged
  into their next best cluster (the reference dissolves clusters with *at most*
  ``min_cluster_size`` documents, so its ``min_cluster_size=2`` is our 3);
  ``max_block_size`` > 0 (ours, not in the reference; 0 = off) splits larger clusters again by
  k-means, recursively: the high-scoring blocks are the big ones, so bounded blocks cut the
  documents scored per query ~5× at equal recall;
* summaries: per block, the coordinate-wise maximum truncated to the largest entries holding
  ``summary_energy`` of its L1 mass, quantized to 8 bits (per summary: min + step × code);
* ``seed`` makes the build deterministic.

Query parameters: ``query_cut`` (the posting lists of the query's ``query_cut`` largest weights
are scanned) and ``heap_factor``: blocks are visited by decreasing summary score over all the
scanned lists, and a block is skipped — which ends the query, since scores only decrease —
once k results are held and its summary score is below ``heap_factor`` × the k-th best score
(the reference's rule; 0 visits every block).  Documents of a visited block are scored exactly.

Most exact setting: ``pruning="fixed"`` with ``n_postings`` ≥ the number of documents,
``heap_factor=0``, ``query_cut`` ≥ the query's nnz: every document sharing a term with the query
is scored exactly (float32).

The worker is single-threaded and the library has no threads: search runs on the calling thread.
``extra_metrics`` reports, per query, the documents scored, blocks visited, summaries scored and
summary entries read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from algorithms import _blocked
from harness.algorithm import SPARSE, Algorithm, positive_int

NAME = "blocked"

BUILD_DEFAULTS: dict[str, Any] = {
    "n_postings": 3500, "max_fraction": 1.5, "centroid_fraction": 0.1, "summary_energy": 0.4,
    "min_cluster_size": 2, "doc_cut": 15, "max_block_size": 0, "seed": 1142, "pruning": "global",
    "value_type": "f32",
}
QUERY_DEFAULTS: dict[str, Any] = {"query_cut": 10, "heap_factor": 0.9}


def _canonical_csr(m) -> sp.csr_matrix:
    """CSR float32 with sorted, unique indices (int32) — what the extension requires."""
    m = sp.csr_matrix(m, dtype=np.float32)
    if not m.has_canonical_format:
        m = m.copy()
        m.sum_duplicates()  # also sorts
    if m.indices.dtype != np.int32:
        m.indices = m.indices.astype(np.int32)
    return m


class Blocked(Algorithm):
    """Blocked inverted index (Seismic design), C extension ``algorithms._blocked``."""

    accepts: ClassVar[frozenset[str]] = frozenset({SPARSE})
    distances: ClassVar[frozenset[str]] = frozenset({"ip"})

    def __init__(self, metric: str, **build_params: Any) -> None:
        if metric not in self.distances:
            raise ValueError(f"{NAME}: unsupported distance {metric!r} (supported: {sorted(self.distances)})")
        unknown = sorted(set(build_params) - set(BUILD_DEFAULTS))
        if unknown:
            raise ValueError(f"{NAME}: unknown build parameter(s) {unknown} (known: {sorted(BUILD_DEFAULTS)})")
        for key, value in build_params.items():  # YAML gives bools for ints; the extension would accept them
            if isinstance(value, bool):
                raise ValueError(f"{NAME}: {key} must not be a boolean, got {value!r}")
        super().__init__(metric, **build_params)
        self._build = {**BUILD_DEFAULTS, **build_params}
        self._query = dict(QUERY_DEFAULTS)
        self._index: Any = None

    # --- building -----------------------------------------------------------
    def fit(self, dataset) -> None:
        if dataset.kind not in self.accepts:
            raise ValueError(f"{NAME}: unsupported input kind {dataset.kind!r} (accepts {sorted(self.accepts)})")
        train = _canonical_csr(dataset.train)
        self._index = _blocked.Index.build(
            train.indptr.astype(np.int64, copy=False), train.indices, train.data, int(train.shape[1]),
            **self._build,
        )

    def save(self, path: str | Path) -> None:
        """Write the built index (binary, checked on load) so that later runs need not rebuild."""
        self._require_index().save(str(path))

    def load(self, path: str | Path) -> None:
        """Replace the index by one written by :meth:`save`."""
        self._index = _blocked.Index.load(str(path))

    def set_query_params(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(QUERY_DEFAULTS))
        if unknown:
            raise ValueError(f"{NAME}: unknown query parameter(s) {unknown} (known: {sorted(QUERY_DEFAULTS)})")
        query = {**QUERY_DEFAULTS, **params}
        qc = positive_int(NAME, "query_cut", query["query_cut"])
        hf = query["heap_factor"]
        if isinstance(hf, bool) or not isinstance(hf, int | float | np.integer | np.floating) or not hf >= 0:
            raise ValueError(f"{NAME}: heap_factor must be a number >= 0, got {hf!r}")
        self._query = {"query_cut": qc, "heap_factor": float(hf)}
        super().set_query_params(**self._query)
        if self._index is not None:
            self._index.stats(reset=True)

    # --- querying -----------------------------------------------------------
    def _require_index(self):
        if self._index is None:
            raise RuntimeError(f"{NAME}: query called before fit()")
        return self._index

    def query(self, vector, k: int) -> np.ndarray:
        index = self._require_index()
        if not sp.issparse(vector):
            raise TypeError(f"{NAME}: expected a sparse (CSR) query row, got {type(vector).__name__}")
        if vector.format != "csr" or vector.indices.dtype != np.int32 or vector.data.dtype != np.float32 \
                or not vector.has_canonical_format:
            vector = _canonical_csr(vector)
        ids, _ = index.search(vector.indices, vector.data, k, **self._query)
        return ids[ids >= 0]

    def batch_query(self, queries, k: int) -> np.ndarray:
        index = self._require_index()
        q = _canonical_csr(queries)
        ids, _ = index.batch_search(q.indptr.astype(np.int64, copy=False), q.indices, q.data, k, **self._query)
        return ids

    # --- optional facts -----------------------------------------------------
    def index_size_bytes(self) -> int | None:
        return int(self._index.nbytes) if self._index is not None else None

    def extra_metrics(self) -> dict[str, float]:
        if self._index is None:
            return {}
        s = self._index.stats()
        n = max(1, s["queries"])
        return {
            "docs_scored": s["docs"] / n,
            "blocks_visited": s["blocks"] / n,
            "summaries_scored": s["summaries"] / n,
            "summary_entries": s["entries"] / n,
        }

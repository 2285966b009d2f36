"""Blocked inverted index for learned sparse vectors: our C implementation of the Seismic design.

Bruch, Nardini, Rulli, Venturini, "Efficient Inverted Indexes for Approximate Retrieval over
Learned Sparse Representations" (SIGIR 2024).  The core is pure C11
(``algorithms/blocked/blocked_index.c``), wrapped by the extension module ``algorithms._blocked``
(``blocked_module.c``), built by ``pip install -e .`` (see ``setup.py``).

Index (build parameters; their defaults are the C core's ``bi_build_params_default``, the reference
library's (pyseismic-lsr 0.5.4), read from ``_blocked.BUILD_DEFAULTS``):

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
  ``summary_energy`` of its L1 mass, plus the list's own term if the cut dropped it (ours, not in
  the reference: on documents of a few hundred non-zeros, such as LIMIT's, the cut drops the term
  that put the block in the list from most summaries, and the walk stops before the blocks that
  matter), quantized to 4 bits (per summary: min + step × code, code 0..15, min and step stored as
  bfloat16);
* ``seed`` makes the build deterministic.

Query parameters: ``query_cut`` (the posting lists of the query's ``query_cut`` largest weights
are scanned) and ``heap_factor``: blocks are visited by decreasing summary score over all the
scanned lists, and a block is skipped — which ends the query, since scores only decrease —
once k results are held and its summary score is below ``heap_factor`` × the k-th best score
(the reference's rule; 0 visits every block).  Documents of a visited block are scored exactly.

``candidates`` > 0 (ours, not in the reference) replaces that block walk by score-at-a-time over
block maxima: every document of every block of the ``query_cut`` lists gets q_t × the block's
summary weight of the list's term t (kept in every summary, see above), summed over the lists;
the ``candidates`` documents with the largest sums are scored exactly and the best k returned
(``heap_factor`` is then unused).  For flat score distributions: on limit-splade-tiny (documents
of ~307 non-zeros, queries of ~19) the block walk reaches recall@10 0.90 only by scoring ~2,800
documents per query (2/3 of every block of 4 lists, 0.94 when it scores all of them: no summary
bounds a block well), where this mode, over all the query's lists, reaches 0.92 with 700 (rich
build: 395 against 920 µs per query).  In the sparse suite (README) it is also the fastest on
Cranfield and CISI and, at recall 0.95, on long queries (sparse-d120-q120); it trails the walk on
WordNet (0.93 at 71 µs against the walk's 0.92 at 42 µs).

Most exact setting: ``pruning="fixed"`` with ``n_postings`` ≥ the number of documents,
``heap_factor=0``, ``query_cut`` ≥ the query's nnz: every document sharing a term with the query
is scored exactly (float32); the same with ``candidates`` ≥ the number of documents.

Threads: the library has none; build and search run on the calling thread.
Saved and loaded (``--index-cache``) with the extension's own format (one file, checked on load);
saved indexes are keyed by the SHA-256 of the extension's binary, since our C code is what builds them.
``extra_metrics`` reports, per query, the documents scored, blocks visited, summaries scored and
summary entries read.

Versus Seismic (pyseismic-lsr does not expose counters; its traversal is read from its source):
with the *same* parameter values — Seismic's defaults, ``n_postings=1000``, ``centroid_fraction
0.1``, no block cap — both indexes hold the same blocks and do the same work (but for the list's
own term kept in every summary, which raises recall at equal parameters).  On sparse-d120-q40
(1,000 queries, query_cut 8, heap_factor 0.8): recall 0.981 at 250 µs/query here, 0.980 at 210
µs in Seismic; counters here at heap_factor 0.6: 1,273 documents scored, 50 blocks visited, 471
summaries scored per query.  The "2.7× the cost at the same parameters" seen before was a defect,
now fixed: the binding parsed ``min_cluster_size`` as a double, so every explicit value became
~2^62 and all clusters of a list merged into one block (30,522 blocks instead of 363,828): every
document of every scanned list was scored (4,690 per query, 8 blocks).  Where blocked is faster,
it is by its own choices, not by visiting less for the same parameters:
  * smaller blocks (``max_block_size`` 16, ``centroid_fraction`` 0.2): 389 documents scored per
    query at recall 0.979 against 1,273 (the shipped lean build, same query parameters), paid with
    more summaries (947 per query, and summary bytes);
  * one walk over all scanned lists' blocks in decreasing summary score, so a low heap_factor stops
    the whole query early, where Seismic walks list by list and checks each block against the heap;
  * summaries stored inverted per list (only the query's terms' entries are read) and a forward
    index gathered from a dense query array (SIMD where available);
  * the list's own term in every summary (recall@10 on limit-splade-tiny, rich build, query_cut 5,
    heap_factor 0.5: 0.551 without, 0.746 with; 0.4 % more summary bytes on WordNet).
  * the candidates mode (above) where score distributions are flat.
The same walk makes heap_factor stronger than Seismic's: at equal values blocked stops earlier, so
its grid reaches lower heap_factor values (0.5) for recall ≥ 0.95.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from algorithms import _blocked
from harness.kit import SPARSE, Algorithm, Param

_BUILD, _QUERY = _blocked.BUILD_DEFAULTS, _blocked.QUERY_DEFAULTS  # the C core's defaults
_INDEX_FILE = "blocked.idx"


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

    accepts = frozenset({SPARSE})
    distances = frozenset({"ip"})
    # Simple ranges refused here before any work; the C core (bi_check_build_params) checks the rest
    # (finite values, max_fraction · n_postings >= 1) and words its own errors.
    build_parameters = (
        Param("n_postings", int, _BUILD["n_postings"], low=1),
        Param("max_fraction", float, _BUILD["max_fraction"], low=0, low_open=True),
        Param("pruning", str, _BUILD["pruning"], choices=("global", "fixed")),
        Param("centroid_fraction", float, _BUILD["centroid_fraction"], low=0, high=1, low_open=True),
        Param("max_block_size", int, _BUILD["max_block_size"], low=0),
        Param("summary_energy", float, _BUILD["summary_energy"], low=0, high=1, low_open=True),
        Param("min_cluster_size", int, _BUILD["min_cluster_size"], low=0),
        Param("doc_cut", int, _BUILD["doc_cut"], low=0),
        Param("seed", int, _BUILD["seed"], low=0),
        Param("value_type", str, _BUILD["value_type"], choices=("f32", "f16")),
    )
    query_parameters = (Param("query_cut", int, _QUERY["query_cut"], low=1),
                        Param("heap_factor", float, _QUERY["heap_factor"], low=0),
                        Param("candidates", int, _QUERY["candidates"], low=0, high=2**31 - 1))
    _index = None

    def fit(self, dataset) -> None:
        train = _canonical_csr(dataset.train)
        self._index = _blocked.Index.build(
            train.indptr.astype(np.int64, copy=False), train.indices, train.data, int(train.shape[1]),
            **self.build_params,
        )

    def save(self, path: str | Path) -> None:
        """Write the built index (binary, checked on load) so that later runs need not rebuild."""
        self._index.save(str(path))

    def load(self, path: str | Path) -> None:
        """Replace the index by one written by :meth:`save`."""
        self._index = _blocked.Index.load(str(path))

    @classmethod
    def index_versions(cls) -> dict[str, str]:
        # Our own C code builds the index: a changed (rebuilt) extension may build another one from
        # the same parameters, so saved indexes are keyed by its binary.
        with open(_blocked.__file__, "rb") as f:
            return {"algorithms._blocked": hashlib.file_digest(f, "sha256").hexdigest()}

    def save_index(self, folder: Path) -> bool:
        self.save(Path(folder) / _INDEX_FILE)
        return True

    def load_index(self, folder: Path, dataset) -> bool:
        index = _blocked.Index.load(str(Path(folder) / _INDEX_FILE))
        info = index.info()
        found, wanted = (info["n_docs"], info["params"]), (dataset.n_train, self.build_params)
        if found != wanted:
            raise ValueError(f"{self.label}: the saved index has (documents, build parameters) {found}, "
                             f"this build {wanted}")
        self._index = index
        self.apply_query_params()
        return True

    def apply_query_params(self) -> None:
        if self._index is not None:
            self._index.stats(reset=True)

    def query(self, vector, k: int) -> np.ndarray:
        if not sp.issparse(vector):
            raise TypeError(f"{self.label}: expected a sparse (CSR) query row, got {type(vector).__name__}")
        if vector.format != "csr" or vector.indices.dtype != np.int32 or vector.data.dtype != np.float32 \
                or not vector.has_canonical_format:
            vector = _canonical_csr(vector)
        ids, _ = self._index.search(vector.indices, vector.data, k, **self.query_params)
        return ids[ids >= 0]

    def batch_query(self, queries, k: int) -> np.ndarray:
        q = _canonical_csr(queries)
        ids, _ = self._index.batch_search(q.indptr.astype(np.int64, copy=False), q.indices, q.data, k,
                                          **self.query_params)
        return ids

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

"""Impact search on Lucene (Anserini's ``SimpleImpactSearcher``, the jar of Pyserini 1.6.0) over
learned sparse vectors, with pre-encoded query weights (no neural query encoder).

Lucene stores a term's weight in a document as that term's frequency, so weights must be
integers.  Build: every document weight is quantized to ``round(w · scale)`` (build parameter
``scale``, default 100; a weight that rounds to 0 is dropped, as Anserini drops it), written as an
Anserini ``JsonVectorCollection`` (``{"id": "<row>", "contents": "", "vector": {"<term id>":
<int>}}``) and indexed by ``IndexCollection -impact -pretokenized`` with one thread into the index
cache (``algorithms/lucene_jvm.py``, keyed by dataset, content hash and scale).  A query's weights
are quantized with the same ``scale`` (Anserini does not quantize them: a ``Map<String, Integer>``
must arrive as integers) and searched as one SHOULD clause per term with the term's weight as
boost, under Anserini's impact similarity (score = the stored integer).  The result is therefore
the **exact** top k of the integer dot product ``round(q · scale) · round(d · scale)``; its kNN
recall against the float ground truth measures only the quantization.  Scores are float32 sums,
exact while below 2^24 (SPLADE weights of a few units at scale 100: ~1e6).

``query`` is Anserini's ``search``; ``batch_query`` loops over it.  Anserini's ``batch_search``
is not used: with ``threads=1`` it still starts a fresh pool thread per call that ends with the
call, and the single-thread proof cannot tell a thread that is gone from one that competed
(measured on wordnet-splade-tiny: all its CPU counted as contention, the run flagged).  JVM start, index open and the
collection writing/indexing happen in ``fit`` (build time); before each query setting is timed,
``warm_up`` runs its queries until HotSpot's JIT compilers go quiet (untimed, ``warmup_s``);
``extra_metrics()['indexing_s']`` is 0 when a cached index was reused.

Threads: the JVM runs with ``-XX:ActiveProcessorCount=1 -XX:+UseSerialGC`` (every JVM pool sized
for one core, garbage collected on the allocating thread; ``algorithms/lucene_jvm.py``), indexing
uses one thread, searches run on the calling thread, and ``warm_up`` lets the JIT compiler threads
finish before a setting is timed.
"""

from __future__ import annotations

import json

import numpy as np
import scipy.sparse as sp

from algorithms.lucene_jvm import (
    LuceneAdapter,
    cached_index,
    fingerprint,
    index_collection,
    require_installed,
    start_jvm,
)
from harness.kit import SPARSE, Algorithm, Param

require_installed()  # without the [lucene] extra the adapter is unavailable, not a failed build


def quantize(m: sp.csr_matrix, scale: float) -> sp.csr_matrix:
    """``round(w · scale)`` as int64 CSR, zeros removed (what the index stores and the query sends).
    ``m`` is left untouched (removing zeros rewrites the index arrays, so they are copied)."""
    q = sp.csr_matrix((np.rint(m.data.astype(np.float64) * scale).astype(np.int64), m.indices.copy(),
                       m.indptr.copy()), shape=m.shape)
    q.eliminate_zeros()
    return q


class PyseriniImpact(LuceneAdapter, Algorithm):
    """Anserini impact index over integer-quantized sparse vectors, exact top-k."""

    accepts = frozenset({SPARSE})
    distances = frozenset({"ip"})
    build_parameters = (Param("scale", float, 100.0, low=0, low_open=True),)

    @property
    def scale(self) -> float:
        return self.build_params["scale"]

    def fit(self, dataset) -> None:
        docs = quantize(sp.csr_matrix(dataset.train), self.scale)
        autoclass = start_jvm()

        def build(input_dir, index_dir):
            with open(input_dir / "vectors.jsonl", "w", encoding="utf-8") as out:
                for row in range(docs.shape[0]):
                    lo, hi = docs.indptr[row], docs.indptr[row + 1]
                    vector = dict(zip(map(str, docs.indices[lo:hi].tolist()), docs.data[lo:hi].tolist(), strict=True))
                    out.write(json.dumps({"id": str(row), "contents": "", "vector": vector}) + "\n")
            index_collection(autoclass, "JsonVectorCollection", input_dir, index_dir, "-impact", "-pretokenized")

        self.index_dir, self.indexing_s = cached_index("impact", dataset.name, fingerprint(docs),
                                                       f"scale={self.scale:g}", build)
        self.searcher = autoclass("io.anserini.search.SimpleImpactSearcher")(str(self.index_dir))
        self.hash_map = autoclass("java.util.HashMap")
        self.terms = np.array([str(t) for t in range(dataset.train.shape[1])], dtype=object)

    def _java_query(self, row: sp.csr_matrix):
        """The query's quantized weights as the ``Map<String, Integer>`` Anserini expects (Python ints)."""
        weights = np.rint(row.data.astype(np.float64) * self.scale).astype(np.int64)
        keep = weights != 0
        query = self.hash_map()
        for term, weight in zip(self.terms[row.indices[keep]], weights[keep].tolist(), strict=True):
            query.put(term, weight)
        return query

    def query(self, vector: sp.csr_matrix, k: int) -> np.ndarray:
        hits = self.searcher.search(self._java_query(vector), k)
        return np.fromiter((int(h.docid) for h in hits), dtype=np.int64, count=len(hits))

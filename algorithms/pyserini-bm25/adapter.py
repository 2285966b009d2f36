"""BM25 on Lucene (Anserini 1.7.1 / Lucene 9.9.1, the jar of Pyserini 1.6.0), over raw text.

Build: the corpus is written as an Anserini ``JsonCollection`` (``{"id": "<row>", "contents": text}``)
and indexed by Anserini's ``IndexCollection`` with one thread and its default analyzer
(``DefaultEnglishAnalyzer``: Lucene's standard tokenizer, English stopwords, Porter stemming) into
the index cache (``algorithms/lucene_jvm.py``: keyed by dataset name and a hash of its texts).  A
cached index is reused; ``extra_metrics()['indexing_s']`` says how long indexing took (0 when
reused).  The JVM start, the index open and the Lucene-docid → row table happen in ``fit``, so
they count as build time, never as query time.  Before each query setting is timed, ``warm_up``
runs its queries until HotSpot's JIT compilers go quiet (untimed, recorded as ``warmup_s``;
``extra_metrics()['jit_settled']`` is 0 if they did not within the budget).

Query: the query text goes through the same analyzer into Anserini's ``BagOfWordsQueryGenerator``
(one SHOULD clause per distinct term, a repeated term boosted by its count), searched by Lucene's
``IndexSearcher`` with ``BM25Similarity(k1, b)``.  This is the ranking Pyserini's
``LuceneSearcher`` computes, read before Anserini's post-processing: ``SimpleSearcher`` rounds
scores to 4 decimals and reorders ties by docid string, so its scores are off by up to 1e-4 and its
order among near-ties differs.  Lucene's BM25 (Lucene >= 8):
``idf · tf / (tf + k1 · (1 − b + b · dl / avgdl))`` with ``idf = log(1 + (N − df + 0.5) / (df + 0.5))``,
no (k1 + 1) factor, ``avgdl`` = total terms / documents, and ``dl`` the document length stored in
one byte (``SmallFloat.intToByte4``: exact up to 40 terms, lossy above).

Query parameters: ``k1``, ``b`` (Anserini's defaults 0.9, 0.4).

Threads: the JVM runs with ``-XX:ActiveProcessorCount=1 -XX:+UseSerialGC`` (every JVM pool sized
for one core, garbage collected on the allocating thread; ``algorithms/lucene_jvm.py``), indexing
uses one thread, searches run on the calling thread, and ``warm_up`` lets the JIT compiler threads
finish before a setting is timed.
"""

from __future__ import annotations

import json

import numpy as np

from algorithms.lucene_jvm import (
    LuceneAdapter,
    cached_index,
    fingerprint,
    index_collection,
    require_installed,
    start_jvm,
)
from harness.kit import TEXT, Algorithm, Param

require_installed()  # without the [lucene] extra the adapter is unavailable, not a failed build

FIELD = "contents"


class PyseriniBM25(LuceneAdapter, Algorithm):
    """Anserini-indexed Lucene BM25 over a text dataset, searched one query at a time."""

    accepts = frozenset({TEXT})
    distances = frozenset({"ip"})
    query_parameters = (Param("k1", float, 0.9, low=0), Param("b", float, 0.4, low=0, high=1))  # Anserini's

    def fit(self, dataset) -> None:
        texts = dataset.strings("corpus/text")
        autoclass = start_jvm()

        def build(input_dir, index_dir):
            with open(input_dir / "corpus.jsonl", "w", encoding="utf-8") as out:
                for row, text in enumerate(texts):
                    out.write(json.dumps({"id": str(row), "contents": text}) + "\n")
            index_collection(autoclass, "JsonCollection", input_dir, index_dir, "-storeDocvectors")

        self.index_dir, self.indexing_s = cached_index("bm25", dataset.name, fingerprint(texts), "default", build)
        reader_utils = autoclass("io.anserini.index.IndexReaderUtils")
        self.reader = reader_utils.getReader(str(self.index_dir))
        # Lucene numbers documents in indexing order, but the row is read back from the stored id
        # rather than assumed: results are mapped through this table.  Anserini skips documents
        # whose text is empty (two of Cranfield's): they match no query, so nothing is lost.
        n = self.reader.maxDoc()
        self.rows = np.fromiter((int(reader_utils.convertLuceneDocidToDocid(self.reader, i)) for i in range(n)),
                                dtype=np.int64, count=n)
        if n > len(texts) or len(np.unique(self.rows)) != n or (n and self.rows.max() >= len(texts)):
            raise RuntimeError(f"{self.label}: index {self.index_dir} does not match {dataset.name} "
                               f"({n} Lucene documents for {len(texts)} texts); delete it to rebuild")
        self.searcher = autoclass("org.apache.lucene.search.IndexSearcher")(self.reader)
        self.similarity = autoclass("org.apache.lucene.search.similarities.BM25Similarity")
        self.apply_query_params()
        self.analyzer = autoclass("io.anserini.analysis.DefaultEnglishAnalyzer").newDefaultInstance()
        self.generator = autoclass("io.anserini.search.query.BagOfWordsQueryGenerator")()

    def apply_query_params(self) -> None:
        if hasattr(self, "searcher"):
            self.searcher.setSimilarity(self.similarity(self.query_params["k1"], self.query_params["b"]))

    def search(self, text: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and Lucene's BM25 scores of the top ``k`` documents, best first (ties by Lucene docid)."""
        query = self.generator.buildQuery(FIELD, self.analyzer, text)
        hits = self.searcher.search(query, k).scoreDocs
        return (self.rows[np.fromiter((h.doc for h in hits), dtype=np.int64, count=len(hits))],
                np.fromiter((h.score for h in hits), dtype=np.float64, count=len(hits)))

    def query(self, text: str, k: int) -> np.ndarray:
        return self.search(text, k)[0]

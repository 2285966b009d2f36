"""BM25 on tantivy 0.27.0 (a Rust full-text search library in Lucene's mould) through its Python
binding tantivy-py 0.27.0, over raw text; a third lexical baseline beside Lucene (``pyserini-bm25``)
and bm25s.

Build: one index on disk in ``build_folder()`` with one text field (``index_option="freq"``: term
frequencies, no positions, which BM25 does not need) and a fast u64 field holding the dataset row,
read back for every hit (so any number of segments maps to rows correctly).  One indexing thread,
one commit, then ``wait_merging_threads``.  ``index_size_bytes`` is the size of the folder's files.

BM25 as tantivy computes it (``src/query/bm25.rs``, in f32): for each query term
``idf · (k1 + 1) · tf / (tf + k1 · (1 − b + b · dl / avgdl))`` with Lucene's
``idf = ln(1 + (N − df + 0.5) / (df + 0.5))``, summed over the terms.  ``k1 = 1.2`` and ``b = 0.75``
are compile-time constants (tantivy-py exposes no similarity), hence ``fixed_parameters``.  N counts
every document of the index, also those whose text has no token (Lucene counts only documents with
terms), ``avgdl`` = tokens / N, and ``dl`` is stored in a one-byte fieldnorm code: exact up to 40
tokens, lossy above (as Lucene's norm).  The (k1 + 1) factor scales every score alike.

``tokenizer`` (one analyzer, registered with the index, analyzes both documents and queries):
  * ``default``: tantivy's own default: SimpleTokenizer (splits on non-alphanumeric Unicode
    characters) + RemoveLongFilter(40) (drops tokens of 40 UTF-8 bytes or more) + LowerCaser;
  * ``en_stem`` (default): the same + tantivy's ``en_stem`` stemmer, Snowball English (Porter2);
  * ``lucene``: as close to Lucene's English analyzer as tantivy's filters allow: ``default`` +
    Lucene's 33 English stopwords + the Snowball English stemmer.  Differences left: the stemmer
    is Porter2, not Lucene's Porter; SimpleTokenizer splits at apostrophes and dots ("dog's" → dog,
    s; "3.5" → 3, 5) where Lucene's StandardTokenizer keeps words whole and strips possessives.

Query: the query text goes through the same analyzer and becomes a boolean query of one SHOULD
TermQuery per distinct token, boosted by its count (what Anserini's ``BagOfWordsQueryGenerator``
builds: a repeated token counts that many times).  ``Index.parse_query`` is not used: it raises
on query syntax characters and turns a word split in several tokens into a phrase query.  A query
with no token returns nothing.  ``Searcher.search(count=False)``: tantivy-py wraps the top-k
collector in a MultiCollector, which scores every matching document (no Block-WAND pruning; on
0.27.0 a search takes as long for limit 1 as for 1000), so the result is the exact top-k of
tantivy's BM25 and there is no query parameter.

kNN recall is below 1 by design: the dataset's reference BM25 has k1 0.9, b 0.4, exact lengths and
its own analyzer (its ``reference`` attribute): Lucene's English analysis (``lucene`` comes closest),
or lowercase alphanumeric tokens without stemming or stopwords (``default`` minus the 40-byte cut).

Threads: the writer gets ``num_threads=1``; ``wait_merging_threads`` drops it and ``fit`` waits until
its threads (indexing, ``segment_updater``, ``merge_thread_*``) have ended, a few ms later.  Searches
run on the calling thread (tantivy-py keeps tantivy's single-thread search executor and only
releases the GIL around a search).  The reader is remade with the ``manual`` reload policy and
reloaded once, so no reload callback runs.  One thread remains besides the caller: the on-disk
directory's ``thread-tantivy-meta-file-watcher``, started when the index is opened and stopped only
with it (a reload policy does not stop it); it sleeps 500 ms between checksums of ``meta.json``
(no measurable CPU: the test reads its /proc counters).
"""

from __future__ import annotations

import os
import time
from collections import Counter

import numpy as np
import tantivy

from harness.kit import TEXT, Algorithm, Param

FIELD, ROW = "body", "row"
HEAP_BYTES = 1_000_000_000  # the one indexing thread's budget: a segment is flushed when it is full
WATCHER = "thread-tantivy-"  # thread-tantivy-meta-file-watcher, as /proc shows it (15 characters)
LUCENE_STOPWORDS = ("a an and are as at be but by for if in into is it no not of on or such that the their then "
                    "there these they this to was will with").split()  # Lucene's EnglishAnalyzer, 33 words


def thread_names() -> dict[str, str]:
    """This process's threads: id → name (Linux)."""
    names = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                names[tid] = f.read().strip()
        except OSError:  # the thread ended meanwhile
            pass
    return names


def analyzer(tokenizer: str) -> tantivy.TextAnalyzer:
    """The analyzer of a ``tokenizer`` choice (see the module docstring)."""
    builder = (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.remove_long(40))
               .filter(tantivy.Filter.lowercase()))
    if tokenizer == "lucene":
        builder = builder.filter(tantivy.Filter.custom_stopword(LUCENE_STOPWORDS))
    if tokenizer in ("en_stem", "lucene"):
        builder = builder.filter(tantivy.Filter.stemmer("english"))
    return builder.build()


class TantivyBM25(Algorithm):
    """tantivy's BM25 over a text dataset, searched one query at a time (exhaustively)."""

    accepts = frozenset({TEXT})
    distances = frozenset({"ip"})
    build_parameters = (Param("tokenizer", str, "en_stem", choices=("default", "en_stem", "lucene")),)
    fixed_parameters = {
        "k1": "tantivy's BM25 has k1 = 1.2, a compile-time constant (src/query/bm25.rs); tantivy-py cannot set it",
        "b": "tantivy's BM25 has b = 0.75, a compile-time constant (src/query/bm25.rs); tantivy-py cannot set it",
    }

    def fit(self, dataset) -> None:
        texts = dataset.strings("corpus/text")
        before = set(thread_names())
        name = f"annsweep-{self.build_params['tokenizer']}"
        self.analyzer = analyzer(self.build_params["tokenizer"])
        builder = tantivy.SchemaBuilder()
        builder.add_text_field(FIELD, tokenizer_name=name, index_option="freq")
        builder.add_unsigned_field(ROW, fast=True)
        self.schema = builder.build()
        self.folder = self.build_folder()
        self.index = tantivy.Index(self.schema, path=self.folder)
        self.index.register_tokenizer(name, self.analyzer)
        writer = self.index.writer(heap_size=HEAP_BYTES, num_threads=1)
        for row, text in enumerate(texts):
            doc = tantivy.Document()
            doc.add_text(FIELD, text)
            doc.add_unsigned(ROW, row)
            writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()
        # The writer's threads (segment_updater, merge_thread_*) end a moment after it is dropped:
        # the build waits for them, so that only the watcher is left when queries are timed.
        deadline = time.monotonic() + 10
        while (time.monotonic() < deadline
               and any(n != WATCHER for tid, n in thread_names().items() if tid not in before)):
            time.sleep(0.001)
        self.index.config_reader("manual")
        self.index.reload()
        self.searcher = self.index.searcher()
        if self.searcher.num_docs != len(texts):
            raise RuntimeError(f"{self.label}: the index holds {self.searcher.num_docs} documents, "
                               f"the dataset {len(texts)}")

    def search(self, text: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and tantivy's BM25 scores of the top ``k`` documents, best first."""
        clauses = []
        for token, count in Counter(self.analyzer.analyze(text)).items():
            term = tantivy.Query.term_query(self.schema, FIELD, token, index_option="freq")
            term = term if count == 1 else tantivy.Query.boost_query(term, float(count))
            clauses.append((tantivy.Occur.Should, term))
        if not clauses:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        hits = self.searcher.search(tantivy.Query.boolean_query(clauses), limit=k, count=False).hits
        rows = self.searcher.fast_field_values(ROW, [address for _, address in hits])
        return np.array(rows, dtype=np.int64), np.array([score for score, _ in hits], dtype=np.float64)

    def query(self, text: str, k: int) -> np.ndarray:
        return self.search(text, k)[0]

    def index_size_bytes(self) -> int:
        return sum(entry.stat().st_size for entry in os.scandir(self.folder) if entry.is_file())

"""BM25 in pure Python (the ``bm25s`` package: numpy + scipy), a second, clearly labelled baseline
next to Lucene's (``pyserini-bm25``); it accepts text datasets.

bm25s computes every (term, document) BM25 score at indexing time into a sparse matrix, so
``k1`` and ``b`` are *build* parameters; a query sums the rows of its tokens.  ``method`` picks
bm25s's variant (``lucene`` by default: Lucene's idf, tf/(tf + k1·(1 − b + b·dl/avgdl))).
``tokenizer``: ``reference`` (default) tokenizes as the text dataset's reference BM25 does (its
``analyzer`` attribute, from ``harness.data.analyzers``: ``lucene-english`` for the registry's text
datasets; ``simple`` for datasets made before it was recorded), so kNN recall measures bm25s
against the same BM25; ``bm25s`` uses bm25s's own
tokenizer (tokens of two or more word characters, English stopwords removed).  Only the ids are
returned; bm25s's scores are not used.

Threads: bm25s retrieves on the calling thread (``n_threads=0``) with its numpy backend.
"""

from __future__ import annotations

import numpy as np

from harness.data.analyzers import ANALYZERS
from harness.kit import TEXT, Algorithm, Param


class BM25S(Algorithm):
    accepts = frozenset({TEXT})
    distances = frozenset({"ip"})
    build_parameters = (Param("k1", float, 0.9, low=0), Param("b", float, 0.4, low=0, high=1),
                        Param("method", str, "lucene", choices=("lucene", "robertson", "atire", "bm25l", "bm25+")),
                        Param("tokenizer", str, "reference", choices=("reference", "bm25s")))

    def _tokens(self, texts: list[str]) -> list[list[str]]:
        import bm25s

        if self.build_params["tokenizer"] == "reference":
            return [self.analyze(t) for t in texts]
        return bm25s.tokenize(texts, return_ids=False, show_progress=False)

    def fit(self, dataset) -> None:
        import bm25s

        p = self.build_params
        name = str(dataset.attrs.get("analyzer", "simple"))
        if name not in ANALYZERS:
            raise ValueError(f"{self.label}: {dataset.name}'s reference analyzer {name!r} is unknown "
                             f"(known: {', '.join(ANALYZERS)}); use tokenizer: bm25s")
        self.analyze = ANALYZERS[name]
        self.retriever = bm25s.BM25(k1=p["k1"], b=p["b"], method=p["method"])
        self.n_docs = dataset.n_train
        self.retriever.index(self._tokens(dataset.strings("corpus/text")), show_progress=False)

    def batch_query(self, texts: list[str], k: int) -> np.ndarray:
        # bm25s needs k <= corpus size; an empty query returns nothing, padded with -1 below.
        tokens = [t or [""] for t in self._tokens(list(texts))]
        docs, scores = self.retriever.retrieve(tokens, k=min(k, self.n_docs), show_progress=False, n_threads=0)
        out = np.full((len(texts), k), -1, dtype=np.int64)
        hits = np.where(scores > 0, docs, -1)  # documents sharing no token with the query are not results
        out[:, : hits.shape[1]] = hits
        return out

    def query(self, text: str, k: int) -> np.ndarray:
        row = self.batch_query([text], k)[0]
        return row[row >= 0]

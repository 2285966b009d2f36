"""PISA BM25 over raw text, with PISA's own analysis (``pyterrier-pisa`` 0.4.9; ``algorithms/pisa_base.py``).

Build (timed): the corpus is written one document per line (``<row> <text>``) and indexed by
``_pisathon.index`` (PISA's forward index, then inverted), then ``prepare_index`` computes the
block-max data for BM25 with this build's ``k1`` and ``b`` (blocks of ``block_size`` postings) and
compresses the lists with ``encoding``.  Query parameter: ``algorithm`` (``pisa_base``), each its
own series; every one returns the exact top-k of PISA's BM25.

Analysis: PISA's English tokenizer keeps ASCII letters and digits (other characters split words:
``café`` → ``caf``; ``U.S.A.`` → ``usa``; a possessive or contraction keeps the part before the
apostrophe), lowercases, then stems with ``stemmer`` (``porter2`` = Snowball English, ``krovetz``,
or ``none``).  ``stops`` removes stopwords from *queries* only (PISA indexes every token):
``lucene`` is Lucene's 33 English stopwords, ``terrier`` Terrier's list.  Query terms count with
their number of occurrences (``query_weighted``), as in Lucene's bag-of-words query.

PISA's BM25: ``idf · (k1 + 1) · tf / (tf + k1 · (1 − b + b · dl / avgdl))`` with
``idf = max(1e-6, log((N − df + 0.5) / (df + 0.5)))`` (no "1 +" inside the log, unlike Lucene,
so a term in more than half the documents scores ~0) and the exact document length.  Against a
text dataset's reference BM25 (Lucene's idf and analyzer) recall is therefore below 1 by design.

Threads: ``retrieve(threads=1)`` runs on the calling thread.  Indexing is PISA's parallel builder,
which refuses fewer than two threads: it runs with two TBB threads (a parser and a batch worker,
working in turn on the pinned core); building is outside the harness's single-thread proof,
which checks queries.  ``prepare_index`` sizes TBB from the CPU affinity mask (one core).
"""

from __future__ import annotations

import re
from pathlib import Path

from algorithms.pisa_base import ENCODINGS, PisaAlgorithm, _pisathon, prepare, search_files_bytes
from harness.kit import TEXT, Param

STOPWORDS = {"lucene": ("a an and are as at be but by for if in into is it no not of on or such that the their "
                        "then there these they this to was will with").split()}
BATCH_DOCUMENTS = 100_000  # documents per indexing batch (PyTerrier's default)
_LINE_BREAKS = re.compile(r"[\r\n]+")


class PisaBM25(PisaAlgorithm):
    """PISA BM25 with its own tokenizer and stemmer, exact top-k by dynamic pruning."""

    accepts = frozenset({TEXT})
    distances = frozenset({"ip"})
    build_parameters = (Param("k1", float, 0.9, low=0), Param("b", float, 0.4, low=0, high=1),
                        Param("stemmer", str, "porter2", choices=("porter2", "krovetz", "none")),
                        Param("stops", str, "lucene", choices=("lucene", "terrier", "none")),
                        Param("block_size", int, 64, low=1),
                        Param("encoding", str, "block_simdbp", choices=ENCODINGS))
    fixed_parameters = {"threads": "always 1 (the harness runs one thread)",
                        "query_weighted": "always on: a repeated query term counts once per occurrence"}

    def fit(self, dataset) -> None:
        p = self.build_params
        texts = dataset.strings("corpus/text")
        self.folder = Path(self.build_folder())
        source, index = self.folder / "corpus.txt", self.folder / "index"
        with open(source, "w", encoding="utf-8") as out:
            for row, text in enumerate(texts):
                out.write(f"{row} {_LINE_BREAKS.sub(' ', text)}\n")
        index.mkdir()
        stemmer = "" if p["stemmer"] == "none" else p["stemmer"]
        _pisathon.index(str(source), str(index), stemmer, BATCH_DOCUMENTS, 1)  # 1 → two TBB threads (its minimum)
        source.unlink()
        stops_file = ""
        if p["stops"] != "none":
            stops_file = str(self.folder / "stopwords.txt")
            Path(stops_file).write_text("".join(f"{w}\n" for w in self._stopwords(p["stops"])))
        self.index = index
        self.context = prepare(index, p["encoding"], "bm25", p["block_size"], stemmer=stemmer,
                               stops_file=stops_file, k1=p["k1"], b=p["b"])

    @staticmethod
    def _stopwords(name: str) -> list[str]:
        if name in STOPWORDS:
            return STOPWORDS[name]
        from pyterrier_pisa.stopwords import _STOPWORDS  # Terrier's list, as the package ships it

        return list(_STOPWORDS[name])

    def pisa_queries(self, texts: list[str]) -> list[tuple[int, str]]:
        return list(enumerate(texts))

    def index_size_bytes(self) -> int | None:
        return search_files_bytes(self.index) if hasattr(self, "index") else None

"""PISA (Mallia, Siedlaczek, Mackenzie, Suel; OSIRRC 2019) through ``pyterrier-pisa`` 0.4.9: what the
``pisa-impact`` and ``pisa-bm25`` adapters share.

PISA is a C++ engine for top-k search over compressed inverted indexes with dynamic pruning.  The
adapters call the wheel's extension module ``_pisathon`` directly (no PyTerrier transformer, no
pandas in the timed path): ``prepare_index`` computes the block-max metadata (the "wand data": for
each posting list and each block of ``block_size`` postings, the largest score in it) and the
compressed index, and memory-maps both into a retrieval context; ``retrieve`` runs one query
algorithm over a list of queries on the calling thread (``threads=1``: no TBB pool, GIL held).

Query algorithms (``QUERY_ALGORITHMS``): ``ranked_or`` (document-at-a-time over every posting of
every query term), ``ranked_or_taat`` (term-at-a-time into a score accumulator), ``maxscore``
(Turtle & Flood: terms whose upper bounds together cannot reach the k-th score are only probed),
``wand`` (Broder et al.: pivot selection on list upper bounds), ``block_max_wand`` (Ding & Suel:
WAND refined with block upper bounds) and ``block_max_maxscore``.  All six are *safe*: they return
the exact top-k of PISA's own scores (equal scores aside; PISA orders them by docid).  The
conjunctive ``ranked_and`` and ``block_max_ranked_and`` return only documents holding every query
term, so they are not top-k search: ``CONJUNCTIVE`` names them, and the adapters accept them
(labelled as such in ``series``) but their configs leave them out.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from harness.kit import REQUIRED, Algorithm, Param

# The 0.4.x package __init__ appends to LD_LIBRARY_PATH and fails with KeyError when it is unset.
os.environ.setdefault("LD_LIBRARY_PATH", "")
from pyterrier_pisa import _pisathon  # noqa: E402  (after the environment fix above)

QUERY_ALGORITHMS = ("ranked_or", "ranked_or_taat", "maxscore", "wand", "block_max_wand", "block_max_maxscore")
CONJUNCTIVE = ("ranked_and", "block_max_ranked_and")
# Index encodings compiled into the wheel (PISA_INDEX_TYPES); block_simdbp is PyTerrier's default.
ENCODINGS = ("block_simdbp", "block_optpfor", "block_varintg8iu", "block_streamvbyte", "block_maskedvbyte",
             "block_qmx", "block_simple16", "ef", "pef")


def prepare(index_dir: Path, encoding: str, scorer: str, block_size: int, *, stemmer: str = "",
            stops_file: str = "", k1: float | None = None, b: float | None = None):
    """The retrieval context over ``index_dir`` (wand data and compressed index built on first use)."""
    context = _pisathon.RetrievalContext()
    extra = {} if k1 is None else {"bm25_k1": k1, "bm25_b": b}
    _pisathon.prepare_index(context, str(index_dir), encoding, scorer, stemmer, block_size=block_size,
                            quantize=0, stop_fname=stops_file, **extra)
    return context


def search_files_bytes(index_dir: Path) -> int:
    """Bytes of what a search reads: the compressed index, the wand data, the term and document lexicons
    (not the uncompressed inverted index or forward files that building leaves beside them)."""
    keep = [p for p in index_dir.iterdir() if ".bmw." in p.name or p.name in ("fwd.termlex", "fwd.doclex")]
    return sum(p.stat().st_size for p in keep)


def retrieve(context, algorithm: str, queries: list, k: int, *, pretokenised: bool) -> tuple[np.ndarray, list]:
    """(query index of each hit, docno of each hit), best first within each query.

    ``queries`` is a list of ``(index, text)`` or, pretokenised, ``(index, {term: float weight})``
    (PISA repeats a term ``int(weight)`` times: the weight must be a Python float, ≥ 1 to count).
    The output buffers hold ``len(queries)·k`` hits: the extension writes into them unchecked."""
    n = len(queries) * k
    qidxs, docnos = np.empty(n, np.int32), np.empty(n, object)
    filled = _pisathon.retrieve(context, algorithm, queries, k=k, threads=1, pretokenised=int(pretokenised),
                                query_weighted=1, result_qidxs=qidxs, result_docnos=docnos,
                                result_ranks=np.empty(n, np.int32), result_scores=np.empty(n, np.float32))
    return qidxs[:filled], docnos[:filled].tolist()


def hits_to_rows(qidxs: np.ndarray, docnos: list, nq: int, k: int) -> np.ndarray:
    """nq×k row ids, -1 where a query has fewer than k hits (docnos are the rows as strings)."""
    out = np.full((nq, k), -1, dtype=np.int64)
    if len(docnos):
        rows = np.fromiter(map(int, docnos), np.int64, len(docnos))
        starts = np.searchsorted(qidxs, np.arange(nq))  # hits come grouped by query, in query order
        out[qidxs, np.arange(len(rows)) - starts[qidxs]] = rows
    return out


class PisaAlgorithm(Algorithm):
    """The query side of the PISA adapters: ``algorithm`` per setting, one series per algorithm, and
    ``query``/``batch_query`` over the retrieval context ``fit`` made.  A subclass sets ``pretokenised``
    and turns its queries into PISA's input with ``pisa_queries``."""

    query_parameters = (Param("algorithm", str, REQUIRED, choices=QUERY_ALGORITHMS + CONJUNCTIVE),)
    pretokenised = False
    context = None

    def pisa_queries(self, queries) -> list:
        """``[(index, query)]`` for a batch of queries (a 1-row batch in single mode)."""
        raise NotImplementedError

    def apply_query_params(self) -> None:
        self.algorithm = self.query_params["algorithm"]

    def series(self) -> str:
        kind = " (conjunctive)" if self.algorithm in CONJUNCTIVE else ""
        return f"{self.label} {self.algorithm}{kind}"

    def query(self, query, k: int) -> np.ndarray:
        batch = [query] if isinstance(query, str) else query  # a text, or a 1-row CSR matrix
        _, docnos = retrieve(self.context, self.algorithm, self.pisa_queries(batch), k, pretokenised=self.pretokenised)
        return np.fromiter(map(int, docnos), np.int64, len(docnos))

    def batch_query(self, queries, k: int) -> np.ndarray:
        qidxs, docnos = retrieve(self.context, self.algorithm, self.pisa_queries(queries), k,
                                 pretokenised=self.pretokenised)
        return hits_to_rows(qidxs, docnos, len(queries) if isinstance(queries, list) else queries.shape[0], k)

"""PISA impact search over learned sparse vectors (``pyterrier-pisa`` 0.4.9; ``algorithms/pisa_base.py``).

The strong exact baseline of the sparse side: PISA's dynamic pruning returns the exact top-k of the
integer dot product, usually faster than scoring every posting.  Like ``pyserini-impact``, every
document weight is quantized to ``round(w · scale)`` (build parameter ``scale``, default 100;
weights that round to 0 are dropped) and a query's weights with the same ``scale``; PISA's
``quantized`` scorer scores a posting by its stored integer, so a document's score is
``Σ round(q · scale) · round(d · scale)``: the same integer vectors as ``pyserini-impact``, and kNN
recall against the float ground truth measures only the quantization.

Build (timed): the quantized matrix is written directly in PISA's binary collection format (the
inverted lists ``inv.docs``/``inv.freqs``, ``inv.sizes``, one term per column that has postings,
named by its zero-padded column number so that PISA's lexicographic term order is the numeric
one), then ``prepare_index`` computes the block-max data (blocks of ``block_size`` postings) and
compresses the lists with ``encoding``.  Query parameter: ``algorithm`` (``pisa_base``): each is
its own series in plots and leaderboards.

Query cost inside the timed call: ``_pisathon`` turns a weight w into w repetitions of the term
and counts them again (a SPLADE query at scale 100 is ~20 terms × ~100 repetitions); query terms
in no document are dropped by PISA's lexicon lookup.

Threads: ``retrieve(threads=1)`` runs on the calling thread (no TBB pool).  ``prepare_index`` uses
TBB's default arena, which TBB sizes from the process's CPU affinity mask: one thread in the
harness's pinned worker.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from algorithms.pisa_base import ENCODINGS, PisaAlgorithm, _pisathon, prepare, search_files_bytes
from harness.kit import SPARSE, Param


def quantize(m: sp.csr_matrix, scale: float) -> sp.csr_matrix:
    """``round(w · scale)`` as int64 CSR with zeros and duplicates removed."""
    m = sp.csr_matrix(m)
    q = sp.csr_matrix((np.rint(m.data.astype(np.float64) * scale).astype(np.int64), m.indices.copy(),
                       m.indptr.copy()), shape=m.shape)
    q.sum_duplicates()
    q.eliminate_zeros()
    return q


def write_collection(docs: sp.csr_matrix, folder: Path) -> np.ndarray:
    """PISA's binary collection and lexicons for the integer matrix ``docs``; returns the term names
    (one per column, ``""`` for a column no document has)."""
    if docs.nnz and docs.data.min() < 0:
        raise ValueError("PISA stores impacts as unsigned integers: this dataset has negative weights")
    n, width = docs.shape[0], len(str(max(docs.shape[1] - 1, 0)))
    csc = docs.tocsc()
    csc.sort_indices()
    lengths = np.diff(csc.indptr)
    present = np.flatnonzero(lengths)
    with open(folder / "inv.docs", "wb") as ids, open(folder / "inv.freqs", "wb") as impacts:
        ids.write(np.array([1, n], np.uint32).tobytes())  # the "collection size" list PISA expects first
        for term in present:
            lo, hi = csc.indptr[term], csc.indptr[term + 1]
            ids.write(np.concatenate([[hi - lo], csc.indices[lo:hi]]).astype(np.uint32).tobytes())
            impacts.write(np.concatenate([[hi - lo], csc.data[lo:hi]]).astype(np.uint32).tobytes())
    sizes = np.asarray(docs.sum(axis=1)).ravel()  # unused by the quantized scorer, required by the format
    (folder / "inv.sizes").write_bytes(np.concatenate([[n], sizes]).astype(np.uint32).tobytes())
    names = np.array([f"{t:0{width}d}" for t in range(docs.shape[1])], dtype=object)
    names[lengths == 0] = ""
    (folder / "fwd.terms").write_text("".join(f"{name}\n" for name in names[present]))
    (folder / "fwd.documents").write_text("".join(f"{row}\n" for row in range(n)))
    _pisathon.build_binlex(str(folder / "fwd.documents"), str(folder / "fwd.doclex"))
    _pisathon.build_binlex(str(folder / "fwd.terms"), str(folder / "fwd.termlex"))
    return names


class PisaImpact(PisaAlgorithm):
    """PISA over integer-quantized sparse vectors: the exact top-k by dynamic pruning."""

    accepts = frozenset({SPARSE})
    distances = frozenset({"ip"})
    build_parameters = (Param("scale", float, 100.0, low=0, low_open=True),
                        Param("block_size", int, 64, low=1),
                        Param("encoding", str, "block_simdbp", choices=ENCODINGS))
    fixed_parameters = {"threads": "always 1 (the harness runs one thread)",
                        "query_weighted": "always on: a query term counts with its quantized weight"}
    pretokenised = True

    def fit(self, dataset) -> None:
        self.scale = self.build_params["scale"]
        docs = quantize(dataset.train, self.scale)
        self.folder = Path(self.build_folder())
        self.names = write_collection(docs, self.folder)
        self.present = self.names != ""
        self.context = prepare(self.folder, self.build_params["encoding"], "quantized",
                               self.build_params["block_size"])

    def pisa_queries(self, queries) -> list[tuple[int, dict[str, float]]]:
        q = quantize(queries, self.scale)
        out = []
        for i in range(q.shape[0]):
            lo, hi = q.indptr[i], q.indptr[i + 1]
            cols, weights = q.indices[lo:hi], q.data[lo:hi]
            keep = weights > 0  # PISA counts a weight below 1 as no term
            keep[keep] = self.present[cols[keep]]  # terms in no document: not in PISA's lexicon
            out.append((i, dict(zip(self.names[cols[keep]].tolist(), weights[keep].astype(float).tolist(),
                                    strict=True))))
        return out

    def index_size_bytes(self) -> int | None:
        return search_files_bytes(self.folder) if hasattr(self, "folder") else None

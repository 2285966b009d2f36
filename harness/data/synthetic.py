"""Seeded synthetic datasets: a clustered dense workload and a SPLADE-like sparse one.

Both generators are fully vectorised (work is done in row chunks, never one
Python iteration per row) and deterministic: the same arguments and ``seed``
give bit-identical arrays.  Each generator splits ``seed`` into independent
streams (model / train / test) with :class:`numpy.random.SeedSequence`.

Dense model (:func:`clustered_dense`, meant for the ``angular`` distance)
    A Gaussian mixture on the sphere.  ``n_clusters`` centres are random unit
    directions; cluster weights come from a Dirichlet(5) draw, so cluster sizes
    are uneven but no cluster is empty in expectation.  Each cluster has its own
    isotropic spread ``spread * LogNormal(0, 0.25)``, expressed as the expected
    norm of the noise vector relative to the unit centre.  With the default
    ``spread=1.0`` about 97 % of a test point's exact top-10 lie in its own
    cluster (measured at 100,000×64 with 256 clusters): partition-based indexes
    see real structure but must probe neighbouring clusters for the last few
    per cent of recall, and within a cluster the data is a full-dimensional
    Gaussian blob (high intrinsic dimension, so no easy shortcut).  Train and
    test points are drawn independently from the same mixture (cluster label,
    then centre + noise).

Sparse model (:func:`zipf_sparse`, meant for ``ip``)
    A bag-of-terms model over a ``vocab_size`` vocabulary (BERT's 30,522 by
    default).  Terms have Zipf(``zipf_exponent``) frequencies over a randomly
    permuted vocabulary, so frequent terms are scattered over the id range.

    * Each document draws a target length ``t ~ doc_nnz * LogNormal(0, 0.35)``
      (mean ``doc_nnz``) and takes the first ``t`` *distinct* terms of a stream
      of Zipf draws, i.e. Zipf sampling without replacement.  The stream is
      oversampled with replacement and de-duplicated (``np.unique`` of
      ``row * V + term``); its length is calibrated from the exact expected
      number of distinct terms among ``m`` draws, ``V - sum_r (1 - p_r)^m``.
    * Weights are SPLADE-like: ``LogNormal(-0.5, 0.8)`` (many small, a few
      large) times an IDF-like factor in ``[0.2, 1]`` that shrinks the weights of
      frequent terms, as learned sparse encoders do for stop words.
    * Each query is derived from a uniformly chosen source document: about
      ``doc_fraction`` (60 %) of its ``t_q ~ query_nnz * LogNormal(0, 0.25)``
      terms are a weight-proportional sample without replacement of the
      source's terms (Gumbel top-k), with weights multiplied by
      ``LogNormal(0, 0.4)`` noise; the rest are extra distinct Zipf terms not in
      that sample, with smaller weights (``0.5 ×``).  The source document is
      therefore usually among the query's exact top-10 by inner product, while
      shared frequent terms keep the ranking non-trivial.

    Rows of both CSR matrices have sorted, unique indices and strictly positive
    float32 values.  Row lengths are capped at ``vocab_size // 4``, so nnz
    targets near the vocabulary size are not met.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

__all__ = ["clustered_dense", "zipf_sparse", "zipf_sparse_with_sources"]

# Rows handled per vectorised step; bounds peak memory (~ chunk × draws × 8 bytes).  Part of the sparse
# generator's definition: its stream is drawn chunk by chunk, so another size gives other arrays.
_CHUNK_ROWS = 16_384
# Dense values drawn per step (64 MiB of float32).
_CHUNK_VALUES = 1 << 24


def _streams(seed: int, n: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def _lognormal_mean_one(rng: np.random.Generator, sigma: float, size: int) -> np.ndarray:
    """LogNormal factors with mean exactly 1 (so targets keep their mean)."""
    return rng.lognormal(-0.5 * sigma * sigma, sigma, size)


# --- dense ---------------------------------------------------------------------------------------


def clustered_dense(
    n_train: int,
    n_test: int,
    dim: int,
    n_clusters: int,
    seed: int,
    spread: float = 1.0,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-mixture train/test sets, float32 ``n_train×dim`` and ``n_test×dim``."""
    if min(n_train, n_test, dim, n_clusters) < 1:
        raise ValueError("n_train, n_test, dim and n_clusters must all be positive")
    model_rng, train_rng, test_rng = _streams(seed, 3)
    centres = model_rng.standard_normal((n_clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = model_rng.dirichlet(np.full(n_clusters, 5.0))
    # Per-dimension sigma so that the noise vector's norm is ~spread_c (centres have norm 1).
    sigma = spread * model_rng.lognormal(0.0, 0.25, n_clusters) / np.sqrt(dim)

    def draw(rng: np.random.Generator, n: int) -> np.ndarray:
        labels = rng.choice(n_clusters, size=n, p=weights)
        x = np.empty((n, dim), dtype=np.float32)
        # In row chunks, so a million rows never hold float64 temporaries of the whole matrix; the
        # generator's stream is drawn in the same order, so the values equal a single draw's.
        step = max(1, _CHUNK_VALUES // dim)
        for start in tqdm(range(0, n, step), desc="vectors", unit="chunk", disable=not progress or n <= step):
            part, rows = x[start:start + step], labels[start:start + step]
            rng.standard_normal(dtype=np.float32, out=part)
            part *= sigma[rows, None].astype(np.float32)
            part += centres[rows].astype(np.float32)
        return x

    return draw(train_rng, n_train), draw(test_rng, n_test)


# --- sparse --------------------------------------------------------------------------------------


class _ZipfVocab:
    """Zipf term distribution over a permuted vocabulary, plus draw-count calibration."""

    def __init__(self, vocab_size: int, exponent: float, rng: np.random.Generator) -> None:
        self.size = vocab_size
        p = np.arange(1, vocab_size + 1, dtype=np.float64) ** -exponent
        self.p = p / p.sum()
        self.cdf = np.cumsum(self.p)
        self.cdf[-1] = 1.0
        self.term_of_rank = rng.permutation(vocab_size)  # frequent terms get random ids
        self.rank_of_term = np.empty(vocab_size, dtype=np.int64)
        self.rank_of_term[self.term_of_rank] = np.arange(vocab_size)
        # IDF-like weight factor per rank in [0.2, 1]: frequent terms matter less.
        idf = -np.log(self.p)
        self.idf_factor = 0.2 + 0.8 * (idf - idf[0]) / max(idf[-1] - idf[0], 1e-12)
        # Expected distinct terms among m draws, on a geometric grid of m (monotone in m).
        self._grid = np.unique(np.geomspace(1, 200 * vocab_size, 400).astype(np.int64)).astype(np.float64)
        log1m = np.log1p(-self.p)
        self._distinct = np.array([vocab_size - np.exp(m * log1m).sum() for m in self._grid])

    def draws_for(self, distinct: np.ndarray) -> np.ndarray:
        """Number of draws whose expected distinct count is ``distinct`` (element-wise)."""
        target = np.minimum(distinct, self._distinct[-1])
        return np.ceil(np.interp(target, self._distinct, self._grid)).astype(np.int64)

    def draw_ranks(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(self.cdf, rng.random(n), side="right"), self.size - 1)


def _first_distinct(
    rng: np.random.Generator, vocab: _ZipfVocab, targets: np.ndarray, exclude: np.ndarray | None = None
) -> np.ndarray:
    """Per row ``i``, the first ``targets[i]`` distinct Zipf terms of a random stream.

    Returns sorted keys ``row * V + term``.  Keys in ``exclude`` (sorted) are
    skipped, so the result is disjoint from them.  Rows whose oversampled stream
    has too few distinct terms (very unlikely) keep what they have.
    """
    n = len(targets)
    V = vocab.size
    # 1.25× + 8 headroom over the expected distinct count makes shortfalls rare.
    n_excl = np.zeros(n, dtype=np.int64)
    if exclude is not None and len(exclude):
        n_excl = np.bincount(exclude // V, minlength=n)
    draws = vocab.draws_for(1.25 * (targets + n_excl) + 8)
    rows = np.repeat(np.arange(n, dtype=np.int64), draws)
    keys = rows * V + vocab.term_of_rank[vocab.draw_ranks(rng, len(rows))]
    uniq, first = np.unique(keys, return_index=True)  # sorted by (row, term)
    if exclude is not None and len(exclude):
        ok = ~np.isin(uniq, exclude, assume_unique=True)
        uniq, first = uniq[ok], first[ok]
    # Discovery order (row-major because rows are contiguous in the stream).
    order = np.argsort(first, kind="stable")
    row_sorted = uniq[order] // V
    pos = np.arange(len(order)) - np.searchsorted(row_sorted, row_sorted, side="left")
    keep = np.zeros(len(uniq), dtype=bool)
    keep[order] = pos < targets[row_sorted]
    return uniq[keep]


def _csr_from_keys(keys: np.ndarray, values: np.ndarray, n_rows: int, n_cols: int) -> sp.csr_matrix:
    """CSR from sorted unique ``row * n_cols + col`` keys."""
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // n_cols, minlength=n_rows), out=indptr[1:])
    m = sp.csr_matrix(
        (values.astype(np.float32), (keys % n_cols).astype(np.int32), indptr), shape=(n_rows, n_cols)
    )
    m.has_sorted_indices = True
    return m


def _row_targets(rng: np.random.Generator, n: int, mean: float, sigma: float, upper: int) -> np.ndarray:
    t = np.rint(mean * _lognormal_mean_one(rng, sigma, n)).astype(np.int64)
    return np.clip(t, 1, upper)


def zipf_sparse(
    n_train: int,
    n_test: int,
    vocab_size: int = 30_522,
    doc_nnz: int = 120,
    query_nnz: int = 40,
    zipf_exponent: float = 1.0,
    seed: int = 0,
    doc_fraction: float = 0.6,
    progress: bool = False,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """SPLADE-like sparse docs and correlated queries (CSR float32, ``vocab_size`` columns)."""
    train, test, _ = zipf_sparse_with_sources(
        n_train, n_test, vocab_size, doc_nnz, query_nnz, zipf_exponent, seed, doc_fraction, progress
    )
    return train, test


def zipf_sparse_with_sources(
    n_train: int,
    n_test: int,
    vocab_size: int = 30_522,
    doc_nnz: int = 120,
    query_nnz: int = 40,
    zipf_exponent: float = 1.0,
    seed: int = 0,
    doc_fraction: float = 0.6,
    progress: bool = False,
) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """:func:`zipf_sparse` plus the source document id of every query (for checks)."""
    if min(n_train, n_test, vocab_size, doc_nnz, query_nnz) < 1:
        raise ValueError("sizes and nnz targets must all be positive")
    model_rng, train_rng, test_rng = _streams(seed, 3)
    vocab = _ZipfVocab(vocab_size, zipf_exponent, model_rng)
    V = vocab_size
    upper = max(1, vocab_size // 4)  # keeps the oversampled streams short

    # Documents, in chunks of rows.
    doc_targets = _row_targets(train_rng, n_train, doc_nnz, 0.35, upper)
    # Each chunk of rows is kept as its CSR arrays (int32 terms, float32 weights: 8 bytes an entry),
    # not as int64 keys and float64 weights, so a million documents stay within a few GiB.
    counts, term_parts, weight_parts = [], [], []
    chunks = range(0, n_train, _CHUNK_ROWS)
    for start in tqdm(chunks, desc="documents", unit="chunk", disable=not progress or len(chunks) < 2):
        stop = min(n_train, start + _CHUNK_ROWS)
        keys = _first_distinct(train_rng, vocab, doc_targets[start:stop])
        terms = keys % V
        w = train_rng.lognormal(-0.5, 0.8, len(keys)) * vocab.idf_factor[vocab.rank_of_term[terms]]
        counts.append(np.bincount(keys // V, minlength=stop - start))
        term_parts.append(terms.astype(np.int32))
        weight_parts.append(w.astype(np.float32))
        del keys, terms, w
    indptr = np.zeros(n_train + 1, dtype=np.int64)
    np.cumsum(np.concatenate(counts), out=indptr[1:])
    train = sp.csr_matrix((np.concatenate(weight_parts), np.concatenate(term_parts), indptr), shape=(n_train, V))
    train.has_sorted_indices = True
    del term_parts, weight_parts

    # Queries: a weighted sample of a source doc's terms plus extra Zipf terms.
    src = test_rng.integers(0, n_train, n_test)
    q_targets = _row_targets(test_rng, n_test, query_nnz, 0.25, upper)
    lengths = np.diff(train.indptr)[src]
    from_doc = np.minimum(np.rint(doc_fraction * q_targets).astype(np.int64), lengths)
    # Gather every source-doc entry, rows in query order.
    q_rows = np.repeat(np.arange(n_test, dtype=np.int64), lengths)
    offsets = np.cumsum(lengths) - lengths
    entry = train.indptr[src][q_rows] + (np.arange(len(q_rows)) - offsets[q_rows])
    d_terms = train.indices[entry].astype(np.int64)
    d_weights = train.data[entry].astype(np.float64)
    # Gumbel top-k on log(weight) = weighted sampling without replacement.
    score = np.log(d_weights) + test_rng.gumbel(size=len(d_weights))
    order = np.lexsort((-score, q_rows))
    pos = np.arange(len(order)) - offsets[q_rows[order]]
    chosen = np.sort(order[pos < from_doc[q_rows[order]]])
    doc_keys = q_rows[chosen] * V + d_terms[chosen]  # sorted: rows ascending, terms sorted within a doc
    doc_w = d_weights[chosen] * test_rng.lognormal(0.0, 0.4, len(chosen))

    noise_keys = _first_distinct(test_rng, vocab, q_targets - from_doc, exclude=doc_keys)
    noise_w = 0.5 * test_rng.lognormal(-0.5, 0.8, len(noise_keys)) * vocab.idf_factor[
        vocab.rank_of_term[noise_keys % V]
    ]
    keys = np.concatenate([doc_keys, noise_keys])
    values = np.concatenate([doc_w, noise_w])
    order = np.argsort(keys, kind="stable")
    test = _csr_from_keys(keys[order], values[order], n_test, V)
    return train, test, src

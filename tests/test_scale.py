"""Datasets at a million vectors (issue 21): generators and ground truth work in bounded chunks, and
chunking changes nothing; the growth steps of a family share their model."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from harness.data import groundtruth, synthetic
from harness.data.registry import REGISTRY, SCALE_STEPS


def test_dense_chunks_draw_the_values_of_one_draw(monkeypatch):
    whole = synthetic.clustered_dense(3000, 200, 24, n_clusters=30, seed=9)
    monkeypatch.setattr(synthetic, "_CHUNK_VALUES", 24 * 7)  # 7 rows per chunk, a ragged last one
    chunked = synthetic.clustered_dense(3000, 200, 24, n_clusters=30, seed=9)
    for a, b in zip(whole, chunked, strict=True):
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b)


def test_sparse_documents_assembled_chunk_by_chunk_are_valid_csr_across_chunk_boundaries(monkeypatch):
    # The chunk size is part of the sparse generator's definition (its stream is drawn chunk by
    # chunk); what must hold at any size is that the pieces join into one valid matrix.
    monkeypatch.setattr(synthetic, "_CHUNK_ROWS", 333)
    train, _ = synthetic.zipf_sparse(3000, 200, vocab_size=5000, doc_nnz=60, seed=4)
    assert train.indices.dtype == np.int32 and train.data.dtype == np.float32 and train.indptr[-1] == train.nnz
    for row in range(3000):
        terms = train.indices[train.indptr[row]:train.indptr[row + 1]]
        assert len(terms) >= 1 and (np.diff(terms) > 0).all(), row
    assert (train.data > 0).all() and abs(np.diff(train.indptr).mean() - 60) < 3


def brute_force(train, test, distance: str) -> np.ndarray:
    """Every distance in float64, by numpy alone (smaller is closer)."""
    if sp.issparse(train):
        return -(test.astype(np.float64) @ train.astype(np.float64).T).toarray()
    x, q = train.astype(np.float64), test.astype(np.float64)
    if distance == "euclidean":
        return np.sqrt(np.maximum(0, (q**2).sum(1)[:, None] - 2 * q @ x.T + (x**2).sum(1)[None]))
    if distance == "angular":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        return 1 - q @ x.T
    return -(q @ x.T)


@pytest.mark.parametrize("distance", ["angular", "euclidean", "ip", "sparse"])
def test_ground_truth_over_small_chunks_is_exact(monkeypatch, distance):
    monkeypatch.setattr(groundtruth, "DOC_CHUNK", 701)  # many chunks, a ragged last one of 198
    monkeypatch.setattr(groundtruth, "SCORE_BUDGET_BYTES", 16 * 701 * 37)  # blocks of 37 queries
    if distance == "sparse":
        train, test = synthetic.zipf_sparse(4402, 150, vocab_size=3000, seed=2)
        distance = "ip"
    else:
        train, test = synthetic.clustered_dense(4402, 150, 16, n_clusters=12, seed=3)
    ids, dist = groundtruth.compute_ground_truth(train, test, distance, depth=100, progress=False)
    every = brute_force(train, test, distance)
    expected = np.sort(every, axis=1)[:, :100]
    assert np.allclose(dist, expected, rtol=1e-6, atol=1e-6)
    # The ids are the ones at those distances (ties aside: compare the distances they stand for).
    assert np.allclose(np.take_along_axis(every, ids.astype(np.int64), 1), expected, rtol=1e-6, atol=1e-6)


def test_the_growth_steps_of_a_family_share_their_model_and_queries():
    for family in ("random-m-dense", "random-m-sparse"):
        steps = [REGISTRY[f"{family}{suffix}"].make for suffix, _ in SCALE_STEPS]
        assert [s.args[0] for s in steps] == [n for _, n in SCALE_STEPS]  # documents grow ...
        assert len({(s.func, s.args[1:], tuple(sorted(s.keywords.items()))) for s in steps}) == 1  # ... nothing else
    small, large = (synthetic.clustered_dense(n, 50, 8, n_clusters=16, seed=5) for n in (1000, 3000))
    assert np.array_equal(small[1], large[1])  # the dense steps ask the very same queries

"""Micro-benchmarks (pytest-benchmark) of the blocked C kernel and of the harness's hot paths.

    make bench            # runs them and compares with the stored baseline (fails on a regression)
    make bench-baseline   # stores a new baseline (after a deliberate change)

Not part of `make test`: timings belong here, never in a unit test.  Inputs are small, fixed and
generated (seeded), so the baseline compares like with like.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from algorithms import _blocked
from harness.data.synthetic import zipf_sparse
from harness.kit import DENSE, Algorithm
from harness.results import BuildFacts, ProofRecord, ResultHeader, ResultWriter, RunRecord
from harness.run.measure import run_single
from harness.run.scoring import knn_recall

K = 10


@pytest.fixture(scope="module")
def sparse():
    docs, queries = zipf_sparse(5_000, 200, vocab_size=30_522, doc_nnz=120, query_nnz=40, seed=21)
    return sp.csr_matrix(docs, dtype=np.float32), sp.csr_matrix(queries, dtype=np.float32)


def _build(docs: sp.csr_matrix):
    docs.sort_indices()
    return _blocked.Index.build(docs.indptr.astype(np.int64), docs.indices.astype(np.int32), docs.data,
                                docs.shape[1], n_postings=500, centroid_fraction=0.2, max_block_size=8)


def test_blocked_build(benchmark, sparse):
    benchmark.pedantic(_build, args=(sparse[0][:2_000].copy(),), rounds=5, iterations=1)


@pytest.mark.parametrize("query", [{"query_cut": 5, "heap_factor": 0.9}, {"query_cut": 10, "heap_factor": 0.7},
                                   {"query_cut": 10, "candidates": 200}],
                         ids=["5-0.9", "10-0.7", "candidates-10-200"])  # the block walk, the candidates mode
def test_blocked_batch_search(benchmark, sparse, query):
    index = _build(sparse[0].copy())
    q = sparse[1]
    q.sort_indices()
    args = (q.indptr.astype(np.int64), q.indices.astype(np.int32), q.data, K)
    ids, _ = benchmark(index.batch_search, *args, **query)
    assert ids.shape == (q.shape[0], K)


def test_recall_scoring(benchmark):
    rng = np.random.default_rng(3)
    true = np.sort(rng.random((10_000, 100)), axis=1).astype(np.float32)
    got = true[:, :K] + rng.normal(0, 1e-3, (10_000, K))
    benchmark(knn_recall, got, true, K)


def test_result_write(benchmark, tmp_path):
    nq = 10_000
    ids = np.tile(np.arange(K), (nq, 1))
    record = RunRecord("batch", {"ef": 10}, ids, ids * 0.5, np.ones(nq), np.array([0.1, 0.1, 0.1]), 0.1, 1e5, 1.0,
                       ProofRecord(1.0, 0.0, 0.0, 1, 1, [1], True), "x", latencies_ns=np.ones((3, nq), np.int64))
    header = ResultHeader("x", "d", K, {}, "default")

    def write() -> None:
        writer = ResultWriter(tmp_path / "r.h5", header, runs=3)
        writer.record_build(BuildFacts(1.0, 0, 0, 1))
        writer.add_run("000-batch", record)
        writer.finish()

    benchmark(write)


class Nothing(Algorithm):
    accepts = frozenset({DENSE})
    answer = np.arange(K)

    def query(self, vector, k):
        return self.answer


def test_single_mode_timing_loop(benchmark):
    rows = list(np.zeros((20_000, 8), dtype=np.float32))
    benchmark(run_single, Nothing("euclidean"), rows, K)

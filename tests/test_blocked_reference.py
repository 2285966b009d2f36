"""The blocked index's C query (block walk and candidates mode) against a small pure-Python
re-implementation of the same query algorithm that reuses the C-built blocks and summaries
(``Index.blocks``), on random tiny inputs (Hypothesis); and the blocks' partition of each pruned
list.  The reference is also used by test_blocked_format.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_blocked import EXAMPLES

from algorithms import _blocked

# --- the C query against a Python re-implementation on the C-built blocks ----------------------------


def doc_score(index, q, d) -> float:
    """Document d's exact inner product with the query (a {term: weight} dict), from the forward index."""
    dt, dv = index.doc(d)
    return sum(float(q.get(int(t), 0.0)) * float(v) for t, v in zip(dt, dv, strict=True))


def exact_top(index, q, docs, k):
    """The k best of `docs` by exact score (ties: smaller id), as (score, id) pairs."""
    return sorted(((doc_score(index, q, d), d) for d in docs), key=lambda x: (-x[0], x[1]))[:k]


def reference_candidates(index, q, cut, k, candidates):
    """Candidates mode in Python: per scanned list t (in cut order), each document of block b gets
    q_t * (b's summary weight of t, or the summary's min when it lacks t), summed in float32 in the
    same order as the C code; the `candidates` best sums (ties: smaller id) are scored exactly."""
    f32 = np.float32
    est: dict[int, np.float32] = {}
    for t in cut:
        blocks = index.blocks(t)
        offsets, sum_off = blocks["block_offsets"], blocks["summary_offsets"]
        for b in range(len(offsets) - 1):
            lo, hi = sum_off[b], sum_off[b + 1]
            own = f32(blocks["summary_min"][b])
            where = np.flatnonzero(blocks["summary_terms"][lo:hi] == t)
            if len(where):
                own = f32(own + f32(blocks["summary_step"][b] * f32(blocks["summary_codes"][lo + where[0]])))
            v = f32(q[t] * own)
            for d in blocks["doc_ids"][offsets[b] : offsets[b + 1]].tolist():
                est[d] = f32(est.get(d, f32(0.0)) + v)
    chosen = sorted(est, key=lambda d: (-float(est[d]), d))[:candidates]
    return exact_top(index, q, chosen, k)


def reference_search(index, terms, values, k, query_cut, heap_factor, candidates=0):
    """The query algorithm of blocked_index.c in Python, on the index's own blocks and summaries.

    Summary scores are accumulated in float32 in the same order as the C code (query terms
    ascending; each term's contribution q * (min + step * code)), so they are bit-identical.
    Document scores are exact here because the tests use dyadic weights.
    """
    f32 = np.float32
    q = {int(t): f32(v) for t, v in zip(terms, values, strict=True)}
    order = sorted(range(len(terms)), key=lambda i: (-float(values[i]), int(terms[i])))
    cut = [int(terms[i]) for i in order[:query_cut]]
    if candidates > 0:
        top = reference_candidates(index, q, cut, k, candidates)
        ids = [d for _, d in top] + [-1] * (k - len(top))
        return np.array(ids, dtype=np.int64), np.array([s for s, _ in top], dtype=np.float64)
    candidates = []  # (score, seq, docs)
    for t in cut:
        blocks = index.blocks(t)
        offsets, sum_off = blocks["block_offsets"], blocks["summary_offsets"]
        for b in range(len(offsets) - 1):
            acc = f32(0.0)
            lo, hi = sum_off[b], sum_off[b + 1]
            for u, code in zip(blocks["summary_terms"][lo:hi], blocks["summary_codes"][lo:hi], strict=True):
                qv = q.get(int(u), f32(0.0))
                if qv != 0:
                    dequant = f32(blocks["summary_min"][b] + f32(blocks["summary_step"][b] * f32(code)))
                    acc = f32(acc + f32(qv * dequant))
            docs = blocks["doc_ids"][offsets[b] : offsets[b + 1]]
            candidates.append((acc, len(candidates), docs))
    candidates.sort(key=lambda c: (-float(c[0]), c[1]))
    seen: set[int] = set()
    top: list[tuple[float, int]] = []  # (score, id), best first
    for score, _, docs in candidates:
        if len(top) == k and heap_factor > 0 and score < f32(heap_factor) * f32(top[-1][0]):
            break
        for d in docs.tolist():
            if d in seen:
                continue
            seen.add(d)
            top.append((doc_score(index, q, d), d))
            top.sort(key=lambda x: (-x[0], x[1]))
            del top[k:]
    ids = [d for _, d in top] + [-1] * (k - len(top))
    return np.array(ids, dtype=np.int64), np.array([s for s, _ in top], dtype=np.float64)


@st.composite
def tiny_problem(draw):
    n_docs = draw(st.integers(1, 40))
    dim = draw(st.integers(1, 24))
    weight = st.integers(-2, 16).map(lambda x: x / 4)  # dyadic: float32 sums are exact
    rows = []
    for _ in range(n_docs):
        terms = sorted(draw(st.sets(st.integers(0, dim - 1), max_size=min(dim, 10))))
        rows.append((terms, [draw(weight) for _ in terms]))
    q_terms = sorted(draw(st.sets(st.integers(0, dim - 1), max_size=min(dim, 8))))
    q_values = [draw(st.integers(-2, 8).map(lambda x: x / 2)) for _ in q_terms]
    build_params = {  # drawn in this order (a dict display evaluates left to right)
        "pruning": draw(st.sampled_from(["fixed", "global"])), "n_postings": draw(st.integers(1, 12)),
        "max_fraction": draw(st.sampled_from([1.0, 1.5, 3.0])),
        "centroid_fraction": draw(st.sampled_from([0.1, 0.3, 0.5, 1.0])),
        "summary_energy": draw(st.sampled_from([0.2, 0.4, 0.7, 1.0])),
        "min_cluster_size": draw(st.integers(0, 3)), "doc_cut": draw(st.integers(0, 4)),
        "max_block_size": draw(st.sampled_from([0, 1, 2, 3])), "seed": draw(st.integers(0, 2**64 - 1)),
    }
    query_params = {"k": draw(st.integers(1, 6)), "query_cut": draw(st.integers(1, 6)),
                    "heap_factor": draw(st.sampled_from([0.0, 0.25, 0.5, 0.8, 0.9, 1.0, 1.3])),
                    "candidates": draw(st.sampled_from([0, 0, 0, 1, 2, 3, 5, 40]))}
    return n_docs, dim, rows, (q_terms, q_values), build_params, query_params


def csr_of(rows, dim) -> sp.csr_matrix:
    indptr = np.cumsum([0] + [len(t) for t, _ in rows]).astype(np.int64)
    indices = np.array([t for ts, _ in rows for t in ts], dtype=np.int32)
    data = np.array([v for _, vs in rows for v in vs], dtype=np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), dim))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_problem())
def test_c_search_matches_python_reference(problem):
    n_docs, dim, rows, (q_terms, q_values), build_params, qp = problem
    m = csr_of(rows, dim)
    index = _blocked.Index.build(m.indptr, m.indices, m.data, dim, **build_params)
    terms = np.array(q_terms, dtype=np.int32)
    values = np.array(q_values, dtype=np.float32)
    want_ids, want_scores = reference_search(index, terms, values, **qp)
    for scalar in (False, True):
        index.force_scalar(scalar)
        ids, scores = index.search(terms, values, qp["k"], query_cut=qp["query_cut"], heap_factor=qp["heap_factor"],
                                   candidates=qp["candidates"])
        np.testing.assert_array_equal(ids, want_ids)
        found = ids >= 0
        np.testing.assert_array_equal(scores[found], want_scores.astype(np.float32))
        assert np.isnan(scores[~found]).all()
    # the batch path answers the same (one row, and the row twice)
    two = sp.vstack([csr_of([(q_terms, q_values)], dim)] * 2).tocsr()
    bids, _ = index.batch_search(two.indptr.astype(np.int64), two.indices, two.data.astype(np.float32), qp["k"],
                                 query_cut=qp["query_cut"], heap_factor=qp["heap_factor"],
                                 candidates=qp["candidates"])
    np.testing.assert_array_equal(bids, np.stack([want_ids, want_ids]))


@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(tiny_problem())
def test_blocks_partition_each_pruned_list(problem):
    """Every pruned list's blocks hold distinct documents that contain the term; summaries are valid."""
    n_docs, dim, rows, _, build_params, _ = problem
    m = csr_of(rows, dim)
    index = _blocked.Index.build(m.indptr, m.indices, m.data, dim, **build_params)
    csc = m.tocsc()
    total = 0
    for t in range(dim):
        b = index.blocks(t)
        docs = b["doc_ids"]
        total += len(docs)
        has_t = set(csc.indices[csc.indptr[t] : csc.indptr[t + 1]].tolist())
        assert set(docs.tolist()) <= has_t and len(set(docs.tolist())) == len(docs)
        sizes = np.diff(b["block_offsets"])
        assert (sizes > 0).all()
        if build_params["max_block_size"]:
            assert sizes.max(initial=0) <= build_params["max_block_size"]
        if build_params["pruning"] == "fixed":
            assert len(docs) == min(len(has_t), build_params["n_postings"])
        for j in range(len(sizes)):
            lo, hi = b["summary_offsets"][j], b["summary_offsets"][j + 1]
            assert hi > lo and (np.diff(b["summary_terms"][lo:hi]) > 0).all()
            assert t in b["summary_terms"][lo:hi]  # the list's own term, whatever the energy cut
    assert total == index.info()["n_postings_total"]

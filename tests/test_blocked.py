"""The blocked inverted index (algorithms/blocked, extension ``algorithms._blocked``).

* Exactness: with no pruning, heap_factor 0 (or candidates >= the number of documents) and
  query_cut >= the query's nnz every document sharing a term with the query is scored, so the
  result must be the exact top-k — judged against independent scipy brute force in float64,
  tie-aware on scores — on random-xs-sparse and on 1,000 wordnet-splade-tiny queries (raw arrays
  from $ANNSWEEP_SOURCE_DIR).
* The C query against a pure-Python re-implementation: test_blocked_reference.py.
* Save/load, determinism, and every validation error path (an exception, never a crash).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from algorithms import _blocked
from harness.data import groundtruth, store
from harness.kit import load_adapter_class
from harness.run.scoring import knn_recall

K = 10
# Under `make sanitize` (ASan + UBSan, -O1) the same tests run on fewer queries.
SANITIZED = bool(getattr(_blocked, "SANITIZED", 0))
XS_QUERIES = WORDNET_QUERIES = 100 if SANITIZED else 1_000
# All 117,659 documents (~25 s here); under the sanitizers the first 20,000.
WORDNET_DOCS = 20_000 if SANITIZED else 117_659
EXAMPLES = 60 if SANITIZED else 300


def build(m: sp.csr_matrix, **params) -> _blocked.Index:
    m = sp.csr_matrix(m, dtype=np.float32)
    return _blocked.Index.build(m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data, m.shape[1], **params)


def batch(index, q: sp.csr_matrix, k: int = K, **params):
    q = sp.csr_matrix(q, dtype=np.float32)
    return index.batch_search(q.indptr.astype(np.int64), q.indices.astype(np.int32), q.data, k, **params)


def exhaustive(n_docs: int, pruning: str) -> dict:
    """Build parameters under which nothing is pruned."""
    return {"pruning": pruning, "n_postings": n_docs, **({"max_fraction": 1.0} if pruning == "global" else {})}


def check_exact(train, test, ids, scores, k=K):
    """Tie-aware exactness against scipy float64 brute force, and the returned scores."""
    true = (sp.csr_matrix(test, dtype=np.float64) @ sp.csr_matrix(train, dtype=np.float64).T).toarray()
    top = -np.sort(-true, axis=1)[:, :k]
    got = np.take_along_axis(true, np.where(ids >= 0, ids, 0), 1)
    got[ids < 0] = -np.inf
    recall = knn_recall(-got, -top, k)
    assert recall.min() == 1.0, f"{int((recall < 1).sum())} queries below recall 1"
    assert all(len(set(row.tolist())) == k for row in ids)
    np.testing.assert_allclose(scores, got, rtol=1e-5, atol=1e-6)
    assert (np.diff(scores, axis=1) <= 0).all(), "results are not sorted by score"


# --- exactness --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xs(tmp_path_factory):
    path = store.prepare("random-xs-sparse", tmp_path_factory.mktemp("xs"), progress=False)
    return store.open_dataset(path)


EXHAUSTIVE_QUERY = {"query_cut": 1_000, "heap_factor": 0.0}


@pytest.mark.parametrize("pruning", ["fixed", "global"])
def test_exhaustive_setting_is_exact_on_random_xs(xs, pruning):
    train, test = xs.train, xs.test[:XS_QUERIES]
    index = build(train, centroid_fraction=0.02, max_block_size=64, **exhaustive(train.shape[0], pruning))
    assert index.info()["n_postings_total"] == train.nnz  # nothing pruned
    ids, scores = batch(index, test, **EXHAUSTIVE_QUERY)  # the fastest kernel (AVX2 where available)
    check_exact(train, test, ids, scores)
    # the portable kernel, and single queries, on a part of the queries
    part = test[:200]
    index.force_scalar(True)
    ids_s, scores_s = batch(index, part, **EXHAUSTIVE_QUERY)
    check_exact(train, part, ids_s, scores_s)
    np.testing.assert_array_equal(ids_s, ids[:200])
    index.force_scalar(False)
    for i in range(0, part.shape[0], 20):
        row = part[i]
        np.testing.assert_equal(index.search(row.indices, row.data, K, **EXHAUSTIVE_QUERY), (ids[i], scores[i]))
    # candidates mode: every document sharing a term with the query is a candidate, so exact too
    ids_c, scores_c = batch(index, test, query_cut=1_000, candidates=train.shape[0])
    check_exact(train, test, ids_c, scores_c)


def test_float16_weights_are_close_on_random_xs(xs):
    """float16 weights: scores within ~1e-3 relative, so near-ties may swap; recall stays ~1."""
    train, test = xs.train, xs.test[: min(200, XS_QUERIES)]
    index = build(train, centroid_fraction=0.02, max_block_size=64, value_type="f16",
                  **exhaustive(train.shape[0], "fixed"))
    true = (sp.csr_matrix(test, dtype=np.float64) @ sp.csr_matrix(train, dtype=np.float64).T).toarray()
    for scalar in (False, True):
        index.force_scalar(scalar)
        ids, scores = batch(index, test, **EXHAUSTIVE_QUERY)
        got = np.take_along_axis(true, ids, 1)
        np.testing.assert_allclose(scores, got, rtol=2e-3)
        assert knn_recall(-got, xs.distances[: test.shape[0]], K).mean() > 0.99


def wordnet_dir() -> Path:
    folder = Path(os.environ.get("ANNSWEEP_SOURCE_DIR", "datasets/sources")) / "wordnet-splade-tiny"
    if not (folder / "q_indptr.npy").is_file():
        pytest.skip(f"wordnet-splade-tiny raw arrays not found in {folder} (set ANNSWEEP_SOURCE_DIR)")
    return folder


def load_wordnet_csr(folder: Path, prefix: str, rows: int) -> sp.csr_matrix:
    indptr = np.load(folder / f"{prefix}_indptr.npy")[: rows + 1]
    nnz = int(indptr[-1])
    indices = np.load(folder / f"{prefix}_indices.npy", mmap_mode="r")[:nnz].astype(np.int32)
    data = np.load(folder / f"{prefix}_data.npy", mmap_mode="r")[:nnz].astype(np.float32)
    return sp.csr_matrix((data, indices, indptr.astype(np.int64)), shape=(rows, 30_522))


def test_exhaustive_setting_is_exact_on_wordnet():
    folder = wordnet_dir()
    train, test = load_wordnet_csr(folder, "doc", WORDNET_DOCS), load_wordnet_csr(folder, "q", WORDNET_QUERIES)
    index = build(train, centroid_fraction=0.02, max_block_size=32, **exhaustive(train.shape[0], "global"))
    ids, scores = batch(index, test, **EXHAUSTIVE_QUERY)
    check_exact(train, test, ids, scores)
    ids, scores = batch(index, test, query_cut=1_000, candidates=train.shape[0])  # candidates mode
    check_exact(train, test, ids, scores)


# --- save / load, determinism, defaults ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(5)
    train = sp.random(3_000, 400, density=0.03, format="csr", dtype=np.float32, random_state=rng)
    test = sp.random(50, 400, density=0.03, format="csr", dtype=np.float32, random_state=rng)
    return train, test


def test_save_load_roundtrip(small, tmp_path):
    train, test = small
    index = build(train, n_postings=100, centroid_fraction=0.2, max_block_size=8, value_type="f16")
    path = tmp_path / "index.blk"
    index.save(path)
    loaded = _blocked.Index.load(path)
    assert loaded.info() == index.info()
    for qp in ({"query_cut": 3, "heap_factor": 0.9}, {"query_cut": 20, "heap_factor": 0.0}):
        np.testing.assert_equal(batch(loaded, test, **qp), batch(index, test, **qp))  # ids and scores
    for t in (0, 17, 399):
        np.testing.assert_equal(loaded.blocks(t), index.blocks(t))  # same keys, equal arrays


def test_load_rejects_damaged_files(small, tmp_path):
    index = build(small[0], n_postings=100)
    path = tmp_path / "index.blk"
    index.save(path)
    raw = path.read_bytes()
    with pytest.raises(OSError):
        _blocked.Index.load(tmp_path / "missing.blk")
    cases = {
        "magic": b"XXXXXXXX" + raw[8:],
        "truncated": raw[: len(raw) // 2],
        "extra": raw + b"\0",
        "empty": b"",
        "version": raw[:8] + (99).to_bytes(4, "little") + raw[12:],
        "flipped": raw[:-100] + bytes([raw[-100] ^ 0xFF]) + raw[-99:],
        "huge-size": raw[:16] + (2**62).to_bytes(8, "little") + raw[24:],
    }
    for name, data in cases.items():
        bad = tmp_path / f"{name}.blk"
        bad.write_bytes(data)
        with pytest.raises(ValueError):
            _blocked.Index.load(bad)


def test_build_is_deterministic_for_a_seed(small):
    train, test = small
    a, b, c = (build(train, n_postings=150, seed=seed, max_block_size=4) for seed in (7, 7, 8))
    differs = False
    for t in range(0, 400, 7):
        ba, bb, bc = a.blocks(t), b.blocks(t), c.blocks(t)
        np.testing.assert_equal(bb, ba)
        differs |= not np.array_equal(ba["doc_ids"], bc["doc_ids"])
    assert differs, "another seed should give other blocks"
    np.testing.assert_array_equal(batch(a, test, query_cut=5)[0], batch(b, test, query_cut=5)[0])


def test_defaults_are_the_c_cores(small):
    """BUILD_DEFAULTS / QUERY_DEFAULTS (made from the C defaults) are what omitted arguments get."""
    types = {"n_postings": int, "max_fraction": float, "centroid_fraction": float, "summary_energy": float,
             "min_cluster_size": int, "doc_cut": int, "seed": int, "pruning": str, "value_type": str,
             "max_block_size": int}
    assert {key: type(v) for key, v in _blocked.BUILD_DEFAULTS.items()} == types
    assert {key: type(v) for key, v in _blocked.QUERY_DEFAULTS.items()} == {"query_cut": int, "heap_factor": float,
                                                                           "candidates": int}
    assert _blocked.BUILD_DEFAULTS["pruning"] in ("global", "fixed")
    assert _blocked.BUILD_DEFAULTS["value_type"] in ("f32", "f16")
    heap_factor = _blocked.QUERY_DEFAULTS["heap_factor"]  # the short decimal (0.9), not (double)0.9f
    assert float(str(np.float32(heap_factor))) == heap_factor
    train, test = small
    implicit, explicit = build(train), build(train, **_blocked.BUILD_DEFAULTS)
    assert implicit.nbytes == explicit.nbytes and implicit.info() == explicit.info()
    assert implicit.info()["params"] == _blocked.BUILD_DEFAULTS
    for t in range(0, 400, 7):
        np.testing.assert_equal(implicit.blocks(t), explicit.blocks(t))

    def run(index, **qp):  # batch and single queries, with the work they did
        index.stats(reset=True)
        single = [index.search(test[i].indices, test[i].data, K, **qp) for i in range(10)]
        return batch(index, test, **qp), single, index.stats(reset=True)

    want = run(explicit, **_blocked.QUERY_DEFAULTS)
    for got in (run(implicit), run(implicit, **_blocked.QUERY_DEFAULTS), run(explicit)):
        np.testing.assert_equal(got, want)


def test_pruning_keeps_the_largest_entries(small):
    train = small[0]
    csc = train.tocsc()
    fixed = build(train, pruning="fixed", n_postings=20)
    for t in range(0, 400, 13):
        col = csc.data[csc.indptr[t] : csc.indptr[t + 1]]
        kept = fixed.blocks(t)["doc_ids"]
        assert len(kept) == min(20, len(col))
        weights = np.asarray(train[kept, t].todense()).ravel()
        if len(col) > 20:
            assert weights.min() >= np.sort(col)[-20]
    # global: about n_postings per non-empty list in all, none longer than max_fraction * n_postings
    glob = build(train, pruning="global", n_postings=20, max_fraction=1.5)
    lengths = [len(glob.blocks(t)["doc_ids"]) for t in range(400)]
    assert max(lengths) <= 30
    assert sum(lengths) <= 20 * sum(1 for t in range(400) if csc.indptr[t + 1] > csc.indptr[t])


# --- validation: every error is a Python exception ---------------------------------------------------


@pytest.fixture(scope="module")
def tiny_index():
    m = sp.csr_matrix(np.array([[1, 0, 2, 0], [0, 3, 0, 1], [1, 1, 1, 1]], dtype=np.float32))
    return m, _blocked.Index.build(m.indptr.astype(np.int64), m.indices, m.data, 4)


def test_build_validation(tiny_index):
    m = tiny_index[0]
    ip, ix, dx = m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data.astype(np.float32)
    B = _blocked.Index.build
    type_errors = [
        ((ip, ix.astype(np.int64), dx, 4), {}),          # indices int64
        ((ip, ix, dx.astype(np.float64), 4), {}),        # data float64
        ((ip.astype(np.float64), ix, dx, 4), {}),        # indptr float
        ((ip, ix.tolist(), dx, 4), {}),                  # not a buffer
        ((ip, ix, dx, 4), {"seed": 1.5}),
        ((ip, ix, dx, 4), {"n_postings": "10"}),
        ((ip, ix, dx, 4), {"min_cluster_size": 2.0}),
        ((ip, ix, dx, 4), {"no_such_param": 1}),
        ((ip, ix.astype(">i4"), dx, 4), {}),              # big-endian
    ]
    for args, kwargs in type_errors:
        with pytest.raises(TypeError):
            B(*args, **kwargs)
    value_errors = [
        ((ip, ix[::2], dx[::2], 4), {}),                                  # non-contiguous / lengths
        ((ip, np.ascontiguousarray(np.stack([ix, ix]))[:, :], dx, 4), {}),  # 2-D
        ((ip, ix, dx[:-1], 4), {}),                                       # lengths differ
        ((ip[:-1], ix, dx, 4), {}),                                       # indptr[-1] != nnz
        ((np.array([1, 2, 4, 8], np.int64), ix, dx, 4), {}),              # indptr[0] != 0
        ((np.array([0, 5, 3, 8], np.int64), ix, dx, 4), {}),              # indptr decreasing
        ((np.array([0, -1, 4, 8], np.int64), ix, dx, 4), {}),             # negative
        ((np.zeros(0, np.int64), ix[:0], dx[:0], 4), {}),                 # empty indptr
        ((ip, np.array([2, 0, 1, 3, 0, 1, 2, 3], np.int32), dx, 4), {}),  # unsorted
        ((ip, np.array([0, 2, 1, 1, 0, 1, 2, 3], np.int32), dx, 4), {}),  # duplicate
        ((ip, np.array([0, 2, 1, 3, 0, 1, 2, 4], np.int32), dx, 4), {}),  # term >= dim
        ((ip, np.array([0, 2, 1, 3, -1, 1, 2, 3], np.int32), dx, 4), {}), # negative term
        ((ip, ix, np.where(np.arange(8) == 3, np.nan, dx).astype(np.float32), 4), {}),
        ((ip, ix, np.where(np.arange(8) == 3, np.inf, dx).astype(np.float32), 4), {}),
        ((ip, ix, dx, 0), {}),
        ((ip, ix, dx, 65_537), {}),
        ((ip, ix, dx, 4), {"n_postings": 0}),
        ((ip, ix, dx, 4), {"max_fraction": 0.0}),
        ((ip, ix, dx, 4), {"max_fraction": float("nan")}),
        ((ip, ix, dx, 4), {"centroid_fraction": 0.0}),
        ((ip, ix, dx, 4), {"centroid_fraction": 1.5}),
        ((ip, ix, dx, 4), {"summary_energy": 0.0}),
        ((ip, ix, dx, 4), {"summary_energy": 2.0}),
        ((ip, ix, dx, 4), {"min_cluster_size": -1}),
        ((ip, ix, dx, 4), {"doc_cut": -1}),
        ((ip, ix, dx, 4), {"max_block_size": -1}),
        ((ip, ix, dx, 4), {"seed": -1}),
        ((ip, ix, dx, 4), {"pruning": "none"}),
        ((ip, ix, dx, 4), {"value_type": "f64"}),
        ((ip, ix, (dx * 1e5).astype(np.float32), 4), {"value_type": "f16"}),  # float16 overflow
    ]
    for args, kwargs in value_errors:
        with pytest.raises(ValueError):
            B(*args, **kwargs)
    with pytest.raises(TypeError):
        _blocked.Index()


def test_search_validation(tiny_index):
    _, index = tiny_index
    t, v = np.array([0, 2], np.int32), np.array([1.0, 2.0], np.float32)
    assert index.search(t, v, 2)[0].tolist() == [0, 2]
    for k, kwargs in ((0, {}), (-1, {}), (2, {"query_cut": 0}), (2, {"heap_factor": -0.1}), (2, {"candidates": -1}),
                      (2, {"candidates": 2**31}),
                      (2, {"heap_factor": float("nan")}), (2, {"heap_factor": float("inf")})):
        with pytest.raises(ValueError):
            index.search(t, v, k, **kwargs)
    value_errors = [
        (np.array([2, 0], np.int32), v),          # unsorted
        (np.array([2, 2], np.int32), v),          # duplicate
        (np.array([0, 4], np.int32), v),          # out of range
        (np.array([-1, 2], np.int32), v),
        (t, np.array([1.0, np.nan], np.float32)),
        (t, np.array([np.inf, 1.0], np.float32)),
        (t, v[:1]),                               # lengths differ
        (np.array([0, 1, 2, 3], np.int32)[::2], v),  # non-contiguous
    ]
    for terms, values in value_errors:
        with pytest.raises(ValueError):
            index.search(terms, values, 2)
    for terms, values in ((t.astype(np.int64), v), (t, v.astype(np.float64)), ([0, 2], v)):
        with pytest.raises(TypeError):
            index.search(terms, values, 2)
    # batch: the same checks on CSR queries
    qp, qx, qd = np.array([0, 2], np.int64), t, v
    for exc, args in ((ValueError, (qp, np.array([2, 0], np.int32), qd, 2)), (ValueError, (qp, qx, qd, 0)),
                      (ValueError, (np.array([0, 3], np.int64), qx, qd, 2)),
                      (TypeError, (qp, qx, qd.astype(np.float16), 2))):
        with pytest.raises(exc):
            index.batch_search(*args)
    # empty queries and an empty batch are fine
    ids, scores = index.search(t[:0], v[:0], 3)
    assert ids.tolist() == [-1, -1, -1] and np.isnan(scores).all()
    ids, _ = index.batch_search(np.zeros(1, np.int64), qx[:0], qd[:0], 3)
    assert ids.shape == (0, 3)
    # k larger than the collection: padded
    ids, _ = index.search(np.array([0, 1, 2, 3], np.int32), np.ones(4, np.float32), 5, query_cut=4, heap_factor=0)
    assert sorted(ids[:3].tolist()) == [0, 1, 2] and ids[3:].tolist() == [-1, -1]
    # introspection arguments
    for method, bad in ((index.blocks, -1), (index.blocks, 4), (index.doc, -1), (index.doc, 3)):
        with pytest.raises(ValueError):
            method(bad)


# --- the adapter ---------------------------------------------------------------------------------


def test_adapter(xs):
    cls = load_adapter_class("blocked")
    for params in ({"n_posting": 10}, {"seed": True}, {"pruning": "local"}, {"centroid_fraction": 0}):
        with pytest.raises(ValueError, match="blocked: "):
            cls("ip", **params)
    algo = cls("ip", n_postings=300, centroid_fraction=0.2, max_block_size=8)
    algo.fit(xs)
    for params in ({"query_cut": 0}, {"beam": 3}, {"candidates": -1}):
        with pytest.raises(ValueError):
            algo.set_query_params(**params)
    test = xs.test[:20] if SANITIZED else xs.test[:100]
    for params in ({"query_cut": 8, "heap_factor": 0.8}, {"query_cut": 8, "candidates": 300}):
        algo.set_query_params(**params)
        b = algo.batch_query(test, K)
        single = np.stack([algo.query(test[i], K) for i in range(test.shape[0])])
        np.testing.assert_array_equal(b, single)
        recall = knn_recall(groundtruth.distances_of(xs.train, test, b, "ip"), xs.distances[: test.shape[0]], K)
        assert recall.mean() > 0.8, params
    metrics = algo.extra_metrics()
    assert metrics["docs_scored"] > 0 and metrics["blocks_visited"] > 0
    assert algo.index_size_bytes() > 0

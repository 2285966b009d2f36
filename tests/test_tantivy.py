"""The tantivy-bm25 adapter (tantivy-py 0.27.0) against an independent numpy BM25.

The reference is BM25 written from tantivy's formula (k1 1.2, b 0.75, Lucene's idf, the (k1 + 1)
factor, N = every document of the index), over tokens made here: the project's
``simple_tokenize`` (lowercase runs of letters and digits), tokens of 40 bytes or more dropped,
this file's own list of Lucene's stopwords, and tantivy's Snowball English stemmer applied word by
word.  Documents have at most 40 tokens, where tantivy's one-byte length is exact.  The adapter's
top-k must be the reference's (tie-aware), and its scores the reference's scores; the reference
with other k1/b, without query-token counts or with Lucene's N would not match.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

tantivy = pytest.importorskip("tantivy")

from harness import results  # noqa: E402  (after the skip)
from harness.data import recipes  # noqa: E402
from harness.data.corpora import TextCollection  # noqa: E402
from harness.data.dataset import Dataset  # noqa: E402
from harness.data.encoders import simple_tokenize  # noqa: E402
from harness.data.writer import write_dataset  # noqa: E402
from harness.kit import Catalogue, load_adapter_class  # noqa: E402
from harness.run import runner  # noqa: E402

TantivyBM25 = load_adapter_class("tantivy-bm25")
K = 10
REL_TOL = 1e-5  # tantivy scores in f32
TOKENIZERS = ("default", "en_stem", "lucene")
STOPWORDS = set("a an and are as at be but by for if in into is it no not of on or such that the their then there "
                "these they this to was will with".split())
STEMMER = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).filter(tantivy.Filter.stemmer("english")).build()
WORDS = ("run runs running fly flies flying model models modelling wing wings flow flows flowing heat heated "
         "heating shock shocks wave waves boundary layer layers pressure turbulent turbulence jet jets nozzle "
         "plate plates cone cones speed mach number numbers theory theoretical experiment experiments "
         "experimental compute computed computation generously 3.5 o'neil").split()
STOP_USED = ("the of and a in to is it with for that this from we").split()  # "from", "we": not Lucene's


def reference_tokens(text: str, tokenizer: str) -> list[str]:
    tokens = [t for t in simple_tokenize(text) if len(t.encode()) < 40]
    if tokenizer == "lucene":
        tokens = [t for t in tokens if t not in STOPWORDS]
    if tokenizer != "default" and tokens:
        tokens = STEMMER.analyze(" ".join(tokens))
    return tokens


class ReferenceBM25:
    """BM25 over given token lists, in float64: sum over query tokens (with their counts) of
    idf · (k1 + 1) · tf / (tf + k1 · (1 − b + b · dl / avgdl)), idf = ln(1 + (N − df + 0.5) / (df + 0.5))."""

    def __init__(self, docs: list[list[str]], n_docs: int | None = None) -> None:
        self.vocab: dict[str, int] = {}
        rows, cols = [], []
        for i, tokens in enumerate(docs):
            for t in tokens:
                rows.append(i)
                cols.append(self.vocab.setdefault(t, len(self.vocab)))
        self.tf = sp.csc_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(docs), len(self.vocab)))
        self.tf.sum_duplicates()
        self.dl = np.array([len(t) for t in docs], dtype=np.float64)
        self.n = len(docs) if n_docs is None else n_docs
        self.avgdl = self.dl.sum() / self.n
        df = np.diff(self.tf.indptr)
        self.idf = np.log1p((self.n - df + 0.5) / (df + 0.5))

    def scores(self, query: list[str], k1: float = 1.2, b: float = 0.75, counts: bool = True) -> np.ndarray:
        out = np.zeros(self.tf.shape[0])
        for term, count in Counter(query).items():
            j = self.vocab.get(term)
            if j is None:
                continue
            lo, hi = self.tf.indptr[j], self.tf.indptr[j + 1]
            docs, f = self.tf.indices[lo:hi], self.tf.data[lo:hi]
            norm = k1 * (1 - b + b * self.dl[docs] / self.avgdl)
            out[docs] += (count if counts else 1) * self.idf[j] * (k1 + 1) * f / (f + norm)
        return out


def check_top_k(ids: np.ndarray, got: np.ndarray, want: np.ndarray, k: int) -> None:
    """``ids`` (scores ``got``) are a top ``k`` of ``want``: tie-aware, only matching documents."""
    assert ids.dtype == np.int64 and len(set(ids.tolist())) == len(ids)
    assert len(ids) == min(k, int((want > 0).sum()))
    assert np.all(np.diff(got) <= REL_TOL * np.abs(got[:-1]))  # best first
    assert np.allclose(got, want[ids], rtol=REL_TOL, atol=0)  # tantivy's scores = the formula
    best = np.sort(want)[::-1][: len(ids)]
    assert np.allclose(want[ids], best, rtol=REL_TOL, atol=0)  # ... and they are the best ones
    if len(ids):
        strict = np.flatnonzero(want > best[-1] * (1 + REL_TOL))  # scoring above the k-th: must be in
        assert set(strict.tolist()) <= set(ids.tolist())


def random_text(rng: np.random.Generator, n_words: int) -> str:
    pool = WORDS + STOP_USED
    p = np.r_[np.full(len(WORDS), 3.0) / np.arange(1, len(WORDS) + 1) ** 0.5, np.full(len(STOP_USED), 0.6)]
    words = [pool[i] for i in rng.choice(len(pool), size=n_words, p=p / p.sum())]
    words = [w.upper() if rng.random() < 0.05 else w.title() if rng.random() < 0.1 else w for w in words]
    seps = rng.choice([" ", " ", " ", ", ", ". ", "-", " (", ") ", ": ", "/"], size=max(n_words - 1, 0))
    return "".join(w + s for w, s in zip(words, [*seps, ""], strict=True))


@pytest.fixture(scope="module")
def collection() -> TextCollection:
    """400 documents of 0-34 words (at most 40 tokens: "3.5" and "o'neil" are two each), 80 queries."""
    rng = np.random.default_rng(20)
    docs = [random_text(rng, int(n)) for n in rng.integers(1, 35, size=396)]
    docs += ["", "The of AND a; it is.", "generously " * 3,  # no token; only stopwords; one word thrice
             f"{'q' * 39} {'z' * 40} {'é' * 20} wing"]  # tokens of 40 bytes or more are dropped
    queries = []
    for i in range(80):
        q = random_text(rng, int(rng.integers(1, 7)))
        queries.append(f"{q} {q.split()[0]}" if i % 3 == 0 else q)  # a repeated word in every third query
    assert max(len(simple_tokenize(d)) for d in docs) <= 40
    return TextCollection("tantivy-toy", [f"d{i}" for i in range(len(docs))], docs,
                          [f"q{i}" for i in range(len(queries))], queries, {})


@pytest.fixture(scope="module")
def dataset(collection, tmp_path_factory) -> Path:
    contents = recipes.encoded_collection(collection, recipes.bm25, attrs=recipes.TEXT_ATTRS)
    return write_dataset(tmp_path_factory.mktemp("tantivy") / "tantivy-toy.hdf5", contents.train, contents.test,
                         "ip", progress=False, text=contents.text, qrels=contents.qrels, kind="text", **contents.attrs)


@pytest.fixture(scope="module")
def adapters(dataset) -> dict:
    built = {}
    for tokenizer in TOKENIZERS:
        built[tokenizer] = TantivyBM25("ip", tokenizer=tokenizer)
        built[tokenizer].fit(Dataset(dataset))
    return built


EXTRA_QUERIES = ["", "  ...  ", "zebra", 'wing +flow -(heat) title:jet "shock wave" ^2 ~ AND OR NOT [a TO b]',
                 "FLOWING flowing Flows", "the of and a", f"{'q' * 39} {'z' * 40} {'é' * 20}"]


@pytest.mark.parametrize("tokenizer", TOKENIZERS)
def test_top_k_and_scores_equal_an_independent_bm25(adapters, collection, tokenizer):
    adapter = adapters[tokenizer]
    reference = ReferenceBM25([reference_tokens(d, tokenizer) for d in collection.doc_texts])
    lucene_n = ReferenceBM25([reference_tokens(d, tokenizer) for d in collection.doc_texts],
                             n_docs=sum(bool(reference_tokens(d, tokenizer)) for d in collection.doc_texts))
    queries = collection.query_texts + EXTRA_QUERIES
    off = Counter()
    for query in queries:
        tokens = reference_tokens(query, tokenizer)
        ids, got = adapter.search(query, K)
        check_top_k(ids, got, reference.scores(tokens), K)
        assert np.array_equal(adapter.query(query, K), ids)
        others = {"k1 0.9, b 0.4": reference.scores(tokens, k1=0.9, b=0.4),
                  "no counts": reference.scores(tokens, counts=False), "Lucene's N": lucene_n.scores(tokens)}
        for name, other in others.items():
            off[name] += not np.allclose(got, other[ids], rtol=REL_TOL, atol=0)
    # The comparison sees k1/b, the query-token counts and N (every third query repeats a word).
    assert off["k1 0.9, b 0.4"] > 70 and off["no counts"] >= 20 and off["Lucene's N"] > 70, off
    batch = adapter.batch_query(queries, K)
    assert batch.shape == (len(queries), K) and batch.dtype == np.int64
    for row, query in zip(batch, queries, strict=True):
        single = adapter.query(query, K)
        assert np.array_equal(row[: len(single)], single) and (row[len(single):] == -1).all()
    assert adapter.index_size_bytes() > 0


def index_terms(searcher) -> list[tuple[str, int]]:
    return sorted(searcher.terms_with_prefix("body", ""))


@pytest.mark.parametrize("builtin", ["default", "en_stem"])
def test_the_default_and_en_stem_analyzers_are_tantivys_own(adapters, collection, builtin, tmp_path):
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("body", tokenizer_name=builtin, index_option="freq")
    index = tantivy.Index(builder.build())
    writer = index.writer(heap_size=50_000_000, num_threads=1)
    for text in collection.doc_texts:
        writer.add_document(tantivy.Document(body=text))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    assert index_terms(index.searcher()) == index_terms(adapters[builtin].searcher)  # terms and document counts


def test_lucene_drops_its_stopwords_and_stems_with_porter2(adapters, collection):
    lucene, en_stem, default = adapters["lucene"], adapters["en_stem"], adapters["default"]
    only_stopwords = "The AND of; a THE it"
    assert len(lucene.query(only_stopwords, K)) == 0
    assert len(en_stem.query(only_stopwords, K)) == K  # the words are in the documents
    assert not STOPWORDS & {t for t, _ in index_terms(lucene.searcher)}
    assert {"we", "from"} <= {t for t, _ in index_terms(lucene.searcher)}  # not Lucene stopwords: kept
    n = len(collection.doc_texts)
    having = [{i for i, d in enumerate(collection.doc_texts) if words & set(simple_tokenize(d))}
              for words in ({"run", "runs", "running"}, {"running"})]
    assert having[0] != having[1]
    for adapter, want in ((lucene, having[0]), (en_stem, having[0]), (default, having[1])):
        assert set(adapter.query("Running", n).tolist()) == want
    # Snowball English (Porter2): Lucene's PorterStemFilter makes "gener" of "generously".
    assert lucene.analyzer.analyze("The running flies generously connected") == ["run", "fli", "generous", "connect"]


def thread_cpu() -> dict[str, tuple[str, int]]:
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            comm = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[tid] = (comm, int(fields[11]) + int(fields[12]))  # utime + stime, clock ticks
    return out


def test_one_idle_watcher_thread_is_all_that_remains(dataset, collection):
    before = thread_cpu()
    adapter = TantivyBM25("ip")
    adapter.fit(Dataset(dataset))
    after_fit = thread_cpu()
    new = {tid: v for tid, v in after_fit.items() if tid not in before}
    assert [comm for comm, _ in new.values()] == ["thread-tantivy-"], new  # the meta-file watcher (truncated)
    for _ in range(20):
        adapter.batch_query(collection.query_texts, K)
    after = thread_cpu()
    assert all(after[tid][1] == ticks for tid, (_, ticks) in new.items())  # no CPU during the queries


def test_parameters_are_checked():
    with pytest.raises(ValueError, match=r"tantivy-bm25: build parameter k1 cannot be set: .*k1 = 1\.2, a compile"):
        TantivyBM25("ip", k1=0.9)
    with pytest.raises(ValueError, match=r"tantivy-bm25: build parameter b cannot be set: .*b = 0\.75"):
        TantivyBM25("ip", tokenizer="lucene", b=0.4)
    with pytest.raises(ValueError, match="tokenizer must be one of 'default', 'en_stem', 'lucene', got 'nope'"):
        TantivyBM25("ip", tokenizer="nope")
    with pytest.raises(ValueError, match=r"tantivy-bm25: query parameter k1 cannot be set: .*compile-time"):
        TantivyBM25("ip").set_query_params(k1=1.2)  # a config giving k1 as a query parameter: the same reason
    with pytest.raises(ValueError, match=r"tantivy-bm25: takes no query parameters, got \['limit'\]"):
        TantivyBM25("ip").set_query_params(limit=100)
    assert TantivyBM25("ip").build_params == {"tokenizer": "en_stem"}


def test_every_tokenizer_through_the_runner_is_single_threaded(dataset, tmp_path):
    root = tmp_path / "algorithms" / "tantivy-bm25"
    root.mkdir(parents=True)
    for name in ("adapter.py", "config.yml"):
        shutil.copy(Catalogue().get("tantivy-bm25").folder / name, root)
    options = runner.RunOptions(runs=2, timeout_s=300, results_root=tmp_path / "results", algorithms_root=root.parent)
    outcomes = runner.run_sweep(["tantivy-bm25"], str(dataset), options)
    assert [o.status for o in outcomes] == ["ok"] * 3, outcomes
    frame = results.load(tmp_path / "results")
    assert len(frame) == 6 and sorted(set(frame["mode"])) == ["batch", "single"]
    proof = ["build", "mode", "cpu_ratio", "active_threads", "contention_s", "outside_wait_s"]
    assert frame["single_thread_ok"].all(), frame[proof]
    assert (frame["index_size_bytes"] > 0).all()
    assert (frame["recall"] > 0.3).all(), frame[["build", "mode", "recall"]]

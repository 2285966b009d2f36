"""harness.data.corpora: Cranfield, CISI and WordNet readers.

The real-data tests read ``$ANNSWEEP_SOURCE_DIR/classic/{cranfield,cisi}`` and
``$ANNSWEEP_SOURCE_DIR/wordnet-splade-tiny`` (CI: ``../shared/data``) and are skipped without them;
the WordNet tests also need ``/usr/share/wordnet`` (Debian ``wordnet-base``).  Expected counts are
computed from the raw files with independent one-line parses, not with the reader under test.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from harness import paths
from harness.data import registry, store
from harness.data.corpora import CorpusError, TextCollection, read_cisi, read_cranfield, read_wordnet
from harness.data.dataset import Dataset

WORDNET_DIR = Path("/usr/share/wordnet")


def source(*parts: str) -> Path:
    folder = paths.source_dir().joinpath(*parts)
    if not folder.is_dir():
        pytest.skip(f"{folder} not found: set ANNSWEEP_SOURCE_DIR to the shared data folder (CI: ../shared/data)")
    return folder


def jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def n_pairs(c: TextCollection) -> int:
    return sum(len(judged) for judged in c.qrels.values())


@pytest.fixture(scope="module")
def cran_dir() -> Path:
    return source("classic", "cranfield")


@pytest.fixture(scope="module")
def cran(cran_dir) -> TextCollection:
    return read_cranfield(cran_dir)


@pytest.fixture(scope="module")
def cisi_dir() -> Path:
    return source("classic", "cisi")


@pytest.fixture(scope="module")
def cisi(cisi_dir) -> TextCollection:
    return read_cisi(cisi_dir)


@pytest.fixture(scope="module")
def wordnet() -> TextCollection:
    if not (WORDNET_DIR / "data.noun").is_file():
        pytest.skip("apt-get install wordnet-base")
    return read_wordnet(WORDNET_DIR)


# --------------------------------------------------------------------------- Cranfield


def test_cranfield_counts(cran_dir, cran) -> None:
    assert (cran.name, len(cran.doc_ids), len(cran.query_ids)) == ("cranfield", 1400, 225)
    assert cran.doc_ids == [str(i) for i in range(1, 1401)]
    assert cran.query_ids == [str(i) for i in range(1, 226)]
    graded = sum(1 for line in open(cran_dir / "cranqrel") if line.split() and line.split()[2] not in ("-1", "5"))
    assert graded == 1612  # 1,837 lines, of which 225 have code -1 (one per query)
    assert n_pairs(cran) == graded
    assert set(cran.qrels) == set(cran.query_ids)  # every query has at least one graded document
    assert all(1 <= g <= 4 for judged in cran.qrels.values() for g in judged.values())


def test_cranfield_grades_are_5_minus_code(cran_dir, cran) -> None:
    rows = [line.split() for line in open(cran_dir / "cranqrel") if line.strip()]
    expected = {(q, d): 5 - int(c) for q, d, c in rows if c != "-1"}
    got = {(q, d): g for q, judged in cran.qrels.items() for d, g in judged.items()}
    assert got == expected
    assert cran.qrels["1"]["184"] == 3 and cran.qrels["1"]["13"] == 1  # "1 184 2" and "1 13 4" in cranqrel
    assert "486" not in cran.qrels["1"]  # "1 486 -1" is dropped


def test_cranfield_query_ids_are_file_positions(cran_dir, cran) -> None:
    raw_ids = re.findall(r"^\.I (\d+)", (cran_dir / "cran.qry").read_text(), flags=re.M)
    # cran.qry starts .I 001, 002, 004, 008 and ends .I 365: numbers are skipped.
    assert raw_ids[:4] == ["001", "002", "004", "008"] and raw_ids[-1] == "365" and len(raw_ids) == 225
    assert cran.query_texts[1] == (
        "what are the structural and aeroelastic problems associated with flight of high speed aircraft .")
    # The 3rd query in the file (.I 004) is query "3"; cranqrel's "3 ..." lines judge it.
    assert cran.query_ids[2] == "3"
    assert cran.query_texts[2] == "what problems of heat conduction in composite slabs have been solved so far ."
    assert cran.qrels["3"] == {d: 2 for d in ("5", "6", "90", "91", "119", "144", "181", "399")}
    assert cran.query_ids[-1] == "225"
    assert cran.query_texts[-1] == (
        "what design factors can be used to control lift-drag ratios at mach numbers above 5 .")


def test_cranfield_doc_texts(cran) -> None:
    # Text = .W abstract, whitespace collapsed; .W already begins with the title.
    assert cran.doc_texts[0].startswith(
        "experimental investigation of the aerodynamics of a wing in a slipstream . "
        "an experimental study of a wing in a propeller slipstream was made"
    )
    assert cran.doc_texts[0].endswith("for the specific configuration of the experiment .")
    assert "brenckman" not in cran.doc_texts[0]  # authors (.A) are not text
    # Docs 471 and 995 are empty in the source: kept, with empty text.
    assert [i for i, t in zip(cran.doc_ids, cran.doc_texts, strict=True) if not t] == ["471", "995"]
    # Corrupt record 240: lines after stray .A/.B markers inside the abstract stay text.
    assert "application to turbulent separations is made for a prandtl number of unity in low-speed" \
        in cran.doc_texts[239]
    assert all("\n" not in t and "  " not in t for t in cran.doc_texts)


# --------------------------------------------------------------------------- CISI


def test_cisi_counts(cisi_dir, cisi) -> None:
    assert (cisi.name, len(cisi.doc_ids), len(cisi.query_ids)) == ("cisi", 1460, 112)
    assert cisi.doc_ids == [str(i) for i in range(1, 1461)]
    assert cisi.query_ids == [str(i) for i in range(1, 113)]
    rel_lines = [line.split() for line in open(cisi_dir / "CISI.REL") if line.strip()]
    assert len(rel_lines) == 3114 and len({r[0] for r in rel_lines}) == 76
    assert len(cisi.qrels) == 76 and n_pairs(cisi) == 3114
    assert {(q, d) for q, judged in cisi.qrels.items() for d in judged} == {(r[0], r[1]) for r in rel_lines}
    assert {g for judged in cisi.qrels.values() for g in judged.values()} == {1}


def test_cisi_texts(cisi) -> None:
    assert cisi.doc_texts[0].startswith(
        "18 Editions of the Dewey Decimal Classifications The present study is a history of the DEWEY Decimal"
    )
    assert "Comaromi" not in cisi.doc_texts[0] and "1024" not in cisi.doc_texts[0]  # no .A, no .X
    assert cisi.query_texts[0].startswith("What problems and concerns are there in making up descriptive titles?")
    # Query 58 is document-like: title + .W, without authors (.A) or source (.B).
    assert cisi.query_texts[57].startswith("Directions in Library Networking Bibliographic control before")
    assert "Avram" not in cisi.query_texts[57] and "JASIS" not in cisi.query_texts[57]


# --------------------------------------------------------------------------- WordNet


def test_wordnet_matches_shipped_jsonl(wordnet) -> None:
    folder = source("wordnet-splade-tiny")
    docs, queries = jsonl(folder / "docs.jsonl.gz"), jsonl(folder / "queries.jsonl.gz")
    assert (len(docs), len(queries)) == (117_659, 48_339)
    assert wordnet.doc_ids == [r["id"] for r in docs]
    assert wordnet.doc_texts == [r["text"] for r in docs]
    assert wordnet.query_ids == [r["id"] for r in queries]
    assert wordnet.query_texts == [r["text"] for r in queries]


def test_wordnet_conventions(wordnet) -> None:
    assert wordnet.doc_ids[0] == "n00001740"
    assert wordnet.doc_texts[wordnet.doc_ids.index("n00002137")] == (
        "abstraction, abstract entity: a general concept formed by extracting common features from specific examples")
    assert wordnet.doc_texts[wordnet.doc_ids.index("a00014358")] == "abounding, galore(ip): existing in abundance"
    assert wordnet.qrels["n00002684-0"] == {"n00002684": 1}
    assert all(judged == {qid.rsplit("-", 1)[0]: 1} for qid, judged in wordnet.qrels.items())
    assert list(wordnet.qrels) == wordnet.query_ids


# --------------------------------------------------------------------------- malformed input

CRAN_DOCS = """.I 1
.T
a title .
.A
someone
.B
somewhere
.W
a title .
some text .
.I 2
.T
.A
.B
.W
"""
CRAN_QRY = ".I 001\n.W\nfirst query .\n.I 004\n.W\nsecond\nquery .\n"


def write_cran(folder: Path, docs: str = CRAN_DOCS, qry: str = CRAN_QRY, qrel: str = "1 1 2\n2 2 -1\n") -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "cran.all.1400").write_text(docs)
    (folder / "cran.qry").write_text(qry)
    (folder / "cranqrel").write_text(qrel)
    return folder


def test_cranfield_small_valid(tmp_path) -> None:
    c = read_cranfield(write_cran(tmp_path))
    assert c.doc_ids == ["1", "2"] and c.doc_texts == ["a title . some text .", ""]
    assert c.query_ids == ["1", "2"] and c.query_texts == ["first query .", "second query ."]
    assert c.qrels == {"1": {"1": 3}}  # code 2 -> grade 3; the -1 pair is dropped


@pytest.mark.parametrize(
    ("docs", "qry", "qrel", "where", "message"),
    [
        (CRAN_DOCS, CRAN_QRY, "1 1 2\n1 7 2\n", "cranqrel:2", "unknown document 7"),
        (CRAN_DOCS, CRAN_QRY, "3 1 2\n", "cranqrel:1", "unknown query 3"),
        (CRAN_DOCS, CRAN_QRY, "1 1 7\n", "cranqrel:1", "relevance code 7"),
        (CRAN_DOCS, CRAN_QRY, "1 1\n", "cranqrel:1", "expected"),
        (CRAN_DOCS, CRAN_QRY, "1 x 2\n", "cranqrel:1", "integers"),
        (CRAN_DOCS, CRAN_QRY, "1 1 2\n1 1 3\n", "cranqrel:2", "conflicting"),
        (".T\nno id\n" + CRAN_DOCS, CRAN_QRY, "", "cran.all.1400:1", "before the first '.I'"),
        ("stray text\n" + CRAN_DOCS, CRAN_QRY, "", "cran.all.1400:1", "before the first '.I'"),
        (CRAN_DOCS.replace(".I 2", ".I two"), CRAN_QRY, "", "cran.all.1400:11", "numeric id"),
        (CRAN_DOCS.replace(".I 2", ".I 1"), CRAN_QRY, "", "cran.all.1400:11", "duplicate id 1"),
        (CRAN_DOCS.replace(".B\nsomewhere", ".Q\nsomewhere"), CRAN_QRY, "", "cran.all.1400:6", "unknown field"),
        (CRAN_DOCS, ".I 001\n.W\nq\n.I 004\n", "", "cran.qry:4", "no '.W'"),
        (CRAN_DOCS, ".I 001\nno marker\n", "", "cran.qry:2", "outside a field"),
    ],
)
def test_cranfield_malformed(tmp_path, docs, qry, qrel, where, message) -> None:
    folder = write_cran(tmp_path, docs, qry, qrel)
    with pytest.raises(ValueError, match=re.escape(where)) as info:
        read_cranfield(folder)
    assert message in str(info.value) and str(folder) in str(info.value)


def test_missing_file_names_it(tmp_path) -> None:
    folder = write_cran(tmp_path)
    (folder / "cranqrel").unlink()
    with pytest.raises(CorpusError, match="cranqrel: file not found"):
        read_cranfield(folder)


CISI_ALL = (".I 1\n.T\nTitle One\n.A\nA, B.\n.A\nC, D.\n.W\n  Abstract\none.\n.X\n1\t5\t1\n"
            ".I 2\n.T \nT2\n.W\nw2\n.X\n2\t1\t2\n")
CISI_QRY = ".I 1\n.W\nquery one?\n.I 2\n.T\nDoc-like\n.A\nX, Y.\n.W\nquery two\n.B\n(JASIS 1980)\n\n"


def write_cisi(folder: Path, rel: str, docs: str = CISI_ALL, qry: str = CISI_QRY) -> Path:
    (folder / "CISI.ALL").write_text(docs)
    (folder / "CISI.QRY").write_text(qry)
    (folder / "CISI.REL").write_text(rel)
    return folder


def test_cisi_small_valid(tmp_path) -> None:
    c = read_cisi(write_cisi(tmp_path, "     1      2\t0\t0.000000\n"))
    assert c.doc_texts == ["Title One Abstract one.", "T2 w2"]
    assert c.query_texts == ["query one?", "Doc-like query two"]
    assert c.qrels == {"1": {"2": 1}} and c.query_ids == ["1", "2"]  # query 2 unjudged, still a query


@pytest.mark.parametrize(
    ("rel", "where", "message"),
    [
        ("1 2 0 0.000000\n3 1 0 0.000000\n", "CISI.REL:2", "unknown query 3"),
        ("1 9 0 0.000000\n", "CISI.REL:1", "unknown document 9"),
        ("1 2\n", "CISI.REL:1", "expected"),
        ("one 2 0 0.000000\n", "CISI.REL:1", "integers"),
    ],
)
def test_cisi_malformed(tmp_path, rel, where, message) -> None:
    with pytest.raises(ValueError, match=re.escape(where)) as info:
        read_cisi(write_cisi(tmp_path, rel))
    assert message in str(info.value)


def test_cisi_missing_text(tmp_path) -> None:
    with pytest.raises(ValueError, match=re.escape("CISI.ALL:1") + ".*no '.W'"):
        read_cisi(write_cisi(tmp_path, "", docs=".I 1\n.T\nonly a title\n"))


def write_wordnet(folder: Path, synsets: dict[str, list[str]], header: str = "  1 licence text  \n") -> Path:
    """data.* files whose synset offsets are the true byte offsets; '{off}' in a line is filled in."""
    for suffix in ("noun", "verb", "adj", "adv"):
        text = header
        for line in synsets.get(suffix, []):
            text += line.replace("{off}", f"{len(text.encode()):08d}") + "  \n"
        (folder / f"data.{suffix}").write_text(text)
    return folder


WN = {
    "noun": ['{off} 03 n 02 dog 0 domestic_dog 0 000 | a canine; "the dog barked"; "dogs bark"'],
    "verb": ["{off} 29 v 01 bark 0 000 | make a barking sound"],
    "adj": ['{off} 00 s 01 galore(ip) 0 000 | in abundance; "bugs galore"', '{off} 00 a 01 able 0 000 | capable'],
}


def test_wordnet_small_valid(tmp_path) -> None:
    w = read_wordnet(write_wordnet(tmp_path, WN))
    assert w.doc_ids == ["n00000019", "v00000019", "a00000019", "a00000085"]
    assert w.doc_texts == ["dog, domestic dog: a canine", "bark: make a barking sound",
                           "galore(ip): in abundance", "able: capable"]
    assert w.query_ids == ["n00000019-0", "n00000019-1", "a00000019-0"]
    assert w.query_texts == ["the dog barked", "dogs bark", "bugs galore"]
    assert w.qrels == {"n00000019-0": {"n00000019": 1}, "n00000019-1": {"n00000019": 1},
                       "a00000019-0": {"a00000019": 1}}


@pytest.mark.parametrize(
    ("noun", "where", "message"),
    [
        ("00000001 03 n 01 dog 0 000 | a canine", "data.noun:2", "byte offset"),
        ("{off} 03 n 01 dog 0 000 a canine", "data.noun:2", "' | '"),
        ("{off} 03 v 01 dog 0 000 | a canine", "data.noun:2", "pos 'v'"),
        ("{off} 03 n 05 dog 0 000 | a canine", "data.noun:2", "word count"),
        ("{off} 03 n zz dog 0 000 | a canine", "data.noun:2", "malformed synset header"),
    ],
)
def test_wordnet_malformed(tmp_path, noun, where, message) -> None:
    with pytest.raises(ValueError, match=re.escape(where)) as info:
        read_wordnet(write_wordnet(tmp_path, {**WN, "noun": [noun]}))
    assert message in str(info.value)


def test_wordnet_missing_dir(tmp_path) -> None:
    with pytest.raises(CorpusError, match="data.noun: file not found"):
        read_wordnet(tmp_path)


def test_cranfield_bm25_dataset_from_the_registry(tmp_path, monkeypatch):
    """The registry builds a text dataset: vectors, ids, texts and qrels in one file; exact search
    through the task metric scores a real ranking (not 0, not 1)."""
    from harness import paths
    from harness.run.scoring import task_metrics

    if registry.sources_missing(registry.REGISTRY["cranfield-bm25"]):
        pytest.skip("classic/cranfield not under ANNSWEEP_SOURCE_DIR")
    data = Dataset(store.prepare("cranfield-bm25", tmp_path, progress=False))
    collection = read_cranfield(paths.source_dir() / "classic" / "cranfield")
    assert data.train.shape[0] == 1400 and data.test.shape[0] == 225 and data.kind == "sparse"
    assert data.strings("corpus/ids") == collection.doc_ids and data.qrels() == collection.qrels
    assert json.loads(data.attrs["source_sha256"])["classic/cranfield/cranqrel"].startswith("92e54b58")
    scores = task_metrics(data.neighbors[:, :10], data.strings("corpus/ids"), data.strings("queries/ids"),
                          data.qrels(), k=10)
    assert 0.2 < scores["nDCG@10"] < 0.6, scores

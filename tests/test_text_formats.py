"""Text collections in the field's formats (BEIR, TREC, SMART) → TextCollection → encoded datasets,
and the acceptance check: a BEIR folder imports with its qrels and a run records its nDCG@10."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import h5py
import ir_measures
import numpy as np
import pytest

from harness import results
from harness.data import importers, text_formats
from harness.data.corpora import read_cisi, read_cranfield
from harness.data.dataset import Dataset, DatasetError
from harness.run import runner

ALGORITHMS = Path(__file__).parent.parent / "algorithms"
CLASSIC = Path("/work/shared/data/classic")
WORDS = [f"w{i}" for i in range(40)]


# --- a small BEIR folder, written here the way BEIR's files are laid out ------------------------------


def beir_folder(root: Path, n_docs: int = 30, n_queries: int = 6, seed: int = 5) -> tuple[Path, dict]:
    """corpus.jsonl (some docs without a title, one with an int _id), queries.jsonl (one unjudged query),
    qrels/test.tsv with grades 0/1/2 and qrels/dev.tsv.  Returns the folder and what it holds."""
    rng = np.random.default_rng(seed)
    folder = root / "tiny-beir"
    (folder / "qrels").mkdir(parents=True)
    docs = []
    for i in range(n_docs):
        doc = {"_id": f"d{i}", "text": " ".join(rng.choice(WORDS, size=rng.integers(3, 12)))}
        if i % 3:
            doc["title"] = " ".join(rng.choice(WORDS, size=2))
        docs.append(doc)
    docs[7]["_id"] = 7  # BEIR files sometimes carry numeric ids: read as the string "7"
    queries = [{"_id": f"q{i}", "text": " ".join(rng.choice(WORDS, size=3))} for i in range(n_queries + 1)]
    qrels = {}
    for q in queries[:n_queries]:  # the last query has no judgements: BEIR's loader drops it
        words = set(q["text"].split())
        hits = [str(d["_id"]) for d in docs if words & set((d.get("title", "") + " " + d["text"]).split())]
        picked = rng.choice(hits, size=min(4, len(hits)), replace=False)
        qrels[q["_id"]] = {d: int(g) for d, g in zip(picked, [2, 1, 0, 1], strict=False)}
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    rows = [f"{q}\t{d}\t{g}\n" for q, judged in qrels.items() for d, g in judged.items()]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(rows))
    (folder / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td1\t1\n")
    return folder, {"docs": docs, "queries": queries, "qrels": qrels}


def test_beir_folder_reads_as_beir_loads_it(tmp_path):
    folder, made = beir_folder(tmp_path)
    c = text_formats.read_beir(folder)
    assert c.name == "tiny-beir" and len(c.doc_ids) == 30
    assert c.doc_ids == [str(d["_id"]) for d in made["docs"]]
    assert c.doc_texts == [(d.get("title", "") + " " + d["text"]).strip() for d in made["docs"]]  # BEIR's join
    assert c.query_ids == [f"q{i}" for i in range(6)]  # q6 is unjudged: dropped
    assert c.qrels == made["qrels"] and 0 in {g for j in c.qrels.values() for g in j.values()}  # grade 0 kept
    dev = text_formats.read_beir(folder, "dev")
    assert dev.query_ids == ["q0"] and dev.qrels == {"q0": {"d1": 1}}


@pytest.mark.parametrize(("edit", "where", "message"), [
    (lambda f: (f / "corpus.jsonl").write_text('{"_id": "a", "text": "x"}\n{"_id": "b", "text": \n'),
     "corpus.jsonl:2", "not valid JSON"),
    (lambda f: (f / "corpus.jsonl").write_text('{"_id": "a", "text": "x"}\n{"_id": "b"}\n'),
     "corpus.jsonl:2", "missing field(s) 'text'"),
    (lambda f: (f / "corpus.jsonl").write_text('{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n'),
     "corpus.jsonl:2", "duplicate _id 'a'"),
    (lambda f: (f / "queries.jsonl").write_text('["q0", "text"]\n'), "queries.jsonl:1", "expected a JSON object"),
    (lambda f: (f / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td1\n"),
     "test.tsv:2", "expected 'query-id<TAB>corpus-id<TAB>score'"),
    (lambda f: (f / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td1\thigh\n"),
     "test.tsv:2", "not an integer"),
    (lambda f: (f / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q0\tnope{i}\t1\n" for i in range(7))),
     "test.tsv", "7 document id(s) not in the document file(s): 'nope0', 'nope1', 'nope2', 'nope3', 'nope4', ..."),
    (lambda f: (f / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq99\td1\t1\n"),
     "test.tsv", "1 query id(s) not in the query file(s): 'q99'"),
    (lambda f: (f / "queries.jsonl").unlink(), "queries.jsonl", "file not found"),
])
def test_beir_errors_name_the_file_and_line(tmp_path, edit, where, message):
    folder, _ = beir_folder(tmp_path)
    edit(folder)
    with pytest.raises(DatasetError, match=re.escape(where)) as info:
        text_formats.read_beir(folder)
    assert message in str(info.value) and str(folder) in str(info.value)


def test_beir_unknown_split_lists_the_splits(tmp_path):
    folder, _ = beir_folder(tmp_path)
    with pytest.raises(DatasetError, match=r"no split 'train' \(splits found: dev, test\)"):
        text_formats.read_beir(folder, "train")


# --- TREC ---------------------------------------------------------------------------------------

TOPICS = """
<top>
<num> Number: 051
<title> Topic:  Airbus Subsidies

<desc> Description:
Document will discuss government assistance
to Airbus Industrie.

<narr> Narrative:
A relevant document must cite a subsidy.
</top>

<top>
<num> Number: 402 <title> behavioral genetics
<desc> Description: What is known about genetics?
<narr> Narrative: not used
</top>

<top>
<num> Number: 403 <title> unjudged topic
<desc> Description: nothing
</top>
"""


def write_trec(folder: Path, qrels: str = "51 0 D1 1\n51 0 D2 0\n402 0 D3 2\n") -> tuple[Path, Path, Path]:
    (folder / "topics.txt").write_text(TOPICS)
    (folder / "qrels.txt").write_text(qrels)
    (folder / "collection.tsv").write_text("D1\tairbus gets a subsidy\nD2\tboeing\tjets\nD3\tgenetics of behaviour\n")
    return folder / "topics.txt", folder / "qrels.txt", folder / "collection.tsv"


def test_trec_topics_qrels_and_tsv_documents(tmp_path):
    c = text_formats.read_trec(*write_trec(tmp_path))
    assert c.doc_ids == ["D1", "D2", "D3"] and c.doc_texts[1] == "boeing\tjets"  # text: all after the first tab
    assert c.query_ids == ["51", "402"]  # Number: 051 matches the qrels' 51; 403 is unjudged
    assert c.query_texts == ["Airbus Subsidies", "behavioral genetics"]
    assert c.qrels == {"51": {"D1": 1, "D2": 0}, "402": {"D3": 2}}
    both = text_formats.read_trec(*write_trec(tmp_path), query_fields="title,desc")
    assert both.query_texts[0] == ("Airbus Subsidies Document will discuss government assistance to Airbus "
                                   "Industrie.")
    assert both.query_texts[1] == "behavioral genetics What is known about genetics?"


def test_trec_documents_as_beir_corpus_and_queries_as_tsv(tmp_path):
    topics, qrels, _ = write_trec(tmp_path)
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": "t", "text": d.lower()}) + "\n"
                                                   for d in ("D1", "D2", "D3")))
    (tmp_path / "queries.tsv").write_text("051\tairbus\n402\tgenetics\n")
    c = text_formats.read_trec(tmp_path / "queries.tsv", qrels, tmp_path / "corpus.jsonl")
    assert c.query_ids == ["51", "402"] and c.query_texts == ["airbus", "genetics"] and c.doc_texts[0] == "t d1"


@pytest.mark.parametrize(("qrels", "fields", "where", "message"), [
    ("51 0 D1\n", "title", "qrels.txt:1", "expected 'query iter doc grade' (trec qrels)"),
    ("51 0 D1 yes\n", "title", "qrels.txt:1", "not an integer"),
    ("51 0 D9 1\n51 0 D8 1\n", "title", "qrels.txt", "2 document id(s) not in the document file(s): 'D8', 'D9'"),
    ("999 0 D1 1\n", "title", "qrels.txt", "1 query id(s) not in the query file(s): '999'"),
    ("51 0 D1 1\n", "title,narr", "topics.txt:", "topic 403 has no <narr>"),
])
def test_trec_errors_name_the_file(tmp_path, qrels, fields, where, message):
    with pytest.raises(DatasetError, match=re.escape(where)) as info:
        text_formats.read_trec(*write_trec(tmp_path, qrels), query_fields=fields)
    assert message in str(info.value)


# --- SMART ----------------------------------------------------------------------------------------

SMART_DOCS = """.I 001
.T
Retrieval of documents
.A
Salton, G.
.N
entered 1970
.W
An abstract about
retrieval.
.X
2\t5\t2
.I 002
.T
A record without an abstract
.K
keywords, none
.C
class 1
.I 3
.W
Only an abstract here.
"""
SMART_QUERIES = ".I 01\n.W\nfind retrieval\n.N\nq note\n.I 02\n.T\ntitle only query\n"


def write_smart(folder: Path, qrels: str) -> tuple[Path, Path, Path]:
    for name, text in (("DOCS.ALL", SMART_DOCS), ("QUERIES.QRY", SMART_QUERIES), ("QRELS.REL", qrels)):
        (folder / name).write_text(text)
    return folder / "DOCS.ALL", folder / "QUERIES.QRY", folder / "QRELS.REL"


@pytest.mark.parametrize(("qrels", "grades"), [
    ("01 001 0 0\n1 3 0 0\n2 2 0 0\n", {"1": {"1": 1, "3": 1}, "2": {"2": 1}}),  # CACM/CISI: pairs
    ("1 0 001 2\n1 0 3 0\n2 0 2 1\n", {"1": {"1": 2, "3": 0}, "2": {"2": 1}}),  # TREC/MED: grades as given
])
def test_smart_any_markers_missing_abstract_and_padded_ids(tmp_path, qrels, grades):
    c = text_formats.read_smart_files(*write_smart(tmp_path, qrels), fields=".T,.W")
    assert c.doc_ids == ["1", "2", "3"] and c.query_ids == ["1", "2"]  # .I 001 / 01 → "1"
    assert c.doc_texts == ["Retrieval of documents An abstract about retrieval.", "A record without an abstract",
                           "Only an abstract here."]
    assert c.query_texts == ["find retrieval", "title only query"]
    assert c.qrels == grades and c.name == "DOCS"
    keywords = text_formats.read_smart_files(*write_smart(tmp_path, qrels), fields=".W,.K", query_fields="T,W,N")
    assert keywords.doc_texts == ["An abstract about retrieval.", "keywords, none", "Only an abstract here."]
    assert keywords.query_texts == ["find retrieval q note", "title only query"]


def test_smart_query_without_its_fields_is_refused(tmp_path):
    with pytest.raises(DatasetError, match=re.escape("QUERIES.QRY:6") + ".*query 2 has no '.W' or '.N' field"):
        text_formats.read_smart_files(*write_smart(tmp_path, "1 3 0 0\n"), query_fields=".W,.N")


@pytest.mark.parametrize(("qrels", "layout", "where", "message"), [
    ("1 3 2\n", "auto", "QRELS.REL:1", "cannot tell the qrels layout from 3 columns"),
    ("1 9 0 0\n", "auto", "QRELS.REL:1", "unknown document 9"),
    ("1 3 0 0\n1 3\n", "auto", "QRELS.REL:2", "expected 'query doc x x'"),
    ("1 0 3 1\n2 0 2 1\n1 3 0 0\n", "auto", "QRELS.REL:3", "ambiguous qrels layout: the second column is 0 on line 1"),
    ("1 3 0 0\n", "sideways", "QRELS.REL", "unknown qrels layout 'sideways'"),
])
def test_smart_qrels_errors(tmp_path, qrels, layout, where, message):
    with pytest.raises(DatasetError, match=re.escape(where)) as info:
        text_formats.read_smart_files(*write_smart(tmp_path, qrels), qrels_layout=layout)
    assert message in str(info.value)


def test_smart_graded_layout_and_bad_fields(tmp_path):
    c = text_formats.read_smart_files(*write_smart(tmp_path, "1 3 2\n"), qrels_layout="graded")
    assert c.qrels == {"1": {"3": 2}}
    with pytest.raises(DatasetError, match="expected SMART field letters"):
        text_formats.read_smart_files(*write_smart(tmp_path, "1 3 2\n"), fields=".I,.W")


# SHA-256 of collection_digest() of each built-in collection as the pre-refactor readers read it
# (harness/data/corpora.py at e5ae8ec~1, before read_cranfield / read_cisi became the general SMART
# reader with a layout), computed once from that code on the files under CLASSIC.
PRE_REFACTOR_DIGESTS = {"cranfield": "bbd59d130bc23522ab9f6161197469d0828c05a71d28690869aa3729a8ac2458",
                        "cisi": "175c4fb0ea69a068a4c97a6682c7a601d75f75bb115dbcd7549a4a1953df4f7a"}


def collection_digest(c) -> str:
    """Ids, texts and every judgement of a collection, as one SHA-256."""
    blob = json.dumps([c.doc_ids, c.doc_texts, c.query_ids, c.query_texts,
                       sorted((q, d, g) for q, judged in c.qrels.items() for d, g in judged.items())],
                      ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


@pytest.mark.skipif(not CLASSIC.is_dir(), reason="classic collections not available")
def test_builtin_collections_through_the_general_reader():
    """read_cranfield / read_cisi give exactly what the pre-refactor readers gave; --format smart on
    CISI's files gives the built-in collection."""
    cran, cisi = read_cranfield(CLASSIC / "cranfield"), read_cisi(CLASSIC / "cisi")
    assert (len(cran.doc_ids), len(cran.query_ids), sum(map(len, cran.qrels.values()))) == (1400, 225, 1612)
    assert (len(cisi.doc_ids), len(cisi.query_ids), sum(map(len, cisi.qrels.values()))) == (1460, 112, 3114)
    assert collection_digest(cran) == PRE_REFACTOR_DIGESTS["cranfield"]
    assert collection_digest(cisi) == PRE_REFACTOR_DIGESTS["cisi"]
    generic = text_formats.read_smart_files(CLASSIC / "cisi" / "CISI.ALL", CLASSIC / "cisi" / "CISI.QRY",
                                            CLASSIC / "cisi" / "CISI.REL", fields=".T,.W")
    assert generic.doc_texts == cisi.doc_texts and generic.query_texts == cisi.query_texts
    assert generic.qrels == cisi.qrels


# --- encoding into representations -----------------------------------------------------------------


def test_unknown_representation_is_refused_before_reading(tmp_path):
    with pytest.raises(DatasetError, match="'bm52'.*choose from .*minilm.*bm25"):
        importers.import_path([str(tmp_path / "missing-folder")], fmt="beir", directory=tmp_path,
                              representations=["bm25", "bm52"])
    assert not list(tmp_path.iterdir())


def brute_force(train, test, k: int = 10) -> np.ndarray:
    dots = np.asarray(test.toarray(), dtype=np.float64) @ np.asarray(train.toarray(), dtype=np.float64).T
    return np.argsort(-dots, axis=1, kind="stable")[:, :k], np.sort(-dots, axis=1)[:, :k]


def test_beir_import_bm25_ground_truth_is_brute_force(tmp_path):
    folder, made = beir_folder(tmp_path)
    path = importers.import_path([str(folder)], directory=tmp_path / "data", representations=["bm25"],
                                 progress=False)
    with Dataset(path) as ds:
        assert path.name == "tiny-beir.hdf5" and ds.kind == "sparse" and ds.distance == "ip"
        assert ds.strings("corpus/ids") == [str(d["_id"]) for d in made["docs"]]
        assert ds.strings("queries/ids") == [f"q{i}" for i in range(6)] and ds.qrels() == made["qrels"]
        ids, dist = brute_force(ds.train, ds.test)
        np.testing.assert_allclose(ds.distances[:, :10], dist, rtol=1e-5, atol=1e-6)
        # ids agree wherever the score is not tied with a neighbour (ties may come in either order)
        gap = np.diff(dist, axis=1, prepend=-np.inf, append=np.inf)
        untied = (np.abs(gap[:, :-1]) > 1e-5) & (np.abs(gap[:, 1:]) > 1e-5)
        assert untied.sum() > 20 and (ds.neighbors[:, :10][untied] == ids[untied]).all()


def test_several_representations_make_one_multi_file(tmp_path):
    folder, made = beir_folder(tmp_path)
    path = importers.import_path([str(folder)], name="tiny", directory=tmp_path / "data",
                                 representations=["bm25", "text_simple"], progress=False)
    with Dataset(path) as ds:
        assert ds.representations == ["bm25", "text-simple"] and ds.aliases == {"sparse": "bm25",
                                                                                "lexical": "text-simple"}
        assert ds.qrels() == made["qrels"]
    with pytest.raises(DatasetError, match="already exists"):
        importers.import_path([str(folder)], name="tiny", directory=tmp_path / "data", progress=False)
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".")]  # scratch parts removed
    # a folder named like a registry dataset would stand for it: refused before anything is read
    registry_like = folder.rename(folder.with_name("cranfield"))
    with pytest.raises(DatasetError, match="'cranfield' is a registry dataset's name.*--name"):
        importers.import_path([str(registry_like)], directory=tmp_path / "data", progress=False)
    assert not (tmp_path / "data" / "cranfield.hdf5").exists()


# --- acceptance: a BEIR folder imports with its qrels, and runs record nDCG@10 -------------------------


def run_exact_and_compare(path: Path, tmp_path: Path, qrels: dict) -> float:
    opts = runner.RunOptions(runs=1, timeout_s=300, results_root=tmp_path / "results", algorithms_root=ALGORITHMS,
                             modes=("batch",), data_root=path.parent)
    outcomes = runner.run_sweep(["exact"], str(path), opts)
    assert [o.status for o in outcomes] == ["ok"], [o.error for o in outcomes]
    result = next((tmp_path / "results").rglob("exact/*.h5"))
    with h5py.File(result) as f, Dataset(path) as ds:
        group = f["runs"][sorted(f["runs"])[0]]
        ids, stored = group["neighbors"][()], float(group.attrs["nDCG@10"])
        doc_ids, query_ids = ds.strings("corpus/ids"), ds.strings("queries/ids")
    run = {query_ids[q]: {doc_ids[d]: float(len(row) - r) for r, d in enumerate(row[:10]) if d >= 0}
           for q, row in enumerate(ids)}
    ndcg = ir_measures.parse_measure("nDCG@10")
    expected = ir_measures.calc_aggregate([ndcg], qrels, run)[ndcg]
    assert stored == pytest.approx(expected, abs=1e-12) and expected > 0.2
    assert results.load(tmp_path / "results")["nDCG@10"].item() == pytest.approx(expected, abs=1e-12)
    return expected


def test_beir_folder_imports_and_a_run_records_its_ndcg(tmp_path):
    folder, made = beir_folder(tmp_path)
    path = importers.import_path([str(folder)], directory=tmp_path / "data", representations=["bm25"],
                                 progress=False)
    run_exact_and_compare(path, tmp_path, made["qrels"])


def test_beir_folder_with_a_dense_representation(tmp_path):
    pytest.importorskip("sentence_transformers", reason="minilm needs the [embed] extra")
    from harness.data.encoders import minilm_path
    try:
        minilm_path()
    except Exception as exc:  # the model's package is not installed: nothing to encode with
        pytest.skip(f"minilm model not available ({exc})")
    folder, made = beir_folder(tmp_path)
    path = importers.import_path([str(folder)], directory=tmp_path / "data", representations=["minilm"],
                                 progress=False)
    with Dataset(path) as ds:
        assert ds.kind == "dense" and ds.distance == "angular" and ds.train.shape == (30, 384)
    run_exact_and_compare(path, tmp_path, made["qrels"])


def test_cli_imports_text_collections(tmp_path, capsys):
    from harness import cli

    folder, made = beir_folder(tmp_path)
    data = ["--data-dir", str(tmp_path / "data"), "datasets", "import"]
    assert cli.main([*data, "--format", "beir", str(folder), "-r", "bm25", "--name", "b"]) == 0
    with Dataset(tmp_path / "data" / "b.hdf5") as ds:
        assert ds.qrels() == made["qrels"]
    assert cli.main([*data, str(folder), "-r", "bm25,nope"]) == 2  # auto: a folder is BEIR
    assert "'nope': choose from" in capsys.readouterr().err
    smart = [str(p) for p in write_smart(tmp_path, "1 3 2\n")]
    assert cli.main([*data, "--format", "smart", *smart]) == 2  # 3 columns: which layout?
    assert "QRELS.REL:1: cannot tell the qrels layout" in capsys.readouterr().err
    assert cli.main([*data, "--format", "smart", *smart, "--qrels-layout", "graded", "--fields", ".W,.K",
                     "--query-fields", ".T,.W"]) == 0
    with Dataset(tmp_path / "data" / "DOCS.hdf5") as ds:
        assert ds.strings("corpus/text")[1] == "keywords, none" and ds.qrels() == {"1": {"3": 2}}

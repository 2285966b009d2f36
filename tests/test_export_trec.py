"""`results export --format trec`: TREC run files that trec_eval-style evaluation (ir_measures,
pytrec_eval) scores to exactly the nDCG@10 annsweep stored, also when BM25 scores tie."""

import shutil
from pathlib import Path

import h5py
import ir_measures
import numpy as np
import pandas as pd
import pytest

from harness import results
from harness.data import recipes
from harness.data.corpora import TextCollection
from harness.data.dataset import Dataset, DatasetError
from harness.data.writer import write_dataset
from harness.report.export_trec import MANIFEST, export_trec
from harness.run import runner

ALGORITHMS = Path(__file__).parent.parent / "algorithms"
FIXTURE_ALGORITHMS = Path(__file__).parent / "fixtures" / "algorithms"
NDCG = ir_measures.parse_measure("nDCG@10")


def tied_collection() -> TextCollection:
    """Every text twice (two documents with identical BM25 vectors: exact score ties), under ids in
    random order, so that trec_eval's tie-break by document id disagrees with annsweep's order for
    some pairs; one document of a pair is judged relevant, its twin not, so the order shows in nDCG."""
    rng = np.random.default_rng(21)
    words = [f"w{i}" for i in range(25)]
    texts = [" ".join(rng.choice(words, size=rng.integers(2, 6))) for _ in range(45)]
    doc_texts = [t for t in texts for _ in range(2)]
    labels = rng.permutation(len(doc_texts))
    doc_ids = [f"D{label:03d}" for label in labels]
    query_texts = [" ".join(rng.choice(words, size=rng.integers(1, 4))) for _ in range(30)]
    query_ids = [f"Q{i}" for i in range(30)]
    qrels = {}
    for qid, query in zip(query_ids, query_texts, strict=True):
        hits = [i for i, text in enumerate(doc_texts) if set(query.split()) & set(text.split())]
        picked = rng.choice(hits, size=min(4, len(hits)), replace=False)
        qrels[qid] = {doc_ids[i]: int(rng.integers(1, 4)) for i in picked}
    return TextCollection("tied", doc_ids, doc_texts, query_ids, query_texts, qrels)


def one_build_algorithms(folder: Path) -> Path:
    """`exact`, and bm25s with one build (k1 1.2, b 0.75: not the reference's 0.9, 0.4, so its
    ranking is its own), in an algorithms folder of their own: two workers instead of five."""
    for name in ("exact", "bm25s"):
        (folder / name).mkdir(parents=True)
        (folder / name / "adapter.py").symlink_to(ALGORITHMS / name / "adapter.py")
    (folder / "exact" / "config.yml").symlink_to(ALGORITHMS / "exact" / "config.yml")
    (folder / "bm25s" / "config.yml").write_text(
        "adapter: BM25S\ndescription: bm25s, one build\ngroups:\n  one:\n    build: {k1: 1.2, b: 0.75}\n"
        "    query: {}\n")
    return folder


@pytest.fixture(scope="module")
def tied_runs(tmp_path_factory):
    """A BM25 collection with ties as a sparse dataset (run by `exact`) and a text dataset (run by
    bm25s), their results exported as TREC run files."""
    folder = tmp_path_factory.mktemp("trec")
    collection = tied_collection()
    contents = recipes.encoded_collection(collection, recipes.bm25_simple, attrs=recipes.TEXT_SIMPLE_ATTRS)
    common = {"progress": False, "text": contents.text, "qrels": contents.qrels, **contents.attrs}
    data = folder / "data"
    write_dataset(data / "tied-bm25.hdf5", contents.train, contents.test, "ip", **common)
    write_dataset(data / "tied-text.hdf5", contents.train, contents.test, "ip", kind="text", **common)
    opts = runner.RunOptions(runs=1, timeout_s=120, results_root=folder / "results",
                             algorithms_root=one_build_algorithms(folder / "algorithms"), modes=("batch",),
                             data_root=data)
    outcomes = runner.run_sweep(["exact"], str(data / "tied-bm25.hdf5"), opts)
    outcomes += runner.run_sweep(["bm25s"], str(data / "tied-text.hdf5"), opts)
    assert [o.status for o in outcomes] == ["ok"] * 2, [o.error for o in outcomes]
    files = export_trec(folder / "results", folder / "trec", data_dir=data, progress=False)
    return folder, collection, files


def test_ir_measures_over_the_run_files_gives_the_stored_ndcg(tied_runs):
    folder, collection, files = tied_runs
    manifest = pd.read_csv(folder / "trec" / MANIFEST)
    assert len(manifest) == len(files) == 2 and set(manifest["algorithm"]) == {"exact", "bm25s"}
    assert sorted(folder / "trec" / f for f in manifest["file"]) == sorted(files)
    stored = results.load(folder / "results").set_index("file")
    for row in manifest.itertuples():
        run = list(ir_measures.read_trec_run(str(folder / "trec" / row.file)))
        got = ir_measures.calc_aggregate([NDCG], collection.qrels, run)[NDCG]
        in_results = stored.loc[[row.result_file]]  # the result file's runs: the one in this mode
        assert got == pytest.approx(in_results.loc[in_results["mode"] == row.mode, "nDCG@10"].item(), abs=1e-12)
        assert manifest.loc[row.Index, "nDCG@10"] == pytest.approx(got, abs=1e-12)
        assert got > 0.2  # BM25 finds the judged documents: the comparison is not 0 = 0
        # the qrels written beside the runs are the collection's, so the folder is self-contained
        qrels_file = folder / "trec" / row.dataset / "qrels.txt"
        beside = {}
        for qrel in ir_measures.read_trec_qrels(str(qrels_file)):
            beside.setdefault(qrel.query_id, {})[qrel.doc_id] = qrel.relevance
        assert beside == collection.qrels
        from_file = ir_measures.calc_aggregate([NDCG], ir_measures.read_trec_qrels(str(qrels_file)), run)[NDCG]
        assert from_file == pytest.approx(got, abs=1e-12)


def test_ties_decide_the_ndcg_and_the_file_keeps_annsweeps_order(tied_runs):
    """With the similarity as score, trec_eval would re-order tied documents by id: nDCG@10 would
    differ from the stored one.  The exported file keeps the adapter's order exactly."""
    folder, collection, files = tied_runs
    exact = next(f for f in files if "exact" in f.name)
    result = next((folder / "results").rglob("exact/*.h5"))
    with h5py.File(result) as f:
        group = f["runs"][sorted(f["runs"])[0]]
        ids, distances, stored = group["neighbors"][()], group["scores"][()], float(group.attrs["nDCG@10"])
    doc_ids, query_ids = collection.doc_ids, collection.query_ids
    by_similarity = {query_ids[q]: {doc_ids[d]: -float(distances[q, r]) for r, d in enumerate(row) if d >= 0}
                     for q, row in enumerate(ids)}
    tied = sum(len(np.unique(row)) < len(row) for row in distances)
    assert tied > 10  # most queries have tied BM25 scores in their top 10
    assert ir_measures.calc_aggregate([NDCG], collection.qrels, by_similarity)[NDCG] != pytest.approx(stored,
                                                                                                       abs=1e-6)
    lines = [line.split() for line in exact.read_text().splitlines()]
    assert {len(parts) for parts in lines} == {6} and {parts[1] for parts in lines} == {"Q0"}
    for q, row in enumerate(ids):
        mine = [parts for parts in lines if parts[0] == query_ids[q]]
        assert [parts[2] for parts in mine] == [doc_ids[d] for d in row if d >= 0]
        assert [int(parts[3]) for parts in mine] == list(range(1, len(mine) + 1))
        assert all(float(a[4]) > float(b[4]) for a, b in zip(mine, mine[1:], strict=False))  # no score ties
    assert {parts[5] for parts in lines} == {"exact__default__default__batch"}


def test_pytrec_eval_reads_the_files_too(tied_runs):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    folder, collection, files = tied_runs
    manifest = pd.read_csv(folder / "trec" / MANIFEST).set_index("file")
    evaluator = pytrec_eval.RelevanceEvaluator(collection.qrels, {"ndcg_cut.10"})
    for path in files:
        run: dict[str, dict[str, float]] = {}
        for line in path.read_text().splitlines():
            qid, _, doc, _, score, _ = line.split()
            run.setdefault(qid, {})[doc] = float(score)
        per_query = evaluator.evaluate(run)
        mean = np.mean([v["ndcg_cut_10"] for v in per_query.values()])
        assert mean == pytest.approx(manifest.loc[str(path.relative_to(folder / "trec")), "nDCG@10"], abs=1e-12)


@pytest.fixture(scope="module")
def brute_results(small_dense, tmp_path_factory) -> Path:
    """Results of the `brute` fixture on a dense dataset without ids (both modes)."""
    folder = tmp_path_factory.mktemp("brute") / "results"
    opts = runner.RunOptions(runs=1, timeout_s=60, results_root=folder, algorithms_root=FIXTURE_ALGORITHMS,
                             modes=("batch", "single"), data_root=small_dense.parent)
    assert [o.status for o in runner.run_sweep(["brute"], str(small_dense), opts)] == ["ok"]
    return folder


def test_datasets_without_ids_are_exported_by_row_number(small_dense, brute_results, tmp_path):
    shutil.copytree(brute_results, tmp_path / "results")
    result = next((tmp_path / "results").rglob("*.h5"))
    with h5py.File(result, "a") as f:  # a run with no answer past rank 5 for query 0, none for query 1
        for name in f["runs"]:
            f["runs"][name]["neighbors"][0, 5:] = -1
            f["runs"][name]["neighbors"][1, :] = -1
    files = export_trec(tmp_path / "results", tmp_path / "trec", data_dir=small_dense.parent, progress=False)
    assert sorted(f.name for f in files) == ["brute__default__default__batch.trec",
                                             "brute__default__default__single.trec"]
    data = Dataset(small_dense)
    lines = [line.split() for line in files[0].read_text().splitlines()]
    assert [parts[2] for parts in lines if parts[0] == "0"] == [str(d) for d in data.neighbors[0, :5]]
    assert not [parts for parts in lines if parts[0] == "1"]
    assert [parts[2] for parts in lines if parts[0] == "2"] == [str(d) for d in data.neighbors[2, :10]]
    assert len(lines) == 5 + 48 * 10
    manifest = pd.read_csv(tmp_path / "trec" / MANIFEST)
    assert manifest["queries_without_results"].tolist() == [1, 1] and (manifest["recall"] <= 1).all()
    assert export_trec(tmp_path / "results", tmp_path / "none", k=100, progress=False) == []


def test_stale_run_files_go_and_a_bad_run_stops_the_export_before_any_file(small_dense, brute_results, tmp_path):
    folder = tmp_path / "trec" / "small-dense" / "k=10"
    folder.mkdir(parents=True)
    (folder / "earlier__run.trec").write_text("0 Q0 1 1 10 earlier__run\n")
    (folder / "notes.txt").write_text("mine")
    (tmp_path / "trec" / "small-dense" / "k=100").mkdir()
    (tmp_path / "trec" / "small-dense" / "k=100" / "other-k.trec").write_text("")
    files = export_trec(brute_results, tmp_path / "trec", data_dir=small_dense.parent, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*(f.name for f in files), "notes.txt"])
    assert (tmp_path / "trec" / "small-dense" / "k=100" / "other-k.trec").exists()  # a folder it does not write
    assert not (tmp_path / "trec" / "small-dense" / "qrels.txt").exists()  # the dataset has no qrels
    shutil.copytree(brute_results, tmp_path / "results")
    result = next((tmp_path / "results").rglob("*.h5"))
    with h5py.File(result, "a") as f:  # the last run (in export order) answers one query too few
        group = f["runs"][sorted(f["runs"])[-1]]
        short = group["neighbors"][1:]
        del group["neighbors"]
        group["neighbors"] = short
    with pytest.raises(DatasetError, match=r"run .* answers 49 queries but dataset 'small-dense' has 50"):
        export_trec(tmp_path / "results", tmp_path / "new", data_dir=small_dense.parent, progress=False)
    assert not (tmp_path / "new").exists()


def test_a_missing_or_different_dataset_is_named(brute_results, tmp_path):
    with pytest.raises(DatasetError, match=r"elsewhere/small-dense\.hdf5: dataset 'small-dense' not found"):
        export_trec(brute_results, tmp_path / "trec", data_dir=tmp_path / "elsewhere", progress=False)
    other = tmp_path / "other"
    rng = np.random.default_rng(0)
    write_dataset(other / "small-dense.hdf5", rng.normal(size=(100, 4)).astype(np.float32),
                  rng.normal(size=(50, 4)).astype(np.float32), "euclidean", progress=False)
    with pytest.raises(DatasetError, match=r"other/small-dense\.hdf5: not the dataset file .* was made on"):
        export_trec(brute_results, tmp_path / "trec", data_dir=other, progress=False)
    assert not (tmp_path / "trec").exists()  # refused before anything was written


def test_the_command_line_writes_the_files_and_names_a_missing_output(tied_runs, tmp_path, capsys):
    from harness.cli import entry

    folder, _, files = tied_runs
    common = ["--results-dir", str(folder / "results"), "--data-dir", str(folder / "data"), "results", "export",
              "--format", "trec"]
    assert entry.main([*common, "-o", str(tmp_path / "out"), "-d", "tied-bm25", "-k", "10"]) == 0
    assert "1 TREC run files" in capsys.readouterr().err
    exported = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*.trec"))
    assert exported == [Path("tied-bm25/k=10/exact__default__default__batch.trec")]
    assert (tmp_path / "out" / exported[0]).read_text() == next(f for f in files if "exact" in f.name).read_text()
    assert entry.main(common) == 2 and "-o DIR" in capsys.readouterr().err
    assert entry.main([*common, "-o", str(tmp_path / "x"), "-d", "nope"]) == 2
    assert "tied-bm25, tied-text" in capsys.readouterr().err and not (tmp_path / "x").exists()

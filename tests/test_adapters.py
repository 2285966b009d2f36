"""The bundled adapters (algorithms/*/adapter.py) against independent numpy brute force.

At its most exact setting every adapter must return the true top-k, judged on
distances so that near-ties cannot make the test flaky: a returned id counts
when its exact (float64) distance is within ``REL_TOL`` of the k-th true
distance.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from harness.data.dataset import Dataset
from harness.data.writer import write_dataset
from harness.kit import DENSE, Algorithm, Catalogue, load_adapter_class

BUNDLED = ("exact", "hnswlib", "faiss-ivf", "faiss-hnsw")
CATALOGUE = Catalogue()
DENSE_ADAPTERS = sorted(n for n in CATALOGUE.names() if DENSE in CATALOGUE.adapter_class(CATALOGUE.get(n)).accepts)
K = 10
N_TRAIN, N_TEST, DIM = 2_000, 100, 32
REL_TOL = 1e-5

# --- data and brute force ----------------------------------------------------------------------


def clustered(distance: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(16, DIM))
    labels = rng.integers(0, len(centres), N_TRAIN + N_TEST)
    x = centres[labels] + 0.5 * rng.normal(size=(N_TRAIN + N_TEST, DIM))
    if distance == "ip":  # uneven norms, so inner product differs from cosine
        x *= rng.lognormal(0.0, 0.3, size=(len(x), 1))
    x = x.astype(np.float32)
    return x[:N_TRAIN], x[N_TRAIN:]


def true_distances(train, test, distance: str) -> np.ndarray:
    """nq×n float64 distances, smaller is closer (independent of harness and adapters)."""
    if sp.issparse(train):
        return -(sp.csr_matrix(test, dtype=np.float64) @ sp.csr_matrix(train, dtype=np.float64).T).toarray()
    x, q = np.asarray(train, np.float64), np.asarray(test, np.float64)
    if distance == "euclidean":
        return np.sqrt(np.maximum(((q[:, None, :] - x[None, :, :]) ** 2).sum(-1), 0.0))
    if distance == "angular":
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        return 1.0 - qn @ xn.T
    return -(q @ x.T)


def check_rows(ids: np.ndarray, dist: np.ndarray, k: int, n: int) -> None:
    ids = np.asarray(ids)
    assert ids.dtype.kind == "i", ids.dtype
    assert ids.shape == (dist.shape[0], k)
    assert ((ids >= 0) & (ids < n)).all(), "ids out of range (or padded with -1)"
    for row in ids:
        assert len(set(row.tolist())) == k, f"duplicate ids in {row}"


def exact_fraction(ids: np.ndarray, dist: np.ndarray, k: int) -> float:
    """Share of returned ids whose true distance is within REL_TOL of the k-th true distance."""
    kth = np.partition(dist, k - 1, axis=1)[:, k - 1]
    got = np.take_along_axis(dist, np.asarray(ids, dtype=np.int64), 1)
    return float((got <= (kth + REL_TOL * np.maximum(np.abs(kth), 1e-6))[:, None]).mean())


def single_queries(algo: Algorithm, test, k: int) -> np.ndarray:
    rows = []
    for i in range(test.shape[0]):
        ids = np.asarray(algo.query(test[i], k))
        assert ids.ndim == 1 and len(ids) <= k and ids.dtype.kind in "iu"  # integer ids (hnswlib: uint64)
        rows.append(np.pad(ids.astype(np.int64), (0, k - len(ids)), constant_values=-1))
    return np.array(rows, dtype=np.int64)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    """{distance: (Dataset, nq×n true distances)} for small clustered dense data."""
    out = {}
    folder = tmp_path_factory.mktemp("adapter-data")
    for seed, distance in enumerate(("angular", "euclidean", "ip")):
        train, test = clustered(distance, seed)
        ds = Dataset(write_dataset(folder / f"dense-{distance}.hdf5", train, test, distance, progress=False))
        out[distance] = (ds, true_distances(ds.train, ds.test, distance))
    return out


@pytest.fixture(scope="module")
def sparse(tmp_path_factory):
    rng = np.random.default_rng(11)
    train = sp.random(N_TRAIN, 500, density=0.02, format="csr", dtype=np.float32, random_state=rng)
    test = sp.random(N_TEST, 500, density=0.03, format="csr", dtype=np.float32, random_state=rng).tolil()
    test[0, :] = 0  # an empty query: every train point ties at score 0
    test = test.tocsr()
    test.eliminate_zeros()
    path = tmp_path_factory.mktemp("adapter-sparse") / "sparse.hdf5"
    ds = Dataset(write_dataset(path, train, test, "ip", progress=False))
    return ds, true_distances(ds.train, ds.test, "ip")


# Most exact setting of each adapter (build params, query params).
EXACT_SETTINGS = {
    "exact": ({}, {}),
    "hnswlib": ({"M": 16, "ef_construction": 100}, {"ef": N_TRAIN}),
    "faiss-hnsw": ({"M": 16, "efConstruction": 40}, {"efSearch": N_TRAIN}),
    "faiss-ivf": ({"nlist": 32}, {"nprobe": 32}),
}


# --- exactness ----------------------------------------------------------------------------------


@pytest.mark.parametrize("distance", ["angular", "euclidean", "ip"])
@pytest.mark.parametrize("name", BUNDLED)
def test_dense_most_exact_setting_returns_true_top_k(name, distance, dense):
    ds, dist = dense[distance]
    build, query = EXACT_SETTINGS[name]
    algo = load_adapter_class(name)(distance, **build)
    algo.fit(ds)
    algo.set_query_params(**query)
    single = single_queries(algo, ds.test, K)
    batch = algo.batch_query(ds.test, K)
    for ids in (single, batch):
        check_rows(ids, dist, K, ds.n_train)
        assert exact_fraction(ids, dist, K) == 1.0
    size = algo.index_size_bytes()
    assert isinstance(size, int) and size > 0


def test_exact_sparse_returns_true_top_k(sparse):
    ds, dist = sparse
    algo = load_adapter_class("exact")("ip")
    algo.fit(ds)
    algo.set_query_params()
    single = single_queries(algo, ds.test, K)
    batch = algo.batch_query(ds.test, K)
    for ids in (single, batch):
        check_rows(ids, dist, K, ds.n_train)
        assert exact_fraction(ids, dist, K) == 1.0
    np.testing.assert_array_equal(single, batch)  # same tie-breaking (by id) in both paths
    assert algo.index_size_bytes() > 0


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_exact_pads_when_k_exceeds_the_train_set(kind, dense, sparse, tmp_path):
    src = dense["ip"][0] if kind == "dense" else sparse[0]
    train, test = src.train[:5], src.test[:3]
    ds = Dataset(write_dataset(tmp_path / "tiny.hdf5", train, test, "ip", progress=False))
    algo = load_adapter_class("exact")("ip")
    algo.fit(ds)
    assert sorted(algo.query(ds.test[0], 8).tolist()) == [0, 1, 2, 3, 4]
    batch = algo.batch_query(ds.test, 8)
    assert batch.shape == (3, 8) and (batch[:, 5:] == -1).all()
    assert all(sorted(row[:5].tolist()) == [0, 1, 2, 3, 4] for row in batch)


def test_ivfpq_with_refine_reaches_high_recall(dense):
    ds, dist = dense["euclidean"]
    algo = load_adapter_class("faiss-ivf")("euclidean", nlist=32, m=8, refine=True)
    algo.fit(ds)
    algo.set_query_params(nprobe=32, k_factor=50)
    for ids in (single_queries(algo, ds.test, K), algo.batch_query(ds.test, K)):
        check_rows(ids, dist, K, ds.n_train)
        assert exact_fraction(ids, dist, K) >= 0.98
    # Without re-ranking the PQ codes alone are clearly approximate: refine is doing the work.
    algo.set_query_params(nprobe=32, k_factor=1)
    assert exact_fraction(algo.batch_query(ds.test, K), dist, K) < 0.98


def test_approximate_settings_trade_recall(dense):
    """A small beam or probe count is still well-formed, and recall grows with it."""
    ds, dist = dense["angular"]
    cases = [
        ("hnswlib", {"M": 4, "ef_construction": 20}, "ef", [1, 50]),  # ef=1 < k is clamped to k
        ("faiss-hnsw", {"M": 4, "efConstruction": 20}, "efSearch", [1, 50]),
        ("faiss-ivf", {"nlist": 64}, "nprobe", [1, 8]),
    ]
    for name, build, param, values in cases:
        algo = load_adapter_class(name)("angular", **build)
        algo.fit(ds)
        recalls = []
        for v in values:
            algo.set_query_params(**{param: v})
            ids = algo.batch_query(ds.test, K)
            valid = ids >= 0
            assert ((ids < ds.n_train) | ~valid).all()
            assert all(len(set(r[r >= 0].tolist())) == int((r >= 0).sum()) for r in ids)
            recalls.append(exact_fraction(np.where(valid, ids, 0), dist, K) if valid.all() else 0.0)
        assert recalls[0] <= recalls[1], (name, recalls)


@pytest.mark.parametrize("name,build", [
    ("hnswlib", {"M": 8, "ef_construction": 50}),
    ("faiss-hnsw", {"M": 8, "efConstruction": 40}),
    ("faiss-ivf", {"nlist": 16, "m": 4}),
])
def test_builds_are_deterministic(name, build, dense):
    """Same build arguments, same index, when built on one thread as the runner's worker does."""
    ds, _ = dense["euclidean"]
    cls = load_adapter_class(name)
    query = {"hnswlib": {"ef": 10}, "faiss-hnsw": {"efSearch": 10}, "faiss-ivf": {"nprobe": 2}}[name]
    results = []
    for _ in range(2):
        algo = cls("euclidean", **build)
        algo.fit(ds)
        algo.set_query_params(**query)
        results.append(algo.batch_query(ds.test, K))
    np.testing.assert_array_equal(results[0], results[1])


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hnswlib", "faiss-ivf", "faiss-hnsw", "blocked", "seismic"])
def test_the_catalogue_refuses_input_an_adapter_does_not_accept(name, dense, sparse):
    """The one check of input kind and distance: before the adapter is made, naming both."""
    catalogue = Catalogue()
    definition = catalogue.get(name)
    build = EXACT_SETTINGS.get(name, ({},))[0]
    wrong = dense["angular"][0] if name in ("blocked", "seismic") else sparse[0]
    kind = "dense" if name in ("blocked", "seismic") else "sparse"
    with pytest.raises(ValueError, match=rf"^{name} accepts \['\w+'\] input, dataset \S+ is {kind}$"):
        catalogue.instantiate(definition, build, wrong)


def test_the_catalogue_refuses_a_distance_an_adapter_does_not_support(tmp_path, dense):
    folder = tmp_path / "l2-only"
    folder.mkdir()
    (folder / "adapter.py").write_text("from harness.kit import DENSE, Algorithm\n"
                                       "class L2(Algorithm):\n    accepts = frozenset({DENSE})\n"
                                       "    distances = frozenset({'euclidean'})\n")
    (folder / "config.yml").write_text("adapter: L2\ngroups: {g: {}}\n")
    catalogue = Catalogue(tmp_path)
    with pytest.raises(ValueError, match=r"^l2-only supports \['euclidean'\] distances, dataset \S+ is angular$"):
        catalogue.instantiate(catalogue.get("l2-only"), {}, dense["angular"][0])
    adapter = catalogue.instantiate(catalogue.get("l2-only"), {}, dense["euclidean"][0])
    assert adapter.catalogue is catalogue and adapter.name == "l2-only"


@pytest.mark.parametrize("name,build,match", [
    ("exact", {"nlist": 4}, "exact: takes no build parameters"),
    ("hnswlib", {"M": 0}, "hnswlib: M must be a positive integer"),
    ("hnswlib", {"M": 16, "efc": 100}, r"hnswlib: unknown build parameter\(s\) \['efc'\]"),
    ("faiss-hnsw", {"M": 16.5}, "faiss-hnsw: M must be a positive integer"),
    ("faiss-ivf", {}, r"faiss-ivf: build parameter\(s\) \['nlist'\] are required"),
    ("faiss-ivf", {"nlist": 8, "nbits": 8}, "faiss-ivf: nbits is only meaningful with m"),
    ("faiss-ivf", {"nlist": 8, "m": 4, "nbits": 20}, r"faiss-ivf: nbits must be an integer in \[1, 16\], got 20"),
    ("faiss-ivf", {"nlist": 8, "refine": "yes"}, "faiss-ivf: refine must be true or false"),
])
def test_bad_build_params_are_rejected(name, build, match):
    with pytest.raises(ValueError, match=match):
        load_adapter_class(name)("euclidean", **build)


@pytest.mark.parametrize("build,match", [
    ({"nlist": N_TRAIN + 1}, rf"faiss-ivf: nlist={N_TRAIN + 1} exceeds the number of train points \({N_TRAIN}\)"),
    ({"nlist": 8, "m": 5}, f"faiss-ivf: m=5 must divide the dimension {DIM}"),
])
def test_bad_build_params_for_the_data_are_rejected_at_fit(build, match, dense):
    algo = load_adapter_class("faiss-ivf")("euclidean", **build)
    with pytest.raises(ValueError, match=match):
        algo.fit(dense["euclidean"][0])


@pytest.mark.parametrize("name,build,query,match", [
    ("exact", {}, {"ef": 10}, "exact: takes no query parameters"),
    ("hnswlib", {}, {"ef": 0}, "hnswlib: ef must be a positive integer"),
    ("hnswlib", {}, {"efSearch": 10}, r"hnswlib: unknown query parameter\(s\) \['efSearch'\]"),
    ("faiss-hnsw", {}, {"efSearch": -1}, "faiss-hnsw: efSearch must be a positive integer"),
    ("faiss-ivf", {"nlist": 8}, {"nprobe": 0}, "faiss-ivf: nprobe must be a positive integer"),
    ("faiss-ivf", {"nlist": 8}, {"nprobe": 2, "k_factor": 4}, "faiss-ivf: k_factor needs the build parameter refine"),
    ("faiss-ivf", {"nlist": 8, "m": 4, "refine": True}, {"k_factor": 0.5}, "faiss-ivf: k_factor must be a number"),
])
def test_bad_query_params_are_rejected(name, build, query, match):
    algo = load_adapter_class(name)("euclidean", **build)
    with pytest.raises(ValueError, match=match):
        algo.set_query_params(**query)


# --- bundled configs ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", DENSE_ADAPTERS)
def test_shipped_grid_is_accepted_and_small_enough_to_sweep(name):
    """Every build and query setting of a dense adapter's config.yml is accepted (without data); at most
    4 builds and 12 settings per build, so that a sweep of every dense adapter stays within hours."""
    catalogue = Catalogue()
    definition = catalogue.get(name)
    cls = catalogue.adapter_class(definition)
    builds = definition.builds()
    assert 1 <= len(builds) <= 4
    for build in builds:
        algo = cls("angular", **build.build)
        assert 1 <= len(build.queries) <= 12
        for query in build.queries:
            algo.set_query_params(**query)

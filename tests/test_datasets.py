"""Dataset files, exact ground truth, synthetic generators and the dataset registry.

Expected values come from independent numpy brute force (float64, full sort)
or from files written with raw h5py, never from the code under test.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from harness.data import registry
from harness.data.dataset import DISTANCES, KINDS, MULTI, Dataset, DatasetError
from harness.data.groundtruth import compute_ground_truth
from harness.data.registry import REGISTRY
from harness.data.store import dataset_path, open_dataset, prepare, registry_status
from harness.data.synthetic import clustered_dense, zipf_sparse, zipf_sparse_with_sources
from harness.data.writer import write_dataset

# --- independent reference ---------------------------------------------------------------------


def brute_force(train, test, distance: str) -> np.ndarray:
    """All query×train distances in float64, smaller is closer (written from the definitions)."""
    if sp.issparse(train):  # sparse data is only used with ip; avoids densifying 30,522 columns
        assert distance == "ip"
        return -(sp.csr_matrix(test, dtype=np.float64) @ sp.csr_matrix(train, dtype=np.float64).T).toarray()
    x, q = np.asarray(train, dtype=np.float64), np.asarray(test, dtype=np.float64)
    if distance == "euclidean":
        return np.sqrt(((q[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    if distance == "angular":
        cos = (q @ x.T) / np.outer(np.linalg.norm(q, axis=1), np.linalg.norm(x, axis=1))
        return 1.0 - cos
    if distance == "ip":
        return -(q @ x.T)
    raise AssertionError(distance)


def assert_matches_brute_force(ids, dist, train, test, distance: str, depth: int, exact_ids: bool = True) -> None:
    full = brute_force(train, test, distance)
    order = np.argsort(full, axis=1, kind="stable")[:, :depth]
    expected = np.take_along_axis(full, order, 1)
    assert ids.shape == dist.shape == (test.shape[0], depth)
    assert ids.dtype == np.int32 and dist.dtype == np.float32
    # Distances are the true sorted distances; each returned id really has its stored distance.
    np.testing.assert_allclose(dist, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(full, ids.astype(np.int64), 1), dist, rtol=1e-5, atol=1e-5)
    assert all(len(set(row)) == depth for row in ids.tolist())
    if exact_ids:
        np.testing.assert_array_equal(ids, order)


# --- ground truth ------------------------------------------------------------------------------


@pytest.mark.parametrize("distance", ["euclidean", "angular", "ip"])
@pytest.mark.parametrize("n_train", [500, 90])  # 90 < depth + margin: exercises the "all candidates" path
def test_dense_ground_truth_matches_brute_force(distance: str, n_train: int) -> None:
    rng = np.random.default_rng(11)
    train = rng.normal(size=(n_train, 16)).astype(np.float32)
    test = rng.normal(size=(25, 16)).astype(np.float32)
    ids, dist = compute_ground_truth(train, test, distance, progress=False)
    assert_matches_brute_force(ids, dist, train, test, distance, depth=min(100, n_train))


@pytest.mark.parametrize("n_train", [400, 90])
def test_sparse_ground_truth_matches_brute_force(n_train: int) -> None:
    rng = np.random.default_rng(12)
    # Dense enough that every query overlaps most docs, so there are no score ties among the top 100.
    train = sp.random(n_train, 60, density=0.3, format="csr", dtype=np.float32, random_state=rng)
    test = sp.random(20, 60, density=0.3, format="csr", dtype=np.float32, random_state=rng)
    ids, dist = compute_ground_truth(train, test, "ip", progress=False)
    assert_matches_brute_force(ids, dist, train, test, "ip", depth=min(100, n_train))


def test_distance_conventions_smaller_is_closer() -> None:
    rng = np.random.default_rng(13)
    train = rng.normal(size=(200, 8)).astype(np.float32)
    # Query 0 is a scaled copy of train point 7: angular distance 0, so it must come first.
    test = np.vstack([3.0 * train[7], rng.normal(size=(4, 8))]).astype(np.float32)
    ids, dist = compute_ground_truth(train, test, "angular", depth=10, progress=False)
    assert ids[0, 0] == 7 and abs(dist[0, 0]) < 1e-6
    x, q = train[ids[1]].astype(np.float64), test[1].astype(np.float64)
    np.testing.assert_allclose(dist[1], 1 - x @ q / (np.linalg.norm(x, axis=1) * np.linalg.norm(q)), atol=1e-6)

    ids, dist = compute_ground_truth(train, test, "ip", depth=10, progress=False)
    dots = test.astype(np.float64) @ train.T.astype(np.float64)
    np.testing.assert_array_equal(ids[:, 0], dots.argmax(axis=1))  # largest inner product first
    np.testing.assert_allclose(dist, -np.take_along_axis(dots, ids.astype(np.int64), 1), rtol=1e-6)
    assert (np.diff(dist, axis=1) >= 0).all()


# --- reading files -----------------------------------------------------------------------------


def write_ann_benchmarks_file(path: Path, with_type: bool, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A file exactly as ann-benchmarks writes it (older files lack the ``type`` attr)."""
    arrays = {
        "train": rng.normal(size=(300, 12)).astype(np.float32 if with_type else np.float64),
        "test": rng.normal(size=(7, 12)).astype(np.float32 if with_type else np.float64),
        "neighbors": rng.integers(0, 300, size=(7, 100)).astype(np.int32 if with_type else np.int64),
        "distances": np.sort(rng.random(size=(7, 100)), axis=1).astype(np.float32),  # closest first
    }
    with h5py.File(path, "w") as f:
        f.attrs["distance"] = "angular"
        f.attrs["dimension"] = 12
        if with_type:
            f.attrs["type"] = "dense"
            f.attrs["point_type"] = "float"
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
    return arrays


@pytest.mark.parametrize("with_type", [True, False])
def test_ann_benchmarks_layout_loads(tmp_path: Path, with_type: bool) -> None:
    path = tmp_path / "glove-12-angular.hdf5"
    arrays = write_ann_benchmarks_file(path, with_type, np.random.default_rng(14))
    for ds in (Dataset(path), open_dataset(path), open_dataset(str(path))):
        assert (ds.kind, ds.distance, ds.dimension, ds.n_train, ds.n_test) == ("dense", "angular", 12, 300, 7)
        assert ds.name == "glove-12-angular" and ds.has_ground_truth
        assert ds.train.dtype == np.float32 and ds.neighbors.dtype == np.int32
        np.testing.assert_array_equal(ds.train, arrays["train"].astype(np.float32))
        np.testing.assert_array_equal(ds.test, arrays["test"].astype(np.float32))
        np.testing.assert_array_equal(ds.neighbors, arrays["neighbors"])
        np.testing.assert_array_equal(ds.distances, arrays["distances"])


def test_dropped_in_file_opens_by_name(tmp_path: Path) -> None:
    arrays = write_ann_benchmarks_file(tmp_path / "glove-12-angular.hdf5", True, np.random.default_rng(15))
    ds = open_dataset("glove-12-angular", directory=tmp_path, prepare_missing=False)
    np.testing.assert_array_equal(ds.test, arrays["test"])


def test_sparse_roundtrip(tmp_path: Path) -> None:
    rng = np.random.default_rng(16)
    train = sp.random(150, 1000, density=0.02, format="csr", dtype=np.float32, random_state=rng)
    test = sp.random(10, 1000, density=0.05, format="csr", dtype=np.float32, random_state=rng)
    path = write_dataset(tmp_path / "sp.hdf5", train, test, "ip", progress=False)
    ds = Dataset(path)
    assert (ds.kind, ds.distance, ds.dimension, ds.n_train, ds.n_test) == ("sparse", "ip", 1000, 150, 10)
    for got, want in ((ds.train, train), (ds.test, test)):
        assert sp.issparse(got) and got.dtype == np.float32 and got.shape == want.shape
        assert (got != want).nnz == 0
    # The stored ground truth is the brute-force one (ties possible here, so compare distances).
    assert_matches_brute_force(ds.neighbors, ds.distances, train, test, "ip", depth=100, exact_ids=False)
    with pytest.raises(DatasetError, match="sparse datasets use distance 'ip'"):
        write_dataset(tmp_path / "bad.hdf5", train, test, "angular", progress=False)


def test_dense_roundtrip_with_given_ground_truth(tmp_path: Path) -> None:
    rng = np.random.default_rng(17)
    train, test = rng.normal(size=(50, 4)), rng.normal(size=(3, 4))
    nb, dist = rng.integers(0, 50, size=(3, 100)), np.sort(rng.random(size=(3, 100)), axis=1)
    ds = Dataset(write_dataset(tmp_path / "d.hdf5", train, test, "euclidean", nb, dist, progress=False, note="x"))
    np.testing.assert_array_equal(ds.train, train.astype(np.float32))
    np.testing.assert_array_equal(ds.neighbors, nb)
    np.testing.assert_array_equal(ds.distances, dist.astype(np.float32))
    assert ds.attrs["note"] == "x" and ds.attrs["type"] == "dense"
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file was renamed away


# --- bad input ---------------------------------------------------------------------------------


def _h5(path: Path, attrs: dict, **arrays) -> Path:
    with h5py.File(path, "w") as f:
        f.attrs.update(attrs)
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
    return path


def test_bad_files_raise_dataset_error_naming_the_file(tmp_path: Path) -> None:
    x = np.zeros((5, 3), dtype=np.float32)
    missing = tmp_path / "missing.hdf5"
    not_hdf5 = tmp_path / "notes.hdf5"
    not_hdf5.write_text("not an HDF5 file\n")
    jaccard = _h5(tmp_path / "kosarak-jaccard.hdf5", {"distance": "jaccard"}, train=x, test=x)
    no_test = _h5(tmp_path / "no-test.hdf5", {"distance": "angular"}, train=x)
    one_dim = _h5(tmp_path / "one-dim.hdf5", {"distance": "angular"}, train=np.zeros(5), test=x)
    no_shape = tmp_path / "no-shape.hdf5"
    with h5py.File(no_shape, "w") as f:
        f.attrs["type"] = "sparse"
        f.create_group("train").create_dataset("data", data=np.ones(3))
        f.create_group("test").create_dataset("data", data=np.ones(3))
    cases = [
        (missing, "not found"),
        (not_hdf5, "not a readable HDF5 file"),
        (jaccard, "'jaccard' is not supported"),
        (no_test, "missing dataset"),
        (one_dim, "2-D"),
        (no_shape, "shape"),
    ]
    for path, what in cases:
        with pytest.raises(DatasetError) as info:
            open_dataset(path)
        assert str(path) in str(info.value) and what in str(info.value)
    with pytest.raises(DatasetError, match="jaccard"):
        write_dataset(tmp_path / "w.hdf5", x, x, "jaccard", progress=False)


# --- generators --------------------------------------------------------------------------------


def test_clustered_dense_properties() -> None:
    train, test = clustered_dense(3000, 200, 32, n_clusters=20, seed=5)
    assert train.shape == (3000, 32) and test.shape == (200, 32)
    assert train.dtype == test.dtype == np.float32 and np.isfinite(train).all()
    again = clustered_dense(3000, 200, 32, n_clusters=20, seed=5)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    assert not np.array_equal(train, clustered_dense(3000, 200, 32, n_clusters=20, seed=6)[0])
    # Clustered: the 10th nearest neighbour is far closer than a typical point (uniform data: ratio ~1).
    d = brute_force(train, test, "angular")
    tenth = np.sort(d, axis=1)[:, 9]
    assert np.median(d.mean(axis=1) / tenth) > 2.0
    # Test points come from the same mixture as train but are fresh draws, not copies.
    assert d.min() > 1e-4
    d_train = brute_force(train, train[:200], "angular")
    np.fill_diagonal(d_train, np.inf)
    assert 0.5 < np.median(np.sort(d_train, 1)[:, 9]) / np.median(tenth) < 2.0


@pytest.fixture(scope="module")
def sparse_sample():
    return zipf_sparse_with_sources(3000, 300, vocab_size=30_522, doc_nnz=120, query_nnz=40, seed=21)


def _check_csr(m: sp.csr_matrix, n_rows: int, n_cols: int) -> None:
    assert isinstance(m, sp.csr_matrix) and m.shape == (n_rows, n_cols) and m.dtype == np.float32
    m.check_format(full_check=True)
    # Strictly increasing column ids within each row (sorted, no duplicates), no explicit zeros.
    rows = np.repeat(np.arange(n_rows), np.diff(m.indptr))
    same_row = rows[1:] == rows[:-1]
    assert (np.diff(m.indices.astype(np.int64))[same_row] > 0).all()
    assert (m.data > 0).all() and np.isfinite(m.data).all()


def test_zipf_sparse_format_and_sizes(sparse_sample) -> None:
    train, test, src = sparse_sample
    _check_csr(train, 3000, 30_522)
    _check_csr(test, 300, 30_522)
    assert abs(train.nnz / 3000 - 120) <= 12 and abs(test.nnz / 300 - 40) <= 4
    assert src.shape == (300,) and src.min() >= 0 and src.max() < 3000


def test_zipf_sparse_nnz_targets_follow_arguments() -> None:
    train, test = zipf_sparse(2000, 200, vocab_size=5000, doc_nnz=60, query_nnz=15, zipf_exponent=1.1, seed=3)
    assert train.shape[1] == test.shape[1] == 5000
    assert abs(train.nnz / 2000 - 60) <= 6 and abs(test.nnz / 200 - 15) <= 1.5


def test_zipf_sparse_is_deterministic(sparse_sample) -> None:
    train, test, src = sparse_sample
    again = zipf_sparse_with_sources(3000, 300, vocab_size=30_522, doc_nnz=120, query_nnz=40, seed=21)
    for a, b in zip((train, test), again[:2], strict=True):
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
        assert np.array_equal(a.data, b.data)
    assert np.array_equal(src, again[2])
    plain = zipf_sparse(3000, 300, vocab_size=30_522, doc_nnz=120, query_nnz=40, seed=21)
    assert (plain[0] != train).nnz == 0 and (plain[1] != test).nnz == 0
    other = zipf_sparse(3000, 300, seed=22)[0]
    assert other.nnz != train.nnz or not np.array_equal(other.indices, train.indices)


def test_zipf_sparse_term_distribution(sparse_sample) -> None:
    train, _, _ = sparse_sample
    df = np.bincount(train.indices, minlength=train.shape[1])
    by_freq = np.argsort(-df, kind="stable")
    # Heavy-tailed: the 1 % most frequent terms hold a large share of all postings (uniform: ~1 %).
    assert df[by_freq[:305]].sum() / df.sum() > 0.25
    # ... and they are spread over the id range rather than being the low ids.
    assert 0.25 * train.shape[1] < np.median(by_freq[:50]) < 0.75 * train.shape[1]
    # Weights: many small, a few large.
    w = train.data
    assert np.percentile(w, 99) > 4 * np.median(w)


def test_zipf_sparse_queries_come_from_their_source_doc(sparse_sample) -> None:
    train, test, src = sparse_sample
    from_src = [np.isin(test[i].indices, train[src[i]].indices).mean() for i in range(test.shape[0])]
    assert 0.5 < np.mean(from_src) < 0.95  # mostly the source's terms, plus other terms
    # The source's terms are picked by weight, and keep a noisy copy of the source's weight.
    lift, q_w, d_w = [], [], []
    for i in range(test.shape[0]):
        doc, query = train[src[i]], test[i]
        in_query = np.isin(doc.indices, query.indices)
        lift.append(doc.data[in_query].mean() / doc.data.mean())
        q_w.extend(query.data[np.isin(query.indices, doc.indices)])
        d_w.extend(doc.data[in_query])
    assert np.mean(lift) > 1.2
    assert np.corrcoef(np.log(q_w), np.log(d_w))[0, 1] > 0.5
    scores = brute_force(train, test, "ip")  # −dot
    top10 = np.argsort(scores, axis=1, kind="stable")[:, :10]
    assert (top10 == src[:, None]).any(axis=1).mean() >= 0.8


# --- registry ----------------------------------------------------------------------------------


def test_registry_entries() -> None:
    assert {"random-xs-dense", "random-s-dense", "random-xs-sparse", "random-s-sparse"} <= set(REGISTRY)
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.distance in DISTANCES and spec.description
        if isinstance(spec, registry.MultiDatasetSpec):  # made of other registry datasets, one per representation
            assert spec.kind == MULTI and set(spec.parts.values()) <= set(REGISTRY)
            assert set(spec.aliases.values()) <= set(spec.parts) and spec.primary in spec.parts
        else:
            assert spec.kind in KINDS and callable(spec.make)
    assert REGISTRY["random-xs-dense"].distance == "angular" and REGISTRY["random-xs-sparse"].distance == "ip"


@pytest.mark.parametrize("name", ["random-xs-dense", "random-xs-sparse"])
def test_prepare_xs_dataset(tmp_path: Path, name: str) -> None:
    assert dict((s.name, p) for s, p in registry_status(tmp_path))[name] is False
    start = time.perf_counter()
    path = prepare(name, directory=tmp_path, progress=False)
    assert time.perf_counter() - start < 20  # ~1 s on a 2-core machine
    assert path == dataset_path(name, tmp_path) == tmp_path / f"{name}.hdf5"
    status = {s.name: p for s, p in registry_status(tmp_path)}
    assert status[name] is True and status["random-s-dense"] is False and status["random-s-sparse"] is False

    ds = open_dataset(name, directory=tmp_path, prepare_missing=False)
    spec = REGISTRY[name]
    assert (ds.kind, ds.distance, ds.n_train, ds.n_test) == (spec.kind, spec.distance, 10_000, 1_000)
    assert ds.neighbors.shape == ds.distances.shape == (1_000, 100)
    if ds.kind == "dense":
        assert ds.dimension == 64
    else:
        assert ds.dimension == 30_522
        assert abs(ds.train.nnz / ds.n_train - 120) <= 12 and abs(ds.test.nnz / ds.n_test - 40) <= 4
    # The stored ground truth of a few queries agrees with brute force.
    assert_matches_brute_force(
        ds.neighbors[:15], ds.distances[:15], ds.train, ds.test[:15], ds.distance, depth=100,
        exact_ids=ds.kind == "dense",
    )


def test_prepare_skips_existing_file_unless_forced(tmp_path: Path, monkeypatch) -> None:
    calls = []
    spec = REGISTRY["random-xs-dense"]
    tiny = lambda: (calls.append(1), clustered_dense(300, 10, 8, n_clusters=3, seed=1))[1]  # noqa: E731
    monkeypatch.setitem(REGISTRY, spec.name, dataclasses.replace(spec, make=tiny))
    path = prepare(spec.name, directory=tmp_path, progress=False)
    inode = path.stat().st_ino
    assert prepare(spec.name, directory=tmp_path, progress=False) == path
    assert len(calls) == 1 and path.stat().st_ino == inode
    prepare(spec.name, directory=tmp_path, force=True, progress=False)
    assert len(calls) == 2 and path.stat().st_ino != inode  # a new file renamed into place
    assert Dataset(path).n_train == 300


def test_open_dataset_prepares_missing_registry_dataset(tmp_path: Path, monkeypatch) -> None:
    spec = REGISTRY["random-xs-sparse"]
    tiny = lambda: zipf_sparse(200, 5, vocab_size=500, doc_nnz=20, query_nnz=5, seed=2)  # noqa: E731
    monkeypatch.setitem(REGISTRY, spec.name, dataclasses.replace(spec, make=tiny))
    monkeypatch.setenv("ANNSWEEP_DATA_DIR", str(tmp_path))  # default directory comes from the env
    with pytest.raises(DatasetError, match="not prepared") as info:
        open_dataset(spec.name, prepare_missing=False)
    assert str(tmp_path / f"{spec.name}.hdf5") in str(info.value)
    ds = open_dataset(spec.name)
    assert ds.path == tmp_path / f"{spec.name}.hdf5" and ds.name == spec.name and ds.n_train == 200
    other = tmp_path / "other"  # an explicit directory wins over the environment
    assert open_dataset(spec.name, directory=other).path == other / f"{spec.name}.hdf5"
    assert (other / f"{spec.name}.hdf5").is_file()


def test_unknown_name_lists_known_names(tmp_path: Path) -> None:
    for call in (lambda: open_dataset("no-such-set", directory=tmp_path), lambda: prepare("no-such-set", tmp_path)):
        with pytest.raises(DatasetError) as info:
            call()
        message = str(info.value)
        assert "no-such-set" in message and all(name in message for name in REGISTRY)

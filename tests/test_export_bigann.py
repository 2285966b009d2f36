"""`datasets export --format bigann`: big-ann-benchmarks' own readers (transcribed in
tests/peers/big_ann.py) read the exported files and get the dataset's vectors and ground truth, with
distances in big-ann's convention; annsweep's importer reads them back."""

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
from peers.big_ann import (
    compute_recall_with_distance_ties,
    knn_result_read,
    read_fbin,
    read_ibin,
    read_sparse_matrix,
    xbin_mmap,
)

from harness.data import recipes
from harness.data.corpora import TextCollection
from harness.data.dataset import Dataset, DatasetError
from harness.data.exporters import export_bigann
from harness.data.importers import import_dense, import_sparse, read_xbin
from harness.data.writer import write_dataset, write_multi_dataset


def dense_dataset(tmp_path, distance: str, name: str = "dense"):
    rng = np.random.default_rng(3)
    train = rng.normal(size=(400, 12)).astype(np.float32)
    test = rng.normal(size=(15, 12)).astype(np.float32)
    return write_dataset(tmp_path / f"{name}.hdf5", train, test, distance, progress=False)


def sparse_dataset(tmp_path, name: str = "sparse", **extra):
    train = sp.random(300, 500, density=0.03, format="csr", random_state=1, dtype=np.float32)
    test = sp.random(12, 500, density=0.05, format="csr", random_state=2, dtype=np.float32)
    return write_dataset(tmp_path / f"{name}.hdf5", train, test, "ip", progress=False, **extra)


def test_dense_euclidean_files_read_by_big_ann(small_dense, tmp_path):
    out = tmp_path / "out"
    files = export_bigann(small_dense, out)
    assert [f.name for f in files] == ["base.fbin", "query.fbin", "gt.ibin"]
    data = Dataset(small_dense)
    assert np.array_equal(xbin_mmap(str(out / "base.fbin"), "float32"), data.train)
    assert np.array_equal(read_fbin(str(out / "query.fbin")), data.test)
    ids, dists = knn_result_read(str(out / "gt.ibin"))
    assert np.array_equal(ids, data.neighbors)
    # big-ann's euclidean ground truth (faiss METRIC_L2) holds squared distances, ascending
    base, query = (read_fbin(str(out / f)).astype(np.float64) for f in ("base.fbin", "query.fbin"))
    squared = ((query[:, None, :] - base[ids]) ** 2).sum(axis=2)
    assert dists == pytest.approx(squared, rel=1e-5)
    assert (np.diff(dists, axis=1) >= 0).all()
    assert not np.allclose(dists, np.sqrt(squared), rtol=1e-3)  # the square, not the distance
    # the ids come first, right after the header: big-ann's read_ibin, given the row count, reads them
    assert np.array_equal(read_ibin(str(out / "gt.ibin"), chunk_size=data.n_test), ids)
    # big-ann's tie-aware recall of the exact ids is 1 (anchored on the exported distances)
    for q in range(data.n_test):
        assert compute_recall_with_distance_ties(ids[q], dists[q], data.neighbors[q, :10], 10)[0] == 10


@pytest.mark.parametrize("distance", ["ip", "angular"])
def test_dense_similarities_are_written_higher_is_closer(tmp_path, distance):
    path = dense_dataset(tmp_path, distance)
    export_bigann(path, tmp_path / "out")
    data = Dataset(path)
    ids, dists = knn_result_read(str(tmp_path / "out" / "gt.ibin"))
    assert np.array_equal(ids, data.neighbors)
    base, query = data.train.astype(np.float64), data.test.astype(np.float64)
    if distance == "angular":  # the cosine similarity: big-ann's inner product of normalised vectors
        base = base / np.linalg.norm(base, axis=1, keepdims=True)
        query = query / np.linalg.norm(query, axis=1, keepdims=True)
    dots = np.einsum("qd,qkd->qk", query, base[ids])
    assert dists == pytest.approx(dots, rel=1e-5, abs=1e-5)
    assert (np.diff(dists, axis=1) <= 1e-6).all()  # descending, as big-ann sorts inner products


def test_uint8_vectors_are_written_as_u8bin(tmp_path):
    rng = np.random.default_rng(5)
    train, test = rng.integers(0, 256, (200, 8)).astype(np.uint8), rng.integers(0, 256, (10, 8)).astype(np.uint8)
    path = write_dataset(tmp_path / "bytes.hdf5", train.astype(np.float32), test.astype(np.float32), "euclidean",
                         progress=False)
    with h5py.File(path, "a") as f:  # as a file that stores bytes (e.g. BIGANN) has them
        for key, values in (("train", train), ("test", test)):
            del f[key]
            f.create_dataset(key, data=values)
    files = export_bigann(path, tmp_path / "out")
    assert [f.name for f in files] == ["base.u8bin", "query.u8bin", "gt.ibin"]
    assert np.array_equal(xbin_mmap(str(files[0]), "uint8"), train)
    assert np.array_equal(xbin_mmap(str(files[1]), "uint8"), test)
    assert read_xbin(files[0]).dtype == np.uint8 and np.array_equal(read_xbin(files[0]), train)  # annsweep's reader


@pytest.mark.parametrize("distance", ["euclidean", "angular", "ip"])
def test_dense_files_imported_back_by_annsweep(tmp_path, distance):
    path = dense_dataset(tmp_path, distance)
    base, query, gt = export_bigann(path, tmp_path / "out")
    back = Dataset(import_dense(base, query, "back", metric=distance, gt=gt, directory=tmp_path / "data",
                                progress=False))
    data = Dataset(path)
    assert np.array_equal(back.train, data.train) and np.array_equal(back.test, data.test)
    assert np.array_equal(back.neighbors, data.neighbors)
    assert back.distances == pytest.approx(data.distances, rel=1e-6, abs=1e-6)
    assert np.array_equal(read_xbin(base), data.train)


def test_sparse_files_read_by_big_ann_and_imported_back(tmp_path):
    path = sparse_dataset(tmp_path)
    out = tmp_path / "out"
    files = export_bigann(path, out)
    assert [f.name for f in files] == ["base.csr", "query.csr", "query.gt"]
    data = Dataset(path)
    for name, matrix in (("base.csr", data.train), ("query.csr", data.test)):
        read = read_sparse_matrix(str(out / name))
        assert read.shape == matrix.shape and read.dtype == np.float32
        assert np.array_equal(read.indptr, matrix.indptr) and np.array_equal(read.indices, matrix.indices)
        assert np.array_equal(read.data, matrix.data)
    ids, dists = knn_result_read(str(out / "query.gt"))
    assert np.array_equal(ids, data.neighbors)
    dots = np.asarray([[data.test[q].multiply(data.train[int(i)]).sum() for i in row] for q, row in enumerate(ids)])
    assert dists == pytest.approx(dots, rel=1e-5, abs=1e-6)  # inner products, higher is closer
    assert np.array_equal(dists, -data.distances)
    # annsweep's importer reads the three files back into the same dataset
    back = Dataset(import_sparse(out / "base.csr", out / "query.csr", "back", out / "query.gt", tmp_path / "data",
                                 progress=False))
    assert (back.train != data.train).nnz == 0 and (back.test != data.test).nnz == 0
    assert np.array_equal(back.neighbors, data.neighbors) and np.array_equal(back.distances, data.distances)


def tiny_collection() -> TextCollection:
    docs = ["red apple pie", "green apple", "red car", "blue car fast", "apple car", "pie pie pie"]
    return TextCollection("tiny", [f"d{i}" for i in range(6)], docs, ["q1", "q2"], ["red apple", "car"],
                          {"q1": {"d0": 1}, "q2": {"d2": 2}})


def test_text_dataset_exports_its_bm25_reference(tmp_path):
    contents = recipes.encoded_collection(tiny_collection(), recipes.bm25_simple, attrs=recipes.TEXT_SIMPLE_ATTRS)
    path = write_dataset(tmp_path / "tiny-text.hdf5", contents.train, contents.test, "ip", progress=False,
                         text=contents.text, qrels=contents.qrels, kind="text", **contents.attrs)
    files = export_bigann(path, tmp_path / "out")
    data = Dataset(path)
    assert (read_sparse_matrix(str(files[0])) != data.train).nnz == 0
    ids, dists = knn_result_read(str(files[2]))
    assert np.array_equal(ids, data.neighbors) and np.array_equal(dists, -data.distances)


def test_a_multi_representation_dataset_exports_the_one_asked_for(tmp_path):
    ids = {"corpus/ids": [f"d{i}" for i in range(300)], "queries/ids": [f"q{i}" for i in range(12)]}
    sparse = Dataset(sparse_dataset(tmp_path, text=ids))
    rng = np.random.default_rng(9)
    dense = Dataset(write_dataset(tmp_path / "dense.hdf5", rng.normal(size=(300, 6)).astype(np.float32),
                                  rng.normal(size=(12, 6)).astype(np.float32), "euclidean", progress=False, text=ids))
    multi = write_multi_dataset(tmp_path / "both.hdf5", {"splade": sparse, "minilm": dense}, primary="splade",
                                aliases={"dense": "minilm"})
    primary = export_bigann(multi, tmp_path / "primary")
    assert [f.name for f in primary] == ["base.csr", "query.csr", "query.gt"]
    chosen = export_bigann(multi, tmp_path / "dense", representation="dense")
    assert [f.name for f in chosen] == ["base.fbin", "query.fbin", "gt.ibin"]
    assert np.array_equal(read_fbin(str(chosen[0])), dense.train)
    assert np.array_equal(knn_result_read(str(chosen[2]))[0], dense.neighbors)
    with pytest.raises(DatasetError, match=r"both\.hdf5.*no representation 'nope'"):
        export_bigann(multi, tmp_path / "x", representation="nope")
    with pytest.raises(DatasetError, match=r"dense\.hdf5.*has one representation"):
        export_bigann(dense.path, tmp_path / "x", representation="minilm")


def test_a_missing_dataset_is_named_before_anything_is_written(tmp_path):
    with pytest.raises(DatasetError, match="no-such-set"):
        export_bigann("no-such-set", tmp_path / "out", directory=tmp_path)
    assert not (tmp_path / "out").exists()


def test_the_command_line_says_which_distances_it_wrote(small_dense, tmp_path, capsys):
    from harness.cli import entry

    assert entry.main(["datasets", "export", str(small_dense), "--format", "bigann", "-o", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "base.fbin" in printed and "gt.ibin" in printed and "euclidean → squared L2 distances" in printed
    assert entry.main(["--data-dir", str(tmp_path), "datasets", "export", "nope", "-o", str(tmp_path / "x")]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err and not (tmp_path / "x").exists()

"""Importers of third-party dataset files.

Input files are written here byte by byte (``struct``/``tobytes``) from scipy
matrices, independently of the readers; expected ground truth comes from
numpy brute force.
"""

from __future__ import annotations

import gzip
import re
import struct
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
from exact_search import dense_brute_force
from peers.big_ann_writers import u8bin_write, usbin_write, write_sparse_matrix, xbin_write

from harness.data.dataset import Dataset, DatasetError
from harness.data.importers import (
    import_ann_benchmarks,
    import_dense,
    import_path,
    import_sparse,
    read_bigann_csr,
    read_bigann_gt,
    read_seismic_bin,
    read_xbin,
)

# --- writers and reference, independent of harness.data.importers -----------------------------------


def write_csr(path: Path, m: sp.csr_matrix) -> Path:
    m = sp.csr_matrix(m)
    path.write_bytes(
        struct.pack("<qqq", m.shape[0], m.shape[1], m.nnz)
        + m.indptr.astype("<i8").tobytes() + m.indices.astype("<i4").tobytes() + m.data.astype("<f4").tobytes()
    )
    return path


def write_seismic(path: Path, m: sp.csr_matrix, rng: np.random.Generator | None = None) -> Path:
    """One record per row; with ``rng`` each row's entries are shuffled (the format does not require order)."""
    m = sp.csr_matrix(m)
    out = [struct.pack("<I", m.shape[0])]
    for i in range(m.shape[0]):
        ids, values = m.indices[m.indptr[i]:m.indptr[i + 1]], m.data[m.indptr[i]:m.indptr[i + 1]]
        if rng is not None:
            perm = rng.permutation(len(ids))
            ids, values = ids[perm], values[perm]
        out.append(struct.pack(f"<I{len(ids)}I{len(ids)}f", len(ids), *ids.tolist(), *values.tolist()))
    path.write_bytes(b"".join(out))
    return path


def write_gt(path: Path, ids: np.ndarray, scores: np.ndarray) -> Path:
    n, k = ids.shape
    path.write_bytes(struct.pack("<II", n, k) + ids.astype("<i4").tobytes() + scores.astype("<f4").tobytes())
    return path


def brute_force_top(train: sp.csr_matrix, test: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product (float64 dense products, full stable sort)."""
    dots = test.toarray().astype(np.float64) @ train.toarray().astype(np.float64).T
    ids = np.argsort(-dots, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(dots, ids, 1)


def random_sparse(rng: np.random.Generator, n: int, d: int, density: float) -> sp.csr_matrix:
    m = sp.random(n, d, density=density, format="csr", dtype=np.float32, random_state=rng)
    m.data += 0.01  # strictly positive weights, as SPLADE produces; no explicit zeros
    return m


def assert_same_csr(got: sp.csr_matrix, want: sp.csr_matrix) -> None:
    want = sp.csr_matrix(want)
    want.sort_indices()
    assert isinstance(got, sp.csr_matrix) and got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)


@pytest.fixture
def corpus() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    # Dense enough that scores have no ties, so the top-k ids are unique.
    rng = np.random.default_rng(31)
    train, test = random_sparse(rng, 150, 60, 0.3), random_sparse(rng, 12, 60, 0.3)
    train = sp.csr_matrix(train.toarray() * (np.arange(150) != 5)[:, None])  # an empty document
    assert train.indices.max() == test.indices.max() == 59  # so Seismic files (dim = max id + 1) keep d = 60
    return train, test


# --- readers -----------------------------------------------------------------------------------


def test_bigann_csr_roundtrip(tmp_path: Path, corpus) -> None:
    train, _ = corpus
    assert_same_csr(read_bigann_csr(write_csr(tmp_path / "base.csr", train)), train)
    empty = sp.csr_matrix((0, 7), dtype=np.float32)
    assert_same_csr(read_bigann_csr(write_csr(tmp_path / "empty.csr", empty)), empty)


def test_bigann_csr_rows_come_back_sorted(tmp_path: Path, corpus) -> None:
    train, _ = corpus
    shuffled = train.copy()
    for i in range(train.shape[0]):  # reverse each row's entries in the file
        lo, hi = train.indptr[i], train.indptr[i + 1]
        shuffled.indices[lo:hi], shuffled.data[lo:hi] = train.indices[lo:hi][::-1], train.data[lo:hi][::-1]
    assert_same_csr(read_bigann_csr(write_csr(tmp_path / "unsorted.csr", shuffled)), train)


def test_seismic_roundtrip_with_unsorted_rows(tmp_path: Path, corpus) -> None:
    train, _ = corpus
    rng = np.random.default_rng(32)
    path = write_seismic(tmp_path / "docs.bin", train, rng)
    assert_same_csr(read_seismic_bin(path), train[:, : train.indices.max() + 1])  # dim = max id + 1
    wide = sp.csr_matrix((train.data, train.indices, train.indptr), shape=(150, 1000))
    assert_same_csr(read_seismic_bin(path, dim=1000), wide)


def test_seismic_reader_is_fast(tmp_path: Path) -> None:
    m = random_sparse(np.random.default_rng(33), 100_000, 30_000, 20 / 30_000)
    path = write_seismic(tmp_path / "big.bin", m)
    start = time.perf_counter()
    got = read_seismic_bin(path, dim=30_000)
    assert time.perf_counter() - start < 5  # ~0.1 s here; a per-element Python loop takes far longer
    assert_same_csr(got, m)


def test_bigann_gt_is_brute_force_top_k(tmp_path: Path, corpus) -> None:
    train, test = corpus
    ids, scores = brute_force_top(train, test, 10)
    got_ids, got_scores = read_bigann_gt(write_gt(tmp_path / "q.gt", ids, scores))
    assert got_ids.dtype == np.int32 and got_scores.dtype == np.float32 and got_ids.shape == (12, 10)
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(got_scores, scores.astype(np.float32))


# --- importers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("base_suffix", [".csr", ".bin"])
def test_import_sparse_with_gt_file(tmp_path: Path, corpus, base_suffix: str) -> None:
    train, test = corpus
    base = tmp_path / f"base{base_suffix}"
    (write_csr if base_suffix == ".csr" else write_seismic)(base, train)
    queries = write_seismic(tmp_path / "queries.bin", test, np.random.default_rng(34))
    ids, scores = brute_force_top(train, test, 10)
    # Rows in the file are not required to be sorted: reverse them, the importer orders them.
    gt = write_gt(tmp_path / "base.dev.gt", ids[:, ::-1], scores[:, ::-1])
    path = import_sparse(base, queries, "imported", gt=gt, directory=tmp_path / "data", progress=False)
    assert path == tmp_path / "data" / "imported.hdf5"
    ds = Dataset(path)
    assert (ds.kind, ds.distance, ds.n_train, ds.n_test, ds.dimension) == ("sparse", "ip", 150, 12, 60)
    assert_same_csr(ds.train, train)
    assert_same_csr(ds.test, test)
    np.testing.assert_array_equal(ds.neighbors, ids)
    np.testing.assert_allclose(ds.distances, -scores, rtol=1e-6)
    assert ds.attrs["source_ground_truth"] == str(gt) and ds.attrs["source_base"] == str(base)


def test_import_sparse_seismic_dimensions_are_unified(tmp_path: Path, corpus) -> None:
    train, test = corpus
    narrow = train[:, :50]  # base ids stop at 49, query ids reach 59: both get d = 60
    base, queries = write_seismic(tmp_path / "b.bin", narrow), write_seismic(tmp_path / "q.bin", test)
    ds = Dataset(import_sparse(base, queries, "unified", directory=tmp_path, progress=False))
    assert ds.dimension == 60
    assert_same_csr(ds.train, sp.csr_matrix((narrow.data, narrow.indices, narrow.indptr), shape=(150, 60)))
    assert_same_csr(ds.test, test)


def test_import_sparse_computes_ground_truth(tmp_path: Path, corpus) -> None:
    train, test = corpus
    base, queries = write_csr(tmp_path / "b.csr", train), write_csr(tmp_path / "q.csr", test)
    ds = Dataset(import_sparse(base, queries, "computed", directory=tmp_path, progress=False))
    ids, scores = brute_force_top(train, test, 100)
    np.testing.assert_array_equal(ds.neighbors, ids)
    np.testing.assert_allclose(ds.distances, -scores, rtol=1e-5, atol=1e-6)
    with pytest.raises(DatasetError) as info:
        import_sparse(base, queries, "computed", directory=tmp_path, progress=False)
    assert str(tmp_path / "computed.hdf5") in str(info.value)
    import_sparse(base, write_csr(tmp_path / "q2.csr", test[:3]), "computed", directory=tmp_path, force=True,
                  progress=False)
    assert Dataset(tmp_path / "computed.hdf5").n_test == 3


def write_ann_benchmarks(path: Path, with_type: bool, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train": rng.normal(size=(200, 8)).astype(np.float32),
        "test": rng.normal(size=(5, 8)).astype(np.float32),
        "neighbors": rng.integers(0, 200, size=(5, 100)).astype(np.int32),
        "distances": np.sort(rng.random(size=(5, 100)), axis=1).astype(np.float32),
    }
    with h5py.File(path, "w") as f:
        f.attrs["distance"] = "euclidean"
        if with_type:
            f.attrs["type"] = "dense"
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
    return arrays


@pytest.mark.parametrize("with_type", [True, False])
def test_import_ann_benchmarks(tmp_path: Path, with_type: bool) -> None:
    src = tmp_path / "fashion-8-euclidean.hdf5"
    arrays = write_ann_benchmarks(src, with_type, 35)
    data = tmp_path / "data"
    path = import_ann_benchmarks(src, directory=data)
    assert path == data / "fashion-8-euclidean.hdf5"
    with h5py.File(path, "r") as f:
        for key, value in arrays.items():
            np.testing.assert_array_equal(f[key][()], value)
        assert ("type" in f.attrs) == with_type
    assert Dataset(path).distance == "euclidean"
    assert import_ann_benchmarks(src, directory=data) == path  # same content: a no-op, not an error
    assert not list(data.glob(".*tmp*"))

    other = tmp_path / "other" / "fashion-8-euclidean.hdf5"
    other.parent.mkdir()
    other_arrays = write_ann_benchmarks(other, with_type, 36)
    with pytest.raises(DatasetError) as info:
        import_ann_benchmarks(other, directory=data)
    assert str(path) in str(info.value)
    import_ann_benchmarks(other, directory=data, force=True)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["train"][()], other_arrays["train"])
    renamed = import_ann_benchmarks(other, name="renamed", directory=data)
    assert renamed == data / "renamed.hdf5" and Dataset(renamed).n_train == 200


def test_import_path_dispatch(tmp_path: Path, corpus) -> None:
    train, test = corpus
    src = tmp_path / "ab.hdf5"
    write_ann_benchmarks(src, True, 37)
    data = tmp_path / "data"
    assert import_path([str(src)], None, directory=data) == data / "ab.hdf5"
    base, queries = write_csr(tmp_path / "splade-base.csr", train), write_csr(tmp_path / "q.csr", test)
    two = import_path([str(base), str(queries)], None, directory=data, progress=False)
    assert two == data / "splade-base.hdf5" and Dataset(two).neighbors.shape == (12, 100)
    gt = write_gt(tmp_path / "q.gt", *brute_force_top(train, test, 10))
    path = import_path([str(base), str(queries), str(gt)], "with-gt", directory=data, progress=False)
    assert Dataset(path).neighbors.shape == (12, 10)
    for paths in ([str(base)], [str(base)] * 4, []):
        with pytest.raises(DatasetError, match="expected one ann-benchmarks .hdf5 file"):
            import_path(paths, "x", directory=data)


# --- malformed input ---------------------------------------------------------------------------


def _patched_csr(tmp_path: Path, m: sp.csr_matrix, name: str, indptr=None, indices=None, data=None) -> Path:
    """A .csr file whose arrays are replaced (header still consistent with the array lengths)."""
    indptr = m.indptr.copy() if indptr is None else indptr
    indices = m.indices.copy() if indices is None else indices
    data = m.data.copy() if data is None else data
    path = tmp_path / name
    path.write_bytes(struct.pack("<qqq", m.shape[0], m.shape[1], m.nnz) + np.asarray(indptr, "<i8").tobytes()
                     + np.asarray(indices, "<i4").tobytes() + np.asarray(data, "<f4").tobytes())
    return path


def _with(array: np.ndarray, i: int, value) -> np.ndarray:
    array = array.copy()
    array[i] = value
    return array


def test_malformed_readers_raise_dataset_error_naming_the_file(tmp_path: Path, corpus) -> None:
    train, _ = corpus
    good_csr = write_csr(tmp_path / "good.csr", train)
    good_bin = write_seismic(tmp_path / "good.bin", train)
    raw_csr, raw_bin = good_csr.read_bytes(), good_bin.read_bytes()
    ip = train.indptr
    swapped = ip.copy()
    swapped[10], swapped[11] = ip[11] + 1, ip[10]  # one row with negative length
    dup = train.copy()
    dup.indices[1] = dup.indices[0]

    def file(name: str, content: bytes) -> Path:
        (tmp_path / name).write_bytes(content)
        return tmp_path / name

    cases = [
        (read_bigann_csr, file("short.csr", raw_csr[:-4]), "need"),
        (read_bigann_csr, file("long.csr", raw_csr + b"\0" * 4), "need"),
        (read_bigann_csr, file("header.csr", raw_csr[:10]), "truncated"),
        (read_bigann_csr, _patched_csr(tmp_path, train, "start.csr", indptr=ip - ip[1]), "indptr"),
        (read_bigann_csr, _patched_csr(tmp_path, train, "end.csr", indptr=_with(ip, -1, ip[-1] - 1)), "indptr"),
        (read_bigann_csr, _patched_csr(tmp_path, train, "decreasing.csr", indptr=swapped), "indptr decreases"),
        (read_bigann_csr, _patched_csr(tmp_path, train, "col.csr", indices=_with(train.indices, 3, 60)), "range"),
        (read_bigann_csr, _patched_csr(tmp_path, train, "neg.csr", indices=_with(train.indices, 3, -1)), "range"),
        (read_bigann_csr, _patched_csr(tmp_path, train, "nan.csr", data=_with(train.data, 7, np.nan)), "NaN"),
        (read_bigann_csr, tmp_path / "missing.csr", "not found"),
        (read_seismic_bin, file("short.bin", raw_bin[:-4]), "truncated"),
        (read_seismic_bin, file("odd.bin", raw_bin[:-1]), "truncated"),
        (read_seismic_bin, file("count.bin", struct.pack("<I", 151) + raw_bin[4:]), "truncated"),
        (read_seismic_bin, file("trailing.bin", raw_bin + b"\0" * 8), "trailing"),
        (read_seismic_bin, write_seismic(tmp_path / "dup.bin", dup), "more than once"),
        (read_seismic_bin, file("nan.bin", raw_bin[:-4] + struct.pack("<f", np.nan)), "NaN"),
        (lambda p: read_seismic_bin(p, dim=10), good_bin, "dimension"),
        (read_bigann_gt, file("short.gt", struct.pack("<II", 3, 10) + b"\0" * (8 * 30 - 4)), "need"),
        (read_bigann_gt, file("empty.gt", b""), "truncated"),
    ]
    for read, path, what in cases:
        with pytest.raises(DatasetError) as info:
            read(path)
        message = str(info.value)
        assert str(path) in message and what in message, (path.name, message)


def test_bad_imports_raise_dataset_error_naming_the_file(tmp_path: Path, corpus) -> None:
    train, test = corpus
    rng = np.random.default_rng(38)
    base, queries = write_csr(tmp_path / "base.csr", train), write_csr(tmp_path / "q.csr", test)
    ids, scores = brute_force_top(train, test, 10)
    other_ids, other_scores = brute_force_top(random_sparse(rng, 150, 60, 0.3), test, 10)
    jaccard = tmp_path / "kosarak-jaccard.hdf5"
    with h5py.File(jaccard, "w") as f:
        f.attrs["distance"] = "jaccard"
        f.create_dataset("train", data=np.zeros((4, 3)))
        f.create_dataset("test", data=np.zeros((2, 3)))
    text = tmp_path / "base.txt"
    text.write_text("1 2 3\n")
    sparse = lambda gt: lambda: import_sparse(base, queries, "x", gt, tmp_path / "data", progress=False)  # noqa: E731
    cases = [
        (sparse(write_gt(tmp_path / "few-rows.gt", ids[:11], scores[:11])), "few-rows.gt", "12 queries"),
        (sparse(write_gt(tmp_path / "shallow.gt", ids[:, :9], scores[:, :9])), "shallow.gt", "at least 10"),
        (sparse(write_gt(tmp_path / "other.gt", other_ids, other_scores)), "other.gt", "other data"),
        (sparse(write_gt(tmp_path / "shifted.gt", (ids + 1) % 150, scores)), "shifted.gt", "other data"),
        (sparse(write_gt(tmp_path / "range.gt", _with(ids, 0, 150), scores)), "range.gt", "outside"),
        (lambda: import_sparse(text, queries, "x", directory=tmp_path, progress=False), "base.txt", ".csr, .bin"),
        (lambda: import_path([str(text), str(queries)], "x", tmp_path), "base.txt", "unknown sparse format"),
        (lambda: import_ann_benchmarks(jaccard, directory=tmp_path / "data"), jaccard.name, "jaccard"),
        (lambda: import_ann_benchmarks(tmp_path / "nope.hdf5"), "nope.hdf5", "not found"),
    ]
    for call, name, what in cases:
        with pytest.raises(DatasetError) as info:
            call()
        message = str(info.value)
        assert str(tmp_path / name) in message and what in message, (name, message)
    assert not (tmp_path / "data" / "x.hdf5").exists()
    # The correct ground truth passes the same checks.
    assert Dataset(sparse(write_gt(tmp_path / "right.gt", ids, scores))()).n_test == 12


def test_cli_imports_a_sparse_pair(tmp_path, capsys):
    from harness import cli

    rng = np.random.default_rng(9)
    base = sp.random(60, 30, density=0.2, format="csr", dtype=np.float32, random_state=rng)
    queries = sp.random(12, 30, density=0.3, format="csr", dtype=np.float32, random_state=rng)
    for name, m in (("base.csr", base), ("queries.csr", queries)):
        with open(tmp_path / name, "wb") as f:
            f.write(struct.pack("<qqq", m.shape[0], m.shape[1], m.nnz))
            f.write(m.indptr.astype("<i8").tobytes() + m.indices.astype("<i4").tobytes()
                    + m.data.astype("<f4").tobytes())
    argv = ["--data-dir", str(tmp_path / "data"), "datasets", "import", str(tmp_path / "base.csr"),
            str(tmp_path / "queries.csr"), "--name", "toy"]
    assert cli.main(argv) == 0
    data = Dataset(tmp_path / "data" / "toy.hdf5")
    scores = (queries @ base.T).toarray()
    np.testing.assert_allclose(-data.distances[:, 0], scores.max(axis=1), rtol=1e-5)
    assert cli.main(argv) == 2  # exists: refused without --force
    assert "toy.hdf5" in capsys.readouterr().err


# --- big-ann dense files and .csr.gz, written by big-ann-benchmarks' own writers (tests/peers) --------


@pytest.fixture
def dense() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(41)
    return rng.normal(size=(300, 12)).astype(np.float32), rng.normal(size=(15, 12)).astype(np.float32)


@pytest.mark.parametrize("metric", ["euclidean", "angular", "ip"])
def test_fbin_pair_imports_with_computed_ground_truth(tmp_path: Path, dense, metric: str) -> None:
    train, test = dense
    xbin_write(train, tmp_path / "base.fbin")
    xbin_write(test, tmp_path / "query.fbin")
    path = import_path([str(tmp_path / "base.fbin"), str(tmp_path / "query.fbin")], directory=tmp_path / "data",
                       metric=metric, progress=False)
    ids, dist = dense_brute_force(train, test, metric, 100)
    with Dataset(path) as ds:
        assert path.name == f"{tmp_path.name}-base.hdf5" and (ds.kind, ds.distance, ds.n_test) == ("dense", metric, 15)
        np.testing.assert_array_equal(ds.train, train)
        np.testing.assert_array_equal(ds.test, test)
        np.testing.assert_array_equal(ds.neighbors, ids)
        np.testing.assert_allclose(ds.distances, dist, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("suffix", "dtype"), [(".u8bin", np.uint8), (".i8bin", np.int8), (".ibin", np.int32)])
def test_integer_xbin_files_with_a_gt_file(tmp_path: Path, suffix: str, dtype) -> None:
    rng = np.random.default_rng(42)
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -100), min(info.max, 200)
    train, test = (rng.integers(lo, hi, size=(n, 10)).astype(dtype) for n in (250, 11))
    (u8bin_write if dtype == np.uint8 else xbin_write)(train, tmp_path / f"base{suffix}")
    xbin_write(test, tmp_path / f"query{suffix}")
    ids, dist = dense_brute_force(train, test, "euclidean", 10)
    # big-ann's ground truth holds squared L2 distances (faiss); annsweep re-scores the ids and stores L2.
    usbin_write(ids[:, ::-1], dist[:, ::-1] ** 2, tmp_path / "gt.bin")
    path = import_path([str(tmp_path / f"base{suffix}"), str(tmp_path / f"query{suffix}"), str(tmp_path / "gt.bin")],
                       "ints", directory=tmp_path / "data", progress=False)  # metric: the euclidean default
    with Dataset(path) as ds:
        np.testing.assert_array_equal(ds.train, train.astype(np.float32))  # exact: small integers
        assert ds.distance == "euclidean" and ds.neighbors.shape == (11, 10)
        np.testing.assert_array_equal(ds.neighbors, ids)  # closest first again
        np.testing.assert_allclose(ds.distances, dist, rtol=1e-6)


def test_ids_only_ibin_ground_truth_and_a_wrong_one(tmp_path: Path, dense) -> None:
    train, test = dense
    xbin_write(train, tmp_path / "base.fbin")
    xbin_write(test, tmp_path / "query.fbin")
    ids, dist = dense_brute_force(train, test, "ip", 20)
    xbin_write(ids.astype(np.int32), tmp_path / "gt.ibin")  # Yandex-style: ids only
    path = import_dense(tmp_path / "base.fbin", tmp_path / "query.fbin", "ipset", "ip", tmp_path / "gt.ibin",
                        directory=tmp_path, progress=False)
    with Dataset(path) as ds:
        np.testing.assert_array_equal(ds.neighbors, ids)
        np.testing.assert_allclose(ds.distances, dist, rtol=1e-5)
    # The same ids under another metric are not its nearest neighbours: refused, naming the file.
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "gt.ibin")) + ".*other data or another metric"):
        import_dense(tmp_path / "base.fbin", tmp_path / "query.fbin", "l2set", "euclidean", tmp_path / "gt.ibin",
                     directory=tmp_path, progress=False)
    assert not (tmp_path / "l2set.hdf5").exists()


def test_csr_gz_as_big_ann_ships_it(tmp_path: Path, corpus) -> None:
    train, test = corpus
    write_sparse_matrix(train, tmp_path / "base.csr")
    write_sparse_matrix(test, tmp_path / "queries.csr")
    for name in ("base.csr", "queries.csr"):
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress((tmp_path / name).read_bytes()))
    assert_same_csr(read_bigann_csr(tmp_path / "base.csr.gz"), train)
    path = import_path([str(tmp_path / "base.csr.gz"), str(tmp_path / "queries.csr.gz")], directory=tmp_path / "d",
                       progress=False)
    ids, _ = brute_force_top(train, test, 100)
    with Dataset(path) as ds:
        assert path.name == f"{tmp_path.name}-base.hdf5" and ds.kind == "sparse"
        np.testing.assert_array_equal(ds.neighbors, ids)
    with pytest.raises(DatasetError, match="sparse datasets use metric 'ip'"):
        import_path([str(tmp_path / "base.csr.gz"), str(tmp_path / "queries.csr.gz")], metric="euclidean")


def test_bad_dense_files_name_the_file_and_byte_counts(tmp_path: Path, dense) -> None:
    train, test = dense
    xbin_write(train, tmp_path / "base.fbin")
    xbin_write(test, tmp_path / "query.fbin")
    raw = (tmp_path / "base.fbin").read_bytes()
    (tmp_path / "short.fbin").write_bytes(raw[:-4])
    (tmp_path / "bad.csr.gz").write_bytes(b"not gzip at all")
    (tmp_path / "trunc.fbin.gz").write_bytes(gzip.compress(raw)[:-20])
    xbin_write(test[:, :6].copy(), tmp_path / "narrow.fbin")
    xbin_write(np.zeros((15, 5), np.int32), tmp_path / "shallow.ibin")
    usbin_write(np.zeros((15, 10)), np.zeros((15, 10)), tmp_path / "odd.gt")
    (tmp_path / "odd.gt").write_bytes((tmp_path / "odd.gt").read_bytes()[:-3])
    expected = 8 + 300 * 12 * 4
    cases = [
        (lambda: read_xbin(tmp_path / "short.fbin"), "short.fbin", f"file is {expected - 4} bytes"),
        (lambda: read_xbin(tmp_path / "short.fbin"), "short.fbin", f"need {expected}"),
        (lambda: read_xbin(tmp_path / "base.u16bin"), "base.u16bin", "unknown dense format"),
        (lambda: read_bigann_csr(tmp_path / "bad.csr.gz"), "bad.csr.gz", "not a readable gzip file"),
        (lambda: read_xbin(tmp_path / "trunc.fbin.gz"), "trunc.fbin.gz", "not a readable gzip file"),
        (lambda: import_dense(tmp_path / "base.fbin", tmp_path / "narrow.fbin", "x", directory=tmp_path),
         "narrow.fbin", "6 dimensions"),
        (lambda: import_dense(tmp_path / "base.fbin", tmp_path / "query.fbin", "x", "cosine", directory=tmp_path),
         "base.fbin", "metric 'cosine'"),
        (lambda: import_dense(tmp_path / "base.fbin", tmp_path / "query.fbin", "x", gt=tmp_path / "shallow.ibin",
                              directory=tmp_path), "shallow.ibin", "at least 10"),
        (lambda: import_dense(tmp_path / "base.fbin", tmp_path / "query.fbin", "x", gt=tmp_path / "odd.gt",
                              directory=tmp_path), "odd.gt", "ids only"),
    ]
    for call, name, what in cases:
        with pytest.raises(DatasetError) as info:
            call()
        message = str(info.value)
        assert str(tmp_path / name) in message and what in message, (name, message)
    assert not (tmp_path / "x.hdf5").exists()

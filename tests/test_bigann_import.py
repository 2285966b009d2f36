"""big-ann-benchmarks files as the peer ships them (written by its own writers, tests/peers/big_ann_writers.py):
cropped base files (``.crop_nb_N``), float32 ``.bin`` files under ``--format bigann``, gzip read as a stream
(bounded memory, truncation and trailing bytes named), the full-depth ground-truth check, and the
checks ``import_path`` makes before reading anything."""

from __future__ import annotations

import gzip
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from exact_search import dense_brute_force
from peers.big_ann_writers import u8bin_write, usbin_write, write_sparse_matrix, xbin_write

from harness.data import bigann_files
from harness.data.dataset import Dataset, DatasetError
from harness.data.importers import import_dense, import_path, read_bigann_csr, read_knn_file, read_xbin


@pytest.fixture
def vectors() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.normal(size=(200, 8)).astype(np.float32), rng.normal(size=(9, 8)).astype(np.float32)


def test_cropped_u8bin_base_as_big_ann_ships_it(tmp_path: Path) -> None:
    """``base.1B.u8bin.crop_nb_<N>``: big-ann's prepare() keeps the first N rows and rewrites n in the header."""
    rng = np.random.default_rng(8)
    train, test = rng.integers(0, 255, size=(120, 6), dtype=np.uint8), rng.integers(0, 255, (7, 6), dtype=np.uint8)
    folder = tmp_path / "bigann"
    folder.mkdir()
    u8bin_write(train, folder / "base.1B.u8bin.crop_nb_120")
    u8bin_write(test, folder / "query.public.10K.u8bin")
    ids, dist = dense_brute_force(train, test, "euclidean", 10)
    usbin_write(ids, dist**2, folder / "bigann-120")  # squared L2, as faiss writes it
    np.testing.assert_array_equal(read_xbin(folder / "base.1B.u8bin.crop_nb_120"), train)
    files = [str(folder / n) for n in ("base.1B.u8bin.crop_nb_120", "query.public.10K.u8bin",
                                       "bigann-120")]
    path = import_path(files, directory=tmp_path / "data", progress=False)  # auto: dense by the cropped suffix
    with Dataset(path) as ds:
        assert path.name == "bigann-base.hdf5"  # the generic stem gets its folder's name
        np.testing.assert_array_equal(ds.train, train.astype(np.float32))
        np.testing.assert_array_equal(ds.neighbors, ids)
        np.testing.assert_allclose(ds.distances, dist, rtol=1e-6)


def test_float32_bin_files_need_format_bigann(tmp_path: Path, vectors) -> None:
    """Wikipedia-Cohere, OpenAI and MSMARCO-web ship float32 vectors as ``*.bin``; auto reads .bin as Seismic's."""
    train, test = vectors
    xbin_write(train, tmp_path / "vectors.bin.crop_nb_200")
    xbin_write(test, tmp_path / "query.bin")
    ids, dist = dense_brute_force(train, test, "euclidean", 10)
    usbin_write(ids, dist**2, tmp_path / "gt.bin")
    files = [str(tmp_path / n) for n in ("vectors.bin.crop_nb_200", "query.bin", "gt.bin")]
    for sparse in (files[:2], [str(tmp_path / "query.bin"), files[0]]):  # auto: .bin is Seismic's; the errors say
        with pytest.raises(DatasetError, match="needs? --format bigann"):
            import_path(sparse, "w", tmp_path / "data", progress=False)
    path = import_path(files, "wiki", tmp_path / "data", fmt="bigann", progress=False)
    with Dataset(path) as ds:
        np.testing.assert_array_equal(ds.train, train)
        np.testing.assert_array_equal(ds.neighbors, ids)
    u8 = np.arange(24, dtype=np.uint8).reshape(4, 6)
    u8bin_write(u8, tmp_path / "small.bin")
    np.testing.assert_array_equal(read_xbin(tmp_path / "small.bin", "uint8"), u8)
    with pytest.raises(DatasetError, match="a .u8bin file holds uint8, not float32"):
        read_xbin(tmp_path / "x.u8bin", "float32")
    with pytest.raises(DatasetError, match="--dtype is for dense big-ann files"):
        import_path(files, "wiki2", tmp_path / "data", fmt="sparse", dtype="float32")
    assert not (tmp_path / "data" / "w.hdf5").exists() and not (tmp_path / "data" / "wiki2.hdf5").exists()


def test_int32_values_float32_cannot_hold_are_refused(tmp_path: Path) -> None:
    xbin_write(np.array([[1, 2], [3, 2**24 + 1]], dtype=np.int32), tmp_path / "base.ibin")
    xbin_write(np.array([[1, 2]], dtype=np.int32), tmp_path / "query.ibin")
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "base.ibin")) + ".*16777217 is beyond 2\\^24"):
        import_dense(tmp_path / "base.ibin", tmp_path / "query.ibin", "x", directory=tmp_path, progress=False)


def gz(path: Path, content: bytes | None = None) -> Path:
    target = path.with_name(path.name + ".gz")
    target.write_bytes(gzip.compress(path.read_bytes() if content is None else content, compresslevel=1))
    return target


def test_gzip_streams_truncated_or_too_long_name_the_byte_counts(tmp_path: Path, vectors) -> None:
    train, _ = vectors
    xbin_write(train, tmp_path / "base.fbin")
    raw = (tmp_path / "base.fbin").read_bytes()
    np.testing.assert_array_equal(read_xbin(gz(tmp_path / "base.fbin")), train)
    need = 8 + 200 * 8 * 4
    short, long = gz(tmp_path / "short.fbin", raw[:-6]), gz(tmp_path / "long.fbin", raw + b"\0")
    for path, said in ((short, f"decompressed file is only {need - 6} bytes"), (long, f"more than {need} bytes")):
        with pytest.raises(DatasetError) as info:
            read_xbin(path)
        assert str(path) in str(info.value) and said in str(info.value) and f"need {need}" in str(info.value)
    m = sp.random(30, 20, density=0.2, format="csr", dtype=np.float32, random_state=np.random.default_rng(9))
    write_sparse_matrix(m, tmp_path / "m.csr")
    with pytest.raises(DatasetError, match="decompressed file is only .* nnz=.* need"):
        read_bigann_csr(gz(tmp_path / "cut.csr", (tmp_path / "m.csr").read_bytes()[:-4]))
    ids = np.arange(40, dtype=np.int32).reshape(4, 10)
    usbin_write(ids, ids * 0.5, tmp_path / "gt.bin")
    xbin_write(ids, tmp_path / "gt.ibin")
    got_ids, got_dist = read_knn_file(gz(tmp_path / "gt.bin"))  # told apart while reading the stream
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(got_dist, ids * 0.5)
    assert read_knn_file(gz(tmp_path / "gt.ibin"))[1] is None
    with pytest.raises(DatasetError, match="only 268 bytes but n=4, k=10 need 168 .ids only. or 328"):
        read_knn_file(gz(tmp_path / "odd.bin", (tmp_path / "gt.bin").read_bytes()[:-60]))


def test_gzip_is_read_into_the_arrays_without_the_whole_stream_in_memory(tmp_path: Path, monkeypatch) -> None:
    """Peak Python/numpy allocation while reading a ~8 MiB .csr.gz stays near the matrix's own size (the old
    reader held the whole decompressed file and a copy of each part: about twice that)."""
    rng = np.random.default_rng(10)
    n, d, per_row = 20_000, 30_000, 50
    indptr = np.arange(0, n * per_row + 1, per_row, dtype=np.int64)
    indices = np.sort(rng.integers(0, d, size=(n, per_row)), axis=1).astype(np.int32).ravel()
    m = sp.csr_matrix((rng.random(n * per_row, dtype=np.float32) + 0.1, indices, indptr), shape=(n, d))
    m.sum_duplicates()
    write_sparse_matrix(m, tmp_path / "big.csr")
    size = (tmp_path / "big.csr").stat().st_size
    path = gz(tmp_path / "big.csr")
    monkeypatch.setattr(bigann_files, "CHUNK", 1 << 20)
    tracemalloc.start()
    try:
        got = read_bigann_csr(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (got != m).nnz == 0
    assert peak < 1.25 * size + (4 << 20), (peak / size, size)


def test_target_is_checked_before_a_text_collection_is_parsed(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("{not json\n")
    (folder / "queries.jsonl").write_text('{"_id": "q", "text": "x"}\n')
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\td\t1\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "broken.hdf5").write_bytes(b"")
    with pytest.raises(DatasetError, match="broken.hdf5: already exists"):  # not the JSON error: never read
        import_path([str(folder)], directory=tmp_path / "data", progress=False)
    with pytest.raises(DatasetError, match="'a/b': invalid dataset name"):
        import_path([str(folder)], "a/b", directory=tmp_path / "data", progress=False)
    with pytest.raises(DatasetError, match="corpus.jsonl:1: not valid JSON"):  # with --force it is read
        import_path([str(folder)], directory=tmp_path / "data", force=True, progress=False)


def test_a_ground_truth_right_at_rank_1_but_wrong_below_is_refused(tmp_path: Path, vectors) -> None:
    """The file's nearest neighbour is brute force's, the rest come from another metric (ip): the old
    top-1 check passed such a file; every rank is compared now."""
    train, test = vectors
    xbin_write(train, tmp_path / "base.fbin")
    xbin_write(test, tmp_path / "query.fbin")
    l2_ids, _ = dense_brute_force(train, test, "euclidean", 10)
    ip_order = np.argsort(-(test.astype(np.float64) @ train.astype(np.float64).T), axis=1, kind="stable")
    mixed = np.array([[l2[0], *[i for i in ip if i != l2[0]][:9]] for l2, ip in zip(l2_ids, ip_order, strict=True)])
    assert (mixed[:, 0] == l2_ids[:, 0]).all() and (np.sort(mixed, 1) != np.sort(l2_ids, 1)).any()
    usbin_write(mixed, np.zeros(mixed.shape), tmp_path / "mixed.bin")
    usbin_write(np.repeat(l2_ids[:, :1], 10, axis=1), np.zeros((9, 10)), tmp_path / "repeated.bin")
    for name, said in (("mixed.bin", r"at rank \d+ .* brute force's rank"), ("repeated.bin", "more than once")):
        with pytest.raises(DatasetError, match=re.escape(str(tmp_path / name)) + ".*" + said):
            import_dense(tmp_path / "base.fbin", tmp_path / "query.fbin", "x", gt=tmp_path / name,
                         directory=tmp_path, progress=False)
    assert not (tmp_path / "x.hdf5").exists()


def test_a_sparse_ground_truth_wrong_at_its_last_rank_is_refused(tmp_path: Path) -> None:
    """Scores that are the true inner products of the ids given, but the 10th id is not brute force's 10th."""
    rng = np.random.default_rng(31)
    train, test = (sp.random(n, 60, density=0.3, format="csr", dtype=np.float32, random_state=rng) for n in (150, 12))
    write_sparse_matrix(train, tmp_path / "base.csr")
    write_sparse_matrix(test, tmp_path / "queries.csr")
    dots = test.toarray().astype(np.float64) @ train.toarray().astype(np.float64).T
    order = np.argsort(-dots, axis=1, kind="stable")
    tail = order[:, :10].copy()
    tail[:, 9] = order[:, 30]
    usbin_write(tail, np.take_along_axis(dots, tail, 1), tmp_path / "tail.gt")
    usbin_write(order[:, :10], np.take_along_axis(dots, order[:, :10], 1), tmp_path / "right.gt")
    files = [str(tmp_path / "base.csr"), str(tmp_path / "queries.csr")]
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "tail.gt")) + ".*at rank 10.*other data"):
        import_path([*files, str(tmp_path / "tail.gt")], "x", tmp_path / "data", progress=False)
    with Dataset(import_path([*files, str(tmp_path / "right.gt")], "x", tmp_path / "data", progress=False)) as ds:
        np.testing.assert_array_equal(ds.neighbors, order[:, :10])


def test_cli_dtype_of_a_plain_bin(tmp_path: Path, capsys) -> None:
    from harness import cli

    rng = np.random.default_rng(11)
    train, test = rng.integers(0, 255, (50, 4), dtype=np.uint8), rng.integers(0, 255, (5, 4), dtype=np.uint8)
    u8bin_write(train, tmp_path / "base.bin")
    u8bin_write(test, tmp_path / "query.bin")
    argv = ["--data-dir", str(tmp_path / "data"), "datasets", "import", str(tmp_path / "base.bin"),
            str(tmp_path / "query.bin"), "--name", "u8"]
    assert cli.main([*argv, "--format", "bigann", "--dtype", "uint8"]) == 0
    with Dataset(tmp_path / "data" / "u8.hdf5") as ds:
        np.testing.assert_array_equal(ds.train, train.astype(np.float32))
    assert cli.main([*argv, "--dtype", "uint8", "--force"]) == 2  # auto reads .bin as sparse: --dtype refused
    assert "--dtype is for dense big-ann files" in capsys.readouterr().err

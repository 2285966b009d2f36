"""The Matryoshka dimension-cut view and the MNIST dataset."""

import gzip

import numpy as np
import pytest
import scipy.sparse as sp

from harness import paths
from harness.data import store
from harness.data.dataset import DatasetError
from harness.data.store import open_dataset
from harness.data.writer import write_dataset


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ANNSWEEP_DATA_DIR", str(tmp_path))
    return tmp_path


def test_dimension_cut_view(data_dir):
    rng = np.random.default_rng(2)
    train, test = rng.normal(size=(500, 16)).astype(np.float32), rng.normal(size=(30, 16)).astype(np.float32)
    ids, qids = [f"d{i}" for i in range(500)], [f"q{i}" for i in range(30)]
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(30)}
    write_dataset(data_dir / "emb.hdf5", train, test, "angular", progress=False,
                  text={"corpus/ids": ids, "queries/ids": qids}, qrels=qrels)
    view = open_dataset("emb@d=4")
    assert view.dimension == 4 and view.distance == "angular" and view.attrs["view_of"] == "emb"
    want = train[:, :4] / np.linalg.norm(train[:, :4], axis=1, keepdims=True)
    np.testing.assert_allclose(view.train, want, rtol=1e-6)
    cos = (test[:, :4] / np.linalg.norm(test[:, :4], axis=1, keepdims=True)) @ want.T
    np.testing.assert_array_equal(view.neighbors[:, :10], np.argsort(-cos, axis=1, kind="stable")[:, :10])
    assert view.qrels() == qrels and view.strings("corpus/ids") == ids
    assert (data_dir / "emb@d=4.hdf5").is_file()  # built once, reopened by name
    assert open_dataset("emb@d=4").path == view.path


def test_dimension_cut_errors(data_dir):
    write_dataset(data_dir / "emb.hdf5", np.eye(8, dtype=np.float32), np.eye(8, dtype=np.float32)[:2],
                  "euclidean", progress=False)
    with pytest.raises(DatasetError, match="between 1 and 7"):
        open_dataset("emb@d=8")
    with pytest.raises(DatasetError, match="must be an integer"):
        open_dataset("emb@d=x")
    m = sp.random(50, 20, density=0.2, format="csr", dtype=np.float32, random_state=1)
    write_dataset(data_dir / "sparse.hdf5", m, m[:5], "ip", progress=False)
    with pytest.raises(DatasetError, match="needs a dense dataset"):
        open_dataset("sparse@d=4")
    with pytest.raises(DatasetError, match="unknown dataset 'nothing'"):
        open_dataset("nothing@d=4")


def test_mnist(data_dir):
    raw = paths.source_dir() / "mnist" / "t10k-images-idx3-ubyte.gz"
    if not raw.is_file():
        pytest.skip(f"{raw} not found (set ANNSWEEP_SOURCE_DIR)")
    pixels = np.frombuffer(gzip.open(raw).read()[16:], dtype=np.uint8).reshape(10_000, 784)
    data = open_dataset("mnist-784-euclidean")
    assert data.train.shape == (9_000, 784) and data.test.shape == (1_000, 784)
    both = np.concatenate([data.train, data.test]).astype(np.uint8)
    assert sorted(map(bytes, both)) == sorted(map(bytes, pixels))  # a split of exactly the 10k images
    d = np.linalg.norm(data.test[:5, None, :] - data.train[None, :, :], axis=2)
    np.testing.assert_array_equal(data.neighbors[:5, :10], np.argsort(d, axis=1, kind="stable")[:, :10])


def test_a_source_file_that_differs_from_the_pinned_one_is_refused(data_dir, tmp_path, monkeypatch):
    raw = paths.source_dir() / "mnist" / "t10k-images-idx3-ubyte.gz"
    if not raw.is_file():
        pytest.skip(f"{raw} not found (set ANNSWEEP_SOURCE_DIR)")
    other = tmp_path / "sources" / "mnist"
    other.mkdir(parents=True)
    images = gzip.open(raw).read()
    (other / raw.name).write_bytes(gzip.compress(images[:-1] + bytes([images[-1] ^ 1])))  # one pixel differs
    monkeypatch.setenv("ANNSWEEP_SOURCE_DIR", str(tmp_path / "sources"))
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: SHA-256 .* differs"):
        store.prepare("mnist-784-euclidean", progress=False)
    assert not (data_dir / "mnist-784-euclidean.hdf5").exists()

"""The kannolo adapter on learned-sparse input: exact over float16-rounded documents at its most exact
setting (judged against independent scipy brute force), queries naming terms that no document has
(the library would abort the process), the u16 term-id limit, and one thread through the runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from harness import results
from harness.data.dataset import Dataset
from harness.data.writer import write_dataset
from harness.kit import Catalogue, load_adapter_class
from harness.run import runner

pytest.importorskip("kannolo")
Kannolo = load_adapter_class("kannolo")
K = 10


def float16_scores(train, test) -> np.ndarray:
    """nq×n float64 inner products over float16-rounded documents (what kannolo stores)."""
    t = sp.csr_matrix(train, dtype=np.float64)
    t.data = t.data.astype(np.float16).astype(np.float64)
    return (sp.csr_matrix(test, dtype=np.float64) @ t.T).toarray()


def exact_fraction(ids: np.ndarray, s: np.ndarray, k: int) -> float:
    """Share of returned ids scoring within 1e-5 (relative) of the k-th best: tie-aware exactness."""
    kth = -np.partition(-s, k - 1, axis=1)[:, k - 1]
    got = np.take_along_axis(s, ids, 1)
    return float((got >= (kth - 1e-5 * np.abs(kth))[:, None]).mean())


@pytest.fixture(scope="module")
def splade_like(tmp_path_factory) -> Path:
    """3,000 documents over 2,000 terms with Zipf-like term use; queries may name terms beyond every
    document's (columns 1,800-1,999 are in no document)."""
    rng = np.random.default_rng(7)
    rows, cols = [], []
    popularity = 1.0 / np.arange(1, 1801) ** 0.8
    popularity /= popularity.sum()
    for i in range(3000):
        terms = np.unique(rng.choice(1800, size=rng.integers(20, 60), p=popularity))
        rows.extend([i] * len(terms))
        cols.extend(terms)
    train = sp.csr_matrix((rng.gamma(2.0, 0.5, len(rows)).astype(np.float32), (rows, cols)), shape=(3000, 2000))
    test = sp.random(200, 2000, density=0.01, format="lil", dtype=np.float32, random_state=8)
    test[:, 1990] = 1.0  # every query names a term that no document has
    path = tmp_path_factory.mktemp("kannolo") / "splade-like.hdf5"
    return write_dataset(path, train, sp.csr_matrix(test), "ip", progress=False)


def test_most_exact_setting_is_exact_over_float16_documents(splade_like):
    dataset = Dataset(splade_like)
    algo = Kannolo("ip", m=16, ef_construction=200)
    algo.fit(dataset)
    algo.set_query_params(ef_search=5_000)
    s = float16_scores(dataset.train, dataset.test)
    batch = np.asarray(algo.batch_query(dataset.test, K))
    single = np.stack([algo.query(dataset.test[i], K) for i in range(dataset.test.shape[0])])
    for ids in (batch, single):
        assert ids.shape == (dataset.test.shape[0], K) and ids.min() >= 0
        assert exact_fraction(ids, s, K) == 1.0
    # A small beam is approximate: the grid's knob does something.
    algo.set_query_params(ef_search=1)
    assert exact_fraction(np.asarray(algo.batch_query(dataset.test, K)), s, K) < 1.0
    assert algo.index_size_bytes() > 0


def test_more_term_ids_than_u16_are_refused_before_the_build(tmp_path):
    train = sp.csr_matrix(([1.0, 2.0], ([0, 1], [3, 70_000])), shape=(2, 70_001), dtype=np.float32)
    dataset = Dataset(write_dataset(tmp_path / "wide.hdf5", train, train, "ip", progress=False))
    with pytest.raises(ValueError, match=r"kannolo: kannolo stores term ids as 16-bit integers; .*70,001 columns"):
        Kannolo("ip").fit(dataset)


def test_one_thread_through_the_runner(splade_like, tmp_path):
    root = tmp_path / "algorithms" / "kannolo"
    root.mkdir(parents=True)
    shutil.copy(Catalogue().get("kannolo").folder / "adapter.py", root)
    (root / "config.yml").write_text("adapter: Kannolo\ngroups:\n  g:\n    build: {m: 16, ef_construction: 100}\n"
                                     "    query: {ef_search: [40]}\n")
    options = runner.RunOptions(runs=2, timeout_s=300, results_root=tmp_path / "results", algorithms_root=root.parent)
    outcomes = runner.run_sweep(["kannolo"], str(splade_like), options)
    assert [o.status for o in outcomes] == ["ok"], outcomes
    frame = results.load(tmp_path / "results")
    assert sorted(frame["mode"]) == ["batch", "single"]
    assert frame["single_thread_ok"].all(), frame[["mode", "cpu_ratio", "active_threads"]]
    assert (frame["recall"] > 0.5).all()

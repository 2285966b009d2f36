"""The seismic adapter (pyseismic-lsr) against independent brute force, its errors, and its threads.

Seismic stores document weights as float16 (queries stay float32), so at its
most exact setting it returns the exact top-k *of the float16-rounded
documents*: results are judged against float64 brute force over those
weights, tie-aware (a returned id counts when its score is within ``REL_TOL``
of the k-th best score).  Against the float32 data the same results are
within float16 rounding (``F16_TOL``) of exact.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from harness import results
from harness.data.dataset import Dataset
from harness.data.store import prepare
from harness.data.writer import write_dataset
from harness.kit import Catalogue, load_adapter_class
from harness.run import runner

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_ALGORITHMS = Path(__file__).parent / "fixtures" / "algorithms"
K = 10
REL_TOL = 1e-5
F16_TOL = 2e-3  # float16 keeps 11 significant bits: ~5e-4 relative per weight

Seismic = load_adapter_class("seismic")


# --- data and brute force ----------------------------------------------------------------------


def scores(train, test, float16: bool) -> np.ndarray:
    """nq×n float64 inner products (larger is better), from float16-rounded documents if asked."""
    t = sp.csr_matrix(train, dtype=np.float64)
    if float16:
        t.data = t.data.astype(np.float16).astype(np.float64)
    return (sp.csr_matrix(test, dtype=np.float64) @ t.T).toarray()


def exact_fraction(ids: np.ndarray, s: np.ndarray, k: int, tol: float) -> float:
    """Share of returned ids whose score is within ``tol`` (relative) of the k-th best score."""
    kth = -np.partition(-s, k - 1, axis=1)[:, k - 1]
    got = np.take_along_axis(s, np.asarray(ids, dtype=np.int64), 1)
    return float((got >= (kth - tol * np.abs(kth))[:, None]).mean())


def check_rows(ids: np.ndarray, nq: int, k: int, n: int) -> None:
    assert ids.dtype.kind == "i" and ids.shape == (nq, k)
    assert ((ids >= 0) & (ids < n)).all(), "ids out of range (or padded with -1)"
    assert all(len(set(row.tolist())) == k for row in ids), "duplicate ids"


def single_queries(algo, test, k: int) -> np.ndarray:
    rows = []
    for i in range(test.shape[0]):
        ids = algo.query(test[i], k)
        assert ids.ndim == 1 and len(ids) <= k and ids.dtype == np.int64
        rows.append(np.pad(ids, (0, k - len(ids)), constant_values=-1))
    return np.array(rows)


def most_exact(algo, test) -> None:
    """No block skipped (heap_factor 0) and every query term used."""
    algo.set_query_params(query_cut=int(np.diff(test.indptr).max()), heap_factor=0.0)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Dataset:
    """2,000 docs × 500 terms (~10 nnz), 200 queries (~15 nnz): every query overlaps hundreds of docs."""
    rng = np.random.default_rng(5)
    train = sp.random(2_000, 500, density=0.02, format="csr", dtype=np.float32, random_state=rng)
    test = sp.random(200, 500, density=0.03, format="csr", dtype=np.float32, random_state=rng)
    path = tmp_path_factory.mktemp("seismic-small") / "small.hdf5"
    return Dataset(write_dataset(path, train, test, "ip", progress=False))


@pytest.fixture(scope="module")
def small_index(small):
    algo = Seismic("ip", n_postings=10_000)  # longer than any posting list: nothing pruned
    algo.fit(small)
    return algo


@pytest.fixture(scope="module")
def xs_sparse(tmp_path_factory) -> Dataset:
    return Dataset(prepare("random-xs-sparse", tmp_path_factory.mktemp("seismic-xs"), progress=False))


# --- exactness ----------------------------------------------------------------------------------


def assert_exact(algo, ds: Dataset) -> None:
    most_exact(algo, ds.test)
    single = single_queries(algo, ds.test, K)
    batch = algo.batch_query(ds.test, K)
    np.testing.assert_array_equal(single, batch)
    check_rows(batch, ds.n_test, K, ds.n_train)
    assert exact_fraction(batch, scores(ds.train, ds.test, float16=True), K, REL_TOL) == 1.0
    assert exact_fraction(batch, scores(ds.train, ds.test, float16=False), K, F16_TOL) == 1.0


def test_most_exact_setting_is_exact_on_small_random_data(small, small_index):
    assert_exact(small_index, small)


def test_most_exact_setting_is_exact_on_random_xs_sparse(xs_sparse):
    algo = Seismic("ip", n_postings=20_000)  # > 10,000 docs: no posting list is pruned
    algo.fit(xs_sparse)
    assert_exact(algo, xs_sparse)
    # The float32 ground truth agrees but for float16 near-ties at rank k.
    truth = xs_sparse.neighbors[:, :K]
    overlap = np.mean([len(set(a) & set(b)) / K for a, b in zip(algo.batch_query(xs_sparse.test, K), truth,
                                                                   strict=True)])
    assert overlap >= 0.999


def test_pruned_settings_are_well_formed_and_trade_recall(small):
    algo = Seismic("ip", n_postings=20, centroid_fraction=0.2, summary_energy=0.2)
    algo.fit(small)
    exact = scores(small.train, small.test, float16=True)
    recalls = []
    for query_cut, heap_factor in ((2, 1.0), (5, 0.9), (40, 0.0)):
        algo.set_query_params(query_cut=query_cut, heap_factor=heap_factor)
        batch = algo.batch_query(small.test, K)
        np.testing.assert_array_equal(single_queries(algo, small.test, K), batch)
        valid = batch >= 0
        assert (batch < small.n_train).all()
        assert all(len(set(r[r >= 0].tolist())) == int((r >= 0).sum()) for r in batch)
        recalls.append(exact_fraction(np.where(valid, batch, 0), exact, K, REL_TOL) * valid.mean())
    assert recalls[0] < recalls[1] < recalls[2], recalls  # measured: 0.57, 0.79, 1.0


def test_empty_query_and_k_above_matches(small, small_index, tmp_path):
    small_index.set_query_params(query_cut=50, heap_factor=0.0)
    empty = sp.csr_matrix((1, small.dimension), dtype=np.float32)
    assert small_index.query(empty, K).tolist() == []
    one_term = sp.csr_matrix(([1.0], ([0], [7])), shape=(1, small.dimension), dtype=np.float32)
    posting = np.flatnonzero(small.train[:, 7].toarray().ravel())  # the docs holding term 7
    got = small_index.query(one_term, len(posting) + 5)
    assert sorted(got.tolist()) == sorted(posting.tolist())
    batch = small_index.batch_query(sp.vstack([empty, one_term, empty]).tocsr(), len(posting) + 5)
    assert (batch[0] == -1).all() and (batch[2] == -1).all()
    assert sorted(batch[1][batch[1] >= 0].tolist()) == sorted(posting.tolist())


def test_knn_refinement(small):
    algo = Seismic("ip", n_postings=10_000, nknn=10)
    algo.fit(small)
    algo.set_query_params(query_cut=3, heap_factor=1.0, n_knn=10)
    batch = algo.batch_query(small.test, K)
    np.testing.assert_array_equal(single_queries(algo, small.test, K), batch)
    check_rows(batch, small.n_test, K, small.n_train)


def test_builds_are_deterministic(small):
    out = []
    for _ in range(2):
        algo = Seismic("ip", n_postings=50, centroid_fraction=0.2)
        algo.fit(small)
        algo.set_query_params(query_cut=5, heap_factor=0.9)
        out.append(algo.batch_query(small.test, K))
    np.testing.assert_array_equal(out[0], out[1])


def test_index_size_is_the_librarys_own(small_index):
    size = small_index.index_size_bytes()
    assert isinstance(size, int) and size > 0 and not small_index.size_is_estimate
    assert f"Total: {size} Bytes" in small_index.space_usage


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("build,match", [
    ({"n_postings": 0}, "seismic: n_postings must be a positive integer, got 0"),
    ({"n_postings": 10.5}, "seismic: n_postings must be a positive integer, got 10.5"),
    ({"centroid_fraction": 0.0}, r"seismic: centroid_fraction must be a number in \(0, 1\], got 0.0"),
    ({"summary_energy": 1.5}, r"seismic: summary_energy must be a number in \(0, 1\], got 1.5"),
    ({"max_fraction": 0.5}, "seismic: max_fraction must be a number >= 1, got 0.5"),
    ({"min_cluster_size": True}, "seismic: min_cluster_size must be a positive integer, got True"),
    ({"nknn": -1}, "seismic: nknn must be an integer >= 0"),
    ({"n_posting": 100}, r"seismic: unknown build parameter\(s\) \['n_posting'\]"),
    ({"num_threads": 2}, "seismic: build parameter num_threads cannot be set: always 1"),
])
def test_bad_build_params_are_rejected(build, match):
    with pytest.raises(ValueError, match=match):
        Seismic("ip", **build)


@pytest.mark.parametrize("build,query,match", [
    ({}, {"query_cut": 5}, r"seismic: query parameter\(s\) \['heap_factor'\] are required"),
    ({}, {"query_cut": 0, "heap_factor": 0.9}, "seismic: query_cut must be a positive integer"),
    ({}, {"query_cut": 5, "heap_factor": -0.1}, "seismic: heap_factor must be a number >= 0, got -0.1"),
    ({}, {"query_cut": 5, "heap_factor": "0.9"}, "seismic: heap_factor must be a number"),
    ({}, {"query_cut": 5, "heap_factor": 0.9, "n_knn": 5}, "seismic: n_knn=5 needs a k-NN graph"),
    ({}, {"query_cut": 5, "heap_factor": 0.9, "ef": 5}, r"seismic: unknown query parameter\(s\) \['ef'\]"),
])
def test_bad_query_params_are_rejected(build, query, match):
    with pytest.raises(ValueError, match=match):
        Seismic("ip", **build).set_query_params(**query)


def test_wrong_input_is_rejected(small_dense):
    catalogue = Catalogue()
    with pytest.raises(ValueError, match=r"seismic accepts \['sparse'\] input, dataset small-dense is dense"):
        catalogue.instantiate(catalogue.get("seismic"), {}, Dataset(small_dense))
    with pytest.raises(RuntimeError, match=r"seismic: query\(\) called before fit\(\)"):
        Seismic("ip").query(sp.csr_matrix((1, 5), dtype=np.float32), K)


# --- threads ------------------------------------------------------------------------------------

# Counts the threads the library starts (Rayon's pool) in one build and one batch_search(num_threads=1).
RAYON_PROBE = textwrap.dedent("""
    import os
    import numpy as np, scipy.sparse as sp
    from seismic import SeismicDataset, SeismicIndex
    before = len(os.listdir("/proc/self/task"))
    x = sp.random(2000, 300, density=0.05, format="csr", dtype=np.float32, random_state=1)
    data = SeismicDataset(dim=300)
    data.add_documents_by_id([str(i) for i in range(2000)], x.indices.astype(np.int64), x.data,
                             x.indptr.astype(np.int64))
    index = SeismicIndex.build_from_dataset(data, n_postings=500, num_threads=1)
    table = np.arange(300).astype("<U100")
    rows = [x[i] for i in range(500)]
    index.batch_search(np.arange(500).astype("<U100"), [table[r.indices] for r in rows],
                       [r.data for r in rows], 10, 10, 0.9, num_threads=1)
    print(len(os.listdir("/proc/self/task")) - before)
""")


def pool_threads(env: dict[str, str], cores: set[int] | None = None) -> int:
    def pin() -> None:
        if cores is not None:
            os.sched_setaffinity(0, cores)

    out = subprocess.run([sys.executable, "-c", RAYON_PROBE], env=env, capture_output=True, text=True,
                         timeout=120, preexec_fn=pin)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip().splitlines()[-1])


def test_rayon_pool_follows_the_environment_and_the_affinity_not_num_threads():
    """pyseismic ignores num_threads=1: its pool has one thread per allowed core unless RAYON_NUM_THREADS=1.

    Inside the runner's worker (pinned to one core) the pool has one thread
    either way; unpinned, it has one per core, which the adapter prevents by
    setting RAYON_NUM_THREADS=1 before the library's first parallel call.
    """
    cores = os.sched_getaffinity(0)
    if len(cores) < 2:
        pytest.skip("needs two cores to tell Rayon's default pool from a one-thread pool")
    base = {k: v for k, v in os.environ.items() if k != "RAYON_NUM_THREADS"}
    assert pool_threads(base) >= 2  # default pool, despite num_threads=1
    assert pool_threads({**base, "RAYON_NUM_THREADS": "1"}) == 1
    assert pool_threads(base, cores={min(cores)}) == 1  # pinned: Rayon sizes the pool by the affinity


def seismic_only(tmp_path: Path, config: str) -> Path:
    """An algorithms folder holding the real seismic adapter with a small config."""
    folder = tmp_path / "algorithms" / "seismic"
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "algorithms" / "seismic" / "adapter.py", folder / "adapter.py")
    (folder / "config.yml").write_text(config)
    return folder.parent


def test_runner_flags_rayons_default_pool(tmp_path):
    """Through the runner: Rayon's default pool (cores re-opened, RAYON_NUM_THREADS unset) is flagged.

    The real adapter in the same worker runs its batches on Rayon's single
    pool thread while the timing thread sleeps: one pool thread, CPU/wall <= 1,
    most CPU off the timing thread, yet no competition for the core, so the
    proof passes it.
    """
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores: on one core Rayon's default pool has one thread")
    rng = np.random.default_rng(8)
    train = sp.random(3_000, 400, density=0.05, format="csr", dtype=np.float32, random_state=rng)
    test = sp.random(2_000, 400, density=0.05, format="csr", dtype=np.float32, random_state=rng)
    data = write_dataset(tmp_path / "threads.hdf5", train, test, "ip", progress=False)
    config = "adapter: Seismic\ngroups:\n  only:\n    build: {n_postings: 1000}\n" \
             "    query: {query_cut: 100, heap_factor: 0.0}\n"
    base = dict(runs=3, timeout_s=300, results_root=tmp_path / "results")
    runner.run_sweep(["seismic-rayon-default"], str(data),
                     runner.RunOptions(**base, algorithms_root=FIXTURE_ALGORITHMS, modes=("batch",)))
    runner.run_sweep(["seismic"], str(data), runner.RunOptions(**base, algorithms_root=seismic_only(tmp_path, config)))
    frame = results.load(tmp_path / "results")
    assert (frame["status"] == "ok").all() and (frame["recall"] >= 0.999).all()
    flagged = frame[frame["algorithm"] == "seismic-rayon-default"].iloc[0]
    assert not flagged["single_thread_ok"]
    # A pool thread per core burned CPU.  (Thread counts include idle threads of other libraries the
    # worker loads, e.g. jemalloc's background thread when pandas finds pyarrow: busy ones count.)
    assert flagged["active_threads"] >= 2
    assert json.loads(flagged["affinity"]) == sorted(os.sched_getaffinity(0))  # the cores it re-opened
    real = frame[frame["algorithm"] == "seismic"].set_index("mode")
    assert real.loc["single", "single_thread_ok"]
    assert real.loc["batch", "active_threads"] <= 2  # the timing thread and Rayon's one pool thread
    assert real.loc["batch", "cpu_ratio"] <= 1.05
    assert json.loads(real.loc["batch", "affinity"]) == [runner.default_core()]
    assert real.loc["batch", "other_threads_cpu_s"] > 0.5 * real.loc["batch", "best_time_s"]  # a hand-off...
    assert real.loc["batch", "single_thread_ok"], real.loc["batch", "contention_s"]  # ...that passes

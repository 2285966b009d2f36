"""`results export --format ann-benchmarks` round trip through ann-benchmarks' own code (transcribed
in tests/peers/ann_benchmarks.py): its ``write_output`` makes the dataset, annsweep imports it and
sweeps ``exact`` and ``hnswlib``, the export is read back by its ``load_all_results`` and scored by
its ``compute_metrics``; per run, the recall it computes is the ``recall_ab`` annsweep stored.

The datasets hold deliberate near-ties: per query, the k true neighbours, then k more points
between 2e-4 and 9e-4 beyond the k-th distance: hits for ann-benchmarks (d_k + 1e-3), misses for
annsweep's tie-aware recall (a relative 1e-5), so a swap of the two conventions fails the test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from peers import ann_benchmarks as ab

from harness import results
from harness.data.importers import import_ann_benchmarks
from harness.report.export_ann_benchmarks import export_ann_benchmarks
from harness.results import BuildFacts, ProofRecord, ResultHeader, ResultWriter, RunRecord
from harness.run import runner

ALGORITHMS = Path(__file__).resolve().parent.parent / "algorithms"
K = 10
# hnswlib on a sparse graph (M=3, ef_construction=10): at ef=10 it returns near-ties instead of
# true neighbours (measured: angular tie-aware 0.69, ann-benchmarks 0.87; euclidean 0.71, 0.85).
HNSW_CONFIG = """adapter: Hnswlib
groups:
  sparse-graph:
    build: {M: 3, ef_construction: 10}
    query: {ef: [10, 40]}
"""


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def near_ties(distance: str, seed: int, nq: int = 30, d: int = 16, background: int = 2000):
    """(train, test) float32: per query k points at distances 0.040..0.050 (angular: 1 − cos) or
    1.0..1.1 (euclidean) and k near-ties up to 9e-4 beyond the k-th, among random points."""
    rng = np.random.default_rng(seed)
    test = unit(rng.normal(size=(nq, d)))
    points = [unit(rng.normal(size=(background, d))) * (1.0 if distance == "angular" else 4.0)]
    low, high = (0.04, 0.05) if distance == "angular" else (1.0, 1.1)
    for q in test:
        dist = np.concatenate([np.linspace(low, high, K), high + rng.uniform(2e-4, 9e-4, K)])
        u = rng.normal(size=(len(dist), d))
        u = unit(u - (u @ q)[:, None] * q)
        if distance == "angular":  # a point at cosine distance t from q: cos(θ) q + sin(θ) u, cos(θ) = 1 − t
            c = 1 - dist
            points.append(c[:, None] * q + np.sqrt(1 - c**2)[:, None] * u)
        else:  # at L2 distance t: q + t u
            points.append(q + dist[:, None] * u)
    train = np.concatenate(points)
    return train[rng.permutation(len(train))].astype(np.float32), test.astype(np.float32)


@pytest.fixture(scope="module")
def algorithms_root(tmp_path_factory) -> Path:
    """``exact`` as bundled and ``hnswlib`` with a config of two low-recall settings."""
    root = tmp_path_factory.mktemp("algorithms")
    for name in ("exact", "hnswlib"):
        shutil.copytree(ALGORITHMS / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "hnswlib" / "config.yml").write_text(HNSW_CONFIG)
    return root


def tap(runs, seen: dict[str, dict]):
    """load_all_results' (properties, open file) pairs passed on, each run's properties kept by name
    (a file is open only while the generator is at it, as in ann-benchmarks' plot.py)."""
    for properties, run in runs:
        seen[properties["name"]] = properties
        yield properties, run


@pytest.mark.parametrize("distance", ["angular", "euclidean"])
def test_ann_benchmarks_reads_the_export_and_scores_the_stored_recall(tmp_path, monkeypatch, algorithms_root,
                                                                      distance):
    name = f"near-ties-16-{distance}"
    train, test = near_ties(distance, seed=22 if distance == "angular" else 23)
    src = tmp_path / "ab-data" / f"{name}.hdf5"
    src.parent.mkdir()
    ab.write_output(train.copy(), test, str(src), distance)  # fit() normalises its argument in place
    data = tmp_path / "data"
    dataset = import_ann_benchmarks(src, directory=data)

    options = runner.RunOptions(k=K, runs=1, timeout_s=300, results_root=tmp_path / "results",
                                algorithms_root=algorithms_root, data_root=data)
    outcomes = runner.run_sweep(["exact", "hnswlib"], str(dataset), options)
    assert [o.status for o in outcomes] == ["ok", "ok"], [o.error for o in outcomes]
    frame = results.load(tmp_path / "results")
    assert len(frame) == 6 and set(frame["mode"]) == {"single", "batch"}  # exact: 1 setting, hnswlib: 2; ×2 modes

    summary = export_ann_benchmarks(tmp_path / "results", tmp_path / "ab" / "results", progress=False)
    assert len(summary.files) == 6 and not summary.skipped and summary.result_files == 2
    for path in summary.files:
        assert path.relative_to(tmp_path / "ab" / "results").parts[:2] == (dataset.stem, str(K))

    with h5py.File(src, "r") as f:  # as ann-benchmarks' plot.py reads the dataset
        true_nn_distances = list(f["distances"])
    monkeypatch.chdir(tmp_path / "ab")  # load_all_results walks results/<dataset>/<count> from here
    scored = {}
    for batch in (False, True):
        seen: dict[str, dict] = {}
        values = ab.compute_metrics(true_nn_distances, tap(ab.load_all_results(dataset.stem, K, batch), seen),
                                    "k-nn", "qps", recompute=True)
        for algo, name, recall, qps in (row for rows in values.values() for row in rows):
            properties = seen[name]
            assert properties["distance"] == distance and properties["count"] == K
            assert properties["dataset"] == dataset.stem and properties["batch_mode"] == batch
            scored[(algo, "batch" if batch else "single", properties["annsweep_query_params"])] = (recall, qps)
    assert len(scored) == 6
    with h5py.File(src, "r") as f:
        ab_train, ab_test = f["train"][()], f["test"][()]
    metric = ab.metrics[distance].distance
    for path in summary.files:  # the exported distances are ann-benchmarks' own, of each returned id
        with h5py.File(path, "r") as f:
            ids, exported = f["neighbors"][()], f["distances"][()]
        own = [[metric(ab_test[i], ab_train[j]) if j >= 0 else np.inf for j in row] for i, row in enumerate(ids)]
        np.testing.assert_allclose(exported, np.array(own, dtype=np.float64), rtol=1e-5, atol=1e-6)

    stored = {(row.series, row.mode, row.query_params): row for row in frame.itertuples()}
    differs = 0
    for key, (recall, qps) in scored.items():
        row = stored[key]
        assert recall == pytest.approx(row.recall_ab, abs=1e-9), key  # ann-benchmarks' own recall
        assert qps == pytest.approx(row.qps, rel=1e-6)
        differs += abs(row.recall_ab - row.recall) > 1e-9
    exact = frame[frame["algorithm"] == "exact"]
    assert (exact["recall"] == 1.0).all() and (exact["recall_ab"] == 1.0).all()
    hnsw = frame[frame["algorithm"] == "hnswlib"]
    assert (hnsw["recall_ab"] >= hnsw["recall"]).all() and hnsw["recall_ab"].min() < 1.0
    # The near-ties make the conventions disagree: ann-benchmarks' recall is not the tie-aware one.
    assert differs >= 1 and (hnsw["recall_ab"] > hnsw["recall"] + 0.01).any()


def write_run(root: Path, mode: str, threads: int, k: int = 2) -> Path:
    """A result file of one run (ids, their distances, a -1 with +inf), as the worker writes it."""
    header = ResultHeader("algo", "data", k, {"M": 8}, "M=8", threads=threads)
    writer = ResultWriter(results.result_path(root, "data", k, "algo", "M=8", threads), header, runs=2)
    writer.record_build(BuildFacts(1.5, 4096, 50, 1000, scored_distance="angular"))
    scores = np.array([[0.1, 0.2], [0.3, np.inf]])
    latencies = np.array([[10_000, 30_000], [20_000, 40_000]]) if mode == "single" else None
    writer.add_run(f"000-{mode}", RunRecord(
        mode=mode, query_params={"ef": 10}, neighbors=np.array([[0, 1], [2, -1]]), scores=scores,
        recalls=np.array([1.0, 0.5]), repeat_times_s=np.array([0.2, 0.1]), best_time_s=0.1, qps=20.0,
        repeat_spread=2.0, proof=ProofRecord(1.0, 0.0, 0.0, 1, threads, [3], True, threads=threads),
        series="algo", latencies_ns=latencies, recalls_ab=np.array([1.0, 0.5])))
    return writer.finish()


@pytest.mark.parametrize(("mode", "threads", "folder"), [
    ("single", 1, "algo"), ("batch", 1, "algo-batch"), ("batch-2t", 2, "algo-2t-batch")])
def test_every_mode_is_exported_in_ann_benchmarks_layout(tmp_path, mode, threads, folder):
    write_run(tmp_path / "results", mode, threads)
    summary = export_ann_benchmarks(tmp_path / "results", tmp_path / "out", progress=False)
    assert [p.relative_to(tmp_path / "out").parts[:3] for p in summary.files] == [("data", "2", folder)]
    with h5py.File(summary.files[0]) as f:
        assert f.attrs["batch_mode"] == (mode != "single") and f.attrs["algo"] == folder.removesuffix("-batch")
        assert f.attrs["best_search_time"] == pytest.approx(0.05) and f.attrs["candidates"] == 1.5
        assert f.attrs["build_time"] == 1.5 and f.attrs["index_size"] == 4.0  # kB of RSS growth, as ab measures
        assert f.attrs["distance"] == "angular" and f.attrs["run_count"] == 2 and f.attrs["count"] == 2
        np.testing.assert_array_equal(f["neighbors"][()], [[0, 1], [2, -1]])
        np.testing.assert_array_equal(f["distances"][()], np.array([[0.1, 0.2], [0.3, np.inf]], np.float32))
        # single: each query's latency in the fastest repeat (the second); batch: the wall shared out
        expected = [2e-5, 4e-5] if mode == "single" else [0.05, 0.05]
        np.testing.assert_allclose(f["times"][()], expected, rtol=1e-6)
        assert f["neighbors"].dtype == np.int32 and f["distances"].dtype == np.float32


def test_failed_builds_and_old_files_are_handled(tmp_path):
    root = tmp_path / "results"
    header = ResultHeader("broken", "data", 2, {}, "default")
    results.mark_failed(results.result_path(root, "data", 2, "broken", "default"), "worker crashed", header)
    path = write_run(root, "batch", 1)
    with h5py.File(path, "r+") as f:  # a file from before scored_distance: the dataset file names it
        del f.attrs["scored_distance"]
    summary = export_ann_benchmarks(root, tmp_path / "out", progress=False, data_dir=tmp_path / "nowhere")
    assert not summary.files and len(summary.skipped) == 2
    assert "no run (failed: worker crashed)" in summary.describe() and "predates its distance" in summary.describe()
    assert export_ann_benchmarks(root, tmp_path / "out", k=3, progress=False).result_files == 0


def test_a_run_that_cannot_be_converted_leaves_the_others_exported(tmp_path):
    path = write_run(tmp_path / "results", "batch", 1)
    with h5py.File(path, "r+") as f:  # a second run, of a mode the export does not know
        f.copy(f["runs/000-batch"], "runs/001-weird")
        f["runs/001-weird"].attrs["mode"] = "weird"
    summary = export_ann_benchmarks(tmp_path / "results", tmp_path / "out", progress=False)
    assert len(summary.files) == 1 and summary.result_files == 1
    assert summary.skipped == [f"{path} 001-weird: cannot be converted (ValueError: unknown mode 'weird')"]

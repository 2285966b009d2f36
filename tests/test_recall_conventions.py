"""Two recall conventions: annsweep's tie-aware recall (within a relative 1e-5 of the k-th true
distance) and ann-benchmarks' (within d_k + 1e-3, its ``get_recall_values`` transcribed in
tests/peers/ann_benchmarks.py), stored side by side and named wherever a recall is shown."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pandas as pd
import pytest
from peers import ann_benchmarks as ab

from harness import results
from harness.report import leaderboard, plots
from harness.report.metrics import RUN_METRICS, recall_metric, run_metric
from harness.results import BuildFacts, ProofRecord, ResultHeader, ResultWriter, RunRecord
from harness.run.scoring import knn_recall, knn_recall_ab

K = 10


def near_tie_case(rng: np.random.Generator, dtype=np.float32, nq: int = 200):
    """True distances (nq×100, sorted) and returned distances with misses at offsets from d_k that
    straddle both conventions: 5e-6 (a hit for both), 2e-4 and 9.9e-4 (ann-benchmarks only), 2e-3
    (neither), +inf (no result), and float32 rounding right at d_k + 1e-3."""
    true = np.sort(rng.uniform(0.05, 1.5, size=(nq, 100)), axis=1).astype(dtype)
    kth = true[:, K - 1].astype(np.float64)
    returned = true[:, :K].astype(np.float64).copy()
    offsets = np.array([5e-6, 2e-4, 9.9e-4, 2e-3, np.inf, 1e-3, 1e-3 + 1e-8, 1e-3 - 1e-8])
    for i in range(nq):
        chosen = rng.choice(len(offsets), size=rng.integers(0, 5), replace=False)
        slots = rng.choice(K, size=len(chosen), replace=False)
        returned[i, slots] = kth[i] + offsets[chosen]
    return true, returned


@pytest.mark.parametrize("dtype", [np.float32, np.float64])  # annsweep's files / write_output's
def test_recall_ab_is_ann_benchmarks_own_recall(dtype):
    true, returned = near_tie_case(np.random.default_rng(5), dtype)
    ours = knn_recall_ab(returned, true, K)
    # ann-benchmarks scores the distances its result files hold: float32
    theirs = ab.get_recall_values(list(true), returned.astype(np.float32), K, ab.knn_threshold)[2] / K
    np.testing.assert_array_equal(ours, theirs)
    tie_aware = knn_recall(returned, true, K)
    assert (tie_aware <= ours).all() and (tie_aware < ours).mean() > 0.3  # the offsets 2e-4 and 9.9e-4
    # Swapped, the conventions would not agree with ann-benchmarks' code.
    assert not np.array_equal(tie_aware, theirs)


def test_the_conventions_on_one_query():
    true = np.array([[0.1, 0.2, 0.3, 0.4]], np.float32)
    returned = np.array([[0.1, 0.2, 0.3 + 5e-4, 0.3 + 2e-6]])
    assert knn_recall(returned, true, 3)[0] == pytest.approx(2 / 3)  # 0.3 + 5e-4 is beyond 1e-5 relative
    assert knn_recall_ab(returned[:, :3], true, 3)[0] == 1.0  # within 1e-3 absolute
    large = np.array([[1000.0, 2000.0, 3000.0, 4000.0]], np.float32)  # the scale matters to one only
    assert knn_recall(np.array([[1000.0, 2000.0, 3000.02]]), large, 3)[0] == 1.0
    assert knn_recall_ab(np.array([[1000.0, 2000.0, 3000.02]]), large, 3)[0] == pytest.approx(2 / 3)


HEADER = ResultHeader("algo", "data", K, {"M": 8}, "M=8")


def record(ef: int, recall: float, recall_ab: float | None, qps: float) -> RunRecord:
    return RunRecord(mode="batch", query_params={"ef": ef}, neighbors=np.zeros((2, K), int),
                     scores=np.zeros((2, K)), recalls=np.full(2, recall), repeat_times_s=np.array([2 / qps]),
                     best_time_s=2 / qps, qps=qps, repeat_spread=1.0,
                     proof=ProofRecord(1.0, 0.0, 0.0, 1, 1, [3], True), series="algo",
                     recalls_ab=None if recall_ab is None else np.full(2, recall_ab))


def write(root, algorithm: str, runs: list[RunRecord]):
    header = ResultHeader(algorithm, "data", K, {"M": 8}, "M=8")
    writer = ResultWriter(results.result_path(root, "data", K, algorithm, "M=8"), header, runs=1)
    writer.record_build(BuildFacts(1.0, 10, 10, 100))
    for i, run in enumerate(runs):
        writer.add_run(f"{i:03d}-batch", dataclasses.replace(run, series=algorithm))
    return writer.finish()


def test_both_recalls_are_stored_and_old_files_read_nan(tmp_path):
    path = write(tmp_path, "new", [record(10, 0.85, 0.92, 1000.0)])
    with h5py.File(path) as f:
        run = f["runs/000-batch"]
        assert run.attrs["recall"] == pytest.approx(0.85) and run.attrs["recall_ab"] == pytest.approx(0.92)
        np.testing.assert_allclose(run["recalls_ab"][()], [0.92, 0.92], rtol=1e-6)
    old = write(tmp_path, "old", [record(10, 0.85, None, 1000.0)])
    with h5py.File(old, "r+") as f:  # a file written before recall_ab existed
        del f["runs/000-batch"].attrs["recall_ab"]
    results.mark_failed(results.result_path(tmp_path, "data", K, "failed", "M=8"), "crashed",
                        ResultHeader("failed", "data", K, {}, "M=8"))
    frame = results.load(tmp_path).set_index("algorithm")
    assert frame.loc["new", "recall_ab"] == pytest.approx(0.92) and np.isnan(frame.loc["old", "recall_ab"])
    assert np.isnan(frame.loc["failed", "recall_ab"]) and frame.loc["failed", "status"] == "failed"
    note = results.recall_note(frame.reset_index())
    assert note.startswith("note: 1 of 2 run(s) have no recall_ab") and "NaN" in note
    assert results.recall_note(frame.reset_index(), "tie-aware") == ""
    assert "recall_ab" in results.run_table(frame.reset_index()).columns


def test_tables_leaderboard_and_plots_name_and_use_the_chosen_convention(tmp_path):
    # "a" reaches 0.9 only under ann-benchmarks' recall, and is then the faster one.
    write(tmp_path, "a", [record(10, 0.85, 0.95, 5000.0)])
    write(tmp_path, "b", [record(10, 0.92, 0.93, 1000.0)])
    frame = results.load(tmp_path)
    tie = results.summarize(frame, 0.9).set_index("algorithm")
    ab_summary = results.summarize(frame, 0.9, recall="ab").set_index("algorithm")
    assert np.isnan(tie.loc["a", "qps@0.9"]) and tie.loc["b", "qps@0.9"] == 1000.0
    assert ab_summary.loc["a", "qps@0.9"] == 5000.0 and "max_recall_ab" in ab_summary.columns
    assert ab_summary.loc["a", "recall"] == pytest.approx(0.85)  # the other convention shown beside

    board = leaderboard.leaderboard(frame, 0.9, recall="ab").set_index("algorithm")
    assert board.loc["a", "rank"] == 1 and board.loc["a", "recall_ab"] == pytest.approx(0.95)
    assert leaderboard.leaderboard(frame, 0.9).set_index("algorithm").loc["b", "rank"] == 1
    md = leaderboard.to_markdown(board.reset_index(), 0.9, "recall_ab")
    assert "best QPS at recall@k (ann-benchmarks, abs 1e-3) ≥ 0.9" in md
    assert "recall@k (tie-aware, rel 1e-5)" in leaderboard.to_markdown(board.reset_index(), 0.9)

    assert RUN_METRICS["recall"].label == "recall@{k} (tie-aware, rel 1e-5)"
    assert recall_metric("ab").label == "recall@{k} (ann-benchmarks, abs 1e-3)" and recall_metric("ab").higher_is_better
    with pytest.raises(ValueError, match="unknown recall convention 'nope'"):
        recall_metric("nope")
    figures = plots.plot_dataset(frame, tmp_path / "plots", pairs=[("recall", "qps")], recall="ab")
    assert [f.x for f in figures] == ["recall_ab"] and figures[0].paths[0].name.endswith("qps-vs-recall_ab.png")
    fig = plots.draw(frame, run_metric("recall_ab"), run_metric("qps"), title="t", k=K, colors={})
    assert fig.axes[0].get_xlabel() == "recall@10 (ann-benchmarks, abs 1e-3)"


def test_a_figure_says_how_many_runs_lack_recall_ab(tmp_path):
    write(tmp_path, "a", [record(10, 0.85, 0.95, 5000.0)])
    old = write(tmp_path, "old", [record(10, 0.85, None, 1000.0)])
    with h5py.File(old, "r+") as f:
        del f["runs/000-batch"].attrs["recall_ab"]
    frame = results.load(tmp_path)
    fig = plots.draw(frame, run_metric("recall_ab"), run_metric("qps"), title="t", k=K, colors={})
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "1 run(s) without recall_ab (older result files) not drawn" in texts
    frame = frame.assign(recall_ab=pd.Series(np.nan, index=frame.index))
    assert plots.draw(frame, run_metric("recall_ab"), run_metric("qps"), title="t", k=K, colors={}) is None

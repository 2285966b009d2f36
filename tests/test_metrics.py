import numpy as np
import pytest

from harness.run.scoring import InvalidResultError, knn_recall, latency_percentiles, validate_ids


def test_recall_counts_ties_at_the_kth_place():
    true = np.array([[0.1, 0.2, 0.3, 0.3, 0.9]])
    # k=3: a returned point at distance 0.3 (tied with the 3rd) is a hit, one at 0.31 is not.
    assert knn_recall(np.array([[0.1, 0.3, 0.3]]), true, 3)[0] == 1.0
    assert knn_recall(np.array([[0.1, 0.2, 0.31]]), true, 3)[0] == pytest.approx(2 / 3)
    # Within 1e-5 relative of the k-th distance counts; 1e-4 does not.
    assert knn_recall(np.array([[0.1, 0.2, 0.3 * (1 + 5e-6)]]), true, 3)[0] == 1.0
    assert knn_recall(np.array([[0.1, 0.2, 0.3 * (1 + 1e-4)]]), true, 3)[0] == pytest.approx(2 / 3)
    # Missing results (inf) are misses; negative distances (inner product) work the same way.
    assert knn_recall(np.array([[0.1, np.inf, np.inf]]), true, 3)[0] == pytest.approx(1 / 3)
    assert knn_recall(np.array([[-5.0, -4.0]]), np.array([[-5.0, -4.0, -1.0]]), 2)[0] == 1.0


def test_recall_needs_deep_enough_ground_truth():
    with pytest.raises(ValueError, match="depth 2"):
        knn_recall(np.zeros((1, 3)), np.zeros((1, 2)), 3)


def test_validate_ids():
    ok = validate_ids(np.array([[3, 1, -1], [0, 2, 4]]), n_train=5, k=3, adapter="x")
    assert ok.dtype == np.int64
    with pytest.raises(InvalidResultError, match=r"adapter 'x' returned duplicate id\(s\) \[2\] for query 1"):
        validate_ids(np.array([[0, 1, 2], [2, 3, 2]]), 5, 3, "x")
    with pytest.raises(InvalidResultError, match=r"out-of-range id\(s\) \[5\] for query 0"):
        validate_ids(np.array([[0, 5, 1]]), 5, 3, "x")
    with pytest.raises(InvalidResultError, match="shape"):
        validate_ids(np.array([[0, 1]]), 5, 3, "x")
    with pytest.raises(InvalidResultError, match="dtype"):
        validate_ids(np.array([[0.0, 1.0, 2.0]]), 5, 3, "x")
    # Two padding slots are not duplicates.
    validate_ids(np.array([[0, -1, -1]]), 5, 3, "x")


def test_latency_percentiles():
    lat = np.arange(1, 1001) * 1000  # 1..1000 µs
    p = latency_percentiles(lat)
    assert p["latency_p50_us"] == pytest.approx(np.percentile(np.arange(1, 1001), 50))
    assert p["latency_p99_us"] == pytest.approx(990.01)
    assert p["latency_p50_us"] < p["latency_p95_us"] < p["latency_p99_us"] < p["latency_p999_us"] <= 1000

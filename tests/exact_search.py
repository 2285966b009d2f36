"""Exact dense top-k for the tests that check imported or computed ground truth (no library under test)."""

from __future__ import annotations

import numpy as np


def dense_brute_force(train: np.ndarray, test: np.ndarray, metric: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k in float64 (L2 distance, 1 - cosine, or -dot), full stable sort."""
    x, q = train.astype(np.float64), test.astype(np.float64)
    if metric == "euclidean":
        d = np.sqrt(np.maximum(((q[:, None, :] - x[None, :, :]) ** 2).sum(-1), 0))
    elif metric == "angular":
        d = 1 - (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (x / np.linalg.norm(x, axis=1, keepdims=True)).T
    else:
        d = -(q @ x.T)
    ids = np.argsort(d, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(d, ids, 1)

"""Score fusion of the pipeline adapter: hand-made rankings, known fused orders."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "fusion", Path(__file__).parent.parent / "algorithms" / "pipeline" / "fusion.py")
fusion = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fusion)


def test_rrf_on_hand_made_rankings():
    # a: 1 2 3, b: 3 1 4  →  1: 1/61 + 1/62, 3: 1/63 + 1/61, 2: 1/62, 4: 1/63
    ids, scores = fusion.reciprocal_rank_fusion([np.array([1, 2, 3]), np.array([3, 1, 4])], k=10)
    assert ids.tolist() == [1, 3, 2, 4]
    assert scores[0] == pytest.approx(1 / 61 + 1 / 62) and scores[-1] == pytest.approx(1 / 63)
    # a document first in one list only ties with one second in both?  1/61 < 2/62: both-lists wins
    ids, _ = fusion.reciprocal_rank_fusion([np.array([7, 5]), np.array([9, 5])], k=3)
    assert ids.tolist() == [5, 7, 9]  # 5: 2/62; 7 and 9: 1/61 each, tie broken by id


def test_minmax_interpolation_on_hand_made_scores():
    a = (np.array([10, 20, 30]), np.array([3.0, 2.0, 1.0]))  # minmax: 1, 0.5, 0
    b = (np.array([30, 40]), np.array([8.0, 4.0]))  # minmax: 1, 0 ; 10 and 20 absent → 0
    ids, fused = fusion.interpolate(a, b, alpha=0.5, k=10)
    # 10: .5·1 + .5·0 = .5 ; 20: .25 ; 30: 0 + .5 = .5 ; 40: a-absent → 0, b 0 → 0
    assert ids.tolist() == [10, 30, 20, 40]
    assert fused.tolist() == pytest.approx([0.5, 0.5, 0.25, 0.0])
    assert fusion.interpolate(a, b, alpha=1.0, k=2)[0].tolist() == [10, 20]  # alpha 1: a alone
    assert fusion.interpolate(a, b, alpha=0.0, k=1)[0].tolist() == [30]  # alpha 0: b alone


def test_zscore_interpolation_and_errors():
    a = (np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0]))
    z = fusion.normalise(a[1], "zscore")
    assert z.mean() == pytest.approx(0) and z.std() == pytest.approx(1)
    ids, _ = fusion.interpolate(a, (np.array([3, 1]), np.array([5.0, 5.0])), alpha=0.5, k=3, method="zscore")
    assert ids.tolist() == [3, 2, 1]  # b is constant (all 0 after z-score): a decides
    with pytest.raises(ValueError, match="alpha must be in"):
        fusion.interpolate(a, a, alpha=1.5, k=3)
    with pytest.raises(ValueError, match="unknown normalisation"):
        fusion.normalise(a[1], "rank")

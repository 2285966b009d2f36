"""LIMIT free-embedding experiment (harness/critical_n.py).

Exact reference values used below: with unit vectors, a pair {i, j} can be a query's top 2 only if a
hyperplane separates it from the other documents, which (points on a sphere are in convex position)
makes segment ij an edge of their convex hull. A polygon has n edges and a 3-polytope at most 3n − 6,
so all C(n, 2) pairs are realisable only for n ≤ 3 in d = 2 and n ≤ 4 in d = 3: critical n is 3 and 4.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="critical_n needs torch: pip install -e '.[embed]'")

from harness.experiments.critical_n import (  # noqa: E402
    critical_n,
    cubic_fit,
    optimise,
    pair_qrels,
    plot,
    solve,
    solved_mask,
)

# lr 0.1 (not the official 0.01) solves the small feasible cases in a few hundred steps; patience 200
# is enough to give up on the provably impossible ones quickly.
FAST = {"patience": 200, "lr": 0.1}


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_pair_qrels():
    pairs = pair_qrels(4)
    assert pairs.shape == (6, 2)
    assert {tuple(p) for p in pairs} == {(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)}


def test_solved_mask_hand_made():
    # Three docs on axes; positives are docs 0 and 1 for both queries.
    docs = np.eye(3)
    queries = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    scores = queries @ docs.T
    positives = np.array([[True, True, False]] * 3)
    # q0 ranks 0,1 above 2; q1 ranks doc 2 above doc 1; q2 ties 1 with 2 (a tie is not solved).
    assert solved_mask(scores, positives).tolist() == [True, False, False]
    assert solved_mask(torch.tensor(scores), torch.tensor(positives)).tolist() == [True, False, False]


def test_solve_easy_case():
    assert solve(6, 4, lr=0.1)


def test_optimise_solution_rechecks_in_float64():
    ok, queries, docs = optimise(8, 4, lr=0.1)
    assert ok and queries.shape == (28, 4) and docs.shape == (8, 4)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    pairs = pair_qrels(8)
    positives = np.zeros((28, 8), dtype=bool)
    positives[np.arange(28)[:, None], pairs] = True
    assert solved_mask(queries.astype(np.float64) @ docs.astype(np.float64).T, positives).all()


def test_solve_impossible_cases():
    assert not solve(30, 2, max_steps=3000, **FAST)  # only n of the C(n, 2) pairs are realisable in 2-D
    assert not solve(5, 3, **FAST)  # 10 pairs > 3·5 − 6 = 9 hull edges


def test_critical_n_exact_small_dims():
    assert critical_n(2, retries=0, **FAST) == 3
    assert solve(4, 3, lr=0.1)  # d = 3: 4 works (tetrahedron) and 5 is impossible (above)


def test_only_k2():
    with pytest.raises(NotImplementedError):
        critical_n(4, k=3)


def test_cubic_fit_and_plot(tmp_path):
    dims = [4, 5, 6, 7, 8]
    coef = np.array([0.01, 0.05, 4.0, -10.0])
    ns = np.polyval(coef, dims)
    np.testing.assert_allclose(cubic_fit(dims, ns), coef, atol=1e-8)
    out = plot([(d, int(round(n)), 1.0) for d, n in zip(dims, ns, strict=True)], tmp_path / "crit.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

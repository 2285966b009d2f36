"""LIMIT free-embedding experiment (harness/experiments/critical_n.py): both protocols, the paper's search
against its own code (tests/peers/limit_free_embedding.py), results per dimension and the merged CSV.

Exact reference values used below: with unit vectors, a pair {i, j} can be a query's top 2 only if a
hyperplane separates it from the other documents, which (points on a sphere are in convex position)
makes segment ij an edge of their convex hull. A polygon has n edges and a 3-polytope at most 3n − 6,
so all C(n, 2) pairs are realisable only for n ≤ 3 in d = 2 and n ≤ 4 in d = 3: critical n is 3 and 4.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="critical_n needs torch: pip install -e '.[embed]'")

import dataclasses  # noqa: E402
import random  # noqa: E402

import pandas as pd  # noqa: E402
from peers import limit_free_embedding as peer  # noqa: E402

from harness.experiments import critical_n as crit  # noqa: E402
from harness.experiments.critical_n import (  # noqa: E402
    IMPROVED,
    PAPER,
    Result,
    critical_n,
    cubic_fit,
    find_critical_n,
    merge_table,
    optimise,
    optimise_paper,
    pair_qrels,
    paper_search,
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
    table = pd.DataFrame({"protocol": ["paper"] * 5 + ["improved"] * 5, "d": dims * 2,
                          "critical_n": [int(round(n)) for n in ns] * 2})
    out = plot(table, tmp_path / "crit.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the paper protocol: its code's settings, loop and search --------------------------------------------


def test_paper_protocol_has_the_papers_settings():
    ref = peer.DEFAULT_EXPERIMENT_PARAMS
    assert PAPER.seed == ref["seed"] == 42
    assert PAPER.lr == ref["learning_rate"]
    assert PAPER.max_steps == ref["num_iterations"]
    assert PAPER.temperature == ref["temperature"]
    assert PAPER.check_every == ref["log_interval"]
    assert PAPER.patience == ref["early_stopping_patience"]
    assert PAPER.min_delta == ref["early_stopping_min_delta"]
    assert ref["early_stopping_monitor_metric"] == "loss" and PAPER.loop == "paper"  # loss-only patience
    assert PAPER.retries == 0  # one seed
    assert PAPER.search == "paper"
    assert tuple(range(PAPER.sweep[0], PAPER.sweep[1] + 1)) == tuple(peer.SWEEP_OFFSETS)


def test_improved_protocol_is_the_former_default():
    # What `annsweep limit critical-n` ran before --protocol: critical_n(d, seed=0) with its defaults.
    assert (IMPROVED.seed, IMPROVED.retries, IMPROVED.loop, IMPROVED.search) == (0, 1, "improved", "double")
    assert IMPROVED.optimiser_kwargs() == {"lr": 0.01, "max_steps": 100_000, "patience": 1000,
                                           "temperature": 0.1, "min_delta": 1e-5}
    fast = dataclasses.replace(IMPROVED, **FAST)
    assert find_critical_n(2, fast).critical_n == critical_n(2, seed=0, retries=1, **FAST) == 3


@pytest.mark.parametrize("initial_n", [1, 2, 3, 7, 11, 24, 40])
def test_paper_search_is_the_papers(initial_n):
    """Same critical n and the same n evaluated, in the same order, as the paper's own search, for monotone
    and for noisy (non-monotone) outcomes."""
    rng = random.Random(initial_n)
    outcomes = [lambda n, t=t: n <= t for t in (1, 2, 5, 10, 23, 24, 39, 60)]
    for _ in range(20):
        noisy = {n: rng.random() < (0.95 if n < 20 else 0.1) for n in range(1, 200)}
        outcomes.append(lambda n, noisy=noisy: noisy.get(n, False))
    for solved in outcomes:
        mine, tried = paper_search(solved, initial_n)
        theirs, evaluated = peer.run_critical_n_search(initial_n, lambda n, s=solved: 1.0 if s(n) else 0.0)
        assert (mine, list(tried)) == (theirs, evaluated)


def test_paper_loop_tiny_known_cases():
    settings = PAPER.optimiser_kwargs()
    ok, queries, docs = optimise_paper(4, 3, PAPER.seed, check_every=PAPER.check_every, **settings)
    assert ok  # a tetrahedron realises all 6 pairs
    positives = np.zeros((6, 4), dtype=bool)
    positives[np.arange(6)[:, None], pair_qrels(4)] = True
    assert solved_mask(queries.astype(np.float64) @ docs.astype(np.float64).T, positives).all()
    assert not optimise_paper(5, 3, PAPER.seed, check_every=PAPER.check_every, **settings)[0]  # 10 pairs > 9 edges


def test_paper_critical_n_d3():
    # The paper's settings, started at n = 4 with a short sweep to stay fast: 4 solved, 5 impossible.
    result = find_critical_n(3, dataclasses.replace(PAPER, initial_n=4, sweep=(0, 1)))
    assert (result.d, result.protocol, result.critical_n, result.largest_solved) == (3, "paper", 4, 4)
    assert result.tried == {4: True, 5: False}


# --- results per dimension, the CLI and the CSV -----------------------------------------------------------


def _fake_find(calls):
    def find(d, protocol, k=2):
        calls.append((d, protocol.name))
        n = {"paper": 10, "improved": 12}[protocol.name] + d
        return Result(d, protocol.name, n, n + 1, 0.5, seed=protocol.seed)
    return find


def test_sweep_yields_each_dimension_as_it_finishes(monkeypatch):
    calls = []
    monkeypatch.setattr(crit, "find_critical_n", _fake_find(calls))
    results = crit.sweep([5, 4, 6], (PAPER, IMPROVED))
    first = next(results)
    assert calls == [(5, "paper")]  # nothing else ran before the first row came out
    rest = list(results)
    assert [(r.d, r.protocol) for r in [first, *rest]] == [(5, "paper"), (5, "improved"), (4, "paper"),
                                                          (4, "improved"), (6, "paper"), (6, "improved")]


def test_merge_table_keeps_both_protocols(tmp_path):
    path = tmp_path / "limit_critical_n_k2.csv"
    pd.DataFrame({"d": [4, 5], "critical_n": [11, 15], "seconds": [1.0, 2.0]}).to_csv(path, index=False)
    merge_table(path, [Result(4, "paper", 9, 9, 3.0, seed=42), Result(5, "paper", 13, 14, 4.0, seed=42)])
    table = merge_table(path, [Result(5, "improved", 16, 16, 5.0, seed=0)])
    assert pd.read_csv(path).equals(table)
    got = {(r.protocol, r.d): (r.critical_n, r.largest_solved) for r in table.itertuples()}
    # the pre-protocol file's rows are the improved protocol's (no largest_solved then); a new row
    # replaces the row of its (protocol, d)
    assert np.isnan(got.pop(("improved", 4))[1])
    assert got == {("improved", 5): (16, 16), ("paper", 4): (9, 9), ("paper", 5): (13, 14)}
    assert len(table) == 4 and set(table["protocol"]) == {"paper", "improved"}
    assert table.loc[(table.protocol == "improved") & (table.d == 5), "critical_n"].item() == 16
    assert table.loc[(table.protocol == "paper") & (table.d == 4), "published"].item() == 10


def test_cli_prints_each_dimension_and_writes_both_protocols(tmp_path, monkeypatch, capsys):
    from harness import cli

    calls = []
    monkeypatch.setattr(crit, "find_critical_n", _fake_find(calls))
    out = tmp_path / "plots"
    assert cli.main(["limit", "critical-n", "--dims", "4..5", "--protocol", "both", "-o", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == [
        "d=4 paper: critical n 14  published 10 (+40%)  largest solved 15  0 s",
        "d=4 improved: critical n 16  published 10 (+60%)  largest solved 17  0 s",
        "d=5 paper: critical n 15  published 14 (+7%)  largest solved 16  0 s",
        "d=5 improved: critical n 17  published 14 (+21%)  largest solved 18  0 s",
    ]
    table = pd.read_csv(out / "limit_critical_n_k2.csv")
    assert list(table[["protocol", "d", "critical_n", "seed"]].itertuples(index=False, name=None)) == [
        ("improved", 4, 16, 0), ("improved", 5, 17, 0), ("paper", 4, 14, 42), ("paper", 5, 15, 42)]
    assert (out / "limit_critical_n_k2.png").exists()
    # a later run of one protocol with another seed replaces only its rows
    assert cli.main(["limit", "critical-n", "--dims", "5", "--protocol", "paper", "--seed", "7",
                     "-o", str(out)]) == 0
    table = pd.read_csv(out / "limit_critical_n_k2.csv")
    assert list(table["seed"]) == [0, 0, 42, 7]


def _peer_loop(n, d, seed, patience, max_steps):
    """The paper's loop (tests/peers) driving the same torch update as annsweep's: (solved, docs)."""
    positives, docs, queries, opt = crit._start(n, d, seed, PAPER.lr)
    weights = positives.float()

    def update():
        opt.zero_grad(set_to_none=True)
        loss = crit._loss(queries @ docs.T, weights, PAPER.temperature)
        loss.backward()
        opt.step()
        crit._project(docs, queries)
        return float(loss.detach())

    def accuracy():  # evaluate_top_k_accuracy: share of relevant docs in each query's argsort top 2
        scores = (queries @ docs.T).detach().numpy()
        top = np.argsort(-scores, axis=1)[:, :2]
        return float(np.take_along_axis(positives.numpy(), top, axis=1).mean())

    accuracies = peer.optimize_embeddings_loop(update, accuracy, max_steps, PAPER.check_every, patience,
                                               PAPER.min_delta)
    return max(a for a in accuracies if a is not None) >= 1.0, docs.detach().numpy()


@pytest.mark.parametrize(("n", "d", "patience", "max_steps"), [
    (4, 3, 1000, 100_000),  # solved at an accuracy check
    (5, 3, 150, 100_000),  # impossible: stops on the loss patience
    (3, 2, 150, 100_000),  # seed 42 sticks in a local optimum: stops on patience
    (7, 4, 1000, 120),  # runs out of steps unsolved
    (4, 3, 1000, 420),  # first solved after step 404, between the checks at 400 and 450: the final check
])
def test_paper_loop_is_the_papers(n, d, patience, max_steps):
    """The same outcome and bit-identical final vectors (so the same number of steps) as the paper's loop."""
    ok, _, docs = optimise_paper(n, d, PAPER.seed, lr=PAPER.lr, max_steps=max_steps, patience=patience,
                                 temperature=PAPER.temperature, min_delta=PAPER.min_delta,
                                 check_every=PAPER.check_every)
    peer_ok, peer_docs = _peer_loop(n, d, PAPER.seed, patience, max_steps)
    assert ok == peer_ok
    np.testing.assert_array_equal(docs, peer_docs)

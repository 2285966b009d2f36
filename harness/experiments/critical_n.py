"""LIMIT "free embedding" experiment: the largest n whose top-2 combinations a d-dim embedding can realise.

Weller, Boratko, Naim, Lee, "On the Theoretical Limitations of Embedding-Based Retrieval" (2025), §4:
free (unconstrained) unit vectors for n documents and all C(n, 2) queries are optimised directly on the
qrels — query {i, j} must rank documents i and j strictly above every other document. The largest n at
which the optimisation still solves every query is the *critical n* for dimension d; the paper reports
it grows roughly cubically in d. This is a best-case bound for any embedding model: if free vectors
cannot realise the qrels, no encoder can.

Optimisation (as in the paper and its code, google-deepmind/limit ``free_embedding_experiment.py``):
Adam, full-batch InfoNCE with temperature 0.1 over all documents (loss = mean over queries and their two
positives of −log softmax over all n docs), every vector renormalised to unit length after each step,
early stop after ``patience`` = 1000 steps in which the loss fell by less than ``min_delta`` = 1e-5, at
most 100,000 steps, or as soon as every query is solved. With these official settings (lr 0.01) and
one retry seed per failing n (our addition), critical n lands within −10%..+11% of the published values
for d = 4..12 (about 25-80 s per d on one CPU thread). Other small differences from the official code:
a rise in the number of solved queries also resets the patience counter, and "solved" is strict (both
positives strictly above every negative; ties fail), checked every step.

A stronger optimiser finds more: lr 0.1 with ``retries=1`` (a second seed for every failing n)
reaches 14-21% above the published values for d ≥ 7 (e.g. d = 7, n = 29, a solution re-checked in
float64), so the published critical n are what one optimiser reached, i.e. lower bounds of the true
largest solvable n.

Needs torch (``pip install -e '.[embed]'``).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# Published critical-n values for k = 2 (paper, Fig. 2 / Table), used for comparison in plots.
PUBLISHED_K2: dict[int, int] = {4: 10, 5: 14, 6: 19, 7: 24, 8: 28, 9: 32, 10: 36, 11: 42, 12: 47}


def _torch():
    """Import torch lazily so the core harness (and its tests) work without the [embed] extra."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("harness.experiments.critical_n needs torch: pip install -e '.[embed]'") from exc
    return torch


def pair_qrels(n: int) -> np.ndarray:
    """All C(n, 2) relevant pairs, shape (C(n,2), 2): query q is relevant to docs pairs[q]."""
    return np.array(list(itertools.combinations(range(n), 2)), dtype=np.int64).reshape(-1, 2)


def solved_mask(scores, positives):
    """Per query, whether every relevant doc scores strictly above every non-relevant doc.

    ``scores``: (q, n) query-doc scores; ``positives``: (q, n) boolean relevance. Works on numpy
    arrays and torch tensors alike (only uses where/min/max). A query with no negatives is solved.
    """
    if isinstance(scores, np.ndarray):
        pos_min = np.where(positives, scores, np.inf).min(axis=1)
        neg_max = np.where(positives, -np.inf, scores).max(axis=1)
        return pos_min > neg_max
    torch = _torch()
    inf = torch.tensor(float("inf"), dtype=scores.dtype)
    pos_min = torch.where(positives, scores, inf).min(dim=1).values
    neg_max = torch.where(positives, -inf, scores).max(dim=1).values
    return pos_min > neg_max


def _loss(scores, positives, temperature: float):
    """Multi-positive InfoNCE: mean over queries and over their positives of −log softmax over all docs.

    Every document is a candidate (full batch), so each query pushes its positives up against all
    n − 2 negatives at once; averaging over the positives keeps both relevant docs near the top
    rather than letting one dominate.
    """
    torch = _torch()
    log_p = torch.log_softmax(scores / temperature, dim=1)
    return -(log_p * positives).sum(dim=1).div(positives.sum(dim=1)).mean()


def solve(n: int, d: int, seed: int = 0, k: int = 2, **optimise_kwargs: float) -> bool:
    """Whether free unit vectors in R^d can be optimised so that every top-k query over n docs is solved.

    ``optimise_kwargs`` (lr, max_steps, patience, temperature, min_delta) go to :func:`optimise`.
    """
    if k != 2:
        raise NotImplementedError("only k = 2 (all pairs) is implemented")
    if n <= k:
        return True  # no negatives: every query is trivially solved
    return optimise(n, d, seed, **optimise_kwargs)[0]


def optimise(
    n: int,
    d: int,
    seed: int = 0,
    lr: float = 0.01,
    max_steps: int = 100_000,
    patience: int = 1000,
    temperature: float = 0.1,
    min_delta: float = 1e-5,
) -> tuple[bool, np.ndarray, np.ndarray]:
    """Run the k = 2 optimisation: (all solved, query vectors (C(n,2), d), doc vectors (n, d)).

    The vectors are returned so a solution can be re-checked independently (e.g. in float64).
    """
    torch = _torch()
    gen = torch.Generator().manual_seed(seed)
    pairs = torch.from_numpy(pair_qrels(n))
    positives = torch.zeros(len(pairs), n, dtype=torch.bool)
    positives.scatter_(1, pairs, True)
    weights = positives.to(torch.float32)

    docs = torch.nn.functional.normalize(torch.randn(n, d, generator=gen), dim=1).requires_grad_()
    queries = torch.nn.functional.normalize(torch.randn(len(pairs), d, generator=gen), dim=1).requires_grad_()
    opt = torch.optim.Adam([docs, queries], lr=lr)

    best_loss, best_solved, since_best = math.inf, -1, 0
    solved = False
    for _ in range(max_steps):
        opt.zero_grad(set_to_none=True)
        scores = queries @ docs.T
        loss = _loss(scores, weights, temperature)
        # Check the vectors the loss was computed on (already unit-norm from the previous step).
        n_solved = int(solved_mask(scores.detach(), positives).sum())
        if n_solved == len(pairs):
            solved = True
            break
        value = float(loss.detach())
        # A loss decrease below min_delta (absolute, as in the official code) is no improvement:
        # otherwise an ever shrinking decrease keeps a hopeless run alive until max_steps.
        if value < best_loss - min_delta or n_solved > best_solved:
            best_loss, best_solved, since_best = min(value, best_loss), max(n_solved, best_solved), 0
        else:
            since_best += 1
            if since_best >= patience:
                break
        loss.backward()
        opt.step()
        with torch.no_grad():  # the paper's projection back onto the unit sphere after each step
            docs.div_(docs.norm(dim=1, keepdim=True))
            queries.div_(queries.norm(dim=1, keepdim=True))
    return solved, queries.detach().numpy().copy(), docs.detach().numpy().copy()


def _solve_any(n: int, d: int, seeds: Sequence[int], **kwargs) -> bool:
    """Solved with any of ``seeds``: a failure may be a bad local optimum, so retry before believing it."""
    return any(solve(n, d, seed=s, **kwargs) for s in seeds)


def critical_n(d: int, k: int = 2, seed: int = 0, retries: int = 1, start: int = 4, **kwargs) -> int:
    """Largest n for which the optimisation solves every query, by galloping (4, 8, 16, …) then bisection.

    Assumes solvability is monotone in n (true for the exact problem: dropping a document and its
    queries keeps a solution). The optimiser is noisy, so an n counts as solved if any of seeds
    ``seed, seed + 1, …, seed + retries`` solves it; non-monotone noise can still shift the answer by
    one or two. ``kwargs`` go to :func:`solve`.
    """
    if k != 2:
        raise NotImplementedError("only k = 2 is implemented")
    seeds = [seed + i for i in range(retries + 1)]
    lo, hi = k, start  # invariant once galloping stops: lo solved, hi not solved
    while _solve_any(hi, d, seeds, **kwargs):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _solve_any(mid, d, seeds, **kwargs):
            lo = mid
        else:
            hi = mid
    return lo


def sweep(dims: Sequence[int], progress: bool = True, **kwargs) -> list[tuple[int, int, float]]:
    """(d, critical n, seconds) for each d; ``kwargs`` go to :func:`critical_n`."""
    from tqdm import tqdm

    results = []
    for d in tqdm(dims, desc="critical n", unit="dim", disable=not progress):
        t0 = time.perf_counter()
        n = critical_n(d, **kwargs)
        results.append((d, n, time.perf_counter() - t0))
    return results


def cubic_fit(dims: Sequence[int], ns: Sequence[int]) -> np.ndarray:
    """Degree-3 polynomial coefficients (highest power first), as the paper fits critical n against d."""
    return np.polyfit(np.asarray(dims, dtype=float), np.asarray(ns, dtype=float), 3)


def plot(results: Sequence[tuple[int, int, float]], path: str | Path) -> Path:
    """PNG of critical n against d: measured points, their cubic fit, and the published values."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    dims = [r[0] for r in results]
    ns = [r[1] for r in results]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(dims, ns, "o", label="measured")
    if len(dims) >= 4:  # a cubic needs four points
        xs = np.linspace(min(dims), max(dims), 200)
        ax.plot(xs, np.polyval(cubic_fit(dims, ns), xs), "-", label="cubic fit")
    pub = sorted(PUBLISHED_K2.items())
    ax.plot([p[0] for p in pub], [p[1] for p in pub], "x--", label="published (LIMIT)")
    ax.set_xlabel("embedding dimension d")
    ax.set_ylabel("critical n (k = 2)")
    ax.legend()
    ax.grid(alpha=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


if __name__ == "__main__":  # quick manual run: python -m harness.experiments.critical_n 4 5 6
    import sys

    _torch().set_num_threads(1)
    res = sweep([int(a) for a in sys.argv[1:]] or [4, 5, 6])
    for d, n, secs in res:
        pub = PUBLISHED_K2.get(d)
        diff = f"{100 * (n - pub) / pub:+.0f}%" if pub else ""
        print(f"d={d:3d}  n={n:4d}  published={pub}  {diff}  {secs:.1f}s")

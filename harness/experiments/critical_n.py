"""LIMIT "free embedding" experiment: the largest n whose top-2 combinations a d-dim embedding can realise.

Weller, Boratko, Naim, Lee, "On the Theoretical Limitations of Embedding-Based Retrieval" (2025), §4:
free (unconstrained) unit vectors for n documents and all C(n, 2) queries are optimised directly on the
qrels — query {i, j} must rank documents i and j strictly above every other document. The largest n at
which the optimisation still solves every query is the *critical n* for dimension d; the paper reports
it grows roughly cubically in d. This is a best-case bound for any embedding model: if free vectors
cannot realise the qrels, no encoder can.

Both protocols share the optimisation of the paper's code (google-deepmind/limit
``code/free_embedding_experiment.py``): Adam (lr 0.01), full-batch InfoNCE with temperature 0.1 over all
documents (loss = mean over queries and their two positives of −log softmax over all n docs), every
vector renormalised to unit length after each step, at most 100,000 steps, early stop after
``patience`` = 1000 steps without the loss falling by ``min_delta`` = 1e-5. They differ in when a run
stops and how n is searched (:class:`Protocol`):

* ``paper`` (:data:`PAPER`) transcribes that code: one seed (42); patience counts loss only; accuracy
  is checked every 50 steps (after the update of steps 0, 50, 100, …) and on the final vectors; n is
  searched from a starting guess by galloping (+1, +2, +4, …, or down), then a binary search, then every
  n in n−4..n+5 around the result (``_run_critical_n_search_for_config``). Its critical n is the binary
  search's result (what that code logs as "Critical N is likely"); the sweep's largest solved n is kept
  as ``largest_solved``. The code takes the starting guess as a flag (its example: 11 for d = 4); we use
  2·d, no published value, so the search is not steered toward the answer it is compared with.
* ``improved`` (:data:`IMPROVED`, annsweep's own): a second seed for every failing n, the patience
  counter also reset when the number of solved queries rises, "solved" checked on every step, n by
  galloping 4, 8, 16, … then bisection. It finds larger n at d ≥ 7 than published: the published values
  are what one optimiser reached, i.e. lower bounds of the true largest solvable n.

"Solved" is strict in both (both positives strictly above every negative; a tie fails); the paper's code
takes an argsort's top 2 instead, which differs only on exact float ties. The paper's code runs JAX; here
torch draws the initial vectors, so seed 42 gives other vectors than the paper's seed 42.

Needs torch (``pip install -e '.[embed]'``).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# Published critical-n values for k = 2 (paper, Fig. 2 / Table), used for comparison in plots.
PUBLISHED_K2: dict[int, int] = {4: 10, 5: 14, 6: 19, 7: 24, 8: 28, 9: 32, 10: 36, 11: 42, 12: 47}


@dataclass(frozen=True)
class Protocol:
    """How one critical n is found: the optimiser's settings, when a run stops, and how n is searched.

    ``loop``: ``"paper"`` = the order of the paper's ``optimize_embeddings`` (update, loss-only patience,
    accuracy every ``check_every`` steps and on the final vectors); ``"improved"`` = solved checked before
    every update and the patience also reset by a rise in solved queries (``check_every`` must be 1).
    ``search``: ``"paper"`` = gallop from ``initial_n`` (default 2·d), binary search, then evaluate the
    offsets ``sweep`` around the result; ``"double"`` = n = 4, 8, 16, … then bisection.
    ``retries``: further seeds (seed + 1, …) tried before an n counts as failed.
    """

    name: str
    seed: int
    loop: Literal["paper", "improved"]
    search: Literal["paper", "double"]
    retries: int = 0
    lr: float = 0.01
    temperature: float = 0.1
    max_steps: int = 100_000
    patience: int = 1000
    min_delta: float = 1e-5
    check_every: int = 1
    initial_n: int | None = None
    sweep: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if self.loop == "improved" and self.check_every != 1:
            raise ValueError(f"protocol {self.name!r}: the improved loop checks every step (check_every=1)")

    def optimiser_kwargs(self) -> dict[str, float]:
        """The settings :func:`optimise` and :func:`optimise_paper` take."""
        return {"lr": self.lr, "max_steps": self.max_steps, "patience": self.patience,
                "temperature": self.temperature, "min_delta": self.min_delta}


# google-deepmind/limit code/free_embedding_experiment.py: DEFAULT_EXPERIMENT_PARAMS (seed 42, lr 0.01,
# 100,000 iterations, temperature 0.1, log_interval 50, patience 1000, min_delta 1e-5 on the loss) and
# the sweep ``range(-4, 6)`` of _run_critical_n_search_for_config.
PAPER = Protocol("paper", seed=42, loop="paper", search="paper", retries=0, check_every=50, sweep=(-4, 5))
# annsweep's stronger optimiser: what `annsweep limit critical-n` ran before the paper protocol existed.
IMPROVED = Protocol("improved", seed=0, loop="improved", search="double", retries=1)
PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (PAPER, IMPROVED)}


@dataclass
class Result:
    """One dimension's outcome under one protocol; ``tried`` maps every n evaluated to whether it solved
    (the improved search does not log it). ``critical_n`` 0: the paper's search solved no n it tried
    (its galloping down from the guess can skip n = 2, e.g. d = 2 with seed 42 under torch)."""

    d: int
    protocol: str
    critical_n: int
    largest_solved: int
    seconds: float
    tried: dict[int, bool] = field(default_factory=dict)
    seed: int | None = None

    def row(self) -> dict[str, object]:
        """The CSV row (``tried`` left out: it is a log, not a result)."""
        return {"protocol": self.protocol, "d": self.d, "critical_n": self.critical_n,
                "largest_solved": self.largest_solved, "published": PUBLISHED_K2.get(self.d),
                "seed": self.seed, "seconds": round(self.seconds, 1)}


COLUMNS = ["protocol", "d", "critical_n", "largest_solved", "published", "seed", "seconds"]


def _torch():
    """Import torch lazily so the core harness (and its tests) work without the [embed] extra."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("harness.experiments.critical_n needs torch: pip install -e '.[embed]'") from exc
    return torch


def set_threads(n: int) -> None:
    """Torch's intra-op threads (the CLI runs one: these matrices are too small to share out)."""
    _torch().set_num_threads(n)


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
    rather than letting one dominate. (The paper's ``jax_loss_fn`` divides the sum by the number of
    positives overall; with exactly two per query that is the same mean.)
    """
    torch = _torch()
    log_p = torch.log_softmax(scores / temperature, dim=1)
    return -(log_p * positives).sum(dim=1).div(positives.sum(dim=1)).mean()


def _start(n: int, d: int, seed: int, lr: float):
    """Random unit vectors (docs first, then queries, from one generator), the qrels and Adam."""
    torch = _torch()
    gen = torch.Generator().manual_seed(seed)
    pairs = torch.from_numpy(pair_qrels(n))
    positives = torch.zeros(len(pairs), n, dtype=torch.bool)
    positives.scatter_(1, pairs, True)
    docs = torch.nn.functional.normalize(torch.randn(n, d, generator=gen), dim=1).requires_grad_()
    queries = torch.nn.functional.normalize(torch.randn(len(pairs), d, generator=gen), dim=1).requires_grad_()
    return positives, docs, queries, torch.optim.Adam([docs, queries], lr=lr)


def _project(*vectors) -> None:
    """The paper's projection back onto the unit sphere after each step."""
    with _torch().no_grad():
        for v in vectors:
            v.div_(v.norm(dim=1, keepdim=True))


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
    """The improved loop for k = 2: (all solved, query vectors (C(n,2), d), doc vectors (n, d)).

    The vectors are returned so a solution can be re-checked independently (e.g. in float64).
    """
    positives, docs, queries, opt = _start(n, d, seed, lr)
    weights = positives.float()
    best_loss, best_solved, since_best = math.inf, -1, 0
    solved = False
    for _ in range(max_steps):
        opt.zero_grad(set_to_none=True)
        scores = queries @ docs.T
        loss = _loss(scores, weights, temperature)
        # Check the vectors the loss was computed on (already unit-norm from the previous step).
        n_solved = int(solved_mask(scores.detach(), positives).sum())
        if n_solved == len(positives):
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
        _project(docs, queries)
    return solved, queries.detach().numpy().copy(), docs.detach().numpy().copy()


def optimise_paper(
    n: int,
    d: int,
    seed: int = 42,
    lr: float = 0.01,
    max_steps: int = 100_000,
    patience: int = 1000,
    temperature: float = 0.1,
    min_delta: float = 1e-5,
    check_every: int = 50,
) -> tuple[bool, np.ndarray, np.ndarray]:
    """The paper's loop (``optimize_embeddings`` with the loss monitor), k = 2; returns as :func:`optimise`.

    Step i: update with the loss of the current vectors, renormalise; a loss not below the best so
    far minus ``min_delta`` counts one step of patience (never reset otherwise) and patience used up
    stops before the accuracy check; the accuracy is checked after the update when i % check_every == 0.
    The final vectors are checked too (its ``final_accuracy``, which the search also takes).
    """
    positives, docs, queries, opt = _start(n, d, seed, lr)
    weights = positives.float()

    def all_solved() -> bool:
        with _torch().no_grad():
            return bool(solved_mask(queries @ docs.T, positives).all())

    best_loss, since_best = math.inf, 0
    for step in range(max_steps):
        opt.zero_grad(set_to_none=True)
        loss = _loss(queries @ docs.T, weights, temperature)
        loss.backward()
        opt.step()
        _project(docs, queries)
        value = float(loss.detach())
        if value < best_loss - min_delta:
            best_loss, since_best = value, 0
        else:
            since_best += 1
        if since_best >= patience:
            break
        if step % check_every == 0 and all_solved():
            return True, queries.detach().numpy().copy(), docs.detach().numpy().copy()
    return all_solved(), queries.detach().numpy().copy(), docs.detach().numpy().copy()


def _solve_any(n: int, d: int, seeds: Sequence[int], **kwargs) -> bool:
    """Solved with any of ``seeds``: a failure may be a bad local optimum, so retry before believing it."""
    return any(solve(n, d, seed=s, **kwargs) for s in seeds)


def critical_n(d: int, k: int = 2, seed: int = 0, retries: int = 1, start: int = 4, **kwargs) -> int:
    """Largest n for which the optimisation solves every query, by galloping (4, 8, 16, …) then bisection.

    The improved protocol's search. Assumes solvability is monotone in n (true for the exact problem:
    dropping a document and its queries keeps a solution). The optimiser is noisy, so an n counts as
    solved if any of seeds ``seed, seed + 1, …, seed + retries`` solves it; non-monotone noise can still
    shift the answer by one or two. ``kwargs`` go to :func:`solve`.
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


def paper_search(solved, initial_n: int, sweep: tuple[int, int] = (-4, 5)) -> tuple[int | None, dict[int, bool]]:
    """The paper's search for critical n (``_run_critical_n_search_for_config``), over ``solved(n) -> bool``.

    Gallop from ``initial_n`` up by +1, +2, +4, … while solved (or down by −1, −2, −4, … while not),
    binary-search the bracket, then evaluate every n in result + sweep[0] .. result + sweep[1] (floored at
    1). Each n is evaluated once (the paper reuses stored results). Returns (the binary search's critical
    n or None when nothing solved, {n: solved} in the order evaluated).
    """
    min_n, tried = 1, {}

    def ok(n: int) -> bool:
        if n not in tried:
            tried[n] = bool(solved(n))
        return tried[n]

    n_low = n_high = None
    if ok(initial_n):
        n_low, step = initial_n, 1
        while True:
            if ok(n_low + step):
                n_low, step = n_low + step, step * 2
            else:
                n_high = n_low + step
                break
    else:
        n_high, step = initial_n, 1
        while n_high > min_n:
            n_test = max(n_high - step, min_n)
            if not ok(n_test):
                n_high, step = n_test, step * 2
                if n_test == min_n:
                    break
            else:
                n_low = n_test
                break
    result = n_low
    if n_low is not None and n_high is not None:
        low, high = n_low, n_high
        while low <= high:
            mid = (low + high) // 2
            if mid < min_n:
                break
            if ok(mid):
                result, low = mid, mid + 1
            else:
                high = mid - 1
    if result is not None:
        for offset in range(sweep[0], sweep[1] + 1):
            ok(max(result + offset, min_n))
    return result, tried


def find_critical_n(d: int, protocol: Protocol = PAPER, k: int = 2) -> Result:
    """Critical n of dimension ``d`` under ``protocol``, timed."""
    if k != 2:
        raise NotImplementedError("only k = 2 is implemented")
    t0 = time.perf_counter()
    if protocol.search == "double":
        if protocol.loop != "improved":
            raise ValueError(f"protocol {protocol.name!r}: the doubling search runs the improved loop")
        n = critical_n(d, k=k, seed=protocol.seed, retries=protocol.retries, **protocol.optimiser_kwargs())
        return Result(d, protocol.name, n, n, time.perf_counter() - t0, seed=protocol.seed)
    seeds = [protocol.seed + i for i in range(protocol.retries + 1)]
    train = optimise_paper if protocol.loop == "paper" else optimise
    extra = {"check_every": protocol.check_every} if protocol.loop == "paper" else {}

    def solved(n: int) -> bool:
        if n < k:
            return False  # the paper's code makes no qrels for n < k and counts accuracy 0
        if n == k:
            return True  # one query, no negatives
        return any(train(n, d, s, **protocol.optimiser_kwargs(), **extra)[0] for s in seeds)

    n, tried = paper_search(solved, protocol.initial_n or 2 * d, protocol.sweep)
    largest = max((m for m, ok in tried.items() if ok), default=0)
    return Result(d, protocol.name, n or 0, largest, time.perf_counter() - t0, tried, protocol.seed)


def sweep(dims: Sequence[int], protocols: Sequence[Protocol] = (PAPER,), k: int = 2) -> Iterator[Result]:
    """One :class:`Result` per dimension and protocol, yielded as each finishes (d outer, protocols inner)."""
    for d in dims:
        for protocol in protocols:
            yield find_critical_n(d, protocol, k)


def cubic_fit(dims: Sequence[int], ns: Sequence[int]) -> np.ndarray:
    """Degree-3 polynomial coefficients (highest power first), as the paper fits critical n against d."""
    return np.polyfit(np.asarray(dims, dtype=float), np.asarray(ns, dtype=float), 3)


def table_path(out_dir: str | Path, k: int = 2) -> Path:
    """Where ``annsweep limit critical-n`` keeps its table (the plot sits next to it, ``.png``)."""
    return Path(out_dir) / f"limit_critical_n_k{k}.csv"


def merge_table(path: str | Path, results: Sequence[Result]) -> pd.DataFrame:
    """Write ``results`` into the CSV at ``path`` and return the table.

    Rows of other (protocol, d) pairs already in the file are kept and a new result replaces the row of
    its (protocol, d), so runs of ``--protocol paper`` and ``--protocol improved`` (or ``both``) end up
    side by side. A file from before the ``protocol`` column held improved-protocol rows and is read so.
    """
    import pandas as pd

    path = Path(path)
    new = pd.DataFrame([r.row() for r in results], columns=COLUMNS)
    if path.exists():
        old = pd.read_csv(path)
        if "protocol" not in old.columns:
            old["protocol"] = IMPROVED.name
        old = old.reindex(columns=COLUMNS)
        fresh = set(zip(new["protocol"], new["d"], strict=True))
        keep = [(p, d) not in fresh for p, d in zip(old["protocol"], old["d"], strict=True)]
        new = pd.concat([old[keep], new], ignore_index=True) if any(keep) else new
    new = new.sort_values(["protocol", "d"], kind="stable").reset_index(drop=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    new.to_csv(path, index=False)
    return new


def plot(table: pd.DataFrame, path: str | Path) -> Path:
    """PNG of critical n against d: each protocol's points and cubic fit, and the published values.

    ``table``: columns protocol, d, critical_n (as :func:`merge_table` returns).
    """
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, rows in table.sort_values("d").groupby("protocol", sort=True):
        dims, ns = rows["d"].to_list(), rows["critical_n"].to_list()
        (points,) = ax.plot(dims, ns, "o", label=f"{name} protocol")
        if len(dims) >= 4:  # a cubic needs four points
            xs = np.linspace(min(dims), max(dims), 200)
            ax.plot(xs, np.polyval(cubic_fit(dims, ns), xs), "-", color=points.get_color(),
                    label=f"{name}: cubic fit")
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

    set_threads(1)
    for res in sweep([int(a) for a in sys.argv[1:]] or [4, 5, 6], (PAPER, IMPROVED)):
        print(res.row())

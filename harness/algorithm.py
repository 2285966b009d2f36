"""The adapter API: what an algorithm must implement to be benchmarked.

An adapter is one class in ``algorithms/<name>/adapter.py`` that subclasses
:class:`Algorithm`; its run groups live in ``algorithms/<name>/config.yml``.
The runner constructs it with the build arguments of one build, calls
:meth:`Algorithm.fit` once (timed), then for every query setting calls
:meth:`Algorithm.set_query_params` and times :meth:`Algorithm.query` (single
mode) and :meth:`Algorithm.batch_query` (batch mode).

Adapters run inside a worker process that is already pinned to one core with
every BLAS/OpenMP pool limited to one thread; an adapter that wraps a library
with its own thread pool must also set that pool to one thread in ``fit``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from harness.datasets import Dataset

def positive_int(adapter: str, name: str, value: Any) -> int:
    """``value`` as an int ≥ 1, or a ValueError naming the adapter and parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{adapter}: {name} must be a positive integer, got {value!r}")
    return int(value)


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32), for angular distance via inner product."""
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-30)).astype(np.float32, copy=False)


# Kinds of input an adapter may accept (``Algorithm.accepts``).
DENSE = "dense"
SPARSE = "sparse"
TEXT = "text"


class Algorithm:
    """Base class of every adapter.

    Subclasses set ``accepts`` (input kinds) and ``distances`` (distance names
    from ``harness.datasets.DISTANCES``) and implement ``fit`` and ``query``.
    Build arguments from ``config.yml`` arrive as keyword arguments of
    ``__init__``; ``metric`` (the dataset's distance) is always passed too.
    """

    accepts: ClassVar[frozenset[str]] = frozenset()
    distances: ClassVar[frozenset[str]] = frozenset({"angular", "euclidean", "ip"})

    def __init__(self, metric: str, **build_params: Any) -> None:
        self.metric = metric
        self.build_params = build_params
        self.query_params: dict[str, Any] = {}

    # --- building -----------------------------------------------------------
    def fit(self, dataset: Dataset) -> None:
        """Build the index over ``dataset.train`` (a text adapter reads ``dataset.strings("corpus/text")``)."""
        raise NotImplementedError

    # --- querying -----------------------------------------------------------
    def set_query_params(self, **params: Any) -> None:
        """Apply one query setting (e.g. ``ef=64``); called before timing."""
        self.query_params = dict(params)

    def query(self, vector: np.ndarray | csr_matrix, k: int) -> np.ndarray:
        """Return the ids of the (approximate) ``k`` nearest train points.

        ``vector`` is a 1-D float32 array for dense data, a 1×d CSR row for
        sparse data, or the query string for text data.  The result is a 1-D integer array of at most ``k`` ids,
        best first, with no duplicates.
        """
        raise NotImplementedError

    def batch_query(self, queries: np.ndarray | csr_matrix, k: int) -> np.ndarray:
        """Answer all ``queries`` (a matrix, or a list of strings for text data) at once; an nq×k int array.

        Rows with fewer than ``k`` results are padded with -1.  The default
        loops over :meth:`query`; override it when the library has a faster
        batch call (it must still use one thread).
        """
        nq = len(queries) if isinstance(queries, list) else queries.shape[0]
        out = np.full((nq, k), -1, dtype=np.int64)
        for i in range(nq):
            ids = np.asarray(self.query(queries[i], k))
            out[i, : len(ids)] = ids[:k]
        return out

    def warm_up(self, queries: np.ndarray | csr_matrix | list[str], k: int) -> None:
        """Called once per query setting, before it is timed, with that setting's queries.

        Untimed and outside the single-thread proof; recorded as ``warmup_s`` with each run.
        Default: nothing.  For engines with a JIT (the JVM): HotSpot compiles the code paths a
        workload takes on background threads for thousands of queries, on the worker's one core,
        so a steady state is measured only after the workload has run (as JMH's warm-up
        iterations do).  Repeats already allow an adapter to profit from having seen the queries;
        this hook adds nothing it could not do in its first repeat.
        """

    # --- optional facts -----------------------------------------------------
    # For a multi-representation dataset (a pipeline): the representation whose exact search is
    # the ground truth of kNN recall, set by ``fit`` (None: the dataset's primary representation).
    reference_representation: str | None = None

    def series(self) -> str | None:
        """The curve the current query setting is drawn on in plots (None: the algorithm's name).

        One adapter can stand for several methods (the pipeline adapter: retrieval alone, re-rank,
        fusion); each gets its own Pareto frontier.
        """
        return None

    def index_size_bytes(self) -> int | None:
        """Size of the built index in bytes, if the library can tell."""
        return None

    def extra_metrics(self) -> dict[str, float]:
        """Counters gathered during the last query setting (e.g. distance computations)."""
        return {}

    def __str__(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in {**self.build_params, **self.query_params}.items())
        return f"{type(self).__name__}({params})"

"""The adapter API: what an algorithm implements to be benchmarked.

An adapter is one class in ``algorithms/<name>/adapter.py`` that subclasses :class:`Algorithm`;
its run groups live in ``algorithms/<name>/config.yml``.  The harness makes it through the
catalogue (:meth:`harness.kit.catalogue.Catalogue.instantiate`, which checks that the adapter
accepts the dataset's input kind and distance), calls :meth:`Algorithm.fit` once (timed), then for
every query setting calls :meth:`Algorithm.set_query_params` and times :meth:`Algorithm.query`
(single mode) and :meth:`Algorithm.batch_query` (batch mode).  With ``annsweep run --index-cache``
an adapter that implements :meth:`Algorithm.save_index` / :meth:`Algorithm.load_index` has its
built index saved, and loaded instead of ``fit`` by later sweeps of the same build.

Parameters are declared once (``build_parameters``, ``query_parameters``: :class:`Param`); the
base class checks the values given in ``config.yml`` against them, fills in defaults and words
the error, so an adapter reads plain values from ``self.build_params`` / ``self.query_params``.

Adapters run inside a worker process already pinned to one core, with every BLAS/OpenMP pool
limited to one thread; an adapter whose library has a thread pool of its own holds it to one
thread in :meth:`Algorithm.limit_threads` (and says how in its docstring).  An adapter that declares
``parallel_batch`` can also be run with ``--threads N``: the worker is then pinned to N cores with
N-thread pools, ``limit_threads(N)`` is called and ``self.threads`` is N, and only ``batch_query`` is
timed, which must then use N threads (mode ``batch-Nt``).
"""

from __future__ import annotations

import importlib.metadata
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from harness.data.dataset import DISTANCES
from harness.kit.params import REQUIRED, Param, check_params

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from harness.data.dataset import Dataset

# Kinds of input an adapter may accept (``Algorithm.accepts``); "multi" (harness.data.dataset.MULTI)
# is a multi-representation dataset, for adapters that combine representations.
DENSE = "dense"
SPARSE = "sparse"
TEXT = "text"


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32), for angular distance via inner product."""
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-30)).astype(np.float32, copy=False)


class Algorithm:
    """Base class of every adapter.

    Subclasses set ``accepts`` (input kinds) and ``distances`` (names from
    ``harness.data.dataset.DISTANCES``), declare their parameters, and implement ``fit`` and
    ``query``.  The catalogue names the class after its folder (``name``), for messages.
    """

    accepts: ClassVar[frozenset[str]] = frozenset()
    distances: ClassVar[frozenset[str]] = frozenset(DISTANCES)
    build_parameters: ClassVar[tuple[Param, ...]] = ()
    query_parameters: ClassVar[tuple[Param, ...]] = ()
    # Parameters of the library that the adapter holds fixed, with the reason (e.g. threads).
    fixed_parameters: ClassVar[Mapping[str, str]] = {}
    name: ClassVar[str] = ""
    # True for an index whose queries read storage past the page cache (an SSD index with O_DIRECT):
    # the single-thread proof then takes CPU/wall below 0.9 as the wait for those reads when the
    # process read from storage and no other process held the core (harness.run.proof.PhaseProof.ok).
    waits_for_storage: ClassVar[bool] = False
    # True for an adapter whose batch_query runs on ``self.threads`` threads (the library's own parallel
    # batch search, held to that many by ``limit_threads(threads)`` and the adapter): only such an
    # adapter is planned for ``annsweep run --threads N`` (mode batch-Nt); the others always get 1.
    parallel_batch: ClassVar[bool] = False
    # Threads the adapter may use (``--threads N``), set by the catalogue before ``fit``; 1 by default.
    threads: int = 1
    # The distribution (its importlib.metadata name, e.g. "faiss-cpu") whose code builds the index:
    # its version is part of the key of an index saved by ``save_index`` (see ``index_versions``).
    library: ClassVar[str] = ""

    def __init__(self, metric: str, **build_params: Any) -> None:
        self.metric = metric
        self.build_params = check_params(self.label, "build", self.build_parameters, build_params,
                                         self.fixed_parameters)
        self.query_params: dict[str, Any] = {p.name: p.default for p in self.query_parameters
                                              if p.default is not REQUIRED}
        # The harness.kit.catalogue.Catalogue that made this adapter (set by it; not imported here,
        # the catalogue being above this module): an adapter built from others (a pipeline) makes
        # its parts through it.
        self.catalogue: Any = None

    def build_folder(self) -> str:
        """A fresh temporary folder for the files of this adapter's index, removed with the adapter
        (or at the worker's exit): for libraries that build on disk or need a path to save to."""
        folder = tempfile.mkdtemp(prefix=f"annsweep-{self.label}-")
        weakref.finalize(self, shutil.rmtree, folder, True)
        return folder

    @property
    def label(self) -> str:
        """The adapter's name in messages: its folder name, else its class name."""
        return self.name or type(self).__name__

    @classmethod
    def limit_threads(cls, threads: int = 1) -> None:
        """Hold the library's own thread pool to ``threads`` threads (one, unless the adapter declares
        ``parallel_batch`` and the sweep runs ``--threads N``); called before the adapter is made."""

    # --- building -----------------------------------------------------------
    def fit(self, dataset: Dataset) -> None:
        """Build the index over ``dataset.train`` (a text adapter reads ``dataset.strings("corpus/text")``)."""
        raise NotImplementedError

    # --- saving and loading a built index (``annsweep run --index-cache``) --
    def save_index(self, folder: Path) -> bool:
        """Write the built index into ``folder`` (an empty folder), as files that :meth:`load_index`
        restores; return False when the adapter cannot save (the default: every build is built).

        Called after ``fit``, untimed; the harness keeps the files under a key of the dataset's
        content, the algorithm, its build parameters, :meth:`index_versions` and the adapter's
        source files (``harness.run.index_cache``).
        """
        return False

    def load_index(self, folder: Path, dataset: Dataset) -> bool:
        """Instead of ``fit``: restore an index that :meth:`save_index` wrote for this ``dataset`` and
        these build parameters (``folder`` is read-only), with everything ``fit`` sets besides the
        index (flags, references into it, the thread settings), ready for ``set_query_params``.
        Return False when the adapter cannot load; raise when the files are not a valid index."""
        return False

    @classmethod
    def index_versions(cls) -> dict[str, str]:
        """What, besides the dataset and the build parameters, decides the index a build makes: by
        default the installed version of ``library``.  A saved index whose versions differ is
        rebuilt, not loaded; an adapter whose own compiled code builds the index adds its hash."""
        if not cls.library:
            return {}
        try:
            return {cls.library: importlib.metadata.version(cls.library)}
        except importlib.metadata.PackageNotFoundError:
            return {cls.library: "not installed as a distribution"}

    # --- querying -----------------------------------------------------------
    def set_query_params(self, **params: Any) -> None:
        """Apply one query setting (e.g. ``ef=64``); called before timing.

        Checks ``params`` against ``query_parameters``, stores them with the defaults filled in
        as ``self.query_params``, then calls :meth:`apply_query_params`.
        """
        self.query_params = check_params(self.label, "query", self.query_parameters, params,
                                         self.fixed_parameters)
        self.apply_query_params()

    def apply_query_params(self) -> None:
        """Push ``self.query_params`` into the library, and check combinations of them with the build."""

    def query(self, vector: np.ndarray | csr_matrix, k: int) -> np.ndarray:
        """Return the ids of the (approximate) ``k`` nearest train points.

        ``vector`` is a 1-D float32 array for dense data, a 1×d CSR row for sparse data, or the
        query string for text data.  The result is a 1-D integer array of at most ``k`` ids,
        best first, with no duplicates.
        """
        raise NotImplementedError

    def batch_query(self, queries: np.ndarray | csr_matrix, k: int) -> np.ndarray:
        """Answer all ``queries`` (a matrix, or a list of strings for text data) at once; an nq×k int array.

        Rows with fewer than ``k`` results are padded with -1.  The default loops over
        :meth:`query`; override it when the library has a faster batch call (it must still use
        one thread, or ``self.threads`` for an adapter with ``parallel_batch``).
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

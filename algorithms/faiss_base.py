"""What the faiss adapters share: metric mapping, query preparation, search, index size and the
distance-computation counter.

faiss is held to one thread with ``faiss.omp_set_num_threads(1)`` (``limit_threads``), on top of
the worker's ``OMP_NUM_THREADS=1`` and threadpoolctl limits; with ``--threads N`` to N threads the
same way (``omp_set_num_threads(N)``, ``OMP_NUM_THREADS=N``): every faiss adapter declares
``parallel_batch``, faiss's search splitting a batch's queries over its OpenMP threads, and the
build (k-means, adds) runs on them too.  Angular distance is inner product
over normalised vectors (train and queries); euclidean is L2; ip is inner product.

Saved and loaded (``--index-cache``) with ``faiss.write_index`` / ``faiss.read_index`` (one file,
the whole chain: a refine wrapper, an OPQ rotation, trained quantizers); ``restore`` then rebuilds
the Python references into it (the IVF that takes ``nprobe``) and checks that it is the index this
build makes, and the query settings are applied as after ``fit``.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from harness.kit import DENSE, REQUIRED, Algorithm, Param, normalize_rows


class FaissAdapter(Algorithm):
    """Base of the faiss adapters: a subclass builds ``self._index`` in ``fit`` and names the faiss
    statistics object that counts distance computations (``stats``)."""

    accepts = frozenset({DENSE})
    distances = frozenset({"angular", "euclidean", "ip"})
    library = "faiss-cpu"
    parallel_batch = True  # search(nq > 1) splits the queries over omp_set_num_threads(N) threads
    _nq = 0  # queries since the last query setting, for dist_comps
    INDEX_FILE = "index.faiss"

    @staticmethod
    def stats():
        """faiss's global counters of this index type (``faiss.cvar.hnsw_stats``, ...), or None."""
        return None

    @classmethod
    def limit_threads(cls, threads: int = 1) -> None:
        faiss.omp_set_num_threads(threads)

    @property
    def faiss_metric(self) -> int:
        return faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT

    def vectors(self, x: np.ndarray) -> np.ndarray:
        """Rows as faiss takes them: contiguous float32, normalised for angular distance."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        return normalize_rows(x) if self.metric == "angular" else x

    def apply_query_params(self) -> None:
        stats = self.stats()
        if stats is not None:
            stats.reset()
        self._nq = 0

    def save_index(self, folder: Path) -> bool:
        faiss.write_index(self._index, str(Path(folder) / self.INDEX_FILE))
        return True

    def load_index(self, folder: Path, dataset) -> bool:
        index = faiss.read_index(str(Path(folder) / self.INDEX_FILE))
        if not index.is_trained or index.ntotal != dataset.n_train or index.d != dataset.dimension \
                or index.metric_type != self.faiss_metric:
            raise ValueError(f"{self.label}: the saved index ({type(index).__name__}, {index.ntotal} × {index.d}, "
                             f"trained {index.is_trained}, metric {index.metric_type}) is not this build's "
                             f"({dataset.n_train} × {dataset.dimension}, metric {self.faiss_metric})")
        self._index = index
        self.restore()
        self.apply_query_params()
        return True

    def restore(self) -> None:
        """After ``load_index``: set what ``fit`` sets besides ``self._index`` (references into it),
        raising ValueError when the loaded index is not of the kind this build makes."""

    def _expect(self, obj, cls: type, what: str) -> None:
        if not isinstance(obj, cls):
            raise ValueError(f"{self.label}: the saved index's {what} is a {type(obj).__name__}, "
                             f"this build makes a {cls.__name__}")

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        q = self.vectors(np.asarray(vector).reshape(1, -1))
        self._nq += 1
        ids = self._index.search(q, k)[1][0]
        return ids[ids >= 0].astype(np.int64, copy=False)

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        q = self.vectors(queries)
        self._nq += q.shape[0]
        return self._index.search(q, k)[1].astype(np.int64, copy=False)  # faiss pads with -1

    def index_size_bytes(self) -> int:
        """Bytes that ``faiss.write_index`` would produce, counted without keeping them."""
        total = 0

        def count(buf: bytes) -> int:
            nonlocal total
            total += len(buf)
            return len(buf)

        writer = faiss.PyCallbackIOWriter(count)
        faiss.write_index(self._index, writer)
        del writer  # flushes the last chunk
        return total

    def extra_metrics(self) -> dict[str, float]:
        stats = self.stats()
        if stats is None or not self._nq:
            return {}
        return {"dist_comps": float(stats.ndis) / self._nq}


# --- IVF indexes made by faiss.index_factory (faiss-ivfsq, faiss-ivfpqfs, faiss-opq) ----------------

MAX_TRAIN = 100_000  # the training-sample policy of faiss-ivf: a seeded sample of at most this many points
SEED = 1234


def training_sample(x: np.ndarray) -> np.ndarray:
    """``x``, or a seeded sample of MAX_TRAIN of its rows (in their order) when it is larger."""
    n = x.shape[0]
    return x[np.sort(np.random.default_rng(SEED).choice(n, MAX_TRAIN, replace=False))] if n > MAX_TRAIN else x


class FaissFactoryIVF(FaissAdapter):
    """Base of the IVF adapters whose index is a ``faiss.index_factory`` string: a subclass returns
    the string for dimension ``d`` (``factory``), checks the data against faiss's constraints first
    (``check_data``, clear ValueErrors instead of faiss's), may adjust the index before training
    (``prepare``) and declares its own parameters on top of ``nlist`` / ``nprobe`` / ``k_factor``.

    ``fit`` seeds every k-means (coarse quantizer, PQ codebooks), trains on ``training_sample``,
    wraps the trained, still-empty index in ``IndexRefineFlat`` when ``refine`` (the class
    attribute ``always_refine`` or the build parameter ``refine``) and adds the vectors;
    ``apply_query_params`` sets ``nprobe`` (clamped to ``nlist``) on the IVF extracted from the
    chain and ``k_factor`` on the refine step.
    """

    build_parameters = (Param("nlist", int, REQUIRED, low=1),)
    query_parameters = (Param("nprobe", int, 1, low=1), Param("k_factor", float, None, low=1))
    stats = staticmethod(lambda: faiss.cvar.indexIVF_stats)
    always_refine = False  # True: the index is always wrapped in IndexRefineFlat (no refine parameter)

    def factory(self, d: int) -> str:
        raise NotImplementedError

    def check_data(self, n: int, d: int) -> None:
        """Raise ValueError (naming the adapter) when faiss could not build this index on n × d data."""

    def prepare(self) -> None:
        """Adjust the factory-made, untrained ``self._base`` before training (default: nothing)."""

    @property
    def refine(self) -> bool:
        return self.always_refine or bool(self.build_params.get("refine"))

    def d_over(self, d: int, name: str) -> int:
        """``d / build_params[name]`` (e.g. m = d / d_per_m), or a ValueError when it does not divide d."""
        per = self.build_params[name]
        if d % per:
            raise ValueError(f"{self.label}: {name}={per} must divide the dimension {d}")
        return d // per

    def fit(self, dataset) -> None:
        x = self.vectors(dataset.train)
        n, d = x.shape
        nlist = self.build_params["nlist"]
        if nlist > n:
            raise ValueError(f"{self.label}: nlist={nlist} exceeds the number of train points ({n})")
        self.check_data(n, d)
        # The Python owners of the inner indexes (self._base, self._ivf) are kept so that they stay alive.
        self._base = faiss.index_factory(d, self.factory(d), self.faiss_metric)
        self._ivf = faiss.extract_index_ivf(self._base)
        self._ivf.cp.seed = SEED
        if hasattr(self._ivf, "pq"):
            self._ivf.pq.cp.seed = SEED
        self.prepare()
        self._base.train(training_sample(x))
        # IndexRefineFlat must wrap the trained, still-empty index: its add() fills both the index
        # and the flat copy of the vectors used for re-ranking.
        self._index = faiss.IndexRefineFlat(self._base) if self.refine else self._base
        self._index.add(x)
        self.apply_query_params()

    def restore(self) -> None:
        if self.refine:
            self._expect(self._index, faiss.IndexRefineFlat, "top (refine: true)")
            self._base = faiss.downcast_index(self._index.base_index)
        else:
            self._base = self._index
        self._ivf = faiss.extract_index_ivf(self._base)
        # What this build's factory string makes, untrained (cheap): the same chain, cells and codes.
        fresh = faiss.index_factory(self._base.d, self.factory(self._base.d), self.faiss_metric)
        ivf = faiss.extract_index_ivf(fresh)
        found = (type(self._base).__name__, type(self._ivf).__name__, self._ivf.nlist, self._ivf.code_size)
        wanted = (type(fresh).__name__, type(ivf).__name__, ivf.nlist, ivf.code_size)
        if found != wanted:
            raise ValueError(f"{self.label}: the saved index is (type, IVF, nlist, code size) {found}, "
                             f"this build makes {wanted}")

    def apply_query_params(self) -> None:
        if self.query_params.get("k_factor") is not None and not self.refine:
            raise ValueError(f"{self.label}: k_factor needs the build parameter refine: true")
        if hasattr(self, "_ivf"):
            self._ivf.nprobe = min(self.query_params["nprobe"], self.build_params["nlist"])
            if self.refine:
                self._index.k_factor = self.query_params["k_factor"] or 1.0
        super().apply_query_params()

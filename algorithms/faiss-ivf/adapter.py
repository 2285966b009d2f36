"""Inverted-file indexes from faiss: ``IndexIVFFlat`` and ``IndexIVFPQ``.

Build parameters:

* ``nlist`` (required): number of k-means cells (1 ≤ nlist ≤ number of train points);
* ``m`` (optional): number of product-quantiser sub-vectors; given → ``IndexIVFPQ``,
  absent → ``IndexIVFFlat``; must divide the dimension;
* ``nbits`` (optional, default 8, only with ``m``): bits per PQ code;
* ``refine`` (optional, default false): wrap the index in ``IndexRefineFlat`` so the
  ``k × k_factor`` best candidates are re-ranked with exact distances.

Query parameters: ``nprobe`` (cells visited, clamped to ``nlist``) and, with
``refine``, ``k_factor`` (default 1).

Euclidean uses L2; ip uses inner product; angular normalises train and
queries and uses inner product.  Training uses the train set, or a seeded
sample of 100,000 points when it is larger (faiss subsamples further to 256
points per cell, with its own fixed clustering seed), so builds are
deterministic.

The worker that runs this adapter is single-threaded: the runner pins it to
one core and sets faiss/OpenMP to one thread before importing this module, so
the adapter does not call ``faiss.omp_set_num_threads`` itself.
"""

from __future__ import annotations

from typing import Any, ClassVar

import faiss
import numpy as np

from algorithms.faiss_size import serialized_size
from harness.algorithm import DENSE, Algorithm, normalize_rows, positive_int

NAME = "faiss-ivf"
MAX_TRAIN = 100_000
SEED = 1234






def _positive_int(name: str, value: Any) -> int:
    return positive_int(NAME, name, value)


class FaissIVF(Algorithm):
    """faiss IVF-Flat / IVF-PQ, optionally with exact re-ranking (dense data, all three distances)."""

    accepts: ClassVar[frozenset[str]] = frozenset({DENSE})
    distances: ClassVar[frozenset[str]] = frozenset({"angular", "euclidean", "ip"})

    def __init__(
        self,
        metric: str,
        nlist: int | None = None,
        m: int | None = None,
        nbits: int | None = None,
        refine: bool = False,
        **build_params: Any,
    ) -> None:
        if metric not in self.distances:
            raise ValueError(f"{NAME}: unsupported distance {metric!r} (supported: {sorted(self.distances)})")
        if build_params:
            raise ValueError(
                f"{NAME}: unknown build parameter(s) {sorted(build_params)} (known: nlist, m, nbits, refine)"
            )
        if nlist is None:
            raise ValueError(f"{NAME}: build parameter nlist is required")
        self.nlist = _positive_int("nlist", nlist)
        self.m = None if m is None else _positive_int("m", m)
        if nbits is not None and self.m is None:
            raise ValueError(f"{NAME}: nbits is only meaningful with m (IVF-PQ)")
        self.nbits = 8 if nbits is None else _positive_int("nbits", nbits)
        if not 1 <= self.nbits <= 16:
            raise ValueError(f"{NAME}: nbits must be between 1 and 16, got {self.nbits}")
        if not isinstance(refine, (bool, np.bool_)):
            raise ValueError(f"{NAME}: refine must be true or false, got {refine!r}")
        self.refine = bool(refine)
        params: dict[str, Any] = {"nlist": self.nlist}
        if self.m is not None:
            params.update(m=self.m, nbits=self.nbits)
        if self.refine:
            params["refine"] = True
        super().__init__(metric, **params)
        self._quantizer: faiss.Index | None = None
        self._ivf: faiss.IndexIVF | None = None
        self._index: faiss.Index | None = None
        self._nprobe = 1
        self._k_factor = 1.0
        self._nq = 0

    # --- building -----------------------------------------------------------
    def fit(self, dataset) -> None:
        if dataset.kind not in self.accepts:
            raise ValueError(f"{NAME}: unsupported input kind {dataset.kind!r} (accepts {sorted(self.accepts)})")
        x = np.ascontiguousarray(dataset.train, dtype=np.float32)
        n, d = x.shape
        if self.nlist > n:
            raise ValueError(f"{NAME}: nlist={self.nlist} exceeds the number of train points ({n})")
        if self.m is not None and d % self.m:
            raise ValueError(f"{NAME}: m={self.m} must divide the dimension {d}")
        if self.m is not None and n < (1 << self.nbits):
            raise ValueError(f"{NAME}: nbits={self.nbits} needs at least {1 << self.nbits} train points, got {n}")
        if self.metric == "angular":
            x = normalize_rows(x)
        if self.metric == "euclidean":
            quantizer, faiss_metric = faiss.IndexFlatL2(d), faiss.METRIC_L2
        else:
            quantizer, faiss_metric = faiss.IndexFlatIP(d), faiss.METRIC_INNER_PRODUCT
        if self.m is None:
            ivf = faiss.IndexIVFFlat(quantizer, d, self.nlist, faiss_metric)
        else:
            ivf = faiss.IndexIVFPQ(quantizer, d, self.nlist, self.m, self.nbits, faiss_metric)
            ivf.pq.cp.seed = SEED
        ivf.cp.seed = SEED
        if n > MAX_TRAIN:
            rng = np.random.default_rng(SEED)
            sample = x[np.sort(rng.choice(n, MAX_TRAIN, replace=False))]
        else:
            sample = x
        ivf.train(sample)
        # IndexRefineFlat must wrap the still-empty IVF: its add() fills both the
        # IVF and the flat copy of the vectors used for re-ranking.
        index = faiss.IndexRefineFlat(ivf) if self.refine else ivf
        index.add(x)
        self._quantizer = quantizer  # keep the Python owners of the wrapped indexes alive
        self._ivf = ivf
        self._index = index
        self._apply_query_params()

    def set_query_params(self, nprobe: int = 1, k_factor: float | None = None, **params: Any) -> None:
        if params:
            known = "nprobe, k_factor" if self.refine else "nprobe"
            raise ValueError(f"{NAME}: unknown query parameter(s) {sorted(params)} (known: {known})")
        self._nprobe = _positive_int("nprobe", nprobe)
        shown: dict[str, Any] = {"nprobe": self._nprobe}
        if k_factor is not None:
            if not self.refine:
                raise ValueError(f"{NAME}: k_factor needs the build parameter refine: true")
            if isinstance(k_factor, bool) or not isinstance(k_factor, (int, float, np.number)) or k_factor < 1:
                raise ValueError(f"{NAME}: k_factor must be a number ≥ 1, got {k_factor!r}")
            shown["k_factor"] = k_factor
        self._k_factor = 1.0 if k_factor is None else float(k_factor)
        super().set_query_params(**shown)
        self._apply_query_params()
        faiss.cvar.indexIVF_stats.reset()
        self._nq = 0

    def _apply_query_params(self) -> None:
        if self._ivf is None:
            return
        self._ivf.nprobe = min(self._nprobe, self.nlist)
        if self.refine:
            self._index.k_factor = self._k_factor

    # --- querying -----------------------------------------------------------
    def _prep(self, q: np.ndarray) -> np.ndarray:
        if self._index is None:
            raise RuntimeError(f"{NAME}: query called before fit()")
        q = np.ascontiguousarray(q, dtype=np.float32)
        return normalize_rows(q) if self.metric == "angular" else q

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        q = self._prep(np.asarray(vector).reshape(1, -1))
        self._nq += 1
        ids = self._index.search(q, k)[1][0]
        return ids[ids >= 0].astype(np.int64, copy=False)

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        q = self._prep(queries)
        self._nq += q.shape[0]
        return self._index.search(q, k)[1].astype(np.int64, copy=False)  # faiss pads with -1

    # --- optional facts -----------------------------------------------------
    def index_size_bytes(self) -> int | None:
        return serialized_size(self._index) if self._index is not None else None

    def extra_metrics(self) -> dict[str, float]:
        """Average distance computations per query since the last ``set_query_params``.

        Counts the vectors scanned in the visited inverted lists (PQ code
        look-ups for IVF-PQ), excluding the coarse-quantizer and refine steps.
        """
        if not self._nq:
            return {}
        return {"dist_comps": float(faiss.cvar.indexIVF_stats.ndis) / self._nq}

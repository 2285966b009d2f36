"""Inverted-file indexes from faiss: ``IndexIVFFlat`` and ``IndexIVFPQ``.

Build parameters:

* ``nlist`` (required): number of k-means cells (1 ≤ nlist ≤ number of train points);
* ``m`` (optional): number of product-quantiser sub-vectors; given → ``IndexIVFPQ``,
  absent → ``IndexIVFFlat``; must divide the dimension;
* ``nbits`` (optional, default 8, only with ``m``): bits per PQ code;
* ``refine`` (optional, default false): wrap the index in ``IndexRefineFlat`` so the
  ``k × k_factor`` best candidates are re-ranked with exact distances.

Query parameters: ``nprobe`` (cells visited, clamped to ``nlist``) and, with ``refine``,
``k_factor``.  Training uses the train set, or a seeded sample of 100,000 points when it is larger
(faiss subsamples further to 256 points per cell, with its own fixed clustering seed), so builds
are deterministic.  ``dist_comps`` counts the vectors scanned in the visited inverted lists (PQ
code look-ups for IVF-PQ), excluding the coarse-quantizer and refine steps.  Metrics, threads and
size: ``algorithms/faiss_base.py``.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from algorithms.faiss_base import FaissAdapter
from harness.kit import REQUIRED, Param

MAX_TRAIN = 100_000
SEED = 1234


class FaissIVF(FaissAdapter):
    build_parameters = (Param("nlist", int, REQUIRED, low=1), Param("m", int, None, low=1),
                        Param("nbits", int, None, low=1, high=16), Param("refine", bool, False))
    query_parameters = (Param("nprobe", int, 1, low=1), Param("k_factor", float, None, low=1))
    stats = staticmethod(lambda: faiss.cvar.indexIVF_stats)

    def __init__(self, metric: str, **build_params: Any) -> None:
        super().__init__(metric, **build_params)
        if self.build_params["nbits"] is not None and self.build_params["m"] is None:
            raise ValueError(f"{self.label}: nbits is only meaningful with m (IVF-PQ)")

    def fit(self, dataset) -> None:
        nlist, m, refine = self.build_params["nlist"], self.build_params["m"], self.build_params["refine"]
        nbits = self.build_params["nbits"] or 8
        x = self.vectors(dataset.train)
        n, d = x.shape
        if nlist > n:
            raise ValueError(f"{self.label}: nlist={nlist} exceeds the number of train points ({n})")
        if m is not None and d % m:
            raise ValueError(f"{self.label}: m={m} must divide the dimension {d}")
        if m is not None and n < (1 << nbits):
            raise ValueError(f"{self.label}: nbits={nbits} needs at least {1 << nbits} train points, got {n}")
        self._quantizer = faiss.IndexFlatL2(d) if self.metric == "euclidean" else faiss.IndexFlatIP(d)
        if m is None:
            self._ivf = faiss.IndexIVFFlat(self._quantizer, d, nlist, self.faiss_metric)
        else:
            self._ivf = faiss.IndexIVFPQ(self._quantizer, d, nlist, m, nbits, self.faiss_metric)
            self._ivf.pq.cp.seed = SEED
        self._ivf.cp.seed = SEED
        sample = x[np.sort(np.random.default_rng(SEED).choice(n, MAX_TRAIN, replace=False))] if n > MAX_TRAIN else x
        self._ivf.train(sample)
        # IndexRefineFlat must wrap the still-empty IVF: its add() fills both the IVF and the flat
        # copy of the vectors used for re-ranking.  The Python owners of the wrapped indexes are
        # kept (self._quantizer, self._ivf) so that they stay alive.
        self._index = faiss.IndexRefineFlat(self._ivf) if refine else self._ivf
        self._index.add(x)
        self.apply_query_params()

    def restore(self) -> None:
        m, refine = self.build_params["m"], self.build_params["refine"]
        if refine:
            self._expect(self._index, faiss.IndexRefineFlat, "top (refine: true)")
        self._ivf = faiss.downcast_index(self._index.base_index) if refine else self._index
        self._expect(self._ivf, faiss.IndexIVFFlat if m is None else faiss.IndexIVFPQ, "IVF")
        found = (self._ivf.nlist, *((self._ivf.pq.M, self._ivf.pq.nbits) if m is not None else ()))
        wanted = (self.build_params["nlist"], *((m, self.build_params["nbits"] or 8) if m is not None else ()))
        if found != wanted:
            raise ValueError(f"{self.label}: the saved IVF has (nlist, m, nbits) {found}, this build {wanted}")
        self._quantizer = self._ivf.quantizer  # owned by the loaded IVF

    def apply_query_params(self) -> None:
        if self.query_params.get("k_factor") is not None and not self.build_params["refine"]:
            raise ValueError(f"{self.label}: k_factor needs the build parameter refine: true")
        if hasattr(self, "_ivf"):
            self._ivf.nprobe = min(self.query_params["nprobe"], self.build_params["nlist"])
            if self.build_params["refine"]:
                self._index.k_factor = self.query_params["k_factor"] or 1.0
        super().apply_query_params()

"""IVF-PQ after an OPQ rotation, from faiss (factory ``OPQ{m},IVF{nlist},PQ{m}np``: ``IndexPreTransform``
of an ``OPQMatrix`` over ``IndexIVFPQ``), optionally re-ranked exactly (``IndexRefineFlat``).

OPQ learns a rotation of the space that lowers the product quantizer's error (alternating PQ
k-means and an orthogonal Procrustes step), then k-means splits the rotated vectors into ``nlist``
cells and each residual is coded by ``m`` bytes (8-bit PQ); a query scans the codes of the
``nprobe`` nearest cells.

Build parameters:

* ``nlist`` (required): number of k-means cells (1 ≤ nlist ≤ number of train points);
* ``d_per_m`` (default 4): dimensions per sub-quantizer, so ``m = d / d_per_m`` bytes per code;
  expressed relative to the dimension so that one grid fits every dataset (d_per_m=4: m=16 on
  64-d, 64 on 256-d, 196 on 784-d).  It must divide d; 8-bit PQ needs at least 256 train points;
* ``refine`` (optional, default false): wrap the index in ``IndexRefineFlat`` so the
  ``k × k_factor`` best candidates are re-ranked with exact distances (it keeps a float32 copy of
  the vectors, counted in the index size).

Query parameters: ``nprobe`` (cells visited, clamped to ``nlist``) and, with ``refine``,
``k_factor``.  Training uses the train set, or a seeded sample of 100,000 points when it is larger,
with seeded k-means, so builds are deterministic.  The OPQ step departs from faiss's defaults, which
cost minutes on one core (measured: 207 s on 117k × 256 with m=64, 161 s on 9k × 784): it trains
10 iterations (faiss: 50; the first PQ fit 10 k-means iterations, faiss: 40) on at most 16,384
points (faiss: 65,536), starting from the identity rather than faiss's random rotation (with a
short training the random start left MNIST's PQ error several times that of no rotation; from
the identity it can only improve on plain PQ's training error).  ``np`` skips faiss's polysemous
code training, which the search does not use (it took ~4 minutes on 256-d).  ``dist_comps`` counts
the codes scanned in the visited lists, excluding the coarse-quantizer and refine steps.  Metrics
(angular: inner product over normalised vectors), threads (``faiss.omp_set_num_threads``: 1, N with ``--threads N``) and
size (serialised bytes): ``algorithms/faiss_base.py``.
"""

from __future__ import annotations

import faiss
import numpy as np

from algorithms.faiss_base import FaissFactoryIVF
from harness.kit import Param

OPQ_NITER, OPQ_NITER_FIRST, OPQ_MAX_TRAIN = 10, 10, 16_384


class FaissOPQ(FaissFactoryIVF):
    build_parameters = (*FaissFactoryIVF.build_parameters, Param("d_per_m", int, 4, low=1),
                        Param("refine", bool, False))

    def check_data(self, n: int, d: int) -> None:
        self.d_over(d, "d_per_m")
        if n < 256:
            raise ValueError(f"{self.label}: 8-bit product quantization needs at least 256 train points, got {n}")

    def factory(self, d: int) -> str:
        m = self.d_over(d, "d_per_m")
        return f"OPQ{m},IVF{self.build_params['nlist']},PQ{m}np"

    def prepare(self) -> None:
        opq = faiss.downcast_VectorTransform(self._base.chain.at(0))
        opq.niter, opq.niter_pq_0, opq.max_train_points = OPQ_NITER, OPQ_NITER_FIRST, OPQ_MAX_TRAIN
        faiss.copy_array_to_vector(np.eye(opq.d_in, dtype=np.float32).ravel(), opq.A)  # start from no rotation

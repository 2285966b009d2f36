"""IVF with a 4-bit product quantizer searched by faiss's SIMD "fast scan" (factory
``IVF{nlist},PQ{m}x4fs``: ``IndexIVFPQFastScan``), always re-ranked exactly (``IndexRefineFlat``).

k-means splits the vectors into ``nlist`` cells; every vector is cut into ``m`` sub-vectors, each
coded by 4 bits (16 centroids), so the distance tables fit SIMD registers and a query scans the
codes of the ``nprobe`` nearest cells very fast but coarsely.  Its ``k × k_factor`` best candidates
are then re-ranked with exact distances from a float32 copy of the vectors (counted in the size).

Build parameters:

* ``nlist`` (required): number of k-means cells (1 ≤ nlist ≤ number of train points);
* ``d_per_m`` (default 2): dimensions per sub-quantizer, so ``m = d / d_per_m`` and a code takes
  ``m / 2`` bytes; expressed relative to the dimension so that one grid fits every dataset
  (d_per_m=2: m=32 on 64-d, 128 on 256-d, 392 on 784-d).  It must divide d.  faiss takes any m
  (it pads an odd m with an empty sub-quantizer) and needs at least 16 train points.

Query parameters: ``nprobe`` (cells visited, clamped to ``nlist``) and ``k_factor`` (default 1).
Codes are not residuals from the centroid (faiss's ``fs``, not ``fsr``: one distance table per
query instead of one per visited cell).  Training uses the train set, or a seeded sample of 100,000
points when it is larger, with seeded k-means, so builds are deterministic.  ``dist_comps`` counts
the codes scanned in the visited lists, excluding the coarse-quantizer and refine steps.  Metrics
(angular: inner product over normalised vectors), threads (``faiss.omp_set_num_threads``: 1, N with ``--threads N``) and
size (serialised bytes): ``algorithms/faiss_base.py``.
"""

from __future__ import annotations

from algorithms.faiss_base import FaissFactoryIVF
from harness.kit import Param


class FaissIVFPQFastScan(FaissFactoryIVF):
    build_parameters = (*FaissFactoryIVF.build_parameters, Param("d_per_m", int, 2, low=1))
    always_refine = True

    def check_data(self, n: int, d: int) -> None:
        self.d_over(d, "d_per_m")
        if n < 16:
            raise ValueError(f"{self.label}: 4-bit product quantization needs at least 16 train points, got {n}")

    def factory(self, d: int) -> str:
        return f"IVF{self.build_params['nlist']},PQ{self.d_over(d, 'd_per_m')}x4fs"

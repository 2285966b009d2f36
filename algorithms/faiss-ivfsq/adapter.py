"""IVF with an 8-bit scalar quantizer from faiss (factory ``IVF{nlist},SQ8``: ``IndexIVFScalarQuantizer``).

k-means splits the vectors into ``nlist`` cells; each vector is stored as its residual from its
cell's centroid, one byte per dimension (each dimension's training range in 256 steps), so a query
scans the codes of the ``nprobe`` nearest cells with approximate distances.

Build parameters:

* ``nlist`` (required): number of k-means cells (1 ≤ nlist ≤ number of train points);
* ``refine`` (optional, default false): wrap the index in ``IndexRefineFlat`` so the
  ``k × k_factor`` best candidates are re-ranked with exact distances (it keeps a float32 copy of
  the vectors, counted in the index size).

Query parameters: ``nprobe`` (cells visited, clamped to ``nlist``) and, with ``refine``,
``k_factor``.  Training uses the train set, or a seeded sample of 100,000 points when it is larger,
as faiss-ivf does, so builds are deterministic.  ``dist_comps`` counts the codes scanned in the
visited lists, excluding the coarse-quantizer and refine steps.  Metrics (angular: inner product
over normalised vectors), threads (``faiss.omp_set_num_threads``: 1, N with ``--threads N``) and
size (serialised bytes): ``algorithms/faiss_base.py``.
"""

from __future__ import annotations

from algorithms.faiss_base import FaissFactoryIVF
from harness.kit import Param


class FaissIVFSQ(FaissFactoryIVF):
    build_parameters = (*FaissFactoryIVF.build_parameters, Param("refine", bool, False))

    def factory(self, d: int) -> str:
        return f"IVF{self.build_params['nlist']},SQ8"

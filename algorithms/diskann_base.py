"""What the two DiskANN adapters share (``diskann``: the in-memory Vamana graph; ``diskann-ssd``): the
Vamana build parameters and their check, the OpenMP limit, the search list per k, the index size.

diskannpy 0.7.0 pins numpy 1.25: both adapters run in a virtualenv of their own and import
diskannpy only inside their methods (so the project's interpreter can list them and check their
parameters).
"""

from __future__ import annotations

import os

from harness.kit import DENSE, Algorithm, Param

PREFIX = "ann"  # diskannpy's index_prefix: the file names of an index


class DiskANNBase(Algorithm):
    accepts = frozenset({DENSE})
    # R, the graph's maximum degree, and L, the candidate list of the build's greedy searches.
    build_parameters = (Param("graph_degree", int, 64, low=1), Param("complexity", int, 100, low=1))
    _n = 0  # points indexed (set by fit)
    _dir = ""  # the index's folder (set by fit)

    def __init__(self, metric: str, **build_params) -> None:
        super().__init__(metric, **build_params)
        if self.build_params["complexity"] < self.build_params["graph_degree"]:
            raise ValueError(f"{self.label}: build complexity (L={self.build_params['complexity']}) must be at least "
                             f"graph_degree (R={self.build_params['graph_degree']}): the build's candidate list "
                             "is where each node's R neighbours are chosen from")

    @classmethod
    def limit_threads(cls, threads: int = 1) -> None:  # no parallel_batch: always asked for 1
        import diskannpy  # noqa: F401 (loads its libgomp, which threadpoolctl can then limit)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="openmp")

    def apply_query_params(self) -> None:
        self._k = None  # the list size is set for the next k asked

    def _list_for(self, k: int) -> None:
        """Set ``_kk`` (ids asked of diskannpy) and ``_L`` (its search list) for ``k``: at most n ids
        exist (diskannpy returns garbage past n), and the list must hold them (L >= k)."""
        if k != self._k:
            self._k, self._kk = k, min(k, self._n)
            self._L = max(self.query_params["complexity"], self._kk)

    def index_size_bytes(self) -> int:
        return sum(os.path.getsize(os.path.join(self._dir, f)) for f in os.listdir(self._dir))

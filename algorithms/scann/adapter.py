"""ScaNN (``scann`` 1.4.2): k-means tree partitioning, anisotropic vector quantization, exact re-ranking.

The train set is split into ``num_leaves`` k-means partitions; a query scores the points of its
``leaves_to_search`` nearest partitions with asymmetric hashing (product quantization with 16
centres per block of ``dims_per_block`` dimensions, looked up through int8 LUT16 tables), and the
``reorder_k`` best of those are re-scored exactly (float32) to give the top ``k``.

Build parameters: ``num_leaves`` (required; at most the number of train points),
``dims_per_block`` (dimensions per quantization block: 1 → 4 bits per dimension, 2 → 2 bits,
4 → 1 bit...; a last shorter block takes the remainder), ``anisotropic_threshold`` (the score
threshold T of anisotropic quantization, in (0, 1), for inner product only; default 0.2, ScaNN's
recommended value; isotropic for euclidean), ``reorder`` (default true: exact re-scoring of the
candidates) and ``training_sample_size`` (points sampled, with ScaNN's fixed seed, to train the
partitions and the quantizer; default 100,000, ScaNN's own).
Query parameters: ``leaves_to_search`` (clamped to ``num_leaves``) and ``reorder_k`` (candidates
re-scored, only with ``reorder``; default 100; raised to ``k`` when smaller).  Most exact:
``leaves_to_search = num_leaves`` and ``reorder_k`` ≥ the number of train points.

Distances: euclidean → ``squared_l2``; ip → ``dot_product``; angular → ``dot_product`` over
normalised train and query vectors (ScaNN has no cosine).

Determinism: ScaNN's random partition initialisation (its default) ignores ``clustering_seed``:
two builds of one config differ (measured: 89 % of the points not kept together with the rest of
their leaf), so the partitions are initialised with k-means++ (``random_init=False``), which is
seeded; so are the training samples and the quantizer.  Builds are then identical byte for byte,
across processes; k-means++ costs up to ~40 % of the build time (1,000 leaves on 117k × 256).

Threads: ``builder.set_n_training_threads(1)`` (ScaNN's default 0 trains on every core) and
``searcher.set_num_threads(1)`` (the pool of ``search_batched_parallel``, which is never called).
Batch mode calls ``search_batched`` with ``parallel=False`` and single mode ``search``: both run in
the caller's thread.  ScaNN still starts one pool thread per searcher; it stays idle (asleep)
while queries run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import numpy as np
import scann

from harness.kit import DENSE, REQUIRED, Algorithm, Param, normalize_rows

_MEASURES = {"angular": "dot_product", "ip": "dot_product", "euclidean": "squared_l2"}
_REORDER_K = 100  # default number of candidates re-scored exactly
_AH_CENTRES = 16  # centres per block of ScaNN's LUT16 asymmetric hashing: AH needs that many points


class Scann(Algorithm):
    accepts = frozenset({DENSE})
    distances = frozenset(_MEASURES)
    build_parameters = (
        Param("num_leaves", int, REQUIRED, low=1, help="number of k-means partitions"),
        Param("dims_per_block", int, 2, choices=(1, 2, 3, 4, 8)),
        Param("anisotropic_threshold", float, None, low=0.0, low_open=True),
        Param("reorder", bool, True),
        Param("training_sample_size", int, 100_000, low=1),
    )
    query_parameters = (Param("leaves_to_search", int, 1, low=1), Param("reorder_k", int, None, low=1))
    fixed_parameters = {"training_threads": "held to 1 (single-thread benchmark)",
                        "num_threads": "held to 1 (single-thread benchmark)"}

    def __init__(self, metric: str, **build_params: Any) -> None:
        super().__init__(metric, **build_params)
        threshold = self.build_params["anisotropic_threshold"]
        if threshold is not None and metric == "euclidean":
            raise ValueError(f"{self.label}: anisotropic_threshold applies to inner product (angular, ip) only, "
                             f"not to {metric}")
        if threshold is not None and threshold >= 1.0:
            raise ValueError(f"{self.label}: anisotropic_threshold must be a number in (0, 1), got {threshold!r}")
        self._searcher = None

    def _vectors(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return normalize_rows(x) if self.metric == "angular" else x

    def fit(self, dataset) -> None:
        p = self.build_params
        x = self._vectors(dataset.train)
        n = x.shape[0]
        if p["num_leaves"] > n:
            raise ValueError(f"{self.label}: num_leaves={p['num_leaves']} exceeds the number of train points ({n})")
        if n < _AH_CENTRES:
            raise ValueError(f"{self.label}: asymmetric hashing needs at least {_AH_CENTRES} train points, got {n}")
        dot = _MEASURES[self.metric] == "dot_product"
        threshold = p["anisotropic_threshold"] or (0.2 if dot else None)
        builder = scann.scann_ops_pybind.builder(x, 10, _MEASURES[self.metric])
        builder = builder.tree(num_leaves=p["num_leaves"], num_leaves_to_search=p["num_leaves"],
                               training_sample_size=p["training_sample_size"], random_init=False)
        builder = builder.score_ah(p["dims_per_block"], training_sample_size=p["training_sample_size"],
                                   anisotropic_quantization_threshold=float("nan") if threshold is None else threshold)
        if p["reorder"]:
            builder = builder.reorder(_REORDER_K)
        builder.set_n_training_threads(1)
        self._searcher = builder.build()
        self._searcher.set_num_threads(1)
        self._search, self._batch = self._searcher.searcher.search, self._searcher.searcher.search_batched
        self._size = None
        self.apply_query_params()

    def apply_query_params(self) -> None:
        q = self.query_params
        if q["reorder_k"] is not None and not self.build_params["reorder"]:
            raise ValueError(f"{self.label}: reorder_k needs the build parameter reorder: true")
        self._leaves = min(q["leaves_to_search"], self.build_params["num_leaves"])
        self._reorder_k = (q["reorder_k"] or _REORDER_K) if self.build_params["reorder"] else 0

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        if self.metric == "angular":
            vector = vector / max(float(np.linalg.norm(vector)), 1e-30)
        # Without reordering, the AH top k are the answer: ScaNN then ignores pre_reorder_num_neighbors.
        ids = self._search(vector, k, max(self._reorder_k, k), self._leaves)[0]
        return ids.astype(np.int64)

    def batch_query(self, queries: np.ndarray, k: int) -> np.ndarray:
        ids, dists = self._batch(self._vectors(queries), k, max(self._reorder_k, k), self._leaves, False, 0)
        out = ids.astype(np.int64)
        # ScaNN pads rows with fewer than k results (k > n, or few points in the leaves searched)
        # with id 0 and distance NaN.
        out[np.isnan(dists)] = -1
        return out

    def index_size_bytes(self) -> int:
        """Bytes of ScaNN's serialized searcher (partitions, codes, codebooks, float32 vectors for reordering)."""
        if self._size is None:
            folder = tempfile.mkdtemp(prefix="annsweep-scann-")
            try:
                self._searcher.serialize(folder)
                self._size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        return self._size

"""Hybrid retrieval pipelines over a multi-representation dataset (``cranfield``, ``wordnet``).

A pipeline is built from existing adapters, each on one representation of the collection
(named, or by role: ``dense``, ``sparse``, ``lexical``), and answers a query as one unit, so the
runner times both stages on one core.  Three shapes, chosen by the build parameters::

    stage1: {algorithm: blocked, representation: sparse, build: {...}}    # retrieval alone
    stage1: {...}, rerank: {representation: dense, storage: memory|mmap}   # re-ranking
    stage1: {...}, stage2: {algorithm: hnswlib, representation: dense, build: {...}}   # fusion

* **re-rank** (BiDR, Xiao et al., "Distill-VQ" / "Bi-Granular Document Representation", WWW
  2022): stage 1 retrieves ``max(k, candidates)`` ids; the first ``candidates`` of them (k') are
  scored exactly under the re-rank representation and sorted; the rest keep stage 1's order
  (re-rank depth k', as in IR re-ranking).  The re-rank vectors are held in memory, or
  memory-mapped from the dataset file (``storage: mmap``, the BiDR setting of vectors kept on
  disk): only the candidates' rows are read, and the bytes read per query are counted.
* **fusion** ("To Interpolate or not to Interpolate", Wang et al. 2022; RRF, Cormack et al.
  2009): both retrievers return ``max(k, candidates)`` ids, fused by ``fusion: rrf`` or
  ``fusion: interpolate`` (``alpha`` on stage 1's normalised scores, ``normalisation``
  ``minmax`` or ``zscore``), see ``fusion.py``.  The scores interpolated are the exact scores
  of each retriever's candidates under its own representation (adapters return ids only; for a
  text representation, its BM25 reference vectors).

Query parameters: ``candidates`` (k'), ``stage1`` / ``stage2`` (each stage adapter's own query
parameters, a mapping), ``fusion``, ``alpha``, ``normalisation``; one build yields a frontier.
A stage adapter that fails (bad parameters, an exception, a crash) fails the pipeline's run.

kNN recall of a pipeline run is measured against exact search under its *final*
representation (re-rank: the re-rank representation; otherwise stage 1's), see
``reference_representation``; the qrels metrics (nDCG@10, R@100, RR@10) measure the task.
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil
import scipy.sparse as sp

from algorithms.pipeline import fusion
from harness import paths
from harness.data.dataset import MULTI, Dataset, QuerySet
from harness.kit import REQUIRED, Algorithm, Catalogue, Param

NAME = "pipeline"
STAGE_KEYS = {"algorithm", "representation", "build"}
RERANK_KEYS = {"representation", "storage"}
STORAGES = ("memory", "mmap")
FUSION_ONLY = {"fusion", "alpha", "normalisation"}


@dataclass
class StageSpec:
    """One retriever of the pipeline: an adapter (by folder name) on one representation."""

    algorithm: str
    representation: str
    build: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, role: str, value: Any) -> StageSpec:
        if not isinstance(value, dict) or not {"algorithm", "representation"} <= set(value):
            raise ValueError(f"{NAME}: {role} must be a mapping with 'algorithm' and 'representation' "
                             f"(and optionally 'build'), got {value!r}")
        unknown = set(value) - STAGE_KEYS
        if unknown:
            raise ValueError(f"{NAME}: {role} has unknown key(s) {sorted(unknown)} (known: {sorted(STAGE_KEYS)})")
        if not isinstance(value.get("build") or {}, dict):
            raise ValueError(f"{NAME}: {role}.build must be a mapping of build parameters")
        if value["algorithm"] == NAME:
            raise ValueError(f"{NAME}: {role} cannot itself be a pipeline")
        return cls(str(value["algorithm"]), str(value["representation"]), dict(value.get("build") or {}))


class Stage:
    """A built retriever: the adapter, the representation it searches, and its name in errors."""

    def __init__(self, role: str, spec: StageSpec, dataset: Dataset, catalogue: Catalogue) -> None:
        self.role = role
        self.spec = spec
        self.view = dataset.representation(spec.representation)
        self.representation = self.view.representation_name
        definition = catalogue.get(spec.algorithm)
        try:
            self.adapter = catalogue.instantiate(definition, spec.build, self.view)
        except ValueError as exc:  # refused by the catalogue or by the stage's parameter checks
            raise ValueError(f"{NAME}: {role} {exc}") from exc
        self.adapter.fit(self.view)

    @property
    def label(self) -> str:
        return f"{self.representation}:{self.spec.algorithm}"


class ExactScorer:
    """Exact scores (higher is better) of candidate rows under one representation.

    The vectors come from the dataset either read into memory or memory-mapped from its file
    (``Dataset.vectors(mapped=True)``: no copy, pages are read when a candidate's row is first
    touched).  Dense rows: ``X[ids]`` then a dot product (cosine for angular, minus the L2
    distance for euclidean), the same code for both storages.  Sparse rows (CSR): in memory,
    scipy's row gather; memory-mapped, the candidates' slices of ``indices`` and ``data`` are
    gathered with numpy (touching only those slices) and dotted with the query as a dense vector.
    """

    def __init__(self, view: Dataset, storage: str) -> None:
        if storage not in STORAGES:
            raise ValueError(f"{NAME}: storage must be one of {', '.join(STORAGES)}, got {storage!r}")
        self.storage = storage
        self.distance = view.distance
        self.path = view.path.resolve()
        self.sparse = view.representation_kind != "dense"
        self.dimension = view.dimension
        stored = view.vectors("train", mapped=storage == "mmap")
        if self.sparse:
            self.indptr, self.indices, self.data = arrays = stored[:3]
            self.row_bytes = 0.0
            # In memory, scipy gathers the candidates' rows in C (measured 4× faster than the
            # numpy gather below on Cranfield's SPLADE vectors, 243 terms per document on average).
            self.csr = (sp.csr_matrix((self.data, self.indices, self.indptr), shape=stored.shape)
                        if storage == "memory" else None)
        else:
            self.vectors = stored
            self.row_bytes = float(self.vectors.shape[1] * self.vectors.dtype.itemsize)
            arrays = [self.vectors]
        self.nbytes = int(sum(a.nbytes for a in arrays))
        self.scored = 0  # candidates scored since the last reset
        self.bytes_read = 0.0
        self.queries = 0

    def scores(self, query: Any, ids: np.ndarray) -> np.ndarray:
        """Exact scores of rows ``ids`` (valid, ≥ 0) for one query (a dense row or a 1×d CSR row)."""
        self.queries += 1
        self.scored += len(ids)
        if self.sparse:
            return self._sparse_scores(query, ids)
        self.bytes_read += len(ids) * self.row_bytes
        rows = np.asarray(self.vectors[ids], dtype=np.float32)
        q = np.asarray(query, dtype=np.float32).ravel()
        if self.distance == "euclidean":
            return -np.sqrt(((rows - q) ** 2).sum(axis=1))
        dots = rows @ q
        if self.distance == "angular":
            norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(q)
            return dots / np.maximum(norms, 1e-30)
        return dots

    def _sparse_scores(self, query: Any, ids: np.ndarray) -> np.ndarray:
        row = sp.csr_matrix(query)
        dense_q = np.zeros(self.dimension, dtype=np.float32)
        dense_q[row.indices] = row.data
        starts = np.asarray(self.indptr[ids], dtype=np.int64)
        lengths = np.asarray(self.indptr[ids + 1], dtype=np.int64) - starts
        total = int(lengths.sum())
        self.bytes_read += 2 * len(ids) * self.indptr.dtype.itemsize + total * (
            self.indices.dtype.itemsize + self.data.dtype.itemsize)
        if total == 0:
            return np.zeros(len(ids), dtype=np.float32)
        if self.csr is not None:
            return self.csr[ids] @ dense_q
        # Positions of every candidate's entries: start of its slice + offset within it.
        first = np.cumsum(lengths) - lengths
        positions = np.repeat(starts - first, lengths) + np.arange(total)
        products = dense_q[np.asarray(self.indices[positions])] * np.asarray(self.data[positions], dtype=np.float32)
        return np.bincount(np.repeat(np.arange(len(ids)), lengths), weights=products, minlength=len(ids))

    def resident_bytes(self) -> int:
        """Bytes of the vectors in this process's memory: all of them, or the mapped pages touched."""
        if self.storage == "memory":
            return self.nbytes
        path = str(self.path)
        return int(sum(m.rss for m in psutil.Process().memory_maps(grouped=False) if m.path == path))

    def reset(self) -> None:
        self.scored, self.bytes_read, self.queries = 0, 0.0, 0


class Pipeline(Algorithm):
    """Stage-1 retrieval, then nothing, an exact re-rank, or fusion with a second retriever."""

    accepts = frozenset({MULTI})
    distances = frozenset({"angular", "euclidean", "ip"})
    build_parameters = (Param("stage1", dict, REQUIRED, help="a mapping: algorithm, representation, build"),
                        Param("rerank", dict, None, help="a mapping: representation, storage"),
                        Param("stage2", dict, None, help="a mapping: algorithm, representation, build"))
    # A stage's query parameters: its adapter's own (None or absent: that adapter's defaults).
    query_parameters = (Param("candidates", int, None, low=1), Param("stage1", dict, None),
                        Param("stage2", dict, None),
                        Param("fusion", str, "rrf", choices=("rrf", "interpolate")),
                        Param("alpha", float, 0.5, low=0, high=1),
                        Param("normalisation", str, "minmax", choices=("minmax", "zscore")))

    def __init__(self, metric: str, **build_params: Any) -> None:
        super().__init__(metric, **build_params)
        stage1, rerank, stage2 = (self.build_params[key] for key in ("stage1", "rerank", "stage2"))
        if rerank is not None and stage2 is not None:
            raise ValueError(f"{self.label}: give either 'rerank' or 'stage2' (fusion), not both")
        self.stage1_spec = StageSpec.parse("stage1", stage1)
        self.stage2_spec = StageSpec.parse("stage2", stage2) if stage2 is not None else None
        if rerank is not None:
            if "representation" not in rerank or set(rerank) - RERANK_KEYS:
                raise ValueError(f"{self.label}: rerank must be a mapping with 'representation' and optionally "
                                 f"'storage' ({' or '.join(STORAGES)}), got {rerank!r}")
            if rerank.get("storage", "memory") not in STORAGES:
                raise ValueError(f"{self.label}: rerank storage must be one of {', '.join(STORAGES)}, "
                                 f"got {rerank['storage']!r}")
        self.rerank_spec = dict(rerank) if rerank is not None else None
        self.shape = "rerank" if rerank is not None else "fuse" if stage2 is not None else "retrieve"
        # Filled in by fit: representation names are resolved against the dataset.
        self.stage1: Stage | None = None
        self.stage2: Stage | None = None
        self.reranker: ExactScorer | None = None
        self.fusion_scorers: tuple[ExactScorer, ExactScorer] | None = None
        self.reference_representation: str | None = None
        self._faults = (0, 0)

    # --- building -----------------------------------------------------------
    def fit(self, dataset: Dataset) -> None:
        # Stages are made by the catalogue that made this pipeline (the sweep's algorithms folder);
        # a pipeline made directly looks in the algorithms folder, then in the project's.
        catalogue = self.catalogue or Catalogue(fallback=paths.PROJECT_ALGORITHMS)
        self.stage1 = Stage("stage1", self.stage1_spec, dataset, catalogue)
        self.reference_representation = self.stage1.representation
        if self.stage2_spec is not None:
            self.stage2 = Stage("stage2", self.stage2_spec, dataset, catalogue)
            # Interpolation needs each candidate list's scores under its retriever's representation.
            self.fusion_scorers = (ExactScorer(self.stage1.view, "memory"), ExactScorer(self.stage2.view, "memory"))
        if self.rerank_spec is not None:
            view = dataset.representation(self.rerank_spec["representation"])
            self.reranker = ExactScorer(view, self.rerank_spec.get("storage", "memory"))
            self.reference_representation = view.representation_name

    def set_query_params(self, **params: Any) -> None:
        if self.shape != "fuse":
            given = FUSION_ONLY & set(params)
            if given:
                raise ValueError(f"{self.label}: {sorted(given)} apply to fusion pipelines (with stage2) only")
            if "stage2" in params:
                raise ValueError(f"{self.label}: query parameters for stage2 given, but this pipeline has no stage2")
        super().set_query_params(**params)

    def apply_query_params(self) -> None:
        for stage in (self.stage1, self.stage2):
            if stage is not None:
                stage.adapter.set_query_params(**(self.query_params[stage.role] or {}))
        for scorer in self._scorers():
            scorer.reset()
        self._faults = _page_faults()

    def _scorers(self) -> list[ExactScorer]:
        return [s for s in (self.reranker, *(self.fusion_scorers or ())) if s is not None]

    def warm_up(self, queries: QuerySet, k: int) -> None:
        depth = self._depth(k)
        for stage in (self.stage1, self.stage2):
            if stage is not None:
                stage.adapter.warm_up(queries.by_representation[stage.representation], depth)

    # --- querying -----------------------------------------------------------
    def _depth(self, k: int) -> int:
        candidates = self.query_params["candidates"]
        return max(k, candidates) if candidates is not None else k

    def query(self, vector: dict[str, Any], k: int) -> np.ndarray:
        stage1 = self._require_fit()
        depth = self._depth(k)
        first = _valid(stage1.adapter.query(vector[stage1.representation], depth))
        if self.shape == "fuse":
            second = _valid(self.stage2.adapter.query(vector[self.stage2.representation], depth))
            return self._fuse(first, second, k, vector.__getitem__)
        if self.shape == "rerank":
            return self._rerank(vector[self.reference_representation], first, k)
        return first[:k]

    def batch_query(self, queries: QuerySet, k: int) -> np.ndarray:
        stage1 = self._require_fit()
        depth = self._depth(k)
        nq = len(queries)
        out = np.full((nq, k), -1, dtype=np.int64)
        by_representation = queries.by_representation
        first = np.asarray(stage1.adapter.batch_query(by_representation[stage1.representation], depth))
        if self.shape == "retrieve":
            out[:, : min(k, first.shape[1])] = first[:, :k]
            return out
        if self.shape == "fuse":
            second = np.asarray(self.stage2.adapter.batch_query(by_representation[self.stage2.representation], depth))
            for i in range(nq):  # a query's rows are sliced only if interpolation scores them
                ids = self._fuse(_valid(first[i]), _valid(second[i]), k, lambda r, i=i: by_representation[r][i])
                out[i, : len(ids)] = ids
            return out
        target = by_representation[self.reference_representation]
        for i in range(nq):
            ids = self._rerank(target[i], _valid(first[i]), k)
            out[i, : len(ids)] = ids
        return out

    def _rerank(self, query: Any, ids: np.ndarray, k: int) -> np.ndarray:
        """The first ``candidates`` ids sorted by exact score under the re-rank representation (``query``
        is the query in it; ties by id), then the rest of stage 1's list in its order."""
        head = ids[: self.query_params["candidates"] or k]
        scores = self.reranker.scores(query, head)
        order = np.lexsort((head, -scores))
        return np.concatenate([head[order], ids[len(head):]])[:k]

    def _fuse(self, first: np.ndarray, second: np.ndarray, k: int, query_in: Callable[[str], Any]) -> np.ndarray:
        """Fused top ``k``; ``query_in(representation)`` gives the query in a representation (interpolation only)."""
        if self.query_params["fusion"] == "rrf":
            return fusion.reciprocal_rank_fusion([first, second], k)[0]
        scorer1, scorer2 = self.fusion_scorers
        a = (first, scorer1.scores(query_in(self.stage1.representation), first))
        b = (second, scorer2.scores(query_in(self.stage2.representation), second))
        return fusion.interpolate(a, b, float(self.query_params["alpha"]), k, self.query_params["normalisation"])[0]

    def _require_fit(self) -> Stage:
        if self.stage1 is None:
            raise RuntimeError(f"{self.label}: query called before fit()")
        return self.stage1

    # --- facts ----------------------------------------------------------------
    def series(self) -> str:
        """The curve a run is drawn on: the pipeline's shape and stages (and fusion method)."""
        first = (f"{self.stage1.label}" if self.stage1 is not None else
                 f"{self.stage1_spec.representation}:{self.stage1_spec.algorithm}")
        if self.shape == "rerank":
            where = self.reranker.storage if self.reranker is not None else self.rerank_spec.get("storage", "memory")
            target = self.reference_representation or self.rerank_spec["representation"]
            return f"{first} → {target} re-rank ({where})"
        if self.shape == "fuse":
            second = (self.stage2.label if self.stage2 is not None else
                      f"{self.stage2_spec.representation}:{self.stage2_spec.algorithm}")
            fusion, normalisation = self.query_params["fusion"], self.query_params["normalisation"]
            how = "RRF" if fusion == "rrf" else f"interpolation ({normalisation})"
            return f"{first} + {second} {how}"
        return first

    def index_size_bytes(self) -> int | None:
        """Stage indexes plus re-rank vectors held in memory (memory-mapped ones are on disk)."""
        sizes = [s.adapter.index_size_bytes() for s in (self.stage1, self.stage2) if s is not None]
        if any(size is None for size in sizes):
            return None
        in_memory = self.reranker.nbytes if self.reranker is not None and self.reranker.storage == "memory" else 0
        fusion_vectors = sum(s.nbytes for s in self.fusion_scorers or ())
        return int(sum(sizes) + in_memory + fusion_vectors)

    def extra_metrics(self) -> dict[str, float]:
        facts: dict[str, float] = {}
        for stage in (self.stage1, self.stage2):
            if stage is None:
                continue
            size = stage.adapter.index_size_bytes()
            facts[f"{stage.role}_index_bytes"] = float(size) if size is not None else float("nan")
            facts.update({f"{stage.role}_{k}": v for k, v in stage.adapter.extra_metrics().items()})
        if self.reranker is not None:
            r = self.reranker
            n = max(1, r.queries)
            minor, major = _page_faults()
            facts.update({
                "rerank_candidates_per_query": r.scored / n,
                "rerank_bytes_read_per_query": r.bytes_read / n,
                "rerank_vector_bytes": float(r.nbytes),
                "rerank_mapped_bytes": float(r.nbytes if r.storage == "mmap" else 0),
                "rerank_resident_bytes": float(r.resident_bytes()),
                # Since the query setting began (every mode and repeat so far): first touches of
                # mapped pages (minor) and reads from disk (major), whole process.
                "minor_page_faults": float(minor - self._faults[0]),
                "major_page_faults": float(major - self._faults[1]),
            })
        if self.fusion_scorers is not None:
            facts["fusion_vector_bytes"] = float(sum(s.nbytes for s in self.fusion_scorers))
        return facts


def _valid(ids: Any) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64).ravel()
    return ids[ids >= 0]


def _page_faults() -> tuple[int, int]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return int(usage.ru_minflt), int(usage.ru_majflt)

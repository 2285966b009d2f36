"""Measuring one query setting in one mode: the timed repeats (each query alone, or one batch
call), the single-thread proof around them, and the answers of the fastest repeat scored against
exact ground truth and relevance judgements, as a :class:`harness.results.RunRecord`.

Nothing an adapter remembers between repeats can pass for speed unnoticed:

* every repeat asks the queries in its own order (a seeded permutation; answers and latencies are
  put back in query order), so answers kept by position or call count are wrong answers;
* after the timed repeats, a *canary* repeat asks the same queries slightly perturbed (dense and
  sparse weights by a relative 1e-4, texts with a trailing space): as hard for an index, but new
  to a cache keyed by the query.  A canary much slower than the best repeat
  (``cache_ratio`` > ``CACHE_RATIO_LIMIT``) flags the run as ``caching_suspected``.
"""

from __future__ import annotations

import gc
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil
import scipy.sparse as sp

from harness.data.dataset import Matrix, QuerySet
from harness.data.groundtruth import distances_of
from harness.results import ProofRecord, RunRecord
from harness.run.job import WorkerJob
from harness.run.proof import PhaseMonitor, PhaseProof
from harness.run.scoring import answer_rows, knn_recall, knn_recall_ab, latency_percentiles, validate_ids

# A canary repeat slower than the best repeat by more than this factor (and by more than
# CACHE_MIN_GAP_NS, so that timer noise on a few-millisecond run cannot flag it) means the timed
# repeats were answered from memory: on perturbed queries an honest index is as fast as before
# (measured 0.9-1.5: Lucene and bm25s are up to 1.5x slower on new query strings; a memoizing
# adapter 10-700x).
CACHE_RATIO_LIMIT = 3.0
CACHE_MIN_GAP_NS = 2_000_000
PERTURBATION = 1e-4
ORDER_SEED = 20_261_129


@dataclass(frozen=True)
class AnswerKey:
    """What answers are scored against: the scored representation's vectors and exact distances,
    and, for datasets with relevance judgements, the task metrics of a ranking."""

    train: Matrix
    test: Matrix
    true_distances: np.ndarray
    distance: str
    task: Callable[[np.ndarray], dict[str, float]] | None = None
    # The exact distances in the dataset file's own dtype, which ann-benchmarks' recall (recall_ab)
    # thresholds (None: ``true_distances``).
    stored_distances: np.ndarray | None = None


def memory() -> tuple[int, int]:
    """(RSS, USS) of this process in bytes."""
    info = psutil.Process().memory_full_info()
    return int(info.rss), int(info.uss)


def run_single(algo: Any, rows: list[Any], k: int, adapter: str = "adapter") -> tuple[np.ndarray, np.ndarray, int]:
    """Each query timed alone with a monotonic ns clock; returns (ids, latencies_ns, wall_ns).

    One clock reading per query: query i's latency is stamps[i+1] - stamps[i],
    which adds only the loop's own step (tens of ns) to each latency and keeps
    the timing code's share of a fast query small.  Answers are checked after the loop.
    """
    nq = len(rows)
    clock = time.perf_counter_ns
    query = algo.query
    answers: list[Any] = [None] * nq
    stamps = [0] * (nq + 1)
    stamps[0] = clock()
    for i in range(nq):
        answers[i] = query(rows[i], k)
        stamps[i + 1] = clock()
    latencies = np.diff(np.asarray(stamps, dtype=np.int64))
    return answer_rows(answers, k, adapter), latencies, stamps[-1] - stamps[0]


def run_batch(algo: Any, queries: Any, k: int) -> tuple[np.ndarray, None, int]:
    clock = time.perf_counter_ns
    start = clock()
    ids = algo.batch_query(queries, k)
    wall = clock() - start
    return np.asarray(ids), None, wall


def take(queries: Any, order: np.ndarray) -> Any:
    """The queries in ``order``: rows of a matrix, items of a list, or every representation of a QuerySet."""
    if isinstance(queries, QuerySet):
        return QuerySet({name: take(q, order) for name, q in queries.by_representation.items()})
    if isinstance(queries, list):
        return [queries[i] for i in order]
    return queries[order]


def perturbed(queries: Any, rng: np.random.Generator) -> Any:
    """The same queries, each changed so slightly that its answer and cost stay (the canary's input)."""
    if isinstance(queries, QuerySet):
        return QuerySet({name: perturbed(q, rng) for name, q in queries.by_representation.items()})
    if isinstance(queries, list):
        return [f"{q} " for q in queries]
    if sp.issparse(queries):
        m = sp.csr_matrix(queries, copy=True)
        m.data = (m.data * (1 + PERTURBATION * rng.standard_normal(m.data.shape))).astype(m.data.dtype)
        return m
    q = np.asarray(queries)
    noise = PERTURBATION * rng.standard_normal(q.shape) * np.abs(q).mean(axis=1, keepdims=True)
    return (q + noise).astype(q.dtype)


def _rows(queries: Any) -> list[Any]:
    n = len(queries) if isinstance(queries, list | QuerySet) else queries.shape[0]
    return [queries[i] for i in range(n)]


def _repeats(once: Any, orders: list[np.ndarray], inputs: list[Any]) -> tuple[list[int], list[np.ndarray], tuple]:
    """The timed repeats: walls, per-query latencies put back in query order, and the fastest
    repeat's (order, answers)."""
    walls, all_latencies, best = [], [], None
    for order, given in zip(orders, inputs, strict=True):
        ids, latencies, wall = once(given)
        walls.append(wall)
        if latencies is not None:
            in_order = np.empty_like(latencies)
            in_order[order] = latencies
            all_latencies.append(in_order)
        if best is None or wall <= min(walls):
            best = (order, ids)
    return walls, all_latencies, best


def measure_run(algo: Any, job: WorkerJob, mode: str, params: dict[str, Any], queries: Any, key: AnswerKey,
                warmup_s: float = 0.0) -> RunRecord:
    """Time the job's repeats of one setting in ``mode`` under the proof, each in its own query order;
    then the canary; score the fastest repeat's answers against ``key``."""
    name, k, runs, cores, threads = job.algorithm, job.k, job.runs, job.pinned_cores, job.threads
    nq = key.test.shape[0]
    orders = [np.random.default_rng(ORDER_SEED + r).permutation(nq) for r in range(runs)]
    # Inputs are made before the timed phase: for single mode, the rows one by one.
    inputs = [take(queries, order) for order in orders]
    if mode == "single":
        inputs = [_rows(q) for q in inputs]

    def once(given: Any) -> tuple[np.ndarray, np.ndarray | None, int]:
        return run_single(algo, given, k, name) if mode == "single" else run_batch(algo, given, k)

    # As timeit does: no cyclic garbage collection inside the timed repeats (a pass of the
    # collector over the worker's objects would be charged to whichever query it interrupted).
    gc.collect()
    gc.disable()
    try:
        with PhaseMonitor() as monitor:
            walls, all_latencies, best = _repeats(once, orders, inputs)
    finally:
        gc.enable()
    proof = monitor.proof
    storage = bool(getattr(algo, "waits_for_storage", False))
    extra = algo.extra_metrics()
    order, permuted_ids = best
    permuted_ids = validate_ids(permuted_ids, key.train.shape[0], k, name)
    ids = np.empty_like(permuted_ids)
    ids[order] = permuted_ids
    # Each mode and setting perturbs differently: one canary must not fill a cache for another.
    canary = perturbed(queries, np.random.default_rng([ORDER_SEED, zlib.crc32(f"{mode} {params}".encode())]))
    canary_wall = once(_rows(canary) if mode == "single" else canary)[2]
    best_wall = min(walls)
    scores = distances_of(key.train, key.test, ids, key.distance)
    recall = knn_recall(scores, key.true_distances, k)
    # ann-benchmarks' d_k + 1e-3, stored beside it
    recall_ab = knn_recall_ab(scores, key.true_distances if key.stored_distances is None else key.stored_distances, k)
    best_index = int(np.argmin(walls))
    latencies = np.stack(all_latencies) if all_latencies else None
    cache_ratio = canary_wall / max(best_wall, 1)
    caching = cache_ratio > CACHE_RATIO_LIMIT and canary_wall - best_wall > CACHE_MIN_GAP_NS
    record = RunRecord(
        mode=mode, query_params=params, neighbors=ids, scores=scores, recalls=recall,
        repeat_times_s=np.asarray(walls, dtype=np.float64) / 1e9, best_time_s=best_wall / 1e9,
        qps=nq / (best_wall / 1e9), repeat_spread=max(walls) / min(walls),
        proof=proof_record(proof, cores, storage, threads),
        series=algo.series() or name, warmup_s=warmup_s, extra_metrics=extra,
        task_metrics=key.task(ids) if key.task is not None else {}, latencies_ns=latencies,
        latency_percentiles=latency_percentiles(latencies[best_index]) if latencies is not None else {},
        canary_time_s=canary_wall / 1e9, cache_ratio=cache_ratio, caching_suspected=bool(caching),
        recalls_ab=recall_ab,
    )
    claim = "SINGLE-THREADED" if threads == 1 else f"{threads}-THREADED"
    flag = "" if record.proof.single_thread_ok else f"  NOT {claim} ({proof.describe(threads)})"
    if caching:
        flag += f"  CACHING SUSPECTED (perturbed queries {cache_ratio:.1f}x slower than the best repeat)"
    quality = "".join(f" {m}={v:.4f}" for m, v in record.task_metrics.items())
    print(f"  {mode:6s} {json.dumps(params, sort_keys=True)}: recall@{k}={recall.mean():.4f} "
          f"(ann-benchmarks {recall_ab.mean():.4f}){quality} qps={record.qps:.1f}{flag}", flush=True)
    return record


def proof_record(proof: PhaseProof, cores: int | tuple[int, ...], waits_for_storage: bool = False,
                 threads: int = 1) -> ProofRecord:
    """The stored proof: its measures and the verdict for the worker's ``cores`` and ``threads``."""
    return ProofRecord(proof.cpu_ratio, proof.other_threads_cpu_s, proof.contention_s, proof.active_threads,
                       proof.num_threads, proof.affinity, proof.ok(cores, waits_for_storage, threads),
                       proof.outside_wait_s, proof.storage_read_bytes, threads)

"""Measuring one query setting in one mode: the timed repeats (each query alone, or one batch
call), the single-thread proof around them, and the answers of the fastest repeat scored against
exact ground truth and relevance judgements, as a :class:`harness.results.RunRecord`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil

from harness.data.dataset import Matrix
from harness.data.groundtruth import distances_of
from harness.results import ProofRecord, RunRecord
from harness.run.job import WorkerJob
from harness.run.proof import PhaseMonitor, PhaseProof
from harness.run.scoring import InvalidResultError, knn_recall, latency_percentiles, validate_ids


@dataclass(frozen=True)
class AnswerKey:
    """What answers are scored against: the scored representation's vectors and exact distances,
    and, for datasets with relevance judgements, the task metrics of a ranking."""

    train: Matrix
    test: Matrix
    true_distances: np.ndarray
    distance: str
    task: Callable[[np.ndarray], dict[str, float]] | None = None


def memory() -> tuple[int, int]:
    """(RSS, USS) of this process in bytes."""
    info = psutil.Process().memory_full_info()
    return int(info.rss), int(info.uss)


def run_single(algo: Any, rows: list[Any], k: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Each query timed alone with a monotonic ns clock; returns (ids, latencies_ns, wall_ns).

    One clock reading per query: query i's latency is stamps[i+1] - stamps[i],
    which adds only the loop's own step (tens of ns) to each latency and keeps
    the timing code's share of a fast query small.
    """
    nq = len(rows)
    ids = np.full((nq, k), -1, dtype=np.int64)
    clock = time.perf_counter_ns
    query = algo.query
    answers: list[Any] = [None] * nq
    stamps = [0] * (nq + 1)
    stamps[0] = clock()
    for i in range(nq):
        answers[i] = query(rows[i], k)
        stamps[i + 1] = clock()
    latencies = np.diff(np.asarray(stamps, dtype=np.int64))
    wall = stamps[-1] - stamps[0]
    for i, a in enumerate(answers):  # outside the timed loop
        a = np.asarray(a).ravel()
        if len(a) > k:
            raise InvalidResultError(f"query returned {len(a)} ids for k={k} (query {i})")
        ids[i, : len(a)] = a
    return ids, latencies, wall


def run_batch(algo: Any, queries: Any, k: int) -> tuple[np.ndarray, None, int]:
    clock = time.perf_counter_ns
    start = clock()
    ids = algo.batch_query(queries, k)
    wall = clock() - start
    return np.asarray(ids), None, wall


def measure_run(algo: Any, job: WorkerJob, mode: str, params: dict[str, Any], rows: list[Any], queries: Any,
                key: AnswerKey, warmup_s: float = 0.0) -> RunRecord:
    """Time the job's repeats of one setting in ``mode`` under the proof; score the fastest repeat.

    ``queries`` is what ``batch_query`` gets, ``rows`` the same queries one by one (sliced once,
    outside timing); the answers are scored against ``key``.
    """
    name, k, runs, core = job.algorithm, job.k, job.runs, int(job.core)
    walls, all_latencies, best = [], [], None
    with PhaseMonitor() as monitor:
        for _ in range(runs):
            ids, latencies, wall = run_single(algo, rows, k) if mode == "single" else run_batch(algo, queries, k)
            walls.append(wall)
            if latencies is not None:
                all_latencies.append(latencies)
            if best is None or wall <= min(walls):
                best = ids
    proof = monitor.proof
    extra = algo.extra_metrics()
    ids = validate_ids(best, key.train.shape[0], k, name)
    scores = distances_of(key.train, key.test, ids, key.distance)
    recall = knn_recall(scores, key.true_distances, k)
    best_index = int(np.argmin(walls))
    nq = key.test.shape[0]
    latencies = np.stack(all_latencies) if all_latencies else None
    record = RunRecord(
        mode=mode, query_params=params, neighbors=ids, scores=scores, recalls=recall,
        repeat_times_s=np.asarray(walls, dtype=np.float64) / 1e9, best_time_s=walls[best_index] / 1e9,
        qps=nq / (walls[best_index] / 1e9), repeat_spread=max(walls) / min(walls), proof=proof_record(proof, core),
        series=algo.series() or name, warmup_s=warmup_s, extra_metrics=extra,
        task_metrics=key.task(ids) if key.task is not None else {}, latencies_ns=latencies,
        latency_percentiles=latency_percentiles(latencies[best_index]) if latencies is not None else {},
    )
    flag = "" if proof.ok(core) else f"  NOT SINGLE-THREADED ({proof.describe()})"
    quality = "".join(f" {m}={v:.4f}" for m, v in record.task_metrics.items())
    print(f"  {mode:6s} {json.dumps(params, sort_keys=True)}: recall@{k}={recall.mean():.4f}{quality} "
          f"qps={record.qps:.1f}{flag}", flush=True)
    return record


def proof_record(proof: PhaseProof, core: int) -> ProofRecord:
    return ProofRecord(proof.cpu_ratio, proof.other_threads_cpu_s, proof.contention_s, proof.active_threads,
                       proof.num_threads, proof.affinity, proof.ok(core))

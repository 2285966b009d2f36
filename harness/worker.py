"""The worker: one build and its queries, in a fresh process pinned to one core.

Started by the runner as ``python -m harness.worker JOB.json``.  Before numpy
or any adapter library is imported it sets every BLAS/OpenMP thread count to
1 and pins itself to one core, so libraries size their thread pools to one.
After timing it records the proof that the query phase really used one core:
CPU time / wall time of the process, how long its threads waited for the core
while other threads of the worker worked (see PhaseProof), the threads that
burned CPU, and every thread's affinity mask.
"""

import json
import os
import sys

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
              "NUMEXPR_NUM_THREADS", "RAYON_NUM_THREADS")


def pin(core: int) -> None:
    for var in THREAD_ENV:
        os.environ[var] = "1"
    os.sched_setaffinity(0, {core})
    # Die with the runner: a killed sweep must not leave workers running on.
    try:
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    # Must happen before the imports below: thread pools are sized at import.
    _job = json.loads(open(sys.argv[1]).read())
    pin(int(_job["core"]))

import functools  # noqa: E402
import gc  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from harness import environment, metrics, results  # noqa: E402
from harness.configs import load_definition  # noqa: E402
from harness.datasets import MULTI, Dataset, QuerySet, distances_of  # noqa: E402

# CPU/wall above this flags a run as not single-threaded.
MAX_CPU_RATIO = 1.05
# A thread "burned CPU" in a phase when it used more than this share of the
# phase's wall time (idle pool threads wake briefly; that is not parallelism).
ACTIVE_THREAD_SHARE = 0.02
# Threads of the worker that wait for each other for more than this share of the phase's wall
# time compete for the core.  Two threads that really share the work of a phase wait about half
# of it; a hand-off to a pool thread costs only the wake-ups around each call: measured with
# pyseismic's Rayon thread, ~0.1 % of a 1 s batch, up to 14 % of a 20 ms batch (225 Cranfield
# queries), where the pool thread spins after its work while the woken caller waits.
CONTENTION_SHARE = 0.25


@dataclass
class ThreadTimes:
    """One thread's scheduler counters (ns): time on a CPU, time runnable but waiting for one."""

    cpu_ns: int
    wait_ns: int | None  # None when /proc/<pid>/task/<tid>/schedstat is unavailable


@dataclass
class PhaseProof:
    """Evidence that a timed phase ran on one core, one thread at a time.

    Pinned to one core, threads cannot run in parallel, but they can still
    compete for it: then the timed thread waits while another one works, and
    the run is not the single-threaded run it claims to be.  Threads can also
    take turns: a library that hands a batch to one pool thread while the
    caller sleeps (pyseismic's Rayon pool) is sequential.  The scheduler tells
    the two apart: threads that compete each wait in the run queue while the
    others run (`contention_s`); a sleeping caller is not in the run queue at
    all, and an idle pool thread spinning on sched_yield is the only waiter.
    """

    wall_s: float
    cpu_s: float  # whole process
    other_threads_cpu_s: float  # process CPU not spent on the thread that ran the queries
    # Run-queue wait overlapping other threads' CPU time, summed over the threads but the one that
    # waited most, plus the CPU of threads that ended during the phase (their waits are gone).
    contention_s: float
    active_threads: int  # threads alive at the end that burned CPU during the phase
    num_threads: int
    affinity: list[int]  # union of every thread's allowed CPUs at the end

    def ok(self, core: int) -> bool:
        return (self.cpu_ratio <= MAX_CPU_RATIO and self.affinity == [core]
                and self.contention_s <= CONTENTION_SHARE * self.wall_s)

    @property
    def cpu_ratio(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def describe(self) -> str:
        return (f"cpu/wall {self.cpu_ratio:.2f}, {self.contention_s:.3f}s of threads competing, "
                f"{self.other_threads_cpu_s:.2f}s CPU off the query thread, {self.active_threads} busy threads, "
                f"affinity {self.affinity}")


def thread_times() -> dict[int, ThreadTimes]:
    """Every thread of this process: CPU and run-queue wait from schedstat, else CPU from psutil."""
    times = {}
    for t in psutil.Process().threads():
        try:
            with open(f"/proc/self/task/{t.id}/schedstat") as f:
                cpu_ns, wait_ns = (int(x) for x in f.read().split()[:2])
            times[t.id] = ThreadTimes(cpu_ns, wait_ns)
        except (OSError, ValueError):
            times[t.id] = ThreadTimes(int((t.user_time + t.system_time) * 1e9), None)
    return times


def thread_affinity(tids: Any) -> list[int]:
    cores: set[int] = set()
    for tid in tids:
        try:
            cores |= os.sched_getaffinity(tid)
        except OSError:  # the thread ended meanwhile
            pass
    return sorted(cores)


class PhaseMonitor:
    """Measures process CPU time, per-thread CPU and run-queue wait, and affinity around a phase."""

    def __enter__(self) -> "PhaseMonitor":
        self._threads = thread_times()
        self._cpu = time.process_time()
        self._own_cpu = time.thread_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        own = time.thread_time() - self._own_cpu
        cpu = time.process_time() - self._cpu
        after = thread_times()
        zero = ThreadTimes(0, 0)
        cpu_of = {tid: (t.cpu_ns - self._threads.get(tid, zero).cpu_ns) / 1e9 for tid, t in after.items()}
        busy = [tid for tid, c in cpu_of.items() if c > ACTIVE_THREAD_SHARE * wall]
        # Each thread's run-queue wait while other threads of the worker had CPU time.  The one
        # thread that waited most is left out: a lone waiter is an idle pool thread that spins and
        # yields the core back at once (Rayon's pool thread, seen waiting as long as the caller ran
        # between batches, while the caller never waited).  Threads that compete all wait, each
        # while the others run.
        waits = []
        for tid, t in after.items():
            before = self._threads.get(tid, zero)
            others = max(0.0, cpu - cpu_of[tid])
            if t.wait_ns is None or before.wait_ns is None:  # no schedstat: a busy thread is suspect
                waits.append(others if tid in busy else 0.0)
            else:
                waits.append(min((t.wait_ns - before.wait_ns) / 1e9, others))
        # Threads that ended during the phase are gone from `after`, but their CPU is still in the
        # process total: it counts as contention, since nothing shows they did not compete.
        ended_cpu = max(0.0, cpu - sum(cpu_of.values()))
        contention = sum(waits) - max(waits, default=0.0) + ended_cpu
        self.proof = PhaseProof(wall, cpu, max(0.0, cpu - own), contention, len(busy), len(after),
                                thread_affinity(after))


def memory() -> tuple[int, int]:
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
            raise metrics.InvalidResultError(f"query returned {len(a)} ids for k={k} (query {i})")
        ids[i, : len(a)] = a
    return ids, latencies, wall


def run_batch(algo: Any, queries: Any, k: int) -> tuple[np.ndarray, None, int]:
    clock = time.perf_counter_ns
    start = clock()
    ids = algo.batch_query(queries, k)
    wall = clock() - start
    return np.asarray(ids), None, wall


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    core = int(job["core"])
    final = Path(job["result_path"])
    partial = Path(job["partial_path"])
    k = int(job["k"])
    runs = int(job["runs"])
    name = job["algorithm"]

    # Limit every pool of every native library loaded so far, then again after the
    # adapter's import (a library loaded later gets its own pool).
    limits = [threadpool_limits(limits=1)]
    definition = load_definition(Path(job["algorithm_folder"]))
    cls = definition.load_adapter_class()
    limits.append(threadpool_limits(limits=1))
    if "faiss" in sys.modules:
        sys.modules["faiss"].omp_set_num_threads(1)

    dataset = Dataset(job["dataset_path"], name=job["dataset"])
    queries = dataset.queries  # what the adapter is asked: test itself, the query texts, or a QuerySet
    n_queries = len(queries) if isinstance(queries, list | QuerySet) else queries.shape[0]
    rows = [queries[i] for i in range(n_queries)]  # sliced once, outside timing
    # Datasets with relevance judgements also get task metrics (nDCG@10, ...), after timing.
    task = None
    if dataset.has_qrels:
        names = json.loads(dataset.attrs.get("task_measures", "null")) or metrics.DEFAULT_TASK_MEASURES
        task = functools.partial(metrics.task_metrics, doc_ids=dataset.strings("corpus/ids"),
                                 query_ids=dataset.strings("queries/ids"), qrels=dataset.qrels(), k=k, names=names)
    base_attrs = {
        "format_version": results.FORMAT_VERSION, "algorithm": name, "dataset": job["dataset"], "k": k,
        "build_params": job["build"], "build_slug": job["build_slug"], "runs": runs, "status": "running",
        "environment": environment.describe(core, job.get("command_line", [])),
        "threadpools": [p for lim in limits for p in lim.get_original_num_threads().items()],
    }
    partial.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(partial, "w") as out:
        results.write_attrs(out, base_attrs)
        try:
            if dataset.kind != MULTI:  # read before the build is measured: not the adapter's memory
                dataset.train, dataset.test  # noqa: B018 (cached properties, loaded here)
            gc.collect()
            rss0, uss0 = memory()
            t0 = time.perf_counter_ns()
            algo = cls(metric=dataset.distance, **job["build"])
            algo.fit(dataset)
            build_ns = time.perf_counter_ns() - t0
            gc.collect()
            rss1, uss1 = memory()
            size = algo.index_size_bytes()
            # Returned ids are scored (and kNN recall measured) under one representation: of a
            # multi-representation dataset, the one the adapter names (a pipeline: its final one).
            scoring = (dataset.representation(algo.reference_representation or dataset.primary)
                       if dataset.kind == MULTI else dataset)
            train, test, true_distances = scoring.train, scoring.test, scoring.distances
            results.write_attrs(out, {
                "scored_representation": scoring.representation_name or "",
                "build_time_s": build_ns / 1e9, "rss_delta_bytes": rss1 - rss0, "uss_delta_bytes": uss1 - uss0,
                "index_size_bytes": -1 if size is None else int(size),
            })
            out.flush()
            print(f"built {name} {job['build_slug']} in {build_ns / 1e9:.2f}s", flush=True)
            runs_group = out.create_group("runs")
            for index, params in enumerate(job["queries"]):
                algo.set_query_params(**params)
                t_warm = time.perf_counter_ns()
                algo.warm_up(queries, k)  # a no-op unless the adapter has a JIT to warm (see Algorithm)
                params_warmup_s = (time.perf_counter_ns() - t_warm) / 1e9
                for mode in job["modes"]:
                    record_run(runs_group, f"{index:03d}-{mode}", algo, name, mode, params, rows, queries, test,
                               train, true_distances, scoring, k, runs, core, task, params_warmup_s)
                    out.flush()
            results.write_attrs(out, {"status": "ok", "error": ""})
        except BaseException as exc:  # recorded, then the runner sees a failed run
            results.write_attrs(out, {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                                      "traceback": traceback.format_exc()})
            out.close()
            os.replace(partial, final)
            traceback.print_exc()
            return 1
    os.replace(partial, final)
    return 0


def record_run(group: h5py.Group, key: str, algo: Any, name: str, mode: str, params: dict, rows: list,
               queries: Any, test: Any, train: Any, true_distances: np.ndarray, dataset: Dataset, k: int, runs: int,
               core: int, task: Callable[[np.ndarray], dict[str, float]] | None = None,
               warmup_s: float = 0.0) -> None:
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
    ids = metrics.validate_ids(best, train.shape[0], k, name)
    scores = distances_of(train, test, ids, dataset.distance)
    recall = metrics.knn_recall(scores, true_distances, k)
    best_index = int(np.argmin(walls))
    nq = test.shape[0]
    g = group.create_group(key)
    g.create_dataset("neighbors", data=ids.astype(np.int32))
    g.create_dataset("scores", data=scores.astype(np.float32))
    g.create_dataset("recalls", data=recall.astype(np.float32))
    attrs: dict[str, Any] = {
        "mode": mode, "query_params": params, "status": "ok", "recall": float(recall.mean()),
        "repeat_times_s": np.asarray(walls, dtype=np.float64) / 1e9, "best_time_s": walls[best_index] / 1e9,
        "qps": nq / (walls[best_index] / 1e9), "repeat_spread": max(walls) / min(walls),
        "cpu_ratio": proof.cpu_ratio, "other_threads_cpu_s": proof.other_threads_cpu_s,
        "contention_s": proof.contention_s,
        "active_threads": proof.active_threads, "num_threads": proof.num_threads,
        "affinity": proof.affinity, "single_thread_ok": proof.ok(core), "extra_metrics": extra,
        "warmup_s": warmup_s, "series": algo.series() or name,
    }
    task_values = task(ids) if task is not None else {}
    attrs.update(task_values)
    if all_latencies:
        lat = np.stack(all_latencies)
        g.create_dataset("latencies_ns", data=lat)
        attrs.update(metrics.latency_percentiles(lat[best_index]))
    results.write_attrs(g, attrs)
    flag = "" if proof.ok(core) else f"  NOT SINGLE-THREADED ({proof.describe()})"
    quality = "".join(f" {m}={v:.4f}" for m, v in task_values.items())
    print(f"  {mode:6s} {json.dumps(params, sort_keys=True)}: recall@{k}={recall.mean():.4f}{quality} "
          f"qps={attrs['qps']:.1f}{flag}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

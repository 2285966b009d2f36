"""Harness overhead: QPS through the runner versus bare hnswlib calls, in one script run.

    .venv/bin/python benchmarks/harness_overhead.py [--dataset random-s-dense] [--runs 5]

1. Builds hnswlib (M=16, ef_construction=200) in this process, pinned to the
   runner's core with one thread, and picks the smallest ef with recall@10 ≥ 0.9.
2. Runs that same build and ef through the runner (worker process, batch and
   single modes).
3. Times the bare library on the same core: `knn_query(all queries)` (batch)
   and a Python loop of `knn_query(one query)` (single), before and after the
   runner, best of --runs each.
Prints QPS ratios runner / bare, best and median of the repeats (target ≥ 0.98).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import hnswlib  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from harness import configs, results, runner  # noqa: E402
from harness.datasets import distances_of, open_dataset  # noqa: E402
from harness.metrics import knn_recall  # noqa: E402

BUILD = {"M": 16, "ef_construction": 200}
EF_CANDIDATES = [10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64, 80, 96, 128]


def bare_batch(index: hnswlib.Index, queries: np.ndarray, k: int, runs: int) -> list[float]:
    """Wall times of `runs` batch calls."""
    return [_timed(lambda: index.knn_query(queries, k=k, num_threads=1)) for _ in range(runs)]


def bare_loop(index: hnswlib.Index, queries: np.ndarray, k: int, runs: int) -> list[float]:
    """Wall times of `runs` passes of a per-query loop."""
    rows = list(queries)

    def loop() -> None:
        for q in rows:
            index.knn_query(q, k=k)

    return [_timed(loop) for _ in range(runs)]


def _timed(fn) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="random-s-dense")
    parser.add_argument("--runs", type=int, default=30, help="repeats of each measurement (this VM is noisy)")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    core = runner.default_core()
    os.sched_setaffinity(0, {core})
    dataset = open_dataset(args.dataset)
    train, test, k = dataset.train, dataset.test, args.k
    space = {"angular": "cosine", "euclidean": "l2", "ip": "ip"}[dataset.distance]

    index = hnswlib.Index(space=space, dim=train.shape[1])
    index.init_index(max_elements=len(train), M=BUILD["M"], ef_construction=BUILD["ef_construction"])
    index.set_num_threads(1)
    start = time.perf_counter()
    index.add_items(train, num_threads=1)
    print(f"bare build on core {core}: {time.perf_counter() - start:.1f}s")

    ef = EF_CANDIDATES[-1]
    for candidate in EF_CANDIDATES:
        index.set_ef(max(candidate, k))
        ids, _ = index.knn_query(test, k=k, num_threads=1)
        recall = knn_recall(distances_of(train, test, ids.astype(np.int64), dataset.distance), dataset.distances,
                            k).mean()
        if recall >= 0.9:
            ef = candidate
            break
    index.set_ef(ef)
    print(f"ef={ef}: recall@{k}={recall:.4f}")

    before = bare_batch(index, test, k, args.runs), bare_loop(index, test, k, args.runs)

    work = Path(tempfile.mkdtemp(prefix="annsweep-overhead-"))
    try:
        algorithms = work / "algorithms" / "hnswlib"
        algorithms.mkdir(parents=True)
        shutil.copy(configs.ALGORITHMS_DIR / "hnswlib" / "adapter.py", algorithms / "adapter.py")
        adapter_class = configs.get("hnswlib").adapter_class_name
        config = {"adapter": adapter_class, "groups": {"overhead": {"build": BUILD, "query": {"ef": ef}}}}
        (algorithms / "config.yml").write_text(yaml.safe_dump(config))
        options = runner.RunOptions(k=k, runs=args.runs, core=core, results_root=work / "results",
                                    algorithms_root=work / "algorithms")
        outcome = runner.run_sweep(["hnswlib"], str(dataset.path), options)[0]
        if outcome.status != "ok":
            raise SystemExit(f"runner failed: {outcome.error}")
        frame = results.load(work / "results").set_index("mode")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    after = bare_batch(index, test, k, args.runs), bare_loop(index, test, k, args.runs)

    nq = len(test)
    print(f"\nQPS, best and median of {args.runs} repeats; bare = this process before and after the runner")
    print(f"{'mode':7s} {'runner best':>11s} {'bare best':>10s} {'ratio':>6s}   {'runner med':>10s} "
          f"{'bare med':>9s} {'ratio':>6s}  recall  proof")
    for i, mode in enumerate(("batch", "single")):
        row = frame.loc[mode]
        runner_times = np.asarray(row["repeat_times_s"])
        bare_times = np.asarray(before[i] + after[i])
        best_runner, best_bare = nq / runner_times.min(), nq / bare_times.min()
        med_runner, med_bare = nq / np.median(runner_times), nq / np.median(bare_times)
        print(f"{mode:7s} {best_runner:11.0f} {best_bare:10.0f} {best_runner / best_bare:6.3f}   {med_runner:10.0f} "
              f"{med_bare:9.0f} {med_runner / med_bare:6.3f}  {row['recall']:.4f}  cpu/wall {row['cpu_ratio']:.3f}, "
              f"single-thread ok: {row['single_thread_ok']}")


if __name__ == "__main__":
    main()

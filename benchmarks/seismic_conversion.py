"""How much of the seismic adapter's query time is converting to and from the library's Python API.

    .venv/bin/python benchmarks/seismic_conversion.py [--dataset wordnet-splade-tiny]
        [--build '{"n_postings": 3500}'] [--settings '[[3, 1.0], [5, 0.9], [10, 0.8]]'] [--runs 5] [--core N]

pyseismic addresses query components by strings (``"42"``) and returns string
ids in tuples, so the adapter converts every query (``table[row.indices]``, and
for batches ``np.split`` into per-query arrays) and every result
(``int(doc_id)``).  Pinned to the runner's core with one thread, this script
builds the adapter once and, for each (query_cut, heap_factor), interleaves
round by round:

* single: the adapter's ``query`` over all queries, the bare ``index.search``
  over pre-converted queries (results not parsed), and the conversions alone;
* batch: the adapter's ``batch_query``, the bare ``index.batch_search`` over
  pre-converted lists, and the conversions alone.

Prints best-of-runs µs per query and the conversion share of the adapter's time.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from harness.data.store import open_dataset  # noqa: E402
from harness.kit import load_adapter_class  # noqa: E402
from harness.run import runner  # noqa: E402


def best_ns(fn: Callable[[], object], runs: int) -> int:
    best = None
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        elapsed = time.perf_counter_ns() - start
        best = elapsed if best is None else min(best, elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="wordnet-splade-tiny")
    parser.add_argument("--build", default='{"n_postings": 3500}', help="build parameters (JSON)")
    parser.add_argument("--settings", default="[[3, 1.0], [5, 0.9], [10, 0.8]]",
                        help="JSON list of [query_cut, heap_factor]")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--core", type=int, default=None, help="core to pin to (default: the runner's)")
    args = parser.parse_args()

    os.sched_setaffinity(0, {runner.default_core() if args.core is None else args.core})
    dataset = open_dataset(args.dataset)
    test, k = dataset.test, args.k
    rows = [test[i] for i in range(test.shape[0])]
    nq = len(rows)
    cls = load_adapter_class("seismic")
    adapter_module = sys.modules[cls.__module__]  # its conversion helpers, timed alone below
    batch_inputs, batch_ids = adapter_module.batch_inputs, adapter_module.batch_ids
    algo = cls("ip", **json.loads(args.build))
    start = time.perf_counter()
    algo.fit(dataset)
    print(f"built {args.build} on {args.dataset} in {time.perf_counter() - start:.1f} s", flush=True)
    index, table = algo._index, algo._table
    comps = [table[r.indices] for r in rows]
    vals = [r.data for r in rows]
    qids = np.arange(nq).astype(table.dtype)

    print(f"{'setting':>18s} {'mode':6s} {'adapter':>9s} {'bare':>9s} {'convert':>9s} {'share':>6s}  (µs/query)")
    for query_cut, heap_factor in json.loads(args.settings):
        algo.set_query_params(query_cut=query_cut, heap_factor=heap_factor)

        def bare_single(qc: int = query_cut, hf: float = heap_factor) -> list:
            return [index.search("0", c, v, k, qc, hf) for c, v in zip(comps, vals, strict=True)]

        def bare_batch(qc: int = query_cut, hf: float = heap_factor) -> list:
            return index.batch_search(qids, comps, vals, k, qc, hf, num_threads=1)

        found, batch_found = bare_single(), bare_batch()

        def convert_single(found: list = found) -> None:
            for r, hits in zip(rows, found, strict=True):
                table[r.indices]
                np.asarray(r.data, dtype=np.float32)
                np.fromiter((int(h[2]) for h in hits), dtype=np.int64, count=len(hits))

        def convert_batch(found: list = batch_found) -> None:
            batch_inputs(table, test)
            batch_ids(found, nq, k)

        cases = {
            "single": (lambda: [algo.query(r, k) for r in rows], bare_single, convert_single),
            "batch": (lambda: algo.batch_query(test, k), bare_batch, convert_batch),
        }
        for mode, fns in cases.items():
            best = [None, None, None]
            for _ in range(args.runs):  # interleaved, so drifting load hits all three alike
                for j, fn in enumerate(fns):
                    t = best_ns(fn, 1)
                    best[j] = t if best[j] is None else min(best[j], t)
            adapter, bare, convert = (b / nq / 1e3 for b in best)
            print(f"{f'qc={query_cut} hf={heap_factor}':>18s} {mode:6s} {adapter:9.1f} {bare:9.1f} {convert:9.1f} "
                  f"{convert / adapter:6.1%}", flush=True)


if __name__ == "__main__":
    main()

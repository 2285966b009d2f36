"""The worker: one build and its queries, in a fresh process pinned to one core.

Started by the runner as ``python -m harness.run.worker JOB.json`` (a :class:`WorkerJob`).  Before
numpy or any adapter library is imported it pins itself to its core with every thread pool at one
thread (:mod:`harness.run.proof`), so libraries size their pools to one.  It opens the dataset
once, makes the adapter through the catalogue, builds it (timed, with its memory growth), then for
every query setting and mode measures the runs (:mod:`harness.run.measure`) and hands each record
to the result writer as soon as it is measured.  Any exception becomes a failed result naming it.
"""

import json
import sys
from pathlib import Path

if __name__ == "__main__":
    from harness.run.proof import pin

    # Must happen before the imports below: thread pools are sized at import.
    pin(int(json.loads(Path(sys.argv[1]).read_text())["core"]))

import functools  # noqa: E402
import gc  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

from threadpoolctl import threadpool_limits  # noqa: E402

from harness import paths  # noqa: E402
from harness.data.dataset import MULTI, Dataset  # noqa: E402
from harness.kit import Catalogue  # noqa: E402
from harness.kit.config import load_definition  # noqa: E402
from harness.results import BuildFacts, ResultWriter  # noqa: E402
from harness.run import environment  # noqa: E402
from harness.run.job import WorkerJob  # noqa: E402
from harness.run.measure import AnswerKey, measure_run, memory  # noqa: E402
from harness.run.scoring import DEFAULT_TASK_MEASURES, task_metrics  # noqa: E402


def main(job_path: str) -> int:
    job = WorkerJob.read(job_path)
    core = int(job.core)
    # Limit every pool of every native library loaded so far, then again after the adapter's
    # import (a library loaded later gets its own pool).
    limits = [threadpool_limits(limits=1)]
    catalogue = Catalogue(job.algorithms_root, fallback=paths.PROJECT_ALGORITHMS)
    try:  # a problem here is recorded below, once the result file exists
        definition = load_definition(job.algorithm_folder)
        catalogue.adapter_class(definition).limit_threads()  # imported here, outside any measurement
        problem = None
    except Exception as exc:
        problem = exc
    limits.append(threadpool_limits(limits=1))
    writer = ResultWriter(job.result_path, job.header(), runs=job.runs,
                          environment=environment.describe(core, job.command_line),
                          threadpools=[p for lim in limits for p in lim.get_original_num_threads().items()])
    try:
        if problem is not None:
            raise problem
        dataset = Dataset(job.dataset_path, name=job.dataset, representation=job.representation)
        queries = dataset.queries  # what the adapter is asked: test itself, the query texts, or a QuerySet
        if dataset.kind != MULTI:  # read before the build is measured: not the adapter's memory
            dataset.train, dataset.test  # noqa: B018 (cached properties, loaded here)
        gc.collect()
        rss0, uss0 = memory()
        t0 = time.perf_counter_ns()
        algo = catalogue.instantiate(definition, job.build, dataset)
        algo.fit(dataset)
        build_ns = time.perf_counter_ns() - t0
        gc.collect()
        rss1, uss1 = memory()
        # Returned ids are scored (and kNN recall measured) under one representation: of a
        # multi-representation dataset, the one the adapter names (a pipeline: its final one).
        scoring = (dataset.representation(algo.reference_representation or dataset.primary)
                   if dataset.kind == MULTI else dataset)
        key = AnswerKey(scoring.train, scoring.test, scoring.distances, scoring.distance, _task(dataset, job.k))
        writer.record_build(BuildFacts(build_ns / 1e9, rss1 - rss0, uss1 - uss0, algo.index_size_bytes(),
                                       scoring.representation_name or ""))
        print(f"built {job.algorithm} {job.build_slug} in {build_ns / 1e9:.2f}s", flush=True)
        for index, params in enumerate(job.queries):
            algo.set_query_params(**params)
            t_warm = time.perf_counter_ns()
            algo.warm_up(queries, job.k)  # a no-op unless the adapter has a JIT to warm (see Algorithm)
            warmup_s = (time.perf_counter_ns() - t_warm) / 1e9
            for mode in job.modes:
                record = measure_run(algo, job, mode, params, queries, key, warmup_s)
                writer.add_run(f"{index:03d}-{mode}", record)
    except BaseException as exc:  # recorded, then the runner sees a failed run
        writer.finish(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        traceback.print_exc()
        return 1
    writer.finish()
    return 0


def _task(dataset: Dataset, k: int) -> functools.partial | None:
    """Datasets with relevance judgements also get task metrics (nDCG@10, ...), after timing."""
    if not dataset.has_qrels:
        return None
    names = json.loads(dataset.attrs.get("task_measures", "null")) or DEFAULT_TASK_MEASURES
    return functools.partial(task_metrics, doc_ids=dataset.strings("corpus/ids"),
                             query_ids=dataset.strings("queries/ids"), qrels=dataset.qrels(), k=k, names=names)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

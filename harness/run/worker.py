"""The worker: one build and its queries, in a fresh process pinned to one core.

Started by the runner as ``python -m harness.run.worker JOB.json`` (a :class:`WorkerJob`).  Before
numpy or any adapter library is imported it pins itself to its core with every thread pool at one
thread (:mod:`harness.run.proof`), so libraries size their pools to one (with ``--threads N``: to
its N cores, pools of N threads, the adapter built and asked with N threads).  It opens the dataset
once, makes the adapter through the catalogue, builds it (timed, with its memory growth) — or,
with ``--index-cache``, loads the index an earlier sweep saved of this build (:mod:`.index_cache`)
— then for every query setting and mode measures the runs (:mod:`harness.run.measure`) and hands
each record to the result writer as soon as it is measured.  Any exception becomes a failed result naming it.
"""

import json
import sys
from pathlib import Path

if __name__ == "__main__":
    from harness.run.proof import pin

    # Must happen before the imports below: thread pools are sized at import.  A --threads N job
    # pins to its N cores with N-thread pools (a job written before ``cores`` existed: its one core).
    _given = json.loads(Path(sys.argv[1]).read_text())
    pin(_given.get("cores") or [int(_given["core"])], int(_given.get("threads", 1)))

import dataclasses  # noqa: E402
import functools  # noqa: E402
import gc  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from typing import Any  # noqa: E402

from threadpoolctl import threadpool_limits  # noqa: E402

from harness import paths  # noqa: E402
from harness.data.dataset import MULTI, Dataset  # noqa: E402
from harness.kit import Catalogue  # noqa: E402
from harness.kit.config import load_definition  # noqa: E402
from harness.results import BuildFacts, ResultWriter  # noqa: E402
from harness.run import environment  # noqa: E402
from harness.run.index_cache import IndexCache, loaded_facts  # noqa: E402
from harness.run.job import WorkerJob  # noqa: E402
from harness.run.measure import AnswerKey, measure_run, memory  # noqa: E402
from harness.run.scoring import DEFAULT_TASK_MEASURES, task_metrics  # noqa: E402


def main(job_path: str) -> int:
    job = WorkerJob.read(job_path)
    core = int(job.core)
    # Limit every pool of every native library loaded so far, then again after the adapter's
    # import (a library loaded later gets its own pool): to one thread, or N with --threads N.
    limits = [threadpool_limits(limits=job.threads)]
    catalogue = Catalogue(job.algorithms_root, fallback=paths.PROJECT_ALGORITHMS, threads=job.threads)
    try:  # a problem here is recorded below, once the result file exists
        definition = load_definition(job.algorithm_folder)
        catalogue.adapter_class(definition).limit_threads(job.threads)  # imported here, outside any measurement
        problem = None
    except Exception as exc:
        problem = exc
    limits.append(threadpool_limits(limits=job.threads))
    # The environment's "core": the worker's core, or the list of its cores with --threads N.
    where = core if job.threads == 1 else sorted(job.pinned_cores)
    writer = ResultWriter(job.result_path, job.header(), runs=job.runs,
                          environment=environment.describe(where, job.command_line),
                          threadpools=[p for lim in limits for p in lim.get_original_num_threads().items()])
    try:
        if problem is not None:
            raise problem
        dataset = Dataset(job.dataset_path, name=job.dataset, representation=job.representation)
        queries = dataset.queries  # what the adapter is asked: test itself, the query texts, or a QuerySet
        if dataset.kind != MULTI:  # read before the build is measured: not the adapter's memory
            dataset.train, dataset.test  # noqa: B018 (cached properties, loaded here)
        # --index-cache: an intact saved index of this build is loaded instead of built.
        cache = IndexCache(job.index_cache, job, catalogue.adapter_class(definition)) if job.index_cache else None
        algo, facts = _load(cache, catalogue, definition, job, dataset) if cache else (None, None)
        if algo is None:
            algo, facts = _build(catalogue, definition, job, dataset)
            if cache is not None:  # untimed, after the build's facts are measured
                facts = _save(cache, algo, facts)
        # Returned ids are scored (and kNN recall measured) under one representation: of a
        # multi-representation dataset, the one the adapter names (a pipeline: its final one).
        scoring = (dataset.representation(algo.reference_representation or dataset.primary)
                   if dataset.kind == MULTI else dataset)
        key = AnswerKey(scoring.train, scoring.test, scoring.distances, scoring.distance, _task(dataset, job.k),
                        stored_distances=scoring.stored_distances)
        writer.record_build(dataclasses.replace(facts, scored_representation=scoring.representation_name or "",
                                                scored_distance=scoring.distance))
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


def _build(catalogue: Catalogue, definition, job: WorkerJob, dataset: Dataset) -> tuple[Any, BuildFacts]:
    """The adapter made and fitted (timed, with its memory growth) and the worker's peak RSS after it."""
    gc.collect()
    rss0, uss0 = memory()
    t0 = time.perf_counter_ns()
    algo = catalogue.instantiate(definition, job.build, dataset)
    algo.fit(dataset)
    build_ns = time.perf_counter_ns() - t0
    gc.collect()
    rss1, uss1 = memory()
    print(f"built {job.algorithm} {job.build_slug} in {build_ns / 1e9:.2f}s", flush=True)
    return algo, BuildFacts(build_ns / 1e9, rss1 - rss0, uss1 - uss0, algo.index_size_bytes(),
                            peak_rss_bytes=peak_rss_bytes())


def peak_rss_bytes() -> int:
    """The worker's peak resident memory so far: its own (ru_maxrss is in KiB on Linux), or that of
    its largest finished child when larger — an adapter that builds in a child process (an indexer
    run as a subprocess) holds its memory there.  The largest of the two is a lower bound of the
    peak of the whole build when the child ran beside a large worker."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return int(max(own, children)) * 1024


def _load(cache: IndexCache, catalogue: Catalogue, definition, job: WorkerJob,
          dataset: Dataset) -> tuple[Any, BuildFacts | None]:
    """The adapter with the cached index of this build loaded, and the original build's facts; (None,
    None) when there is no intact entry or the adapter cannot load it (then it is built)."""
    original = cache.lookup()  # says why when there is no usable entry
    if original is None:
        return None, None
    t0 = time.perf_counter_ns()
    try:
        algo = catalogue.instantiate(definition, job.build, dataset)
        loaded = algo.load_index(cache.folder, dataset)
    except Exception:
        print(f"index cache: loading {cache.folder} failed, building instead:\n{traceback.format_exc()}", flush=True)
        return None, None
    load_s = (time.perf_counter_ns() - t0) / 1e9
    if not loaded:
        print(f"index cache: {algo.label} cannot load a saved index (no load_index): building", flush=True)
        return None, None
    print(f"loaded {job.algorithm} {job.build_slug} from {cache.folder} in {load_s:.2f}s "
          f"(its build took {original.build_time_s:.2f}s)", flush=True)
    return algo, loaded_facts(original, algo, load_s)


def _save(cache: IndexCache, algo: Any, facts: BuildFacts) -> BuildFacts:
    """``facts`` marked "saved" once the index is in the cache; a failed save is a line, not a failed build."""
    t0 = time.perf_counter_ns()
    try:
        saved = cache.save(algo, facts)
    except Exception as exc:
        print(f"index cache: saving into {cache.folder} failed ({type(exc).__name__}: {exc}): not cached", flush=True)
        return facts
    if not saved:
        return facts
    print(f"index cache: saved {cache.folder} in {(time.perf_counter_ns() - t0) / 1e9:.2f}s", flush=True)
    return dataclasses.replace(facts, index_cache="saved")


def _task(dataset: Dataset, k: int) -> functools.partial | None:
    """Datasets with relevance judgements also get task metrics (nDCG@10, ...), after timing."""
    if not dataset.has_qrels:
        return None
    names = json.loads(dataset.attrs.get("task_measures", "null")) or DEFAULT_TASK_MEASURES
    return functools.partial(task_metrics, doc_ids=dataset.strings("corpus/ids"),
                             query_ids=dataset.strings("queries/ids"), qrels=dataset.qrels(), k=k, names=names)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""``annsweep run``: a sweep of algorithms on one dataset, each build in its own pinned worker."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli import options as opt


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run algorithms on a dataset, each build in its own pinned worker",
                         formatter_class=opt.HelpFormatter)
    run.add_argument("--algorithm", "-a", type=opt.name_list,
                     help="comma-separated names (default: all that accept the dataset)")
    run.add_argument("--dataset", "-d", default="random-xs-dense", help="registry name or path to an .hdf5 file")
    run.add_argument("--k", "-k", type=opt.at_least(1), default=10, help="neighbours per query")
    run.add_argument("--runs", type=opt.at_least(1), default=3, help="timed repeats per query setting")
    run.add_argument("--memory-limit", type=opt.memory_size, default=None, metavar="SIZE",
                     help="resident memory each worker may use, e.g. 16G or 512M; past it the build is killed and "
                          "recorded as out of memory (default: 80%% of this machine's memory divided by --jobs; "
                          "'none': no limit)")
    run.add_argument("--timeout", type=opt.positive_seconds, default=None,
                     help="seconds per build before the worker is killed (default 3600)")
    run.add_argument("--force", action="store_true", help="rerun builds that already have a result file")
    run.add_argument("--retry-failed", action="store_true", help="rerun builds whose result is a failure")
    run.add_argument("--core", type=opt.at_least(0), help="core to pin workers to (default: the highest available)")
    run.add_argument("--group", help="only this run group of each config.yml (default: every group)")
    run.add_argument("--modes", help="single, batch or both, comma-separated (default: both; not with --threads N > 1)")
    run.add_argument("--threads", type=opt.at_least(1), default=1,
                     help="N > 1: measure only the batch mode with the library's own N-thread batch search, each "
                          "worker on N cores, stored apart as mode batch-Nt (adapters with parallel_batch only; "
                          "1: the single-thread modes)")
    run.add_argument("--jobs", "-j", type=opt.at_least(1), default=1,
                     help="builds at once, each pinned to its own core (at most cores - 1)")
    run.add_argument("--use-all-cores", action="store_true", help="let --jobs use the runner's core 0 too")
    run.add_argument("--executor", choices=["local", "ray"], default="local",
                     help="local worker processes or one Ray task per build (the [ray] extra)")
    run.add_argument("--ray-address", help="Ray cluster to join (default: start a local Ray instance)")
    run.add_argument("--index-cache", metavar="DIR",
                     help="reuse built indexes across sweeps: a build saved in DIR (same dataset file, algorithm, "
                          "build parameters and library version) is loaded instead of built, its build time the "
                          "original's; other builds are built and saved there (adapters with save_index/load_index)")
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from harness import results
    from harness.data.store import open_dataset
    from harness.kit import Catalogue
    from harness.run import runner

    if args.threads > 1 and args.modes is not None:
        raise ValueError(f"--threads {args.threads} measures only mode {results.threaded_mode(args.threads)}: "
                         "leave out --modes")
    modes = tuple(m.strip() for m in (args.modes or ",".join(runner.MODES)).split(",") if m.strip())
    options = runner.RunOptions(k=args.k, runs=args.runs, force=args.force, retry_failed=args.retry_failed,
                                core=args.core, modes=modes, threads=args.threads,
                                group=args.group, jobs=args.jobs, use_all_cores=args.use_all_cores,
                                executor=args.executor, ray_address=args.ray_address,
                                results_root=args.results_dir, algorithms_root=args.algorithms_dir,
                                data_root=args.data_dir,
                                index_cache=Path(args.index_cache).resolve() if args.index_cache else None)
    if args.timeout is not None:
        options.timeout_s = args.timeout
    if args.memory_limit is not None:
        options.memory_limit = args.memory_limit[0]
    runner.check_options(options)  # cores, modes, executor: refused before a dataset is prepared
    catalogue = Catalogue(args.algorithms_dir)
    named = args.algorithm
    unknown = [name for name in named or () if name not in catalogue.names()]
    if unknown:  # refused before any work, naming the known ones (a broken config.yml is refused per build)
        raise ValueError(f"--algorithm: no adapter named {', '.join(unknown)} under {args.algorithms_dir} "
                         f"(known: {', '.join(catalogue.names())})")
    if args.group is not None:
        _check_group(catalogue, args.group, named)
    dataset = open_dataset(args.dataset, args.data_dir)  # the one open of this process
    names = named or runner.algorithms_for(dataset, catalogue)
    outcomes = runner.run_sweep(names, dataset, options)
    frame = results.load(options.results_root, dataset.name)
    frame = frame[(frame["k"] == args.k) & frame["algorithm"].isin(names)]
    if len(frame):
        print()
        print(opt.table(results.summarize(frame)))
    counts = {status: sum(o.status == status for o in outcomes)
              for status in ("ok", "failed", "skipped", "refused", "unsupported", "unavailable")}
    print(f"\nbuilds: {counts['ok']} done, {counts['failed']} failed, {counts['skipped']} skipped (had results)"
          + "".join(f", {counts[s]} {s}" for s in ("refused", "unsupported", "unavailable") if counts[s]))
    failed = [o for o in outcomes if o.status in ("failed", "refused")]
    if failed:
        print(f"\n{len(failed)} build(s) failed or refused:")
        for o in failed:
            print(f"  {o.algorithm} {o.build}: {o.error}")
    # An adapter asked for by name that cannot run here is a failed request; one found by discovery is not.
    missing = [o for o in outcomes if o.status == "unavailable" and named]
    return 1 if failed or missing else 0


def _check_group(catalogue, group: str, named: list[str] | None) -> None:
    """--group names a run group of every named algorithm (of at least one, without names), before any
    dataset is prepared.  A config.yml that cannot be read is left to the plan, which refuses it."""
    from harness.kit.config import ConfigError

    groups = {}
    for name in named or catalogue.names():
        try:
            groups[name] = set(catalogue.get(name).groups)
        except ConfigError:
            continue
    lacking = sorted(name for name, have in groups.items() if group not in have)
    if (named and lacking) or (not named and len(lacking) == len(groups)):
        shown = lacking if named else sorted(groups)
        raise ValueError(f"--group {group!r}: no such run group in the config.yml of {', '.join(shown)} ("
                         + "; ".join(f"{n}: {', '.join(sorted(groups[n]))}" for n in shown[:5]) + ")")

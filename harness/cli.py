"""Command line: ``annsweep run | datasets | algorithms | results | plot | leaderboard | report``."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import pandas as pd

from harness import paths


def _at_least(low: int):
    """An argparse type: an integer >= low (argparse words the refusal, before any work)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return parse


def _memory_size(text: str) -> tuple[int | None]:
    """--memory-limit: bytes, or (None,) for no limit (a tuple, so that 'none' differs from not given)."""
    from harness.run.memory_watch import parse_size

    try:
        return (parse_size(text),)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _number(accept, wanted: str):
    """An argparse type: a float for which ``accept(value)`` holds, else a refusal saying ``wanted``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}")
        return value
    return parse


_positive_seconds = _number(lambda v: 0 < v < float("inf"), "a positive number of seconds")
_recall = _number(lambda v: 0 <= v <= 1, "a recall between 0 and 1")


def _mode(text: str) -> str:
    """An argparse type: a run mode, ``single``, ``batch`` or ``batch-Nt`` (N >= 2, from --threads N)."""
    from harness.results import mode_threads

    if mode_threads(text) is None:
        raise argparse.ArgumentTypeError(f"must be single, batch or batch-<N>t with N >= 2, got {text!r}")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="annsweep", description=__doc__)
    parser.add_argument("--data-dir", help="prepared datasets (default: $ANNSWEEP_DATA_DIR or datasets/)")
    parser.add_argument("--results-dir", help="result files (default: $ANNSWEEP_RESULTS_DIR or results/)")
    parser.add_argument("--algorithms-dir", help="adapter folders (default: $ANNSWEEP_ALGORITHMS_DIR or algorithms/)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run algorithms on a dataset, each build in its own pinned worker")
    run.add_argument("--algorithm", "-a", help="comma-separated names (default: all that accept the dataset)")
    run.add_argument("--dataset", "-d", default="random-xs-dense", help="registry name or path to an .hdf5 file")
    run.add_argument("--k", type=_at_least(1), default=10, help="neighbours per query (default 10)")
    run.add_argument("--runs", type=_at_least(1), default=3, help="timed repeats per query setting (default 3)")
    run.add_argument("--memory-limit", type=_memory_size, default=None, metavar="SIZE",
                     help="resident memory each worker may use, e.g. 16G or 512M; past it the build is killed and "
                          "recorded as out of memory (default: 80%% of this machine's memory divided by --jobs; "
                          "'none': no limit)")
    run.add_argument("--timeout", type=_positive_seconds, default=None,
                     help="seconds per build before the worker is killed (default 3600)")
    run.add_argument("--force", action="store_true", help="rerun builds that already have a result file")
    run.add_argument("--retry-failed", action="store_true", help="rerun builds whose result is a failure")
    run.add_argument("--core", type=_at_least(0), help="core to pin workers to (default: the highest available)")
    run.add_argument("--group", help="only this run group of each config.yml")
    run.add_argument("--modes", help="single, batch or both (default: both; not with --threads N > 1)")
    run.add_argument("--threads", type=_at_least(1), default=1,
                     help="N > 1: measure only the batch mode with the library's own N-thread batch search, each "
                          "worker on N cores, stored apart as mode batch-Nt (adapters with parallel_batch only; "
                          "default 1: the single-thread modes)")
    run.add_argument("--jobs", "-j", type=_at_least(1), default=1,
                     help="builds at once, each pinned to its own core (default 1; at most cores - 1)")
    run.add_argument("--use-all-cores", action="store_true", help="let --jobs use the runner's core 0 too")
    run.add_argument("--executor", choices=["local", "ray"], default="local",
                     help="local worker processes (default) or one Ray task per build (the [ray] extra)")
    run.add_argument("--ray-address", help="Ray cluster to join (default: start a local Ray instance)")
    run.add_argument("--index-cache", metavar="DIR",
                     help="reuse built indexes across sweeps: a build saved in DIR (same dataset file, algorithm, "
                          "build parameters and library version) is loaded instead of built, its build time the "
                          "original's; other builds are built and saved there (adapters with save_index/load_index)")

    ds = sub.add_parser("datasets", help="list or prepare datasets")
    ds_sub = ds.add_subparsers(dest="action", required=True)
    ds_sub.add_parser("list", help="registered datasets and whether each is prepared")
    prep = ds_sub.add_parser("prepare", help="build a dataset file with exact ground truth")
    prep.add_argument("name", nargs="+")
    prep.add_argument("--force", action="store_true", help="rebuild even if present")
    imp = ds_sub.add_parser("import", help="an ann-benchmarks .hdf5 file, or sparse base + queries [+ ground truth] "
                                           "(big-ann-benchmarks .csr / .dev.gt, Seismic .bin)")
    imp.add_argument("path", nargs="+", help="FILE.hdf5 | BASE QUERIES [GT]")
    imp.add_argument("--name", help="dataset name (default: the file's stem)")
    imp.add_argument("--force", action="store_true", help="replace an existing dataset of that name")

    algos = sub.add_parser("algorithms", help="list the adapters found under algorithms/")
    algos.add_argument("--build-environments", nargs="*", metavar="NAME",
                       help="build the virtualenvs of adapters with pins of their own (config.yml 'environment:'; "
                            "default: all of them) instead of on first use")

    res = sub.add_parser("results", help="tables of stored results")
    res_sub = res.add_subparsers(dest="action", required=True)
    exp = res_sub.add_parser("export", help="write every run as one table")
    exp.add_argument("--format", choices=["csv"], default="csv")
    exp.add_argument("--output", "-o", help="file to write (default: standard output)")
    exp.add_argument("--dataset")
    runs = res_sub.add_parser("runs", help="every run: series, settings, recall and qrels metrics, QPS, index size")
    runs.add_argument("--dataset")
    runs.add_argument("--k", type=int, help="only results for this k")
    runs.add_argument("--mode", type=_mode, help="single, batch or batch-<N>t (default: every mode)")
    runs.add_argument("--markdown", action="store_true", help="a Markdown table (for notes and READMEs)")
    show = res_sub.add_parser("show", help="summary per algorithm: best QPS above a recall threshold")
    show.add_argument("--dataset")
    show.add_argument("--threshold", type=_recall, default=0.9)

    def add_selection(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dataset", "-d", help="only this dataset (default: every dataset with results)")
        p.add_argument("--k", type=int, help="only results for this k")
        p.add_argument("--mode", type=_mode,
                       help="only this mode: single, batch or batch-<N>t (default: every mode, apart)")
        p.add_argument("--output-dir", "-o", help="where to write (default: $ANNSWEEP_PLOTS_DIR or plots/)")

    from harness.report.metrics import RUN_METRICS

    plot = sub.add_parser("plot", help="figures: a Pareto frontier per algorithm (PNG and SVG)")
    add_selection(plot)
    plot.add_argument("--x", choices=list(RUN_METRICS), help="x metric (default: recall, four standard figures)")
    plot.add_argument("--y", choices=list(RUN_METRICS), help="y metric (default: qps, build_time, index_size, p99)")
    plot.add_argument("--raw", action="store_true", help="also draw every run, faint")
    plot.add_argument("--x-scale", choices=["linear", "logit"], help="logit spreads out the high-recall end")

    board = sub.add_parser("leaderboard", help="best QPS at recall >= threshold: table, CSV, Markdown, bars")
    add_selection(board)
    board.add_argument("--threshold", type=_recall, default=0.9)

    rep = sub.add_parser("report", help="figures, leaderboard and a static plots/index.html")
    add_selection(rep)
    rep.add_argument("--threshold", type=_recall, default=0.9)
    rep.add_argument("--raw", action="store_true", help="also draw every run, faint")
    rep.add_argument("--x-scale", choices=["linear", "logit"])
    rep.add_argument("--check", action="store_true",
                     help="open the report in headless Chromium, screenshot it, fail unless every figure loaded")

    lim = sub.add_parser("limit", help="LIMIT experiments")
    lim_sub = lim.add_subparsers(dest="action", required=True)
    crit = lim_sub.add_parser("critical-n", help="free-embedding experiment: the largest n whose C(n,k) top-k "
                                                 "sets d-dimensional unit vectors can all represent")
    crit.add_argument("--k", type=int, default=2)
    crit.add_argument("--dims", default="4..12", help="A..B or a comma list (default 4..12)")
    crit.add_argument("--seed", type=int, default=0)
    crit.add_argument("--output-dir", "-o", help="where the table and plot go (default: plots/)")
    gen = lim_sub.add_parser("generate", help="LIMIT-style datasets for given sizes: 'Who likes X?' queries whose "
                                              "attribute X is held by exactly their k relevant documents")
    gen.add_argument("--docs", required=True, help="document counts: N, A..B or a comma list (e.g. 100,1000,10000)")
    gen.add_argument("--k", type=int, default=2, help="relevant documents per query (default 2)")
    gen.add_argument("--queries", type=int, help="queries per set (default: n documents; n/k for disjoint)")
    gen.add_argument("--attrs-per-doc", type=int,
                     help="attributes listed per document (default: the most query attributes one person holds)")
    gen.add_argument("--pattern", choices=["dense", "random", "cycle", "disjoint"], default="dense",
                     help="which k-subsets are relevant: dense = all over the fewest people (as LIMIT), random, "
                          "cycle (i..i+k-1), disjoint")
    gen.add_argument("--representation", "-r", default="bm25",
                     help="bm25, splade-tiny, minilm, wordllama or text (default bm25); a comma list for several")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--force", action="store_true", help="rebuild files that exist")

    args = parser.parse_args(argv)
    # `annsweep results export | head` should end quietly, as other Unix tools do.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # Folders given as options travel as arguments (never through os.environ).
    args.data_dir = Path(args.data_dir) if args.data_dir else paths.data_dir()
    args.results_dir = Path(args.results_dir) if args.results_dir else paths.results_dir()
    args.algorithms_dir = Path(args.algorithms_dir) if args.algorithms_dir else paths.algorithms_dir()
    try:
        return COMMANDS[args.command](args)
    except (ValueError, OSError) as exc:  # our errors name the file or run; no traceback for bad input
        print(f"annsweep: error: {exc}", file=sys.stderr)
        return 2


def cmd_run(args: argparse.Namespace) -> int:
    from harness import results
    from harness.data.store import open_dataset
    from harness.kit import Catalogue
    from harness.run import runner

    if args.threads > 1 and args.modes is not None:
        raise ValueError(f"--threads {args.threads} measures only mode {results.threaded_mode(args.threads)}: "
                         "leave out --modes")
    modes = tuple(m.strip() for m in (args.modes or ",".join(runner.MODES)).split(",") if m.strip())
    if not modes or set(modes) - set(runner.MODES):
        raise ValueError(f"--modes must be a subset of {','.join(runner.MODES)}, got {args.modes!r}")
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
    dataset = open_dataset(args.dataset, args.data_dir)  # the one open of this process
    named = [n.strip() for n in args.algorithm.split(",") if n.strip()] if args.algorithm else None
    names = named or runner.algorithms_for(dataset, Catalogue(args.algorithms_dir))
    outcomes = runner.run_sweep(names, dataset, options)
    frame = results.load(options.results_root, dataset.name)
    frame = frame[(frame["k"] == args.k) & frame["algorithm"].isin(names)]
    if len(frame):
        print()
        print(_table(results.summarize(frame)))
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


def cmd_datasets(args: argparse.Namespace) -> int:
    from harness.data import store
    from harness.data.dataset import Dataset
    from harness.data.registry import sources_missing

    if args.action == "list":
        for spec, present in store.registry_status(args.data_dir):
            mark = "prepared" if present else "no source" if sources_missing(spec) else "-"
            print(f"{spec.name:24s} {spec.kind:7s} {spec.distance:10s} {mark:9s} {spec.description}")
        print(f"\ndata dir: {args.data_dir}\nsource dir: {paths.source_dir()}")
        return 0
    if args.action == "import":
        from harness.data import importers

        path = importers.import_path(args.path, args.name, args.data_dir, force=args.force)
        with Dataset(path) as imported:
            print(f"imported: {path} ({imported})")
        return 0
    for name in args.name:
        start = time.perf_counter()
        path = store.prepare(name, args.data_dir, force=args.force)
        print(f"{name}: {path} ({path.stat().st_size / 2**20:.1f} MiB, {time.perf_counter() - start:.1f} s)")
    return 0


def cmd_algorithms(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from harness.kit import AdapterEnvironment, Catalogue, full_requirements

    entries = Catalogue(args.algorithms_dir).entries()
    if args.build_environments is not None:
        return _build_environments(entries, args.build_environments)
    rows, problems = [], []
    for entry in entries:
        builds = entry.definition.builds() if entry.definition is not None else []
        inputs = ",".join(sorted(entry.adapter.accepts)) if entry.adapter is not None else "-"
        status = "unavailable" if entry.problem else "available"
        if not entry.problem and entry.definition.environment:
            ready = AdapterEnvironment(entry.name, full_requirements(entry.definition.environment)).ready
            status += " (own env" + ("" if ready else ", built on first use") + ")"
        rows.append([entry.name, status, inputs, len(builds),
                     sum(len(b.queries) for b in builds), entry.definition.description if entry.definition else ""])
        if entry.problem:
            problems.append(f"  {entry.name}: {entry.problem}")
    print(tabulate(rows, headers=["name", "status", "inputs", "builds", "query settings", "description"],
                   maxcolwidths=[None, None, None, None, None, 70]))
    print(f"\nadapters in {args.algorithms_dir}: {len(rows) - len(problems)} available, {len(problems)} unavailable")
    if problems:
        print("unavailable here (a sweep skips them):\n" + "\n".join(problems))
    return 0


def _build_environments(entries, names: list[str]) -> int:
    from harness.kit import AdapterEnvironment, EnvironmentBuildError, full_requirements

    own = {e.name: e.definition.environment for e in entries if e.definition is not None and e.definition.environment}
    unknown = sorted(set(names) - set(own))
    if unknown:
        print(f"error: no adapter with an environment of its own named {', '.join(unknown)} "
              f"(those with one: {', '.join(sorted(own)) or 'none'})", file=sys.stderr)
        return 2
    status = 0
    for name in names or sorted(own):
        environment = AdapterEnvironment(name, full_requirements(own[name]))
        try:
            print(f"{name}: {environment.ensure()}")
        except EnvironmentBuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
    return status


def cmd_results(args: argparse.Namespace) -> int:
    from harness import results

    frame = results.load(args.results_dir, dataset=args.dataset)
    if args.action == "export":
        out = args.output or sys.stdout
        frame.to_csv(out, index=False)
        if args.output:
            print(f"{len(frame)} runs written to {Path(args.output)}", file=sys.stderr)
        return 0
    if frame.empty:
        print(f"no results under {args.results_dir}")
        return 0
    if args.action == "runs":
        if args.k is not None:
            frame = frame[frame["k"] == args.k]
        if args.mode is not None:
            frame = frame[frame["mode"] == args.mode]
        table = results.run_table(frame)
        if args.markdown:
            print(table.drop(columns=["build"]).to_markdown(index=False, floatfmt=".4g"))
        else:
            print(_table(table.drop(columns=["build"])))
        return 0
    print(_table(results.summarize(frame, args.threshold)))
    return 0


def _selected(args: argparse.Namespace) -> tuple[pd.DataFrame, Path]:
    """The stored runs the plot/leaderboard/report options select, and the output folder."""
    from harness import results

    frame = results.load(args.results_dir, dataset=args.dataset)
    if args.k is not None:
        frame = frame[frame["k"] == args.k]
    if args.mode is not None:
        frame = frame[frame["mode"] == args.mode]
    if (frame["status"] == "ok").sum() == 0:
        where = args.results_dir / (args.dataset or "")
        raise ValueError(f"no successful runs under {where}"
                         + (f" for k={args.k}" if args.k else "") + (f" in {args.mode} mode" if args.mode else "")
                         + " (run `annsweep run` first)")
    return frame, Path(args.output_dir) if args.output_dir else paths.plots_dir()


def cmd_plot(args: argparse.Namespace) -> int:
    from harness.report import plots

    frame, out_dir = _selected(args)
    pairs = [(args.x or "recall", args.y)] if args.y else None
    if args.x and not args.y:
        pairs = [(args.x, y) for y in dict.fromkeys(y for _, y in plots.STANDARD_FIGURES) if y != args.x]
    figures = plots.plot_dataset(frame, out_dir, pairs=pairs, raw=args.raw, x_scale=args.x_scale)
    for fig in figures:
        print(" ".join(str(p) for p in fig.paths))
    if not figures:
        print("nothing to plot: no run has both metrics", file=sys.stderr)
        return 1
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from harness.report import leaderboard

    frame, out_dir = _selected(args)
    board = leaderboard.leaderboard(frame, args.threshold)
    print(_table(board.drop(columns=["contention_s"])))
    written = leaderboard.write(board, out_dir, args.threshold)
    print("\nwritten: " + ", ".join(str(p) for p in written))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import page as report

    frame, out_dir = _selected(args)
    page = report.write_report(frame, out_dir, args.threshold, raw=args.raw, x_scale=args.x_scale)
    print(f"report: {page}")
    if args.check:
        view = report.check_in_browser(page, screenshot=out_dir / "report.png")
        print(f"chromium: {view.images_loaded} of {view.images_total} figures loaded, {view.tables} tables, "
              f"{view.table_rows} table rows; screenshot {view.screenshot}")
        if view.images_total <= 0 or view.images_loaded != view.images_total or view.tables == 0:
            print("annsweep: error: the report did not render completely", file=sys.stderr)
            return 1
    return 0


def parse_dims(text: str, option: str = "--dims") -> list[int]:
    """'4..12' or '4,6,8' → the numbers."""
    try:
        if ".." in text:
            lo, hi = (int(x) for x in text.split(".."))
            dims = list(range(lo, hi + 1))
        else:
            dims = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{option} must look like 4..12 or 4,6,8, got {text!r}") from None
    if not dims or min(dims) < 1:
        raise ValueError(f"{option} must name numbers >= 1, got {text!r}")
    return dims


def cmd_limit(args: argparse.Namespace) -> int:
    return limit_generate(args) if args.action == "generate" else limit_critical_n(args)


def limit_generate(args: argparse.Namespace) -> int:
    from harness.data import store

    written = []
    for n_docs in parse_dims(args.docs, "--docs"):
        for representation in [r.strip() for r in args.representation.split(",") if r.strip()]:
            name, path, new = store.write_generated_limit(
                representation, n_docs, args.data_dir, force=args.force, k=args.k, n_queries=args.queries,
                attrs_per_doc=args.attrs_per_doc, pattern=args.pattern, seed=args.seed)
            print(f"{name}: written to {path}" if new else f"{name}: exists ({path}), kept (use --force to rebuild)")
            written.append(name)
    print("run one with: annsweep run --dataset " + written[0] + " --algorithm exact" if written else "")
    return 0


def limit_critical_n(args: argparse.Namespace) -> int:
    from harness.experiments import critical_n

    if args.k != 2:
        raise ValueError(f"--k {args.k}: the free-embedding experiment is implemented for k = 2 only")
    out_dir = Path(args.output_dir) if args.output_dir else paths.plots_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = critical_n.sweep(parse_dims(args.dims), k=args.k, seed=args.seed)
    table = pd.DataFrame(rows, columns=["d", "critical_n", "seconds"])
    table["published"] = table["d"].map(critical_n.PUBLISHED_K2.get)
    table.to_csv(out_dir / f"limit_critical_n_k{args.k}.csv", index=False)
    print(_table(table))
    if len(table) >= 4:
        coefficients = critical_n.cubic_fit(table["d"].to_numpy(), table["critical_n"].to_numpy())
        print("cubic fit (d^3, d^2, d, 1): " + ", ".join(f"{c:.4g}" for c in coefficients))
    path = critical_n.plot(rows, out_dir / f"limit_critical_n_k{args.k}.png")
    print(f"written: {out_dir / f'limit_critical_n_k{args.k}.csv'}, {path}")
    return 0


def _table(frame: pd.DataFrame) -> str:
    frame = frame.copy()
    for column in frame.columns:  # QPS as whole numbers with thousands separators, not 1.8e+04
        if str(column) == "qps" or str(column).startswith("qps@"):
            frame[column] = frame[column].map(lambda v: f"{v:,.0f}" if pd.notna(v) and v != "" else "")
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 60):
        return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")


COMMANDS = {"run": cmd_run, "datasets": cmd_datasets, "algorithms": cmd_algorithms, "results": cmd_results,
            "plot": cmd_plot, "leaderboard": cmd_leaderboard, "report": cmd_report, "limit": cmd_limit}

if __name__ == "__main__":
    sys.exit(main())

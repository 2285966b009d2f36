"""Cost growth: how the time per query and the build time of each method grow with the collection.

    .venv/bin/python benchmarks/cost_growth.py [--sizes 100k,300k,1M] [--algorithms hnswlib,faiss-ivf,blocked,seismic]
                                               [--queries 1000] [--runs 3] [--threshold 0.95] [--modes batch]
                                               [--jobs 1] [--report-only] [--output-dir plots/growth]

The steps are the registry's ``random-m-dense`` and ``random-m-sparse`` families (100,000, 300,000 and
1,000,000 documents from one generator and seed each: the same cluster model and vocabulary, the same
queries' distribution).  Dense methods (hnswlib, faiss-ivf) run on the dense family, sparse ones
(blocked, seismic) on the sparse family, each step cut to its first ``--queries`` queries (same
ground-truth rows).  Every method is swept with one grid written here, the same at every size but
for IVF's ``nlist``, which follows faiss's rule of thumb (~4·sqrt(n), a power of two) as any user of
IVF scales it; the sparse indexes get two posting-list budgets (``n_postings`` 1000 and 3000) at every
size, and the fastest that reaches the threshold is taken.

Then, per method and size, from the stored results (trusted runs only): the fastest run at
recall@10 >= ``--threshold`` gives the time per query (1/QPS, in the mode swept) and the build time
of its build; the growth per 3x documents is each step's ratio scaled to a factor of 3
(``(t2/t1) ** (log 3 / log(n2/n1))``).  A log-log figure draws both against the number of documents.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from query_subsets import first_queries, subset_name  # noqa: E402

from harness import paths, results  # noqa: E402
from harness.run import runner  # noqa: E402

SIZES = {"100k": 100_000, "300k": 300_000, "1M": 1_000_000}
FAMILY = {"hnswlib": "random-m-dense", "faiss-ivf": "random-m-dense", "blocked": "random-m-sparse",
          "seismic": "random-m-sparse"}
SPARSE_QUERY = {"query_cut": [3, 4, 5, 6, 8, 10, 13, 16, 20, 30], "heap_factor": [0.6, 0.7, 0.8, 0.9, 1.0]}


def ivf_lists(n: int) -> int:
    """faiss's rule of thumb for IVF: about 4·sqrt(n) lists, here the nearest power of two."""
    return 2 ** round(math.log2(4 * math.sqrt(n)))


def grid(algorithm: str, n: int) -> dict:
    """The config.yml of ``algorithm`` at ``n`` documents."""
    if algorithm == "hnswlib":
        return {"adapter": "Hnswlib", "groups": {"growth": {
            "build": {"M": 16, "ef_construction": 200},
            "query": {"ef": [10, 20, 40, 60, 80, 120, 160, 200, 300, 400, 600, 800]}}}}
    if algorithm == "faiss-ivf":
        lists = ivf_lists(n)
        return {"adapter": "FaissIVF", "groups": {"growth": {
            "build": {"nlist": lists}, "query": {"nprobe": [p for p in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
                                                             if p <= lists]}}}}
    if algorithm == "blocked":
        return {"adapter": "Blocked", "groups": {"growth": {
            "build": {"n_postings": [1000, 3000], "centroid_fraction": 0.2, "max_block_size": 16,
                      "summary_energy": 0.3, "value_type": "f16"}, "query": SPARSE_QUERY}}}
    if algorithm == "seismic":
        return {"adapter": "Seismic", "groups": {"growth": {"build": {"n_postings": [1000, 3000]},
                                                            "query": SPARSE_QUERY}}}
    raise ValueError(f"no growth grid for {algorithm!r} (known: {', '.join(FAMILY)})")


def step_name(family: str, size: str) -> str:
    return family if size == "1M" else f"{family}-{size}"


def algorithms_folder(work: Path, algorithms: list[str], n: int) -> Path:
    """A catalogue holding ``algorithms`` with their growth grids at ``n`` (the adapters are the project's)."""
    root = work / f"algorithms-{n}"
    for algorithm in algorithms:
        folder = root / algorithm
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / "adapter.py"
        if not link.exists():
            link.symlink_to(paths.PROJECT_ALGORITHMS / algorithm / "adapter.py")
        (folder / "config.yml").write_text(yaml.safe_dump(grid(algorithm, n), sort_keys=False))
    return root


def sweep(args: argparse.Namespace, work: Path) -> None:
    """Each step of each family in one sweep (with --jobs N, N of its builds at once)."""
    for size in args.sizes:
        n = SIZES[size]
        for family in dict.fromkeys(FAMILY[a] for a in args.algorithms):
            mine = [a for a in args.algorithms if FAMILY[a] == family]
            dataset = first_queries(step_name(family, size), args.queries)
            print(f"\n=== {', '.join(mine)} on {dataset.stem} ({n:,} documents)", flush=True)
            options = runner.RunOptions(runs=args.runs, modes=tuple(args.modes), jobs=args.jobs,
                                        use_all_cores=args.jobs > 1, results_root=args.results_dir,
                                        algorithms_root=algorithms_folder(work, mine, n), timeout_s=args.timeout)
            runner.run_sweep(mine, dataset, options)


def growth_table(frame: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    ok = frame[(frame["status"] == "ok") & (frame["k"] == 10) & frame["mode"].isin(args.modes)]
    ok = ok[results.trusted(ok)]
    rows = []
    for algorithm in args.algorithms:
        for mode in args.modes:
            previous = None
            for size in args.sizes:
                n = SIZES[size]
                name = subset_name(step_name(FAMILY[algorithm], size), args.queries)
                runs = ok[(ok["algorithm"] == algorithm) & (ok["dataset"] == name) & (ok["mode"] == mode)]
                above = runs[runs["recall"] >= args.threshold]
                row = {"algorithm": algorithm, "mode": mode, "documents": n, "runs": len(runs),
                       "max recall": runs["recall"].max() if len(runs) else np.nan}
                if len(above):
                    best = above.loc[above["qps"].idxmax()]
                    row.update({"µs/query": 1e6 / best["qps"], "recall": best["recall"],
                                "build s": best["build_time_s"], "build": best["build"],
                                "setting": best["query_params"]})
                    if previous is not None:
                        scale = math.log(3) / math.log(n / previous["documents"])
                        row["query growth per 3x"] = (row["µs/query"] / previous["µs/query"]) ** scale
                        row["build growth per 3x"] = (row["build s"] / previous["build s"]) ** scale
                    previous = row
                else:
                    previous = None
                rows.append(row)
    return pd.DataFrame(rows)


def figure(table: pd.DataFrame, out_dir: Path, threshold: float) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for (algorithm, mode), rows in table.dropna(subset=["µs/query"]).groupby(["algorithm", "mode"]):
        label = f"{algorithm} ({FAMILY[algorithm].removeprefix('random-m-')})"
        label += "" if table["mode"].nunique() == 1 else f", {mode}"
        axes[0].plot(rows["documents"], rows["µs/query"], "o-", label=label)
        axes[1].plot(rows["documents"], rows["build s"], "o-", label=label)
    for ax, what in zip(axes, (f"time per query at recall@10 ≥ {threshold:g} (µs)", "build time (s)"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("documents")
        ax.set_ylabel(what)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Cost growth on the random-m families (one core)")
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / f"cost-growth.{ext}" for ext in ("png", "svg")]
    for path in written:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100k,300k,1M", help="steps, of 100k, 300k, 1M (default: all three)")
    parser.add_argument("--algorithms", default=",".join(FAMILY), help=f"default {','.join(FAMILY)}")
    parser.add_argument("--queries", type=int, default=1000, help="first N queries of each step (default 1000)")
    parser.add_argument("--runs", type=int, default=3, help="timed repeats (default 3)")
    parser.add_argument("--modes", default="batch", help="single, batch or both (default batch)")
    parser.add_argument("--threshold", type=float, default=0.95, help="recall@10 to reach (default 0.95)")
    parser.add_argument("--jobs", type=int, default=1, help="builds at once, each on its own core (default 1)")
    parser.add_argument("--timeout", type=float, default=4 * 3600.0, help="seconds per build (default 14400)")
    parser.add_argument("--report-only", action="store_true", help="only read the stored results")
    parser.add_argument("--results-dir", type=Path, default=None, help="default: $ANNSWEEP_RESULTS_DIR or results/")
    parser.add_argument("--output-dir", type=Path, default=None, help="figure and table (default: plots/growth)")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    args = parser.parse_args(argv)
    args.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    args.algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for size in args.sizes:
        if size not in SIZES:
            parser.error(f"--sizes: unknown step {size!r} (known: {', '.join(SIZES)})")
    for algorithm in args.algorithms:
        if algorithm not in FAMILY:
            parser.error(f"--algorithms: no growth grid for {algorithm!r} (known: {', '.join(FAMILY)})")
    args.results_dir = args.results_dir or paths.results_dir()
    out_dir = args.output_dir or paths.plots_dir() / "growth"
    if not args.report_only:
        with tempfile.TemporaryDirectory(prefix="annsweep-growth-") as work:
            sweep(args, Path(work))
    table = growth_table(results.load(args.results_dir), args)
    shown = table.drop(columns=["setting"], errors="ignore")
    print("\n" + tabulate(shown, headers="keys", tablefmt="github", showindex=False, floatfmt=".3g"))
    written = figure(table, out_dir, args.threshold)
    table.to_csv(out_dir / "cost-growth.csv", index=False)
    if args.markdown:
        args.markdown.write_text(tabulate(table, headers="keys", tablefmt="github", showindex=False, floatfmt=".3g"))
    print(f"\nwrote {', '.join(map(str, written))} and {out_dir / 'cost-growth.csv'}")
    if "µs/query" in table:
        at_1m = table[table["documents"] == 1_000_000].groupby(["mode", "algorithm"])["µs/query"].first()
        for mode in args.modes:
            if {(mode, "blocked"), (mode, "seismic")} <= set(at_1m.dropna().index):
                ratio = at_1m[(mode, "seismic")] / at_1m[(mode, "blocked")]
                print(f"at 1M documents, recall@10 ≥ {args.threshold:g}, {mode} mode: blocked is {ratio:.2f}x as fast "
                      "as seismic")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

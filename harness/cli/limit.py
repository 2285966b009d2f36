"""``annsweep limit critical-n | generate``: LIMIT's free-embedding experiment and LIMIT-style datasets."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import paths
from harness.cli import options as opt


def register(sub: argparse._SubParsersAction) -> None:
    lim = sub.add_parser("limit", help="LIMIT experiments", formatter_class=opt.HelpFormatter)
    lim_sub = lim.add_subparsers(dest="action", required=True)
    crit = lim_sub.add_parser("critical-n", help="free-embedding experiment: the largest n whose C(n,k) top-k "
                                                 "sets d-dimensional unit vectors can all represent",
                              formatter_class=opt.HelpFormatter)
    crit.add_argument("--k", "-k", type=opt.at_least(2), default=2,
                      help="relevant documents per query (only 2 is implemented)")
    crit.add_argument("--dims", type=opt.dims, default="4..12", help="A..B or a comma list")
    crit.add_argument("--protocol", choices=["paper", "improved", "both"], default="paper",
                      help="paper: the LIMIT code's (one seed, loss-only patience, accuracy every 50 steps, "
                           "its gallop/binary search and n-4..n+5 sweep); improved: annsweep's stronger "
                           "optimiser (retry seed, patience reset on solved gains, checked every step); both")
    crit.add_argument("--seed", type=int, default=None,
                      help="random seed of the free embeddings (default: the protocol's, paper 42, improved 0)")
    crit.add_argument("--output-dir", "-o", help="where the table and plot go (default: $ANNSWEEP_PLOTS_DIR or plots/)")
    crit.set_defaults(func=limit_critical_n)
    gen = lim_sub.add_parser("generate", help="LIMIT-style datasets for given sizes: 'Who likes X?' queries whose "
                                              "attribute X is held by exactly their k relevant documents",
                             formatter_class=opt.HelpFormatter)
    gen.add_argument("--docs", required=True, type=opt.dims,
                     help="document counts: N, A..B or a comma list (e.g. 100,1000,10000)")
    gen.add_argument("--k", "-k", type=opt.at_least(1), default=2, help="relevant documents per query")
    gen.add_argument("--queries", type=opt.at_least(1), help="queries per set (default: n documents; n/k for disjoint)")
    gen.add_argument("--attrs-per-doc", type=opt.at_least(1),
                     help="attributes listed per document (default: the most query attributes one person holds)")
    gen.add_argument("--pattern", choices=["dense", "random", "cycle", "disjoint"], default="dense",
                     help="which k-subsets are relevant: dense = all over the fewest people (as LIMIT), random, "
                          "cycle (i..i+k-1), disjoint")
    gen.add_argument("--representation", "-r", type=opt.name_list, default="bm25",
                     help="bm25, splade-tiny, minilm, wordllama or text; a comma list for several")
    gen.add_argument("--seed", type=int, default=0, help="random seed of the people and their attributes")
    gen.add_argument("--force", action="store_true", help="rebuild files that exist")
    gen.set_defaults(func=limit_generate)


def limit_generate(args: argparse.Namespace) -> int:
    from harness.data import store

    written = []
    for n_docs in args.docs:
        for representation in args.representation:
            name, path, new = store.write_generated_limit(
                representation, n_docs, args.data_dir, force=args.force, k=args.k, n_queries=args.queries,
                attrs_per_doc=args.attrs_per_doc, pattern=args.pattern, seed=args.seed)
            print(f"{name}: written to {path}" if new else f"{name}: exists ({path}), kept (use --force to rebuild)")
            written.append(name)
    print("run one with: annsweep run --dataset " + written[0] + " --algorithm exact" if written else "")
    return 0


def limit_critical_n(args: argparse.Namespace) -> int:
    """One line per dimension and protocol as it finishes; the CSV (merged with earlier runs by protocol
    and d) is rewritten after each, so an interrupted sweep keeps what finished."""
    import dataclasses

    from harness.experiments import critical_n

    if args.k != 2:
        raise ValueError(f"--k {args.k}: the free-embedding experiment is implemented for k = 2 only")
    out_dir = Path(args.output_dir) if args.output_dir else paths.plots_dir()
    csv = critical_n.table_path(out_dir, args.k)
    names = ["paper", "improved"] if args.protocol == "both" else [args.protocol]
    protocols = [critical_n.PROTOCOLS[name] for name in names]
    if args.seed is not None:
        protocols = [dataclasses.replace(p, seed=args.seed) for p in protocols]
    # One thread: the matrices are tiny (C(n,2) x n), so more threads only add overhead, and the numbers
    # then do not depend on the machine's core count.
    critical_n.set_threads(1)
    done = []
    for result in critical_n.sweep(args.dims, protocols, k=args.k):
        done.append(result)
        table = critical_n.merge_table(csv, done)
        published = critical_n.PUBLISHED_K2.get(result.d)
        versus = f"published {published} ({(result.critical_n - published) / published:+.0%})" if published else ""
        print(f"d={result.d} {result.protocol}: critical n {result.critical_n}  {versus}  "
              f"largest solved {result.largest_solved}  {result.seconds:.0f} s", flush=True)
    print(opt.table(table))
    for name, rows in table.groupby("protocol"):
        if len(rows) >= 4:
            coefficients = critical_n.cubic_fit(rows["d"].to_numpy(), rows["critical_n"].to_numpy())
            print(f"{name}: cubic fit (d^3, d^2, d, 1): " + ", ".join(f"{c:.4g}" for c in coefficients))
    path = critical_n.plot(table, csv.with_suffix(".png"))
    print(f"written: {csv}, {path}")
    return 0

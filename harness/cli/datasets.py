"""``annsweep datasets list | prepare | import``: the registry, preparing its files, bringing files in."""

from __future__ import annotations

import argparse
import time

from tabulate import tabulate

from harness import paths
from harness.cli import options as opt


def register(sub: argparse._SubParsersAction) -> None:
    ds = sub.add_parser("datasets", help="list, prepare or import datasets", formatter_class=opt.HelpFormatter)
    ds_sub = ds.add_subparsers(dest="action", required=True)
    ds_sub.add_parser("list", help="registered datasets and whether each is prepared")
    prep = ds_sub.add_parser("prepare", help="build a dataset file with exact ground truth",
                             formatter_class=opt.HelpFormatter)
    prep.add_argument("name", nargs="+", help="registry names (see `annsweep datasets list`)")
    prep.add_argument("--force", action="store_true", help="rebuild even if present")
    imp = ds_sub.add_parser("import", help="an ann-benchmarks .hdf5 file; base + queries [+ ground truth] "
                                           "(big-ann .csr[.gz] / .fbin / .u8bin / .i8bin / .ibin, .gt; Seismic "
                                           ".bin); or a text collection (BEIR folder, TREC, SMART) encoded with -r",
                            formatter_class=opt.HelpFormatter)
    imp.add_argument("path", nargs="+", help="FILE.hdf5 | BASE QUERIES [GT] | BEIR_DIR | TOPICS QRELS DOCS (trec) | "
                                             "DOCS QUERIES QRELS (smart)")
    imp.add_argument("--format", default="auto", choices=("auto", "ann-benchmarks", "sparse", "bigann", "beir",
                                                           "trec", "smart"),
                     help="auto: by suffix (.hdf5, a folder = BEIR, .csr/.bin sparse, .fbin/.u8bin/.i8bin/.ibin "
                          "dense); bigann reads a .bin as dense (see --dtype)")
    imp.add_argument("--name", help="dataset name (default: the file's or folder's stem; big-ann's base, query, "
                                    "learn... get their folder's name in front: bigann-base)")
    imp.add_argument("--split", default="test", help="BEIR: the qrels/<split>.tsv to use")
    imp.add_argument("-r", "--representations", default="bm25",
                     help="text collections: comma-separated encoders (bm25, minilm, splade-tiny, wordllama, text, "
                          "text-simple); several make one multi-representation file, the first is primary")
    imp.add_argument("--metric", choices=("euclidean", "angular", "ip"),
                     help="dense big-ann files carry no metric (default euclidean); sparse files are always ip")
    imp.add_argument("--dtype", choices=("float32", "uint8", "int8"),
                     help="bigann: the value type of base and query files whose suffix does not say it (a .bin, "
                          "as Wikipedia-Cohere, OpenAI and MSMARCO-web ship them: float32 by default)")
    imp.add_argument("--fields", default=".T,.W", help="SMART: the fields that make a document's text")
    imp.add_argument("--query-fields", help="SMART: the fields of a query's text (default: --fields); "
                                            "TREC topics: e.g. title or title,desc (default title)")
    imp.add_argument("--qrels-layout", default="auto", choices=("auto", "trec", "pairs", "graded", "cranfield"),
                     help="SMART qrels: trec 'q 0 doc grade', pairs 'q doc x x' (CISI, CACM), graded 'q doc grade', "
                          "cranfield 'q doc code' (grade 5 - code); auto tells trec and pairs apart")
    imp.add_argument("--query-ids", default="id", choices=("id", "position"),
                     help="SMART: a query's id is its .I number, or its position in the file (Cranfield's qrels)")
    imp.add_argument("--force", action="store_true", help="replace an existing dataset of that name")
    exp = ds_sub.add_parser("export", help="a dataset as big-ann-benchmarks files: base and query (.fbin / .u8bin, "
                                           "or .csr) and the ground truth (.gt layout)",
                            formatter_class=opt.HelpFormatter)
    exp.add_argument("name", help="registry name, file name in the data dir, or path (NAME:REPRESENTATION too)")
    exp.add_argument("--format", choices=("bigann",), default="bigann",
                     help="bigann: the files big-ann-benchmarks' dataset_io readers read")
    exp.add_argument("--output", "-o", required=True, help="folder to write the files into")
    exp.add_argument("-r", "--representation", help="of a multi-representation dataset (default: its primary)")
    ds.set_defaults(func=cmd_datasets)


def cmd_datasets(args: argparse.Namespace) -> int:
    from harness.data import store
    from harness.data.dataset import Dataset
    from harness.data.registry import sources_missing

    if args.action == "list":
        rows = []
        for spec, present in store.registry_status(args.data_dir):
            mark = "prepared" if present else "no source" if sources_missing(spec) else "-"
            rows.append([spec.name, spec.kind, spec.distance, mark, spec.description])
        print(tabulate(rows, headers=["name", "kind", "distance", "status", "description"],
                           maxcolwidths=[None, None, None, None, 70]))
        print(f"\ndata dir: {args.data_dir}\nsource dir: {paths.source_dir()}")
        return 0
    if args.action == "import":
        from harness.data import importers

        path = importers.import_path(args.path, args.name, args.data_dir, force=args.force, fmt=args.format,
                                     split=args.split, representations=args.representations.split(","),
                                     metric=args.metric, fields=args.fields, query_fields=args.query_fields,
                                     qrels_layout=args.qrels_layout, query_ids=args.query_ids, dtype=args.dtype)
        with Dataset(path) as imported:
            print(f"imported: {path} ({imported})")
        return 0
    if args.action == "export":
        return export_bigann(args)
    from harness.data.registry import REGISTRY

    unknown = [name for name in args.name if name not in REGISTRY]
    if unknown:  # before preparing any of them
        raise ValueError(f"no registry dataset named {', '.join(map(repr, unknown))} (see `annsweep datasets list`)")
    for name in args.name:
        start = time.perf_counter()
        path = store.prepare(name, args.data_dir, force=args.force)
        print(f"{name}: {path} ({path.stat().st_size / 2**20:.1f} MiB, {time.perf_counter() - start:.1f} s)")
    return 0


GT_CONVENTIONS = {"euclidean": "squared L2 distances, ascending (faiss METRIC_L2)",
                  "ip": "inner products, descending", "angular": "cosine similarities, descending"}


def export_bigann(args: argparse.Namespace) -> int:
    """``datasets export NAME --format bigann -o DIR``: see :mod:`harness.data.exporters`."""
    from harness.data import store
    from harness.data.exporters import export_bigann as write
    from harness.data.exporters import exported_view

    with store.open_dataset(args.name, args.data_dir) as dataset:
        files = write(dataset, args.output, args.representation)
        view = exported_view(dataset, args.representation)
        for path in files:
            print(f"{path} ({path.stat().st_size / 2**20:.1f} MiB)")
        if view.has_ground_truth:
            print(f"ground truth: {view.distance} → {GT_CONVENTIONS[view.distance]}, as big-ann stores them")
    return 0

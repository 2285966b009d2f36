"""Import third-party dataset files into annsweep's HDF5 layout.

* ann-benchmarks ``.hdf5`` files are validated and copied unchanged.
* Sparse (SPLADE-style) collections are read from big-ann-benchmarks ``.csr``
  (or gzipped ``.csr.gz``, as big-ann ships them) files or Seismic ``.bin`` files, with ground
  truth from a big-ann ``.gt`` file or computed exactly, and written as a sparse ``ip`` dataset.
* Dense collections are read from big-ann-benchmarks ``.fbin`` (float32), ``.u8bin`` (uint8),
  ``.i8bin`` (int8) or ``.ibin`` (int32) files, or a ``.bin`` of a given type (float32 by default:
  Wikipedia-Cohere, OpenAI, MSMARCO-web): u32 n, u32 d, then n·d values (``xbin_write``), stored as
  float32 (exact for uint8 and int8; int32 values beyond ±2^24 are refused).  The format carries no
  metric: it is the caller's (``euclidean``, the default, is what most big-ann sets use; text2image
  and the like use ``ip``).  Ground truth: a big-ann ``.gt``/``.bin`` file (ids and distances) or an
  ``.ibin`` of ids only (told apart by size); the given ids are re-scored exactly and a sample of
  queries is checked against brute force at every rank; without a file it is computed exactly.
* Text collections (BEIR, TREC, SMART: :mod:`harness.data.text_formats`) are encoded into the
  chosen representations (:func:`import_text`).

The binary readers are :mod:`harness.data.bigann_files` (little-endian; ``.gz`` read through gzip
as a stream).  Every problem raises :class:`~harness.data.dataset.DatasetError` naming the offending
file, before anything is written; the dataset name and whether it exists are checked before any
file is read.  Default names: the first file's stem (a folder's for BEIR), for vector files whose
stem every big-ann set uses (``base``, ``query``, ``learn``...) prefixed with their folder's name.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from harness import paths
from harness.data import recipes, registry, text_formats
from harness.data.bigann_files import (  # noqa: F401 (the readers, importable from here as before)
    DENSE_DTYPES,
    DENSE_SUFFIXES,
    SPARSE_SUFFIXES,
    base_suffix,
    read_bigann_csr,
    read_bigann_gt,
    read_knn_file,
    read_seismic_bin,
    read_sparse,
    read_xbin,
)
from harness.data.checks import check_values
from harness.data.corpora import TextCollection
from harness.data.dataset import DISTANCES, GROUND_TRUTH_DEPTH, Dataset, DatasetError, Matrix
from harness.data.groundtruth import compute_ground_truth, distances_of
from harness.data.writer import write_dataset, write_multi_dataset

FORMATS = ("auto", "ann-benchmarks", "sparse", "bigann", "beir", "trec", "smart")
DEFAULT_METRIC = "euclidean"  # of dense big-ann files (bigann, deep, msturing, msspacev); the format has none
GENERIC_STEMS = frozenset({"base", "query", "queries", "learn", "train", "test", "data", "vectors", "corpus", "docs"})
FLOAT32_EXACT = 2**24  # the largest integer magnitude float32 holds exactly (with all below it)
MIN_GT_DEPTH = 10  # recall@10 is the smallest depth the harness reports
GT_CHECK_QUERIES = 20
GT_CHECK_RTOL = 1e-4


# --- importers --------------------------------------------------------------------------------


def _target(name: str, directory: str | Path | None) -> Path:
    if not name or "/" in name or os.sep in name or name.startswith("."):
        raise DatasetError(f"{name!r}: invalid dataset name (a plain file stem is required)")
    if name in registry.REGISTRY:  # its file would stand for the registry's dataset of that name
        raise DatasetError(f"{name!r} is a registry dataset's name: give the import another one with --name")
    return (Path(directory) if directory is not None else paths.data_dir()) / f"{name}.hdf5"


def _free_target(name: str, directory: str | Path | None, force: bool) -> Path:
    """The dataset file ``name`` would be written to, refused if it exists (without ``force``)."""
    dest = _target(name, directory)
    if dest.exists() and not force:
        raise DatasetError(f"{dest}: already exists (use force to overwrite)")
    return dest


def default_name(path: Path) -> str:
    """A vector file's dataset name: its stem (``base_small`` of ``base_small.csr.gz``), prefixed with its
    folder's name when the stem is one every big-ann set uses (``bigann/base.1B.u8bin`` → ``bigann-base``)."""
    stem = path.name.split(".")[0]
    folder = re.sub(r"[^A-Za-z0-9_+@=-]", "-", path.resolve().parent.name).strip("-.")
    return f"{folder}-{stem}" if stem.lower() in GENERIC_STEMS and folder else stem


def import_ann_benchmarks(
    src: str | Path, name: str | None = None, directory: str | Path | None = None, force: bool = False
) -> Path:
    """Validate an ann-benchmarks HDF5 file and copy it to ``<directory>/<name or stem>.hdf5``."""
    src = Path(src)
    with Dataset(src) as ds:  # raises DatasetError naming src for unreadable files or unsupported distances
        check_values(ds)  # NaN/Inf, bad CSR, ground truth out of range or unsorted: refused before copying
        if not ds.has_ground_truth:
            raise DatasetError(f"{src}: no ground truth ('neighbors'/'distances'); cannot benchmark recall")
        # Only the small arrays are read: train may be gigabytes and Dataset already checked its shape.
        nb = ds.neighbors
        if nb.shape != ds.distances.shape or nb.shape[0] != ds.n_test or nb.max(initial=0) >= ds.n_train:
            raise DatasetError(f"{src}: neighbors {nb.shape} / distances {ds.distances.shape} do not fit "
                               f"{ds.n_test} queries over {ds.n_train} points")
    dest = _target(name or src.stem, directory)
    if dest.exists():
        if dest.resolve() == src.resolve() or filecmp.cmp(src, dest, shallow=False):
            return dest
        if not force:
            raise DatasetError(f"{dest}: already exists and differs from {src} (use force to overwrite)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")  # same folder, so os.replace is atomic
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def import_sparse(
    base: str | Path,
    queries: str | Path,
    name: str,
    gt: str | Path | None = None,
    directory: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Write a sparse ``ip`` dataset from a base and a query file (and optionally a big-ann ``.gt`` file)."""
    base, queries = Path(base), Path(queries)
    dest = _free_target(name, directory, force)
    train, test = read_sparse(base), read_sparse(queries)
    # Seismic files carry no dimension, so base and queries may disagree; the union vocabulary is safe.
    dim = max(train.shape[1], test.shape[1])
    train, test = (sp.csr_matrix((m.data, m.indices, m.indptr), shape=(m.shape[0], dim)) for m in (train, test))
    neighbors = distances = None
    attrs = {"source": f"imported from {base} and {queries}", "source_base": str(base),
             "source_queries": str(queries)}
    if gt is not None:
        gt = Path(gt)
        neighbors, distances = _ground_truth_from_file(gt, train, test)
        attrs["source_ground_truth"] = str(gt)
    return write_dataset(dest, train, test, "ip", neighbors, distances, progress=progress, name=name, **attrs)


def _check_gt_ids(gt: Path, ids: np.ndarray, train: Matrix, test: Matrix) -> None:
    """A ground-truth file's ids: a row per query, at least MIN_GT_DEPTH deep, every id a base row."""
    if ids.shape[0] != test.shape[0] or ids.shape[1] < MIN_GT_DEPTH:
        raise DatasetError(f"{gt}: ground truth is {ids.shape[0]}×{ids.shape[1]}, need {test.shape[0]} queries "
                           f"× at least {MIN_GT_DEPTH} neighbours")
    if ids.min() < 0 or ids.max() >= train.shape[0]:
        raise DatasetError(f"{gt}: neighbour ids {ids.min()}..{ids.max()} outside the {train.shape[0]} base rows")


def _brute_force_sample(train: Matrix, test: Matrix, metric: str, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to GT_CHECK_QUERIES query rows spread over the set, and brute force's float64 distances for them."""
    sample = np.unique(np.linspace(0, test.shape[0] - 1, min(GT_CHECK_QUERIES, test.shape[0])).astype(int))
    _, best = compute_ground_truth(train, test[sample], metric, depth=depth, progress=False)
    return sample, best.astype(np.float64)


def _ground_truth_from_file(gt: Path, train: sp.csr_matrix, test: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    ids, scores = read_bigann_gt(gt)
    _check_gt_ids(gt, ids, train, test)
    # The harness expects closest first; order by descending score (stable keeps the file's tie order).
    order = np.argsort(-scores, axis=1, kind="stable")[:, :GROUND_TRUTH_DEPTH]
    ids, scores = np.take_along_axis(ids, order, 1), np.take_along_axis(scores, order, 1)
    # A gt file for other data (or another query set) would pass every shape check: re-score a sample, at
    # every rank, and compare it with brute force's scores rank by rank.
    sample, best = _brute_force_sample(train, test, "ip", ids.shape[1])
    exact_of_sample = -distances_of(train, test[sample], ids[sample], "ip")  # the file's ids' inner products
    for q, brute, exact in zip(sample, -best, exact_of_sample, strict=True):
        wrong = np.abs(exact - scores[q]) > GT_CHECK_RTOL * np.maximum(np.abs(exact), np.abs(scores[q])).clip(1e-12)
        short = brute - exact[: len(brute)] > GT_CHECK_RTOL * np.abs(brute).clip(1e-12)
        if wrong.any() or short.any():
            r = int(np.argmax(wrong)) if wrong.any() else int(np.argmax(short))
            raise DatasetError(f"{gt}: query {q}'s score at rank {r + 1}, {scores[q, r]}, with doc {ids[q, r]} (inner "
                               f"product {exact[r]:.6g}; brute force's rank {r + 1}: {brute[r]:.6g}): the ground truth "
                               "belongs to other data")
    return ids, -scores  # stored distances are "smaller is closer"


def import_dense(
    base: str | Path,
    queries: str | Path,
    name: str,
    metric: str = DEFAULT_METRIC,
    gt: str | Path | None = None,
    directory: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    dtype: str | None = None,
) -> Path:
    """Write a dense dataset from big-ann base and query files (``.fbin``/``.u8bin``/``.i8bin``/``.ibin``, or
    a ``.bin`` of ``dtype``, default float32), with ground truth from ``gt`` (checked, see
    :func:`_dense_ground_truth`) or computed exactly.  int32 values beyond ±2^24 are refused (float32,
    the stored type, would round them)."""
    base, queries = Path(base), Path(queries)
    if metric not in DISTANCES:
        raise DatasetError(f"{base}: metric {metric!r} is not one of {', '.join(DISTANCES)}")
    dest = _free_target(name, directory, force)
    train, test = (_as_float32(p, read_xbin(p, dtype)) for p in (base, queries))
    if train.shape[1] != test.shape[1]:
        raise DatasetError(f"{queries}: queries have {test.shape[1]} dimensions, the base {base} has {train.shape[1]}")
    neighbors = distances = None
    attrs = {"source": f"imported from {base} and {queries}", "source_base": str(base),
             "source_queries": str(queries), "metric_note": f"{metric}: chosen at import (big-ann files carry none)"}
    if gt is not None:
        neighbors, distances = _dense_ground_truth(Path(gt), train, test, metric)
        attrs["source_ground_truth"] = str(gt)
    return write_dataset(dest, train, test, metric, neighbors, distances, progress=progress, name=name, **attrs)


def _as_float32(path: Path, values: np.ndarray) -> np.ndarray:
    """``values`` as float32 (uint8 and int8 exactly; int32 only within ±2^24), without a copy of float32."""
    big = int(max(-int(values.min()), int(values.max()))) if values.dtype == np.int32 and values.size else 0
    if big > FLOAT32_EXACT:
        raise DatasetError(f"{path}: int32 value {big} is beyond 2^24 = {FLOAT32_EXACT}: float32, the stored type, "
                           "would round it")
    return values.astype(np.float32, copy=False)


def _dense_ground_truth(gt: Path, train: np.ndarray, test: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The file's ids (the first 100), re-scored exactly in ``metric`` and ordered by that distance.  A file
    for other data, another query set or another metric would pass the shape checks: for a sample of
    queries, the file's neighbours at every rank (the last one too) must be as close as brute force's."""
    ids, _ = read_knn_file(gt)
    _check_gt_ids(gt, ids, train, test)
    ids = ids[:, :GROUND_TRUTH_DEPTH]
    repeated = (np.diff(np.sort(ids, axis=1), axis=1) == 0).any(axis=1)
    if repeated.any():
        raise DatasetError(f"{gt}: query {int(np.argmax(repeated))} names a neighbour more than once")
    exact = distances_of(train, test, ids, metric)
    order = np.lexsort((ids, exact), axis=1)  # by distance, ties by id, as compute_ground_truth orders them
    ids, exact = np.take_along_axis(ids, order, 1), np.take_along_axis(exact, order, 1)
    sample, best = _brute_force_sample(train, test, metric, ids.shape[1])
    for q, brute in zip(sample, best, strict=True):
        slack = exact[q, : len(brute)] - brute - GT_CHECK_RTOL * np.maximum(np.abs(brute), 1e-6)
        if (slack > 0).any():
            r = int(np.argmax(slack > 0))
            raise DatasetError(f"{gt}: query {q}'s neighbour at rank {r + 1} (id {ids[q, r]}) is at {metric} distance "
                               f"{exact[q, r]:.6g}, but brute force's rank {r + 1} is at {brute[r]:.6g}: the ground "
                               "truth belongs to other data or another metric")
    return ids, exact.astype(np.float32)


# --- text collections: read, then encoded into representations --------------------------------------


def text_representations(names: Sequence[str]) -> list[str]:
    """The representation names, checked (``splade_tiny`` is ``splade-tiny``); the first is the primary."""
    known = list(recipes.LIMIT_ENCODERS)  # every text encoder the registry uses, with its attrs
    chosen = [n.strip().replace("_", "-") for n in names if n.strip()]
    unknown = [n for n in chosen if n not in known]
    if unknown or not chosen:
        raise DatasetError(f"representation(s) {', '.join(map(repr, unknown)) or '(none)'}: choose from "
                           f"{', '.join(known)}")
    if len(set(chosen)) != len(chosen):
        raise DatasetError(f"representations {', '.join(chosen)}: one is named twice")
    return chosen


def import_text(collection: TextCollection, representations: Sequence[str], name: str,
                directory: str | Path | None = None, force: bool = False, progress: bool = True,
                **attrs: object) -> Path:
    """Encode ``collection`` into each representation (exact ground truth each, ids, texts, qrels) and
    write one dataset: a plain file for one representation, a multi-representation file for several
    (primary = the first; roles dense / sparse / lexical = the first of each kind, as the registry's)."""
    chosen = text_representations(representations)
    dest = _free_target(name, directory, force)
    attrs = {"source": f"imported {collection.name}", **attrs}
    what = f"{collection.name}: {len(collection.doc_ids):,} documents, {len(collection.query_ids):,} queries"

    def write(rep: str, path: Path, **extra: object) -> Path:
        encode, rep_attrs = recipes.LIMIT_ENCODERS[rep]
        kind, distance, description, _ = registry.LIMIT_REPRESENTATIONS[rep]
        contents = recipes.encoded_collection(collection, encode, attrs={**attrs, **rep_attrs})
        return write_dataset(path, contents.train, contents.test, distance, progress=progress, text=contents.text,
                             qrels=contents.qrels or None, kind=kind, description=f"{what}, {description}",
                             **contents.attrs, **extra)

    if len(chosen) == 1:
        return write(chosen[0], dest, name=name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}-parts-", dir=dest.parent) as scratch:
        parts: dict[str, Dataset] = {}
        try:
            for rep in chosen:
                parts[rep] = Dataset(write(rep, Path(scratch) / f"{rep}.hdf5", name=f"{name}:{rep}"))
            roles = {"dense": "dense", "sparse": "sparse", "text": "lexical"}
            aliases: dict[str, str] = {}
            for rep, part in parts.items():
                aliases.setdefault(roles[part.kind], rep)
            return write_multi_dataset(dest, parts, chosen[0], aliases, name=name,
                                       description=f"{what}, in {', '.join(chosen)}", **attrs)
        finally:
            for part in parts.values():
                part.close()


def read_text_collection(fmt: str, files: Sequence[str], split: str = "test", fields: str | None = None,
                         query_fields: str | None = None, name: str | None = None, qrels_layout: str = "auto",
                         query_ids: str = "id") -> TextCollection:
    """A BEIR folder, TREC topics + qrels + documents, or SMART documents + queries + qrels."""
    expected = {"beir": "a BEIR folder", "trec": "topics, qrels and documents", "smart": "documents, queries, qrels"}
    if len(files) != (1 if fmt == "beir" else 3):
        raise DatasetError(f"{' '.join(map(str, files)) or '(no paths)'}: --format {fmt} takes {expected[fmt]}")
    if fmt == "beir":
        return text_formats.read_beir(files[0], split, name)
    if fmt == "trec":
        return text_formats.read_trec(*files, query_fields=query_fields or "title", name=name)
    return text_formats.read_smart_files(*files, fields=fields or "T,W", query_fields=query_fields,
                                         qrels_layout=qrels_layout, query_ids=query_ids, name=name)


def import_path(
    files: list[str], name: str | None = None, directory: str | Path | None = None, force: bool = False,
    progress: bool = True, fmt: str = "auto", split: str = "test", representations: Sequence[str] = ("bm25",),
    metric: str | None = None, fields: str | None = None, query_fields: str | None = None,
    qrels_layout: str = "auto", query_ids: str = "id", dtype: str | None = None,
) -> Path:
    """Dispatch for ``annsweep datasets import``: by ``fmt``, or (``auto``) by the paths' suffixes: one
    ``.hdf5`` file; a BEIR folder; base, queries[, ground truth] as sparse (``.csr[.gz]``, ``.bin``) or
    dense big-ann files (``.fbin``, ``.u8bin``, ``.i8bin``, ``.ibin``; a ``.crop_nb_<N>`` suffix is
    ignored).  A named format decides the reader whatever the suffix (``--format bigann`` reads a
    ``.bin`` as dense, of ``dtype``, default float32).  TREC and SMART need their format named.
    Options, the dataset name and whether it exists are checked before any file is read."""
    if fmt not in FORMATS:
        raise DatasetError(f"format {fmt!r}: choose from {', '.join(FORMATS)}")
    paths_ = [Path(f) for f in files]
    if fmt == "auto":
        fmt = _detect(paths_)
    if metric is not None and fmt not in ("bigann", "sparse"):  # the file or the representation decides it
        raise DatasetError(f"{' '.join(files)}: --metric is for big-ann vector files, not {fmt} ones")
    if dtype is not None and fmt != "bigann":
        raise DatasetError(f"{' '.join(files)}: --dtype is for dense big-ann files (--format bigann), not {fmt} ones")
    if fmt in ("beir", "trec", "smart"):
        text_representations(representations)  # before reading: a typo costs nothing
        stem = paths_[0].name if fmt == "beir" else paths_[-1 if fmt == "trec" else 0].name.split(".")[0]
        name = name or (stem if split == "test" or fmt != "beir" else f"{stem}-{split}")
        _free_target(name, directory, force)  # before reading: a corpus may take minutes to parse
        collection = read_text_collection(fmt, files, split, fields, query_fields, name, qrels_layout, query_ids)
        what = f"{fmt}, split {split}" if fmt == "beir" else fmt
        return import_text(collection, representations, name, directory, force, progress,
                           source=f"imported from {' '.join(files)} ({what})")
    if fmt == "ann-benchmarks":
        if len(files) != 1:
            raise DatasetError(f"{' '.join(files) or '(no paths)'}: --format ann-benchmarks takes one .hdf5 file")
        return import_ann_benchmarks(files[0], name, directory, force)
    if len(files) not in (2, 3):
        raise DatasetError(f"{' '.join(files) or '(no paths)'}: --format {fmt} takes base, queries and optionally "
                           "a ground-truth file")
    gt = files[2] if len(files) == 3 else None
    if fmt == "sparse" and metric not in (None, "ip"):
        raise DatasetError(f"{files[0]}: sparse datasets use metric 'ip', not {metric!r}")
    name = name or default_name(paths_[0])
    _free_target(name, directory, force)
    if fmt == "sparse":
        return import_sparse(files[0], files[1], name, gt, directory, force, progress)
    return import_dense(files[0], files[1], name, metric or DEFAULT_METRIC, gt, directory, force, progress, dtype)


def _detect(paths_: list[Path]) -> str:
    if len(paths_) == 1 and paths_[0].suffix in (".hdf5", ".h5"):
        return "ann-benchmarks"
    if len(paths_) == 1 and paths_[0].is_dir():
        return "beir"
    if len(paths_) in (2, 3):  # dense by suffix; anything else is read (or refused) as sparse
        return "bigann" if base_suffix(paths_[0]) in DENSE_SUFFIXES else "sparse"
    raise DatasetError(f"{' '.join(map(str, paths_)) or '(no paths)'}: expected one ann-benchmarks .hdf5 file, a "
                       f"BEIR folder, or base and queries ({', '.join((*SPARSE_SUFFIXES, *DENSE_SUFFIXES))}) and "
                       "optionally a ground-truth file; TREC and SMART files need --format trec / smart")

"""Import third-party dataset files into annsweep's HDF5 layout.

* ann-benchmarks ``.hdf5`` files are validated and copied unchanged.
* Sparse (SPLADE-style) collections are read from big-ann-benchmarks ``.csr``
  (or gzipped ``.csr.gz``, as big-ann ships them) files or Seismic ``.bin`` files, with ground
  truth from a big-ann ``.gt`` file or computed exactly, and written as a sparse ``ip`` dataset.
* Dense collections are read from big-ann-benchmarks ``.fbin`` (float32), ``.u8bin`` (uint8),
  ``.i8bin`` (int8) or ``.ibin`` (int32) files: u32 n, u32 d, then n·d values (``xbin_write``),
  stored as float32 (exact for these integers).  The format carries no metric: it is the caller's
  (``euclidean``, the default, is what most big-ann sets use; text2image and the like use ``ip``).
  Ground truth: a big-ann ``.gt``/``.bin`` file (ids and distances) or an ``.ibin`` of ids only
  (told apart by size); the given ids are re-scored exactly and checked on a sample against brute
  force; without a file it is computed exactly.
* Text collections (BEIR, TREC, SMART: :mod:`harness.data.text_formats`) are encoded into the
  chosen representations (:func:`import_text`).

All binary formats are little-endian; a ``.gz`` suffix is read through gzip.  Every problem raises
:class:`~harness.data.dataset.DatasetError` naming the offending file, before anything is written.
"""

from __future__ import annotations

import filecmp
import gzip
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from harness import paths
from harness.data import recipes, registry, text_formats
from harness.data.checks import check_values
from harness.data.corpora import TextCollection
from harness.data.dataset import DISTANCES, GROUND_TRUTH_DEPTH, Dataset, DatasetError
from harness.data.groundtruth import compute_ground_truth, distances_of
from harness.data.writer import write_dataset, write_multi_dataset

SPARSE_SUFFIXES = (".csr", ".bin", ".csr.gz")
DENSE_SUFFIXES = {".fbin": "<f4", ".u8bin": "u1", ".i8bin": "i1", ".ibin": "<i4"}  # big-ann xbin files
FORMATS = ("auto", "ann-benchmarks", "sparse", "bigann", "beir", "trec", "smart")
DEFAULT_METRIC = "euclidean"  # of dense big-ann files (bigann, deep, msturing, msspacev); the format has none
MIN_GT_DEPTH = 10  # recall@10 is the smallest depth the harness reports
GT_CHECK_QUERIES = 20
GT_CHECK_RTOL = 1e-4


# --- readers ----------------------------------------------------------------------------------


Read = Callable[[str, int, int], np.ndarray]  # (dtype, count, byte offset) -> a writable array


def _binary(path: Path) -> tuple[int, Read, str]:
    """(size in bytes, reader, what the size is of) of a binary file; ``.gz`` is decompressed in memory."""
    if path.suffix != ".gz":
        size = _size(path)
        return size, lambda dtype, count, offset: np.fromfile(path, dtype=dtype, count=count, offset=offset), "file"
    _size(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable gzip file ({exc})") from None
    return len(raw), lambda dtype, count, offset: np.frombuffer(raw, dtype, count, offset).copy(), "decompressed file"


def _base_suffix(path: Path) -> str:
    """The format's suffix: ``.csr`` of ``x.csr.gz``, ``.fbin`` of ``x.fbin``."""
    return Path(path.name[:-3]).suffix if path.suffix == ".gz" else path.suffix


def read_bigann_csr(path: str | Path) -> sp.csr_matrix:
    """A big-ann-benchmarks sparse matrix (``.csr``, or ``.csr.gz``): i64 nrow, ncol, nnz; i64 indptr;
    i32 indices; f32 data."""
    path = Path(path)
    size, read, what = _binary(path)
    if size < 24:
        raise DatasetError(f"{path}: truncated header ({size} bytes, need 24)")
    nrow, ncol, nnz = (int(x) for x in read("<i8", 3, 0))
    if min(nrow, ncol, nnz) < 0:
        raise DatasetError(f"{path}: negative header value (nrow={nrow}, ncol={ncol}, nnz={nnz})")
    expected = 24 + 8 * (nrow + 1) + 8 * nnz
    if size != expected:
        raise DatasetError(
            f"{path}: {what} is {size} bytes but nrow={nrow}, nnz={nnz} need {expected} (truncated or not a .csr "
            "file)"
        )
    indptr = read("<i8", nrow + 1, 24)
    indices = read("<i4", nnz, 24 + 8 * (nrow + 1))
    data = read("<f4", nnz, 24 + 8 * (nrow + 1) + 4 * nnz)
    if indptr[0] != 0 or indptr[-1] != nnz:
        raise DatasetError(f"{path}: indptr must run from 0 to nnz={nnz}, got {indptr[0]}..{indptr[-1]}")
    if (np.diff(indptr) < 0).any():
        raise DatasetError(f"{path}: indptr decreases at row {int(np.argmax(np.diff(indptr) < 0))}")
    if nnz and (indices.min() < 0 or indices.max() >= ncol):
        raise DatasetError(f"{path}: column index out of range [0, {ncol}): {indices.min()}..{indices.max()}")
    _check_finite(path, data)
    m = sp.csr_matrix((data, indices, indptr), shape=(nrow, ncol))
    m.sort_indices()  # no-op when already sorted; some algorithms assume sorted rows
    return m


def read_bigann_gt(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A big-ann-benchmarks ground-truth file: u32 n, k; i32 ids[n*k]; f32 scores[n*k] → (ids, scores) n×k."""
    ids, scores = read_knn_file(Path(path), ids_only=False)
    assert scores is not None  # ids_only=False refuses a file without scores
    return ids, scores


def read_knn_file(path: Path, ids_only: bool | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """u32 n, k; i32 ids[n*k]; then (knn_result_write / usbin_write) f32 distances[n*k] or (an ``.ibin``)
    nothing.  ``ids_only`` None tells the two apart by the file's size; True or False requires one."""
    size, read, what = _binary(path)
    if size < 8:
        raise DatasetError(f"{path}: truncated header ({size} bytes, need 8)")
    n, k = (int(x) for x in read("<u4", 2, 0))
    sizes = {True: 8 + 4 * n * k, False: 8 + 8 * n * k}
    allowed = (True, False) if ids_only is None else (ids_only,)
    if size not in [sizes[o] for o in allowed]:
        need = " or ".join(f"{sizes[o]} ({'ids only' if o else 'ids and distances'})" for o in allowed)
        raise DatasetError(f"{path}: {what} is {size} bytes but n={n}, k={k} need {need} (not a .gt file?)")
    ids_only = size == sizes[True] and True in allowed
    ids = read("<i4", n * k, 8).reshape(n, k).astype(np.int32)
    if ids_only:
        return ids, None
    scores = read("<f4", n * k, 8 + 4 * n * k).reshape(n, k).astype(np.float32)
    _check_finite(path, scores)
    return ids, scores


def read_seismic_bin(path: str | Path, dim: int | None = None) -> sp.csr_matrix:
    """Seismic's binary format: u32 count, then per vector u32 length, u32 ids[length], f32 values[length].

    ``dim`` defaults to the largest component id + 1.  Rows are sorted by id;
    a repeated id within a vector is an error (it would silently be summed).
    """
    path = Path(path)
    size = _size(path)
    if size < 4 or size % 4:
        raise DatasetError(f"{path}: {size} bytes is not a whole number of 4-byte words (truncated?)")
    words = np.fromfile(path, dtype="<u4")  # every field is 4 bytes, so one array covers the file
    count, n_words = int(words[0]), len(words)
    # The walk is sequential (each offset depends on the previous length): one cheap Python step per
    # vector over a memoryview (plain ints, ~0.2 s per million vectors); all per-element work is numpy.
    view, heads, pos = memoryview(words), [], 1
    for i in range(count):
        if pos >= n_words:
            raise DatasetError(f"{path}: truncated: {count} vectors announced, file ends in vector {i}")
        heads.append(pos)
        pos += 1 + 2 * view[pos]
        if pos > n_words:
            raise DatasetError(f"{path}: truncated inside vector {i} (length {view[heads[-1]]})")
    if pos != n_words:
        raise DatasetError(f"{path}: {4 * (n_words - pos)} trailing bytes after {count} vectors")
    starts = np.asarray(heads, dtype=np.int64) + 1
    lengths = words[starts - 1].astype(np.int64)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    rows = np.repeat(np.arange(count, dtype=np.int64), lengths)
    id_pos = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
    ids = words[id_pos].astype(np.int64)
    values = words.view("<f4")[id_pos + lengths[rows]]
    _check_finite(path, values)
    max_id = int(ids.max()) if len(ids) else -1
    dim = max_id + 1 if dim is None else dim
    if max_id >= dim or dim > np.iinfo(np.int32).max:
        raise DatasetError(f"{path}: component id {max_id} does not fit dimension {dim}")
    # One int64 key per entry (row in the high bits) orders entries by row, then id; the sort (much faster
    # than np.lexsort) is skipped when the file's rows are already sorted, the usual case.
    key = (rows << 32) | ids
    if (np.diff(key) <= 0).any():
        order = np.argsort(key)
        key, rows, ids, values = key[order], rows[order], ids[order], values[order]
    dup = np.diff(key) == 0
    if dup.any():
        j = int(np.argmax(dup))
        raise DatasetError(f"{path}: vector {rows[j]} has component id {ids[j]} more than once")
    return sp.csr_matrix((values.astype(np.float32), ids.astype(np.int32), indptr), shape=(count, dim))


def read_sparse(path: str | Path) -> sp.csr_matrix:
    """A sparse matrix in the format named by the suffix (``.csr``/``.csr.gz`` big-ann, ``.bin`` Seismic)."""
    path = Path(path)
    if _base_suffix(path) == ".csr":
        return read_bigann_csr(path)
    if path.suffix == ".bin":
        return read_seismic_bin(path)
    raise DatasetError(f"{path}: unknown sparse format {path.suffix!r} (supported: {', '.join(SPARSE_SUFFIXES)})")


def read_xbin(path: str | Path, dtype: str | None = None) -> np.ndarray:
    """A big-ann-benchmarks dense file (``xbin_write``): u32 n, u32 d, then n·d values of ``dtype``
    (default from the suffix, see ``DENSE_SUFFIXES``), as an n×d array of that type."""
    path = Path(path)
    if dtype is None:
        if _base_suffix(path) not in DENSE_SUFFIXES:
            raise DatasetError(f"{path}: unknown dense format {_base_suffix(path)!r} (supported: "
                               f"{', '.join(DENSE_SUFFIXES)}, optionally gzipped)")
        dtype = DENSE_SUFFIXES[_base_suffix(path)]
    size, read, what = _binary(path)
    if size < 8:
        raise DatasetError(f"{path}: truncated header ({size} bytes, need 8)")
    n, d = (int(x) for x in read("<u4", 2, 0))
    expected = 8 + n * d * np.dtype(dtype).itemsize
    if size != expected:
        raise DatasetError(f"{path}: {what} is {size} bytes but the header's n={n}, d={d} of {np.dtype(dtype).name} "
                           f"need {expected} (truncated, or not a {_base_suffix(path)} file)")
    return read(dtype, n * d, 8).reshape(n, d)


def _size(path: Path) -> int:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    return path.stat().st_size


def _check_finite(path: Path, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise DatasetError(f"{path}: {int(bad.sum())} NaN/infinite value(s), first at position {np.argmax(bad)}")


# --- importers --------------------------------------------------------------------------------


def _target(name: str, directory: str | Path | None) -> Path:
    if not name or "/" in name or os.sep in name or name.startswith("."):
        raise DatasetError(f"{name!r}: invalid dataset name (a plain file stem is required)")
    return (Path(directory) if directory is not None else paths.data_dir()) / f"{name}.hdf5"


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
    dest = _target(name, directory)
    if dest.exists() and not force:
        raise DatasetError(f"{dest}: already exists (use force to overwrite)")
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


def _ground_truth_from_file(gt: Path, train: sp.csr_matrix, test: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    ids, scores = read_bigann_gt(gt)
    if ids.shape[0] != test.shape[0] or ids.shape[1] < MIN_GT_DEPTH:
        raise DatasetError(f"{gt}: ground truth is {ids.shape[0]}×{ids.shape[1]}, need {test.shape[0]} queries "
                           f"× at least {MIN_GT_DEPTH} neighbours")
    if ids.min() < 0 or ids.max() >= train.shape[0]:
        raise DatasetError(f"{gt}: neighbour ids {ids.min()}..{ids.max()} outside the {train.shape[0]} base rows")
    # The harness expects closest first; order by descending score (stable keeps the file's tie order).
    order = np.argsort(-scores, axis=1, kind="stable")[:, :GROUND_TRUTH_DEPTH]
    ids, scores = np.take_along_axis(ids, order, 1), np.take_along_axis(scores, order, 1)
    # A gt file for other data (or another query set) would pass every shape check: re-score a sample.
    sample = np.unique(np.linspace(0, test.shape[0] - 1, min(GT_CHECK_QUERIES, test.shape[0])).astype(int))
    for q in sample:
        exact = float(test[q].astype(np.float64).multiply(train[int(ids[q, 0])].astype(np.float64)).sum())
        if abs(exact - scores[q, 0]) > GT_CHECK_RTOL * max(abs(exact), abs(float(scores[q, 0])), 1e-12):
            raise DatasetError(f"{gt}: query {q}'s top score {scores[q, 0]} ≠ its inner product {exact} with "
                               f"doc {ids[q, 0]}: the ground truth belongs to other data")
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
) -> Path:
    """Write a dense dataset from big-ann base and query files (``.fbin``/``.u8bin``/``.i8bin``/``.ibin``),
    with ground truth from ``gt`` (checked, see :func:`_dense_ground_truth`) or computed exactly."""
    base, queries = Path(base), Path(queries)
    if metric not in DISTANCES:
        raise DatasetError(f"{base}: metric {metric!r} is not one of {', '.join(DISTANCES)}")
    dest = _target(name, directory)
    if dest.exists() and not force:
        raise DatasetError(f"{dest}: already exists (use force to overwrite)")
    train, test = (read_xbin(p).astype(np.float32) for p in (base, queries))
    if train.shape[1] != test.shape[1]:
        raise DatasetError(f"{queries}: queries have {test.shape[1]} dimensions, the base {base} has {train.shape[1]}")
    neighbors = distances = None
    attrs = {"source": f"imported from {base} and {queries}", "source_base": str(base),
             "source_queries": str(queries), "metric_note": f"{metric}: chosen at import (big-ann files carry none)"}
    if gt is not None:
        neighbors, distances = _dense_ground_truth(Path(gt), train, test, metric)
        attrs["source_ground_truth"] = str(gt)
    return write_dataset(dest, train, test, metric, neighbors, distances, progress=progress, name=name, **attrs)


def _dense_ground_truth(gt: Path, train: np.ndarray, test: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The file's ids (the first 100), re-scored exactly in ``metric`` and ordered by that distance.  A file
    for other data, another query set or another metric would pass the shape checks: the nearest id of
    a sample of queries must be as close as brute force's nearest."""
    ids, _ = read_knn_file(gt)
    if ids.shape[0] != test.shape[0] or ids.shape[1] < MIN_GT_DEPTH:
        raise DatasetError(f"{gt}: ground truth is {ids.shape[0]}×{ids.shape[1]}, need {test.shape[0]} queries "
                           f"× at least {MIN_GT_DEPTH} neighbours")
    if ids.min() < 0 or ids.max() >= train.shape[0]:
        raise DatasetError(f"{gt}: neighbour ids {ids.min()}..{ids.max()} outside the {train.shape[0]} base rows")
    ids = ids[:, :GROUND_TRUTH_DEPTH]
    exact = distances_of(train, test, ids, metric)
    order = np.lexsort((ids, exact), axis=1)  # by distance, ties by id, as compute_ground_truth orders them
    ids, exact = np.take_along_axis(ids, order, 1), np.take_along_axis(exact, order, 1)
    sample = np.unique(np.linspace(0, test.shape[0] - 1, min(GT_CHECK_QUERIES, test.shape[0])).astype(int))
    _, best = compute_ground_truth(train, test[sample], metric, depth=1, progress=False)
    for q, nearest in zip(sample, best[:, 0].astype(np.float64), strict=True):
        if exact[q, 0] - nearest > GT_CHECK_RTOL * max(abs(nearest), abs(exact[q, 0]), 1e-6):
            raise DatasetError(f"{gt}: query {q}'s nearest id {ids[q, 0]} is at {metric} distance "
                               f"{exact[q, 0]:.6g}, but brute force finds {nearest:.6g}: the ground truth belongs "
                               "to other data or another metric")
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
    dest = _target(name, directory)
    if dest.exists() and not force:
        raise DatasetError(f"{dest}: already exists (use force to overwrite)")
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
    qrels_layout: str = "auto", query_ids: str = "id",
) -> Path:
    """Dispatch for ``annsweep datasets import``: by ``fmt``, or (``auto``) by the paths' suffixes: one
    ``.hdf5`` file; a BEIR folder; base, queries[, ground truth] as sparse (``.csr[.gz]``, ``.bin``) or
    dense big-ann files (``.fbin``, ``.u8bin``, ``.i8bin``, ``.ibin``).  TREC and SMART need their format named.
    Options are checked before any file is read."""
    if fmt not in FORMATS:
        raise DatasetError(f"format {fmt!r}: choose from {', '.join(FORMATS)}")
    paths_ = [Path(f) for f in files]
    if fmt == "auto":
        fmt = _detect(paths_)
    if metric is not None and fmt not in ("bigann", "sparse"):  # the file or the representation decides it
        raise DatasetError(f"{' '.join(files)}: --metric is for big-ann vector files, not {fmt} ones")
    if fmt in ("beir", "trec", "smart"):
        text_representations(representations)  # before reading: a typo costs nothing
        stem = paths_[0].name if fmt == "beir" else paths_[-1 if fmt == "trec" else 0].name.split(".")[0]
        name = name or (stem if split == "test" or fmt != "beir" else f"{stem}-{split}")
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
    stem = paths_[0].name.split(".")[0]
    if fmt == "sparse" or _base_suffix(paths_[0]) in (".csr", ".bin"):
        if metric not in (None, "ip"):
            raise DatasetError(f"{files[0]}: sparse datasets use metric 'ip', not {metric!r}")
        return import_sparse(files[0], files[1], name or stem, gt, directory, force, progress)
    return import_dense(files[0], files[1], name or stem, metric or DEFAULT_METRIC, gt, directory, force, progress)


def _detect(paths_: list[Path]) -> str:
    if len(paths_) == 1 and paths_[0].suffix in (".hdf5", ".h5"):
        return "ann-benchmarks"
    if len(paths_) == 1 and paths_[0].is_dir():
        return "beir"
    if len(paths_) in (2, 3):  # dense by suffix; anything else is read (or refused) as sparse
        return "bigann" if _base_suffix(paths_[0]) in DENSE_SUFFIXES else "sparse"
    raise DatasetError(f"{' '.join(map(str, paths_)) or '(no paths)'}: expected one ann-benchmarks .hdf5 file, a "
                       f"BEIR folder, or base and queries ({', '.join((*SPARSE_SUFFIXES, *DENSE_SUFFIXES))}) and "
                       "optionally a ground-truth file; TREC and SMART files need --format trec / smart")

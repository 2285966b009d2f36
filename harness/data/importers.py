"""Import third-party dataset files into annsweep's HDF5 layout.

* ann-benchmarks ``.hdf5`` files are validated and copied unchanged.
* Sparse (SPLADE-style) collections are read from big-ann-benchmarks ``.csr``
  files or Seismic ``.bin`` files, with ground truth from a big-ann ``.gt``
  file or computed exactly, and written as a sparse ``ip`` dataset.

All binary formats are little-endian.  Every problem raises
:class:`~harness.data.dataset.DatasetError` naming the offending file.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from harness import paths
from harness.data.checks import check_values
from harness.data.dataset import GROUND_TRUTH_DEPTH, Dataset, DatasetError
from harness.data.writer import write_dataset

SPARSE_SUFFIXES = (".csr", ".bin")
MIN_GT_DEPTH = 10  # recall@10 is the smallest depth the harness reports
GT_CHECK_QUERIES = 20
GT_CHECK_RTOL = 1e-4


# --- readers ----------------------------------------------------------------------------------


def read_bigann_csr(path: str | Path) -> sp.csr_matrix:
    """A big-ann-benchmarks sparse matrix: i64 nrow, ncol, nnz; i64 indptr; i32 indices; f32 data."""
    path = Path(path)
    size = _size(path)
    if size < 24:
        raise DatasetError(f"{path}: truncated header ({size} bytes, need 24)")
    nrow, ncol, nnz = (int(x) for x in np.fromfile(path, dtype="<i8", count=3))
    if min(nrow, ncol, nnz) < 0:
        raise DatasetError(f"{path}: negative header value (nrow={nrow}, ncol={ncol}, nnz={nnz})")
    expected = 24 + 8 * (nrow + 1) + 8 * nnz
    if size != expected:
        raise DatasetError(
            f"{path}: file is {size} bytes but nrow={nrow}, nnz={nnz} need {expected} (truncated or not a .csr file)"
        )
    indptr = np.fromfile(path, dtype="<i8", count=nrow + 1, offset=24)
    indices = np.fromfile(path, dtype="<i4", count=nnz, offset=24 + 8 * (nrow + 1))
    data = np.fromfile(path, dtype="<f4", count=nnz, offset=24 + 8 * (nrow + 1) + 4 * nnz)
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
    path = Path(path)
    size = _size(path)
    if size < 8:
        raise DatasetError(f"{path}: truncated header ({size} bytes, need 8)")
    n, k = (int(x) for x in np.fromfile(path, dtype="<u4", count=2))
    expected = 8 + 8 * n * k
    if size != expected:
        raise DatasetError(f"{path}: file is {size} bytes but n={n}, k={k} need {expected} (not a .gt file?)")
    ids = np.fromfile(path, dtype="<i4", count=n * k, offset=8).reshape(n, k)
    scores = np.fromfile(path, dtype="<f4", count=n * k, offset=8 + 4 * n * k).reshape(n, k)
    _check_finite(path, scores)
    return ids.astype(np.int32), scores.astype(np.float32)


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
    """A sparse matrix in the format named by the suffix (``.csr`` big-ann, ``.bin`` Seismic)."""
    path = Path(path)
    if path.suffix == ".csr":
        return read_bigann_csr(path)
    if path.suffix == ".bin":
        return read_seismic_bin(path)
    raise DatasetError(f"{path}: unknown sparse format {path.suffix!r} (supported: {', '.join(SPARSE_SUFFIXES)})")


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


def import_path(
    files: list[str], name: str | None = None, directory: str | Path | None = None, force: bool = False,
    progress: bool = True,
) -> Path:
    """Dispatch for ``annsweep datasets import``: one ``.hdf5`` file, or base, queries[, gt]."""
    if len(files) == 1 and Path(files[0]).suffix in (".hdf5", ".h5"):
        return import_ann_benchmarks(files[0], name, directory, force)
    if len(files) in (2, 3):
        gt = files[2] if len(files) == 3 else None
        return import_sparse(files[0], files[1], name or Path(files[0]).stem, gt, directory, force, progress)
    raise DatasetError(f"{' '.join(map(str, files)) or '(no paths)'}: expected one ann-benchmarks .hdf5 file, or "
                       f"base and queries ({', '.join(SPARSE_SUFFIXES)}) and optionally a .gt file")

"""Export a dataset into big-ann-benchmarks' files, which its own readers (``benchmark/dataset_io.py``:
``xbin_mmap``/``read_fbin``, ``read_sparse_matrix``, ``knn_result_read``) read unchanged.

Files written into the output folder (all little-endian, as big-ann writes them):

* dense: ``base.<ext>`` and ``query.<ext>``: uint32 n, uint32 d, then n×d values (big-ann's
  ``xbin_write``); ``<ext>`` is ``u8bin`` / ``i8bin`` when the file stores uint8 / int8 vectors
  (as big-ann ships BIGANN and MSSPACEV), else ``fbin`` (float32).
* sparse (and the BM25 reference vectors of a text dataset): ``base.csr`` and ``query.csr`` in
  big-ann's CSR layout (``write_sparse_matrix``): int64 nrow, ncol, nnz; int64 indptr[nrow + 1];
  int32 indices[nnz]; float32 data[nnz].
* ground truth: ``gt.ibin`` beside dense files, ``query.gt`` beside sparse ones (big-ann's own
  names: ``GT.public.1B.ibin``, ``base_small.dev.gt``), both in the layout ``knn_result_read``
  reads (``usbin_write``): uint32 n, uint32 k, int32 ids[n×k], float32 distances[n×k], every
  stored neighbour (usually 100), closest first, in annsweep's order (ties as annsweep ranks them).

The distances follow big-ann's convention for the metric, not annsweep's *smaller is closer*
(read from big-ann's ``dataset_preparation/make_groundtruth.py`` and ``make_sparse_groundtruth.py``):

* euclidean: the **squared** L2 distance, ascending: big-ann's ground truth comes from a faiss
  ``IndexFlat`` with ``METRIC_L2``, which reports squared distances.  annsweep stores the L2
  distance (float64-exact, kept as float32); its square is written (float32).
* ip: the **inner product**, descending (higher is closer): faiss ``METRIC_INNER_PRODUCT``, and the
  sparse ground truth sorts dot products with ``reverse=True``.  annsweep stores −(inner product).
* angular: the **cosine similarity** 1 − d, descending.  big-ann has no angular set (its
  ``make_groundtruth`` runs ``METRIC_INNER_PRODUCT`` for "angular", i.e. the inner product of
  normalised vectors); the ids are annsweep's cosine ranking, the values the matching similarity.

Nothing in these files says which metric they use: the command line prints it.  Arrays are copied
in row blocks from the HDF5 file, so a file larger than memory is exported without being loaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from harness.data.dataset import Dataset, DatasetError
from harness.data.store import open_dataset

BLOCK_BYTES = 1 << 26  # 64 MiB per copied block
DENSE_EXTENSIONS = {np.dtype(np.uint8): "u8bin", np.dtype(np.int8): "i8bin"}  # anything else: fbin (float32)
DENSE_GT, SPARSE_GT = "gt.ibin", "query.gt"
UINT32_MAX = np.iinfo(np.uint32).max


def export_bigann(dataset: Dataset | str | Path, out_dir: str | Path, representation: str | None = None,
                  directory: str | Path | None = None) -> list[Path]:
    """Write ``dataset`` (a :class:`Dataset`, or a name or path opened with
    :func:`~harness.data.store.open_dataset` from ``directory``) as big-ann-benchmarks files in
    ``out_dir``; return their paths (base, query, ground truth).

    ``representation`` picks one representation of a multi-representation dataset (by name or
    alias); without it such a file exports its primary one.  A text dataset exports its BM25
    reference vectors (what its ground truth ranks).  A dataset without ground truth gets no
    ground-truth file.  Every file is written under a temporary name and renamed, so an
    interrupted export leaves no truncated file behind.
    """
    if isinstance(dataset, Dataset):
        return _export(dataset, Path(out_dir), representation)
    with open_dataset(dataset, directory) as opened:
        return _export(opened, Path(out_dir), representation)


def exported_view(dataset: Dataset, representation: str | None) -> Dataset:
    """The representation an export writes: ``representation``, the one the dataset was opened as, or
    the primary one of a multi-representation file; a file with one representation is itself."""
    if dataset.representations:
        return dataset.representation(representation or dataset.representation_name or dataset.primary)
    if representation is not None:
        dataset.representation(representation)  # raises: the file has one representation
    return dataset


def _export(dataset: Dataset, out_dir: Path, representation: str | None) -> list[Path]:
    view = exported_view(dataset, representation)
    out_dir.mkdir(parents=True, exist_ok=True)
    if view.representation_kind == "dense":
        stored = view.stored("train").dtype
        ext = DENSE_EXTENSIONS.get(stored, "fbin")
        dtype = stored if ext != "fbin" else np.dtype(np.float32)
        written = [_write_dense(view, key, out_dir / f"{name}.{ext}", dtype)
                   for key, name in (("train", "base"), ("test", "query"))]
        gt_name = DENSE_GT
    else:
        written = [_write_csr(view, key, out_dir / f"{name}.csr")
                   for key, name in (("train", "base"), ("test", "query"))]
        gt_name = SPARSE_GT
    if view.has_ground_truth:
        ids, distances = view.neighbors, bigann_distances(view.distances, view.distance)
        written.append(_atomic(out_dir / gt_name, lambda f: _write_gt(f, ids, distances)))
    return written


def bigann_distances(distances: np.ndarray, metric: str) -> np.ndarray:
    """annsweep's stored distances (smaller is closer) in big-ann's convention for ``metric`` (see
    the module docstring): squared L2 for euclidean, the inner product for ip, the cosine similarity
    for angular."""
    d = np.asarray(distances, dtype=np.float64)
    if metric == "euclidean":
        return (d * d).astype(np.float32)
    if metric == "ip":
        return (-d).astype(np.float32)
    if metric == "angular":
        return (1.0 - d).astype(np.float32)
    raise DatasetError(f"distance {metric!r} has no big-ann convention (euclidean, ip, angular)")


def _write_dense(view: Dataset, key: str, path: Path, dtype: np.dtype) -> Path:
    source = view.stored(key)
    n, d = (int(x) for x in source.shape)
    _fits_uint32(view, key, n, d)

    def write(f) -> None:
        np.array([n, d], dtype="<u4").tofile(f)
        for block in _row_blocks(source, d * dtype.itemsize):
            np.ascontiguousarray(block, dtype=dtype.newbyteorder("<")).tofile(f)

    return _atomic(path, write)


def _write_csr(view: Dataset, key: str, path: Path) -> Path:
    group = view.stored(key)
    nrow, ncol = (int(x) for x in group.attrs["shape"])
    indptr = np.asarray(group["indptr"][()], dtype=np.int64)  # nrow + 1 values: small beside the entries
    nnz = int(indptr[-1])
    if ncol > np.iinfo(np.int32).max:
        raise DatasetError(f"{view.path}: {key} has {ncol} columns; big-ann's int32 column indices cannot hold them")

    def write(f) -> None:
        np.array([nrow, ncol, nnz], dtype="<i8").tofile(f)
        indptr.astype("<i8").tofile(f)
        for part, dtype in (("indices", "<i4"), ("data", "<f4")):
            for block in _row_blocks(group[part], 8):
                block.astype(dtype, copy=False).tofile(f)  # no copy when stored as written

    return _atomic(path, write)


def _write_gt(f, ids: np.ndarray, distances: np.ndarray) -> None:
    n, k = ids.shape
    np.array([n, k], dtype="<u4").tofile(f)
    np.ascontiguousarray(ids, dtype="<i4").tofile(f)
    np.ascontiguousarray(distances, dtype="<f4").tofile(f)


def _row_blocks(dset: h5py.Dataset, row_bytes: int) -> Iterator[np.ndarray]:
    step = max(1, BLOCK_BYTES // max(1, row_bytes))
    for start in range(0, dset.shape[0], step):
        yield dset[start:start + step]


def _fits_uint32(view: Dataset, key: str, n: int, d: int) -> None:
    if n > UINT32_MAX or d > UINT32_MAX:
        raise DatasetError(f"{view.path}: {key} is {n}×{d}; big-ann's uint32 header cannot hold it")


def _atomic(path: Path, write) -> Path:
    """``write(file)`` into a hidden temporary file beside ``path``, renamed into place when done."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path

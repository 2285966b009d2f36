"""The values of a dataset file, checked before anything is run on it: finite vectors, sparse rows
that are valid CSR over the dimension, ground truth with ids in range and finite, sorted
distances.  (Shapes are checked when the file is opened, in :class:`~harness.data.dataset.Dataset`.)

Arrays are read in chunks, so a file larger than memory is checked without being loaded.  Every
problem is a :class:`~harness.data.dataset.DatasetError` naming the file, the array and the first
bad row.
"""

from __future__ import annotations

import h5py
import numpy as np

from harness.data.dataset import Dataset, DatasetError

CHUNK = 1 << 24  # values per read (64 MiB of float32)
SORT_TOLERANCE = 1e-5  # relative: ground truth written in float32 may be out of order by rounding


def check_values(dataset: Dataset) -> None:
    """Raise DatasetError for the first problem in any representation of ``dataset``."""
    views = [dataset.representation(r) for r in dataset.representations] or [dataset]
    for view in views:
        where = f"{view.path}" + (f" (representation {view.representation_name!r})" if view.representations else "")
        for key in ("train", "test"):
            if view.representation_kind == "dense":
                _finite_rows(view.stored(key), f"{where}: {key}")
            else:
                _csr(view.stored(key), f"{where}: {key}")
        if view.has_ground_truth:
            _ground_truth(view.stored("neighbors"), view.stored("distances"), view.n_train, where)


def _row_blocks(dset: h5py.Dataset):
    per_row = max(1, int(np.prod(dset.shape[1:])))
    step = max(1, CHUNK // per_row)
    for start in range(0, dset.shape[0], step):
        yield start, dset[start:start + step]


def _finite_rows(dset: h5py.Dataset, what: str) -> None:
    for start, block in _row_blocks(dset):
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            raise DatasetError(f"{what}: row {start + int(np.argmax(bad))} holds NaN or infinite values")


def _csr(group: h5py.Group, what: str) -> None:
    rows, cols = (int(x) for x in group.attrs["shape"])
    try:
        indptr, indices, data = group["indptr"], group["indices"], group["data"]
    except KeyError as exc:
        raise DatasetError(f"{what}: CSR group lacks {exc}") from None
    offsets = indptr[()]
    if offsets.shape != (rows + 1,) or offsets[0] != 0 or (np.diff(offsets) < 0).any() \
            or offsets[-1] != indices.shape[0] or indices.shape != data.shape:
        raise DatasetError(f"{what}: indptr ({offsets.shape[0]} offsets ending at {int(offsets[-1])}) does not "
                           f"describe {rows} rows of {indices.shape[0]} indices and {data.shape[0]} values")
    for start in range(0, indices.shape[0], CHUNK):
        ids, values = indices[start:start + CHUNK], data[start:start + CHUNK]
        if len(ids) and (ids.min() < 0 or ids.max() >= cols):
            raise DatasetError(f"{what}: a term id outside [0, {cols}) in row "
                               f"{_row_of(offsets, start + int(np.argmax((ids < 0) | (ids >= cols))))}")
        if not np.isfinite(values).all():
            raise DatasetError(f"{what}: row {_row_of(offsets, start + int(np.argmax(~np.isfinite(values))))} "
                               "holds NaN or infinite values")


def _row_of(offsets: np.ndarray, position: int) -> int:
    return int(np.searchsorted(offsets, position, side="right") - 1)


def _ground_truth(neighbors: h5py.Dataset, distances: h5py.Dataset, n_train: int, where: str) -> None:
    for (start, ids), (_, dist) in zip(_row_blocks(neighbors), _row_blocks(distances), strict=True):
        bad = ((ids < 0) | (ids >= n_train)).any(axis=1)
        if bad.any():
            raise DatasetError(f"{where}: neighbors row {start + int(np.argmax(bad))} holds ids outside "
                               f"[0, {n_train})")
        bad = ~np.isfinite(dist).all(axis=1)
        if bad.any():
            raise DatasetError(f"{where}: distances row {start + int(np.argmax(bad))} holds NaN or infinite values")
        d = dist.astype(np.float64)
        slack = SORT_TOLERANCE * np.maximum(np.abs(d[:, 1:]), np.abs(d[:, :-1])) + 1e-7
        bad = (np.diff(d, axis=1) < -slack).any(axis=1)
        if bad.any():
            raise DatasetError(f"{where}: distances row {start + int(np.argmax(bad))} is not sorted closest first")

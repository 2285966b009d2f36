"""Binary vector files of big-ann-benchmarks and Seismic, read into numpy / scipy arrays.

* ``.csr`` (big-ann sparse, ``write_sparse_matrix``): i64 nrow, ncol, nnz; i64 indptr; i32 indices; f32 data.
* Dense ``xbin`` files (``xbin_write``): u32 n, u32 d, then n·d values; the type comes from the suffix
  (``.fbin`` float32, ``.u8bin`` uint8, ``.i8bin`` int8, ``.ibin`` int32) or is given (a plain ``.bin``,
  as the Wikipedia-Cohere, OpenAI and MSMARCO-web sets ship them).
* knn results (``.gt``, ``.bin``; ``knn_result_write`` / ``usbin_write``): u32 n, k; i32 ids; f32
  distances, or (an ``.ibin``) ids only.
* Seismic ``.bin``: u32 count, then per vector u32 length, u32 ids[length], f32 values[length].

All little-endian.  A ``.gz`` suffix is read through gzip, in order, straight into the preallocated
arrays (never the whole decompressed file in memory); a ``.crop_nb_<N>`` suffix (big-ann's cropped
base files, e.g. ``base.1B.u8bin.crop_nb_10000000``, whose header says N) is ignored when the format
is told from the name.  Every problem raises :class:`~harness.data.dataset.DatasetError` naming the file.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from types import TracebackType
from typing import NoReturn

import numpy as np
import scipy.sparse as sp

from harness.data.dataset import DatasetError

SPARSE_SUFFIXES = (".csr", ".bin", ".csr.gz")
DENSE_SUFFIXES = {".fbin": "<f4", ".u8bin": "u1", ".i8bin": "i1", ".ibin": "<i4"}  # big-ann xbin files
DENSE_DTYPES = {"float32": "<f4", "uint8": "u1", "int8": "i1"}  # --dtype of a plain .bin
CROP = re.compile(r"\.crop_nb_\d+$")
CHUNK = 1 << 24  # bytes per read from a gzip stream (GzipFile.readinto goes through a bytes object that size)


def base_suffix(path: Path) -> str:
    """The format's suffix: ``.csr`` of ``x.csr.gz``, ``.fbin`` of ``x.fbin``, ``.u8bin`` of
    ``base.1B.u8bin.crop_nb_10000000``."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return Path(CROP.sub("", name)).suffix


class _Stream:
    """A binary file read front to back into preallocated arrays, checked against the size its header implies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = _size(path)  # on disk (compressed, for .gz)
        self.gz = path.name.endswith(".gz")
        self.what = "decompressed file" if self.gz else "file"
        self.pos = 0
        self.total, self.why, self.need = self.size, "", ""
        self.f = gzip.open(path, "rb") if self.gz else open(path, "rb")  # noqa: SIM115 (closed by __exit__)

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.f.close()

    def expect(self, total: int, why: str, need: str = "") -> None:
        """The file must be ``total`` bytes (``why``: what says so; ``need``: how to say the size, if not
        ``total``); a plain file is checked now, a gzip stream as it is read and at :meth:`end`."""
        self.total, self.why, self.need = total, why, need or str(total)
        if not self.gz and self.size != total:
            self.fail(self.size)

    def fail(self, actual: int | str) -> NoReturn:
        raise DatasetError(f"{self.path}: {self.what} is {actual} bytes but {self.why} need {self.need} "
                           "(truncated, or not this format)")

    def read(self, dtype: str, count: int, optional: bool = False) -> np.ndarray | None:
        """The next ``count`` values; ``optional``: None when the file ends right here."""
        try:
            arr = np.empty(count, dtype=dtype)
        except (MemoryError, ValueError):  # a gzip stream's size is not known before it is read
            raise DatasetError(f"{self.path}: the header announces {count:,} values of {np.dtype(dtype).name}, more "
                               "than memory holds (not this format?)") from None
        view = memoryview(arr).cast("B")
        got = 0
        try:
            while got < len(view):
                n = self.f.readinto(view[got:got + CHUNK] if self.gz else view[got:])
                if not n:
                    break
                got += n
        except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError; a cut stream an EOFError
            raise DatasetError(f"{self.path}: not a readable gzip file ({exc})") from None
        self.pos += got
        if got < len(view):
            if optional and not got:
                return None
            if self.why:
                self.fail(f"only {self.pos}")
            raise DatasetError(f"{self.path}: truncated header ({self.pos} bytes, need {self.pos - got + len(view)})")
        return arr

    def end(self) -> None:
        """Refuse bytes after what the header announced."""
        try:
            extra = self.f.read(1)
        except (OSError, EOFError) as exc:
            raise DatasetError(f"{self.path}: not a readable gzip file ({exc})") from None
        if extra:
            self.fail(f"more than {self.pos}")


def read_bigann_csr(path: str | Path) -> sp.csr_matrix:
    """A big-ann-benchmarks sparse matrix (``.csr``, or ``.csr.gz``): i64 nrow, ncol, nnz; i64 indptr;
    i32 indices; f32 data."""
    path = Path(path)
    with _Stream(path) as f:
        nrow, ncol, nnz = (int(x) for x in f.read("<i8", 3))
        if min(nrow, ncol, nnz) < 0:
            raise DatasetError(f"{path}: negative header value (nrow={nrow}, ncol={ncol}, nnz={nnz})")
        f.expect(24 + 8 * (nrow + 1) + 8 * nnz, f"nrow={nrow}, nnz={nnz} of a .csr file")
        indptr, indices, data = f.read("<i8", nrow + 1), f.read("<i4", nnz), f.read("<f4", nnz)
        f.end()
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
    nothing.  ``ids_only`` None tells the two apart by the file's length; True or False requires one."""
    with _Stream(path) as f:
        n, k = (int(x) for x in f.read("<u4", 2))
        sizes = {True: 8 + 4 * n * k, False: 8 + 8 * n * k}
        allowed = (True, False) if ids_only is None else (ids_only,)
        need = " or ".join(f"{sizes[o]} ({'ids only' if o else 'ids and distances'})" for o in allowed)
        if not f.gz and f.size not in [sizes[o] for o in allowed]:
            raise DatasetError(f"{path}: file is {f.size} bytes but n={n}, k={k} need {need} (not a .gt file?)")
        # a gzip stream's length shows as it is read: the distances are optional when either layout is allowed
        f.expect(sizes[ids_only if ids_only is not None else f.size == sizes[True]], f"n={n}, k={k}", need)
        ids = f.read("<i4", n * k).reshape(n, k)
        scores = None if ids_only else f.read("<f4", n * k, optional=ids_only is None)
        f.end()
    if scores is None:
        return ids, None
    scores = scores.reshape(n, k)
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
    if base_suffix(path) == ".csr":
        return read_bigann_csr(path)
    if path.suffix == ".bin":
        try:
            return read_seismic_bin(path)
        except DatasetError as exc:  # big-ann's float32 sets ship dense .bin files too
            raise DatasetError(f"{exc} (read as Seismic's sparse .bin; a dense big-ann .bin needs --format bigann)") \
                from None
    raise DatasetError(f"{path}: unknown sparse format {path.suffix!r} (supported: {', '.join(SPARSE_SUFFIXES)}; "
                       f"dense big-ann files ({', '.join(DENSE_SUFFIXES)}, or a float32 .bin) need --format bigann)")


def xbin_dtype(path: Path, dtype: str | None = None) -> str:
    """The value type of a dense file: ``dtype`` (float32, uint8, int8) if given, else the suffix's; a
    suffix naming another type than ``dtype`` is refused, a plain ``.bin`` is float32 by default."""
    suffix = base_suffix(path)
    if dtype is not None and dtype not in DENSE_DTYPES:
        raise DatasetError(f"{path}: dtype {dtype!r}: choose from {', '.join(DENSE_DTYPES)}")
    if suffix == ".bin":
        return DENSE_DTYPES[dtype or "float32"]
    if suffix not in DENSE_SUFFIXES:
        raise DatasetError(f"{path}: unknown dense format {suffix!r} (supported: {', '.join(DENSE_SUFFIXES)} and a "
                           ".bin of --dtype float32|uint8|int8, optionally .crop_nb_<N> and gzipped)")
    if dtype is not None and DENSE_DTYPES[dtype] != DENSE_SUFFIXES[suffix]:
        raise DatasetError(f"{path}: a {suffix} file holds {np.dtype(DENSE_SUFFIXES[suffix]).name}, not {dtype}")
    return DENSE_SUFFIXES[suffix]


def read_xbin(path: str | Path, dtype: str | None = None) -> np.ndarray:
    """A big-ann-benchmarks dense file (``xbin_write``): u32 n, u32 d, then n·d values of ``dtype``
    (see :func:`xbin_dtype`), as an n×d array of that type."""
    path = Path(path)
    dtype = xbin_dtype(path, dtype)
    with _Stream(path) as f:
        n, d = (int(x) for x in f.read("<u4", 2))
        f.expect(8 + n * d * np.dtype(dtype).itemsize, f"the header's n={n}, d={d} of {np.dtype(dtype).name}")
        values = f.read(dtype, n * d)
        f.end()
    return values.reshape(n, d)


def _size(path: Path) -> int:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    return path.stat().st_size


def _check_finite(path: Path, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise DatasetError(f"{path}: {int(bad.sum())} NaN/infinite value(s), first at position {np.argmax(bad)}")

"""Dataset files: one HDF5 file per dataset, ann-benchmarks compatible.

Layout (dense)::

    train      n×d float32          test       nq×d float32
    neighbors  nq×100 int32         distances  nq×100 float32
    attrs: distance ("angular" | "euclidean" | "ip"), dimension, type="dense"

A file downloaded from ann-benchmarks (e.g. ``glove-25-angular.hdf5``) has
exactly these keys and loads unchanged.

Layout (sparse): ``train`` and ``test`` are groups holding a CSR matrix as
``indptr``/``indices``/``data`` with a ``shape`` attribute; ``type="sparse"``,
``distance="ip"``.  Optional text groups for text workloads:
``corpus/{ids,text}``, ``queries/{ids,text}`` and ``qrels``.

``distances`` always follow the ann-benchmarks rule *smaller is closer*:
euclidean → L2 distance, angular → 1 − cosine, ip → −(inner product).
Ground truth is exact: candidates from a brute-force search, then re-scored
in float64 so that near-ties are ordered by their true distance.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

DISTANCES = ("angular", "euclidean", "ip")
GROUND_TRUTH_DEPTH = 100


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file."""


def data_dir() -> Path:
    """Where prepared dataset files live (``ANNSWEEP_DATA_DIR``, default ``datasets/``)."""
    return Path(os.environ.get("ANNSWEEP_DATA_DIR", "datasets"))


def source_dir() -> Path:
    """Where raw third-party inputs are read from (``ANNSWEEP_SOURCE_DIR``)."""
    return Path(os.environ.get("ANNSWEEP_SOURCE_DIR", Path("datasets") / "sources"))


Matrix = np.ndarray | sp.csr_matrix


class Dataset:
    """Typed, lazy access to one prepared dataset file."""

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetError(f"{self.path}: dataset file not found")
        self.name = name or self.path.stem
        try:
            with h5py.File(self.path, "r") as f:
                attrs = dict(f.attrs)
                keys = set(f.keys())
                train_obj = f.get("train")
                train_is_group = isinstance(train_obj, h5py.Group)
                train_shape = (
                    tuple(int(x) for x in train_obj.attrs["shape"]) if train_is_group and "shape" in train_obj.attrs
                    else (train_obj.shape if train_obj is not None else None)
                )
        except OSError as exc:
            raise DatasetError(f"{self.path}: not a readable HDF5 file ({exc})") from exc
        missing = {"train", "test"} - keys
        if missing:
            raise DatasetError(f"{self.path}: missing dataset(s) {sorted(missing)}")
        self.kind = _decode(attrs.get("type", "sparse" if train_is_group else "dense"))
        if self.kind not in ("dense", "sparse"):
            raise DatasetError(f"{self.path}: unknown type {self.kind!r} (expected 'dense' or 'sparse')")
        if self.kind == "sparse" and not train_is_group:
            raise DatasetError(f"{self.path}: type is 'sparse' but 'train' is not a CSR group")
        if self.kind == "sparse" and train_shape is None:
            raise DatasetError(f"{self.path}: sparse group 'train' has no 'shape' attribute")
        self.distance = _decode(attrs.get("distance", "ip" if self.kind == "sparse" else ""))
        if self.distance not in DISTANCES:
            raise DatasetError(
                f"{self.path}: distance {self.distance!r} is not supported (supported: {', '.join(DISTANCES)})"
            )
        self.dimension = int(attrs.get("dimension", train_shape[1]))
        self.n_train = int(train_shape[0])
        self.has_ground_truth = "neighbors" in keys and "distances" in keys
        self.has_text = "corpus" in keys and "queries" in keys
        self.attrs = {k: _decode(v) for k, v in attrs.items()}

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, {self.kind}, {self.distance}, n={self.n_train}, d={self.dimension})"

    @cached_property
    def train(self) -> Matrix:
        return self._read_matrix("train")

    @cached_property
    def test(self) -> Matrix:
        return self._read_matrix("test")

    @property
    def n_test(self) -> int:
        return int(self.test.shape[0])

    @cached_property
    def neighbors(self) -> np.ndarray:
        """nq×100 int32 exact neighbour ids, closest first."""
        return self._read_ground_truth("neighbors").astype(np.int32, copy=False)

    @cached_property
    def distances(self) -> np.ndarray:
        """nq×100 float32 exact distances (smaller is closer)."""
        return self._read_ground_truth("distances").astype(np.float32, copy=False)

    def _read_ground_truth(self, key: str) -> np.ndarray:
        if not self.has_ground_truth:
            raise DatasetError(f"{self.path}: no ground truth ('neighbors'/'distances') in the file")
        with h5py.File(self.path, "r") as f:
            return f[key][()]

    def _read_matrix(self, key: str) -> Matrix:
        with h5py.File(self.path, "r") as f:
            obj = f[key]
            if self.kind == "dense":
                if not isinstance(obj, h5py.Dataset) or obj.ndim != 2:
                    raise DatasetError(f"{self.path}: '{key}' must be a 2-D array")
                return np.ascontiguousarray(obj[()], dtype=np.float32)
            try:
                shape = tuple(int(x) for x in obj.attrs["shape"])
                m = sp.csr_matrix(
                    (obj["data"][()].astype(np.float32), obj["indices"][()].astype(np.int32), obj["indptr"][()]),
                    shape=shape,
                )
                m.check_format(full_check=True)
            except (KeyError, ValueError) as exc:
                raise DatasetError(f"{self.path}: '{key}' is not a valid CSR group ({exc})") from exc
            return m


def _decode(value: object) -> object:
    return value.decode() if isinstance(value, bytes) else value


# --- distances and ground truth ---------------------------------------------------------------


def distances_of(train: Matrix, queries: Matrix, ids: np.ndarray, distance: str) -> np.ndarray:
    """Exact float64 distance between each query and each of its ``ids`` (−1 → +inf).

    ``ids`` is nq×k; the result has the same shape and follows *smaller is closer*.
    """
    ids = np.asarray(ids)
    nq, k = ids.shape
    valid = (ids >= 0) & (ids < train.shape[0])
    safe = np.where(valid, ids, 0)
    out = np.empty((nq, k), dtype=np.float64)
    if sp.issparse(train):
        q = sp.csr_matrix(queries, dtype=np.float64)
        t = sp.csr_matrix(train, dtype=np.float64)
        for i in range(nq):
            out[i] = -(t[safe[i]] @ q[i].T).toarray().ravel()
    else:
        q = np.asarray(queries, dtype=np.float64)
        block = max(1, (1 << 23) // max(1, k * train.shape[1]))  # ~64 MiB of float64 per block
        for start in range(0, nq, block):
            stop = min(nq, start + block)
            x = np.asarray(train[safe[start:stop]], dtype=np.float64)  # b×k×d
            qq = q[start:stop, None, :]
            if distance == "euclidean":
                out[start:stop] = np.sqrt(((x - qq) ** 2).sum(-1))
            elif distance == "angular":
                dot = (x * qq).sum(-1)
                norms = np.linalg.norm(x, axis=-1) * np.linalg.norm(qq, axis=-1)
                out[start:stop] = 1.0 - dot / np.maximum(norms, 1e-30)
            elif distance == "ip":
                out[start:stop] = -(x * qq).sum(-1)
            else:
                raise ValueError(f"unknown distance {distance!r}")
    out[~valid] = np.inf
    return out


def compute_ground_truth(
    train: Matrix, test: Matrix, distance: str, depth: int = GROUND_TRUTH_DEPTH, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``depth`` neighbours of every test point: (ids int32, distances float32).

    Candidates come from brute force (faiss flat for dense, blocked scipy
    products for sparse) with a margin, and are re-ranked in float64.
    """
    n = train.shape[0]
    depth = min(depth, n)
    margin = min(n, depth + 32)
    nq = test.shape[0]
    ids = np.empty((nq, depth), dtype=np.int32)
    dist = np.empty((nq, depth), dtype=np.float32)
    block = 256
    search = _dense_candidates(train, distance) if not sp.issparse(train) else None
    train_t = sp.csr_matrix(train).T.tocsr() if sp.issparse(train) else None
    for start in tqdm(range(0, nq, block), desc="ground truth", unit="block", disable=not progress):
        stop = min(nq, start + block)
        if search is not None:
            cand = search(np.ascontiguousarray(test[start:stop], dtype=np.float32), margin)
        else:
            scores = (sp.csr_matrix(test[start:stop]) @ train_t).toarray()
            cand = np.argpartition(-scores, margin - 1, axis=1)[:, :margin] if margin < n else np.tile(
                np.arange(n), (stop - start, 1)
            )
        d = distances_of(train, test[start:stop], cand, distance)
        order = np.lexsort((cand, d), axis=1)[:, :depth]  # by distance, ties by id
        ids[start:stop] = np.take_along_axis(cand, order, 1)
        dist[start:stop] = np.take_along_axis(d, order, 1)
    return ids, dist


def _dense_candidates(train: np.ndarray, distance: str):
    import faiss

    x = np.ascontiguousarray(train, dtype=np.float32)
    if distance == "angular":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    index = faiss.IndexFlatL2(x.shape[1]) if distance == "euclidean" else faiss.IndexFlatIP(x.shape[1])
    index.add(x)

    def search(q: np.ndarray, k: int) -> np.ndarray:
        if distance == "angular":
            q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
        return index.search(q, k)[1]

    return search


# --- writing ---------------------------------------------------------------------------------


def write_dataset(
    path: str | Path,
    train: Matrix,
    test: Matrix,
    distance: str,
    neighbors: np.ndarray | None = None,
    distances: np.ndarray | None = None,
    progress: bool = True,
    **attrs: object,
) -> Path:
    """Write a dataset file atomically, computing exact ground truth if not given."""
    path = Path(path)
    if distance not in DISTANCES:
        raise DatasetError(f"{path}: distance {distance!r} is not supported (supported: {', '.join(DISTANCES)})")
    sparse = sp.issparse(train)
    if sparse and distance != "ip":
        raise DatasetError(f"{path}: sparse datasets use distance 'ip', not {distance!r}")
    if train.shape[1] != test.shape[1]:
        raise DatasetError(f"{path}: train has {train.shape[1]} dimensions but test has {test.shape[1]}")
    if neighbors is None or distances is None:
        neighbors, distances = compute_ground_truth(train, test, distance, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["type"] = "sparse" if sparse else "dense"
            f.attrs["distance"] = distance
            f.attrs["dimension"] = int(train.shape[1])
            f.attrs["point_type"] = "float"
            for key, value in attrs.items():
                f.attrs[key] = value
            for key, m in (("train", train), ("test", test)):
                if sparse:
                    m = sp.csr_matrix(m)
                    g = f.create_group(key)
                    g.attrs["shape"] = np.asarray(m.shape, dtype=np.int64)
                    g.create_dataset("indptr", data=m.indptr.astype(np.int64))
                    g.create_dataset("indices", data=m.indices.astype(np.int32))
                    g.create_dataset("data", data=m.data.astype(np.float32))
                else:
                    f.create_dataset(key, data=np.asarray(m, dtype=np.float32))
            f.create_dataset("neighbors", data=np.asarray(neighbors, dtype=np.int32))
            f.create_dataset("distances", data=np.asarray(distances, dtype=np.float32))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path

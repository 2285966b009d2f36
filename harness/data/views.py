"""Datasets derived from another by a transform, written once beside their base.

``<base>@d=<n>``: a dense dataset cut to its first n dimensions (rows renormalised for angular and
ip).  Matryoshka-trained embeddings keep most of their quality in a prefix of the dimensions; this
view lets a sweep show what a cut buys in speed and costs in quality.  Its ground truth is exact
in the cut space (so kNN recall still measures the index), while the task metrics against the
base's relevance judgements (nDCG@10, ...) show the quality lost by the cut.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.data.dataset import TEXT_KEYS, Dataset, DatasetError
from harness.data.writer import write_dataset

VIEW_SEPARATOR = "@d="


def parse_dimension_cut(name: str) -> tuple[str, int]:
    """``wordnet-wordllama@d=64`` → (``wordnet-wordllama``, 64)."""
    base, _, dims = name.partition(VIEW_SEPARATOR)
    try:
        return base, int(dims)
    except ValueError:
        raise DatasetError(f"{name}: the dimension after {VIEW_SEPARATOR!r} must be an integer") from None


def check_dimension_cut(name: str, base: Dataset, d: int) -> None:
    base_name = name.partition(VIEW_SEPARATOR)[0]
    if base.kind != "dense":
        raise DatasetError(f"{name}: a dimension cut needs a dense dataset; {base_name} is {base.kind}")
    if not 1 <= d < base.dimension:
        raise DatasetError(f"{name}: d must be between 1 and {base.dimension - 1} (the dimension of {base_name})")


def write_dimension_cut(name: str, base: Dataset, d: int, path: Path) -> Path:
    """Write ``base`` cut to its first ``d`` dimensions at ``path`` (exact ground truth in the cut space)."""
    check_dimension_cut(name, base, d)
    base_name = name.partition(VIEW_SEPARATOR)[0]
    # Embeddings compared by angle or inner product are unit vectors: the cut ones are renormalised.
    # Euclidean data (e.g. pixels) keep their raw prefix.
    cut = [normalize(m[:, :d]) if base.distance != "euclidean" else np.ascontiguousarray(m[:, :d])
           for m in (base.train, base.test)]
    text = {key: base.strings(key) for key in TEXT_KEYS if base.has(key)}
    attrs = {k: v for k, v in base.attrs.items() if k not in ("type", "distance", "dimension", "point_type")}
    attrs.update(name=name, view_of=base_name, dimension_cut=d,
                 description=f"{base_name} cut to its first {d} of {base.dimension} dimensions")
    return write_dataset(path, cut[0], cut[1], base.distance, text=text,
                         qrels=base.qrels() if base.has_qrels else None, **attrs)


def normalize(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return (m / np.where(norms > 0, norms, 1)).astype(np.float32)

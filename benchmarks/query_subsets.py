"""``<name>-q<N>``: a prepared dataset with only its first N queries (same documents, same ground-truth rows),
written once next to the datasets.  The suites sweep these: a sweep's hours are mostly queries asked
``runs`` times at every setting, and a thousand queries rank methods as well as ten thousand do."""

from __future__ import annotations

from pathlib import Path

import h5py

from harness.data.dataset import Dataset
from harness.data.store import prepare
from harness.data.writer import write_dataset

DROPPED_ATTRS = ("name", "distance", "dimension", "point_type", "type")


def subset_name(name: str, n: int) -> str:
    return f"{name}-q{n // 1000}k" if n % 1000 == 0 else f"{name}-q{n}"


def first_queries(name: str, n: int) -> Path:
    """The dataset ``name`` with its first ``n`` queries only (dense or sparse vectors)."""
    source = prepare(name)
    target = source.with_name(f"{subset_name(name, n)}.hdf5")
    if target.exists():
        return target
    with h5py.File(source) as f:
        attrs = {k: v for k, v in f.attrs.items() if k not in DROPPED_ATTRS}
        attrs["description"] = f"{f.attrs.get('description', name)} (its first {n} queries)"
        neighbors, distances, distance = f["neighbors"][:n], f["distances"][:n], str(f.attrs["distance"])
    dataset = Dataset(source)
    return write_dataset(target, dataset.train, dataset.test[:n], distance, neighbors=neighbors,
                         distances=distances, progress=False, name=subset_name(name, n), **attrs)

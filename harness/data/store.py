"""The data folder: where prepared dataset files live, preparing registry datasets, opening any
dataset by registry name, file name or path (with ``<name>:<representation>`` and ``<name>@d=<n>``).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

from harness import paths
from harness.data.checks import check_values
from harness.data.dataset import REPRESENTATION_SEPARATOR, Dataset, DatasetError
from harness.data.recipes import DatasetContents, generated_limit
from harness.data.registry import LIMIT_REPRESENTATIONS, REGISTRY, DatasetSpec, MultiDatasetSpec
from harness.data.views import VIEW_SEPARATOR, check_dimension_cut, parse_dimension_cut, write_dimension_cut
from harness.data.writer import write_dataset, write_multi_dataset


def _registry_entry(name: str, directory: str | Path | None = None) -> DatasetSpec | MultiDatasetSpec:
    spec = REGISTRY.get(name)
    if spec is None:
        raise DatasetError(_unknown_message(name, directory))
    return spec


def _unknown_message(name: str, directory: str | Path | None) -> str:
    folder = Path(directory) if directory is not None else paths.data_dir()
    files = sorted(p.stem for p in folder.glob("*.hdf5") if p.stem not in REGISTRY) if folder.is_dir() else []
    known = ", ".join(sorted(REGISTRY))
    extra = f"; files in {folder}: {', '.join(files)}" if files else ""
    return f"unknown dataset {name!r}: known datasets are {known}{extra} (or pass a path to an .hdf5 file)"


def dataset_path(name: str, directory: str | Path | None = None) -> Path:
    """Where dataset ``name`` lives: ``<directory or paths.data_dir()>/<name>.hdf5``."""
    return (Path(directory) if directory is not None else paths.data_dir()) / f"{name}.hdf5"


def prepare(name: str, directory: str | Path | None = None, force: bool = False, progress: bool = True) -> Path:
    """Build registry dataset ``name`` with exact ground truth; no-op if the file exists.

    A dataset built from raw files raises :class:`DatasetError` naming the
    missing path when its sources are absent (``ANNSWEEP_SOURCE_DIR``, ...).
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
        print(f"prepared {name} in {time.perf_counter() - start:.1f} s (peak RSS of this process: "
              f"{peak_rss_bytes() / 2**30:.2f} GiB)", file=sys.stderr, flush=True)
    return written


def peak_rss_bytes() -> int:
    """The highest resident memory this process has had (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _prepare_multi(spec: MultiDatasetSpec, directory: str | Path | None, progress: bool) -> Path:
    """Prepare each part (if missing) and gather them into ``<name>.hdf5``."""
    parts = {rep: Dataset(prepare(part, directory, progress=progress), name=part) for rep, part in spec.parts.items()}
    if progress:
        print(f"gathering {', '.join(spec.parts.values())} → {dataset_path(spec.name, directory)}",
              file=sys.stderr, flush=True)
    try:
        return write_multi_dataset(dataset_path(spec.name, directory), parts, spec.primary, spec.aliases,
                                   name=spec.name, description=spec.description,
                                   made_from=json.dumps(dict(spec.parts), sort_keys=True))
    finally:
        for part in parts.values():
            part.close()


def open_dataset(
    name_or_path: str | Path, directory: str | Path | None = None, prepare_missing: bool = True
) -> Dataset:
    """Open a dataset by registry name, by file name in the data dir, or by path, and check its values.

    A ``Path``, an ``.hdf5``/``.h5`` name or anything containing a path
    separator is opened as a file.  Otherwise ``<data dir>/<name>.hdf5`` is
    opened if it exists (so ann-benchmarks files dropped into the data dir work
    by name); a registry dataset that is missing is prepared first (unless
    ``prepare_missing`` is false).  ``<name>:<representation>`` opens one
    representation (by name or role alias) of a multi-representation dataset.
    Shapes are checked on opening and values (finite, valid CSR, ground truth in range and sorted)
    by :func:`harness.data.checks.check_values`, before anything runs on the file.
    """
    dataset = _open(name_or_path, directory, prepare_missing)
    try:
        check_values(dataset)
    except BaseException:
        dataset.close()
        raise
    return dataset


def _open(
    name_or_path: str | Path, directory: str | Path | None = None, prepare_missing: bool = True
) -> Dataset:
    """:func:`open_dataset` without the value checks."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or Path(text).suffix in (".hdf5", ".h5") or os.sep in text or "/" in text:
        return Dataset(name_or_path)
    if VIEW_SEPARATOR in text:
        return dimension_cut(text, directory, prepare_missing)
    if REPRESENTATION_SEPARATOR in text:  # <multi dataset>:<representation>, opened on its own
        base, _, representation = text.partition(REPRESENTATION_SEPARATOR)
        with _open(base, directory, prepare_missing) as whole:
            if not whole.representations:
                whole.representation(representation)  # raises: the file has one representation
            name = f"{whole.name}{REPRESENTATION_SEPARATOR}{whole.resolve(representation)}"
        return Dataset(whole.path, name=name, representation=representation)
    path = dataset_path(text, directory)
    if path.is_file():
        return Dataset(path, name=text)
    spec = _registry_entry(text, directory)
    if not prepare_missing:
        raise DatasetError(
            f"{path}: dataset {spec.name!r} is not prepared (run: annsweep datasets prepare {spec.name})"
        )
    return Dataset(prepare(text, directory), name=text)


def dimension_cut(name: str, directory: str | Path | None = None, prepare_missing: bool = True) -> Dataset:
    """``<base>@d=<n>`` (see :mod:`harness.data.views`), stored as ``<base>@d=<n>.hdf5`` beside the
    base and written the first time it is opened."""
    base_name, d = parse_dimension_cut(name)
    path = dataset_path(name, directory)
    if path.is_file():
        return Dataset(path, name=name)
    with open_dataset(base_name, directory, prepare_missing) as base:
        check_dimension_cut(name, base, d)
        if not prepare_missing:
            raise DatasetError(f"{path}: view {name!r} is not prepared (open it once with preparation allowed)")
        written = write_dimension_cut(name, base, d, path)
    return Dataset(written, name=name)


def registry_status(directory: str | Path | None = None) -> list[tuple[DatasetSpec | MultiDatasetSpec, bool]]:
    """Every registry dataset and whether its file is present."""
    return [(spec, dataset_path(spec.name, directory).is_file()) for spec in REGISTRY.values()]


def write_generated_limit(representation: str, n_docs: int, directory: str | Path | None = None,
                          force: bool = False, **generator: object) -> tuple[str, Path, bool]:
    """A LIMIT-style set (:func:`harness.data.recipes.generated_limit`) written into the data folder:
    (name, path, whether it was written now; an existing file is kept unless ``force``)."""
    name, contents = generated_limit(representation, n_docs, **generator)
    path = dataset_path(name, directory)
    if path.is_file() and not force:
        return name, path, False
    kind, distance, desc, _ = LIMIT_REPRESENTATIONS[representation]
    made = json.loads(contents.attrs["generator"])
    write_dataset(path, contents.train, contents.test, distance, text=contents.text, qrels=contents.qrels,
                  kind=kind, name=name, description=f"LIMIT-style set: {n_docs:,} documents, "
                  f"{made['n_queries']:,} queries with {made['k']} relevant each ({made['pattern']}), {desc}",
                  **contents.attrs)
    return name, path, True

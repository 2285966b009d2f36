"""Stored runs as TREC run files, which trec_eval, ir_measures and pytrec_eval read.

One file per run (dataset, k, build, query setting, mode):
``<out>/<dataset>/k=<k>/<tag>.trec``, one line per returned document::

    <query id> Q0 <doc id> <rank> <score> <tag>

* ids are the dataset's own: ``queries/ids`` and ``corpus/ids`` of a dataset that stores them (text
  collections, anything with qrels), else row numbers (0-based, as annsweep's ids);
* rank runs 1..k in the order the adapter returned the documents; ``-1`` (no result) is left out;
* the score is ``k + 1 − rank``, not the similarity.  trec_eval and ir_measures (pytrec_eval) do
  not read the rank column: they sort a query's documents by score, descending, and break ties by
  document id.  With the similarity as score, documents at exactly the same distance (real in
  BM25: equal term statistics give equal scores) would be re-ordered by id, and an adapter's own
  order would be replaced by the stored distances' order, which is not its order when it ranks
  approximately or by another function (the distances are recomputed exactly, in the dataset's
  reference: on Cranfield, bm25s with k1 1.2, b 0.75 stores nDCG@10 0.3593 and would read 0.3527
  re-sorted by the reference BM25).  Either changes nDCG@10.  ``k + 1 − rank``
  is the score annsweep itself hands ir_measures (:func:`harness.run.scoring.task_metrics`), so
  every measure computed from the file equals the stored one;
* the tag ``<algorithm>__<build params>__<query params>__<mode>`` (``default`` for no parameters).

A query that returned nothing has no line.  trec_eval (like ir_measures) then leaves it out of the
mean, where annsweep counts it as 0: ``trec_eval -c`` counts it as annsweep does.  The manifest
(``manifest.csv``) says how many such queries each run has.

Beside the runs of a dataset with relevance judgements, ``<out>/<dataset>/qrels.txt`` holds them in
TREC's qrels layout (``<query id> 0 <doc id> <grade>``, the ids the run files use), so
``trec_eval -c <dataset>/qrels.txt <run>`` needs nothing else.  An export owns the
``<dataset>/k=<k>/`` folders it writes into: ``*.trec`` files left there by an earlier export are
removed first, so a folder holds exactly the runs the manifest lists (other folders, and other
files, are left alone).

``manifest.csv`` lists every file with its dataset, k, algorithm, series, build and query
parameters (JSON), mode, tag, the result file and run it came from, the run's flags
(``single_thread_ok``, ``caching_suspected``) and the stored metrics (recall, recall_ab, qps and the
qrels measures the run has, e.g. nDCG@10).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from harness.data.dataset import REPRESENTATION_SEPARATOR, Dataset, DatasetError
from harness.data.store import dataset_path
from harness.kit.config import params_slug
from harness.results.files import plain, read_header
from harness.results.tables import iter_result_files

MANIFEST = "manifest.csv"
QRELS = "qrels.txt"
UNSAFE = re.compile(r"[^A-Za-z0-9=._+@-]")  # file names keep letters, digits and =._+@-
MEASURE = re.compile(r"[A-Za-z]+@\d+")  # a qrels measure stored with a run (nDCG@10, R@2, ...)
STORED_METRICS = ("recall", "recall_ab", "qps")


@dataclass
class ExportedRun:
    """One run file and where it came from: a row of the manifest."""

    file: str  # relative to the output folder
    tag: str
    dataset: str
    k: int
    algorithm: str
    series: str
    build: str
    build_params: str  # JSON
    query_params: str  # JSON
    mode: str
    queries: int
    queries_without_results: int
    result_file: str
    run: str  # the group in the result file
    single_thread_ok: bool  # the run's flags, as the tables and leaderboard read them
    caching_suspected: bool
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetIds:
    """The ids a run file names: the dataset's own, or row numbers."""

    query_ids: list[str]
    doc_ids: list[str] | None  # None: row numbers
    qrels: dict[str, dict[str, int]] | None = None  # the dataset's judgements, if it has any


def export_trec(results_dir: str | Path, out_dir: str | Path, dataset: str | None = None, k: int | None = None,
                data_dir: str | Path | None = None, progress: bool = True) -> list[Path]:
    """Write every successful run under ``results_dir`` (only ``dataset``'s, only ``k``'s when given) as a
    TREC run file under ``out_dir``, and ``manifest.csv`` beside them; return the run files' paths.

    The datasets are opened from ``data_dir`` (default: the data folder) by the names the results
    store, to read their ids; a dataset file that is missing, or is not the file the runs were made
    on (its SHA-256 differs from the one stored), or a run that does not answer each of its queries,
    is a :class:`DatasetError` naming it and the result file, raised before anything is written.
    Each dataset's judgements go to ``<dataset>/qrels.txt``; earlier ``*.trec`` files in the
    ``<dataset>/k=<k>/`` folders written into are removed first.
    """
    out_dir = Path(out_dir)
    runs = _select(Path(results_dir), dataset, k)
    ids = {name: _dataset_ids(name, files, data_dir) for name, files in _files_by_dataset(runs).items()}
    folders = {_check_run(run, ids) for run in runs}  # every run, before any file is written
    for folder in sorted(folders):
        for stale in (out_dir / folder).glob("*.trec"):
            stale.unlink()
    for name, dataset_ids in ids.items():
        if dataset_ids.qrels:
            _write_qrels(out_dir / _safe(name) / QRELS, dataset_ids.qrels)
    exported: list[ExportedRun] = []
    written: list[Path] = []
    seen: set[str] = set()
    for selected in tqdm(runs, desc="export trec", unit="run", disable=not progress):
        run = _write_run(selected, ids, out_dir, seen)
        exported.append(run)
        written.append(out_dir / run.file)
    columns = [f.name for f in fields(ExportedRun) if f.name != "metrics"]  # also when nothing was exported
    manifest = pd.DataFrame([{**{k: v for k, v in asdict(r).items() if k != "metrics"}, **r.metrics}
                             for r in exported], columns=None if exported else columns)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(out_dir / MANIFEST, index=False)
    return written


@dataclass(frozen=True)
class SelectedRun:
    """A successful run to export: its result file's header and how many queries it answers, read once."""

    path: Path
    group: str
    header: dict
    answered: int


def _select(root: Path, dataset: str | None, k: int | None) -> list[SelectedRun]:
    """Every successful run to export, in file order."""
    selected = []
    for path in iter_result_files(root, dataset):
        header = read_header(path)
        if header is None or (k is not None and header.get("k") != k):
            continue
        with h5py.File(path, "r") as f:
            groups = f.get("runs", {})
            selected += [SelectedRun(path, name, header, groups[name]["neighbors"].shape[0]) for name in sorted(groups)
                         if plain(groups[name].attrs.get("status", "ok")) == "ok" and "neighbors" in groups[name]]
    return selected


def _files_by_dataset(runs: list[SelectedRun]) -> dict[str, dict[Path, dict]]:
    """Dataset name → its runs' result files and their headers."""
    by_name: dict[str, dict[Path, dict]] = {}
    for run in runs:
        by_name.setdefault(run.header["dataset"], {})[run.path] = run.header
    return by_name


def _dataset_ids(name: str, result_files: dict[Path, dict], data_dir: str | Path | None) -> DatasetIds:
    """Open dataset ``name`` (a representation ``<name>:<rep>`` is read from its file) and check it is
    the file every result was made on."""
    path = dataset_path(name.split(REPRESENTATION_SEPARATOR)[0], data_dir)
    if not path.is_file():
        raise DatasetError(f"{path}: dataset {name!r} not found; the runs of {next(iter(result_files))} name it "
                           "(prepare or import it, or point --data-dir / ANNSWEEP_DATA_DIR at its folder)")
    with Dataset(path, name=name) as data:
        for result, header in result_files.items():
            stored = header.get("dataset_sha256") or ""
            if stored and stored != data.sha256:
                raise DatasetError(f"{path}: not the dataset file {result} was made on (SHA-256 {data.sha256[:12]}… "
                                   f"≠ {stored[:12]}… stored): its ids would be wrong")
        test = data.stored("test")  # its row count, without reading it
        n_queries = int(test.shape[0] if isinstance(test, h5py.Dataset) else test.attrs["shape"][0])
        if data.has("queries/ids") and data.has("corpus/ids"):
            query_ids, doc_ids = data.strings("queries/ids"), data.strings("corpus/ids")
            for kind, values in (("query", query_ids), ("document", doc_ids)):
                bad = next((v for v in values if not v or any(c.isspace() for c in v)), None)
                if bad is not None:
                    raise DatasetError(f"{path}: {kind} id {bad!r} is empty or holds white space, which a TREC "
                                       f"run file cannot carry")
            return DatasetIds(query_ids, doc_ids, data.qrels() if data.has_qrels else None)
    return DatasetIds([str(q) for q in range(n_queries)], None)


def _check_run(run: SelectedRun, ids: dict[str, DatasetIds]) -> str:
    """Refuse a run that does not answer each of its dataset's queries; the folder its file goes to."""
    name, k = run.header["dataset"], int(run.header["k"])
    if run.answered != len(ids[name].query_ids):
        raise DatasetError(f"{run.path}: run {run.group} answers {run.answered} queries but dataset {name!r} has "
                           f"{len(ids[name].query_ids)}")
    return f"{_safe(name)}/k={k}"


def _write_qrels(target: Path, qrels: dict[str, dict[str, int]]) -> None:
    """TREC qrels (``qid 0 docid grade``), written under a temporary name and renamed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text("".join(f"{qid} 0 {did} {grade}\n" for qid, judged in qrels.items()
                           for did, grade in judged.items()))
    tmp.replace(target)


def _write_run(run: SelectedRun, ids: dict[str, DatasetIds], out_dir: Path, seen: set[str]) -> ExportedRun:
    path, group, header = run.path, run.group, run.header
    with h5py.File(path, "r") as f:
        g = f["runs"][group]
        attrs = {key: plain(value) for key, value in g.attrs.items()}
        neighbors = np.asarray(g["neighbors"][()], dtype=np.int64)
    name, k = header["dataset"], int(header["k"])
    dataset = ids[name]
    query_params = json.loads(attrs.get("query_params") or "{}")
    tag = _safe("__".join([header["algorithm"], header.get("build_slug") or params_slug(header["build_params"] or {}),
                           params_slug(query_params), attrs["mode"]]))
    file = f"{_safe(name)}/k={k}/{tag}.trec"
    if file in seen:  # two runs with one tag (should not happen): the group keeps them apart
        file = f"{file[:-len('.trec')]}__{_safe(path.stem)}.{_safe(group)}.trec"
    seen.add(file)
    target = out_dir / file
    target.parent.mkdir(parents=True, exist_ok=True)
    lines, empty = [], 0
    for q, row in enumerate(neighbors):
        answered = row[row >= 0]
        empty += not len(answered)
        qid = dataset.query_ids[q]
        for rank, d in enumerate(answered, start=1):
            doc = dataset.doc_ids[d] if dataset.doc_ids is not None else str(d)
            lines.append(f"{qid} Q0 {doc} {rank} {k + 1 - rank} {tag}\n")
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text("".join(lines))
    tmp.replace(target)
    stored = [key for key in STORED_METRICS if key in attrs] + sorted(key for key in attrs if MEASURE.fullmatch(key))
    metrics = {key: float(attrs[key]) for key in stored if isinstance(attrs[key], int | float)}
    return ExportedRun(
        file=file, tag=tag, dataset=name, k=k, algorithm=header["algorithm"],
        series=attrs.get("series") or header["algorithm"], build=header.get("build_slug", ""),
        build_params=json.dumps(header["build_params"], sort_keys=True), query_params=json.dumps(query_params,
                                                                                                 sort_keys=True),
        mode=attrs["mode"], queries=len(neighbors), queries_without_results=empty, result_file=str(path), run=group,
        single_thread_ok=bool(attrs.get("single_thread_ok", True)),
        caching_suspected=bool(attrs.get("caching_suspected", False)),
        metrics=metrics)


def _safe(text: str) -> str:
    """A file-name-safe form of a dataset name or tag (``/``, ``:``, spaces and the like become ``-``)."""
    return UNSAFE.sub("-", text) or "-"

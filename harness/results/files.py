"""Result files: one HDF5 file per build, one group per (query setting, mode); the only code that
writes them.

Path: ``results/<dataset>/k=<k>/<algorithm>/<build-slug>.h5`` (``<build-slug>.threads-N.h5`` for a
``--threads N`` run, whose only mode is ``batch-Nt``).

File attrs: the :class:`ResultHeader` (``format_version``, ``algorithm``, ``dataset``, ``k``,
``build_params`` (JSON), ``build_slug``, ``dataset_sha256``, ``threads``), ``runs`` (timed repeats),
``status`` (``running`` while written, then ``ok`` | ``failed``), ``error``, ``environment`` and
``threadpools`` (JSON), and the :class:`BuildFacts` (build time, memory deltas, ``index_size_bytes``,
``scored_representation``, ``scored_distance``, ``peak_rss_bytes``, ``index_cache``, ``index_load_time_s``).
Each group ``runs/<nnn>-<mode>`` is one :class:`RunRecord`: ``neighbors`` (nq×k ids), ``scores``
(their exact distances, smaller is closer), ``recalls`` (per query), ``latencies_ns`` (repeats×nq,
single mode), ``recalls_ab`` (per query, ann-benchmarks' convention) and attrs with the query params
(JSON), every repeat's wall time, ``qps``, ``recall`` (tie-aware: within a relative 1e-5 of the k-th
true distance), ``recall_ab`` (ann-benchmarks': within d_k + 1e-3 absolute; absent from files written
before it, read as NaN), the single-thread proof and ``series`` (the curve the run is drawn on: the
algorithm's name, or e.g. a pipeline's shape).

A result file is written under a hidden temporary name and renamed when complete, so a killed
run never leaves a half-written ``.h5``.  Reading never writes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

FORMAT_VERSION = 1
TMP_MARKER = ".tmp-"


def result_path(root: Path, dataset: str, k: int, algorithm: str, build_slug: str, threads: int = 1) -> Path:
    """Where a build's results go; a ``--threads N`` run (N > 1) has a file of its own beside the
    one-thread file of the same build (``<build-slug>.threads-N.h5``): neither hides the other."""
    suffix = f".threads-{int(threads)}" if threads != 1 else ""
    return Path(root) / dataset / f"k={k}" / algorithm / f"{build_slug}{suffix}.h5"


def temp_path(final: Path) -> Path:
    """Where this process writes a result before it is complete (hidden, never loaded)."""
    return final.with_name(f".{final.name}{TMP_MARKER}{os.getpid()}")


def stale_temp_files(final: Path) -> list[Path]:
    """Temporary files of ``final`` left by any process (a worker that died while writing)."""
    return sorted(final.parent.glob(f".{final.name}{TMP_MARKER}*"))


@dataclass(frozen=True)
class ResultHeader:
    """What a result file is the result of: the same for the worker and for a failure the runner records."""

    algorithm: str
    dataset: str
    k: int
    build_params: dict[str, Any]
    build_slug: str
    dataset_sha256: str = ""  # the dataset file's content: a file reusing a name is another dataset
    threads: int = 1  # threads the build and its runs used (--threads N; files without it: 1)

    def attrs(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, **asdict(self)}


@dataclass(frozen=True)
class BuildFacts:
    """What one build cost."""

    build_time_s: float
    rss_delta_bytes: int
    uss_delta_bytes: int
    index_size_bytes: int | None  # None: the adapter cannot tell (stored as -1)
    scored_representation: str = ""  # of a multi-representation dataset: the one recall is measured in
    peak_rss_bytes: int | None = None  # the worker's peak resident memory when built (None: unknown, stored as -1)
    # --index-cache: "loaded" (the index of an earlier sweep's build was loaded: the facts above are
    # that build's, the index size the loaded index's), "saved" (built, then saved), "" (neither).
    index_cache: str = ""
    index_load_time_s: float = float("nan")  # how long the load took (checks included); NaN: built
    # The distance ``scores`` are in (euclidean, angular, ip; "" in files before it was stored), so an
    # export (e.g. to ann-benchmarks, whose result files name it) needs no dataset file.
    scored_distance: str = ""


@dataclass(frozen=True)
class ProofRecord:
    """The single-thread proof of one run's timed phase (see ``harness.run.proof``); for a
    ``--threads N`` run the N-thread proof, whose verdict is stored under the same name."""

    cpu_ratio: float
    other_threads_cpu_s: float
    contention_s: float
    active_threads: int
    num_threads: int
    affinity: list[int]
    single_thread_ok: bool  # the proof held (for threads > 1: at most N cores, each busy)
    outside_wait_s: float = 0.0  # the worker's threads waited for the core while none of its threads ran
    storage_read_bytes: int = 0  # bytes the worker read from storage (/proc/self/io) in the phase
    threads: int = 1  # the thread count the proof checked the phase against

@dataclass(frozen=True)
class RunRecord:
    """One query setting in one mode: the answers of the fastest repeat, how fast, how good."""

    mode: str
    query_params: dict[str, Any]
    neighbors: np.ndarray  # nq×k, -1 = no result
    scores: np.ndarray  # their exact distances
    recalls: np.ndarray  # recall@k per query
    repeat_times_s: np.ndarray  # every repeat's wall time
    best_time_s: float
    qps: float
    repeat_spread: float  # slowest / fastest repeat
    proof: ProofRecord
    series: str
    warmup_s: float = 0.0
    extra_metrics: dict[str, float] = field(default_factory=dict)
    task_metrics: dict[str, float] = field(default_factory=dict)  # nDCG@10, ... against qrels
    latencies_ns: np.ndarray | None = None  # repeats×nq, single mode
    latency_percentiles: dict[str, float] = field(default_factory=dict)  # of the fastest repeat
    canary_time_s: float = float("nan")  # the same queries perturbed, after the timed repeats
    cache_ratio: float = float("nan")  # canary / best repeat: ~1 for an index, >> 1 for a cache
    caching_suspected: bool = False
    recalls_ab: np.ndarray | None = None  # recall@k per query, ann-benchmarks' convention (None: not measured)

    @property
    def recall(self) -> float:
        """Tie-aware recall@k (annsweep's convention), the mean over queries."""
        return float(self.recalls.mean())

    @property
    def recall_ab(self) -> float:
        """ann-benchmarks' recall@k (d_k + 1e-3), the mean over queries; NaN when not measured."""
        return float(self.recalls_ab.mean()) if self.recalls_ab is not None else float("nan")

    def attrs(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "query_params": self.query_params, "status": "ok", "recall": self.recall,
            "recall_ab": self.recall_ab,
            "repeat_times_s": self.repeat_times_s, "best_time_s": self.best_time_s, "qps": self.qps,
            "repeat_spread": self.repeat_spread, **asdict(self.proof), "extra_metrics": self.extra_metrics,
            "warmup_s": self.warmup_s, "series": self.series, **self.task_metrics, **self.latency_percentiles,
            "canary_time_s": self.canary_time_s, "cache_ratio": self.cache_ratio,
            "caching_suspected": self.caching_suspected,
        }


class ResultWriter:
    """Writes one build's result file as it goes: the header at once, the build's facts when it is
    built, each run when it is measured (flushed, so a crash keeps the runs done), and the final
    status, then renames the temporary file into place."""

    def __init__(self, final: Path, header: ResultHeader, **attrs: Any) -> None:
        self.final = Path(final)
        self.partial = temp_path(self.final)
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self._file = h5py.File(self.partial, "w")
        _write_attrs(self._file, {**header.attrs(), **attrs, "status": "running"})
        self._runs: h5py.Group | None = None

    def record_build(self, facts: BuildFacts) -> None:
        values = asdict(facts)
        values["index_size_bytes"] = -1 if facts.index_size_bytes is None else int(facts.index_size_bytes)
        values["peak_rss_bytes"] = -1 if facts.peak_rss_bytes is None else int(facts.peak_rss_bytes)
        _write_attrs(self._file, values)
        self._file.flush()
        self._runs = self._file.create_group("runs")

    def add_run(self, key: str, record: RunRecord) -> None:
        g = self._runs.create_group(key)
        g.create_dataset("neighbors", data=record.neighbors.astype(np.int32))
        g.create_dataset("scores", data=record.scores.astype(np.float32))
        g.create_dataset("recalls", data=record.recalls.astype(np.float32))
        if record.recalls_ab is not None:
            g.create_dataset("recalls_ab", data=record.recalls_ab.astype(np.float32))
        if record.latencies_ns is not None:
            g.create_dataset("latencies_ns", data=record.latencies_ns)
        _write_attrs(g, record.attrs())
        self._file.flush()

    def finish(self, error: str = "", traceback: str | None = None) -> Path:
        """Close with status ``ok`` (no error) or ``failed``, and move the file into place."""
        values: dict[str, Any] = {"status": "failed" if error else "ok", "error": error}
        if traceback is not None:
            values["traceback"] = traceback
        _write_attrs(self._file, values)
        self._file.close()
        os.replace(self.partial, self.final)
        return self.final


def mark_failed(final: Path, error: str, header: ResultHeader) -> Path:
    """Record a failed build at ``final``, keeping the complete runs of a temporary file a dead
    worker left (the newest readable one)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    source = None
    for partial in sorted(stale_temp_files(final), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            with h5py.File(partial, "r+") as f:
                _write_attrs(f, {**{k: v for k, v in header.attrs().items() if k not in f.attrs},
                                 "status": "failed", "error": error})
            source = partial
            break
        except OSError:
            partial.unlink(missing_ok=True)  # corrupt: the worker died while writing it
    if source is None:
        source = temp_path(final)
        with h5py.File(source, "w") as f:
            _write_attrs(f, {**header.attrs(), "status": "failed", "error": error})
    os.replace(source, final)
    for leftover in stale_temp_files(final):
        leftover.unlink(missing_ok=True)
    return final


def remove_stale(final: Path) -> None:
    """Delete temporary files of ``final`` before a build starts (left by a killed sweep)."""
    for stale in stale_temp_files(final):
        stale.unlink(missing_ok=True)


def read_header(path: Path) -> dict[str, Any] | None:
    """The attributes of a readable result file (JSON values decoded); None if absent or unreadable."""
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: plain(v) for k, v in f.attrs.items()}
    except OSError:
        return None
    for key in ("build_params",):
        try:
            attrs[key] = json.loads(attrs.get(key, "{}"))
        except (TypeError, ValueError):
            attrs[key] = None
    return attrs


def read_status(path: Path) -> tuple[str, str] | None:
    """(status, error) of a readable result file; None if absent or unreadable."""
    try:
        with h5py.File(path, "r") as f:
            return str(plain(f.attrs.get("status", "failed"))), str(plain(f.attrs.get("error", "")))
    except OSError:
        return None


def _write_attrs(obj: h5py.HLObject, values: dict[str, Any]) -> None:
    """Store attrs; dicts and lists become JSON, None becomes an empty string."""
    for key, value in values.items():
        if value is None:
            value = ""
        elif isinstance(value, (dict, list, tuple)) and not isinstance(value, np.ndarray):
            value = json.dumps(value, sort_keys=True, default=str)
        obj.attrs[key] = value


def plain(value: Any) -> Any:
    """An attribute value as a plain Python value."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value

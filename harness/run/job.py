"""The one hand-off from the runner to a worker: what the runner plans, what every executor (local,
``--jobs``, Ray) passes on, what is written for the worker as JSON and read back there.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.results import ResultHeader


@dataclass(frozen=True)
class WorkerJob:
    """One build and its query settings, on one dataset, in one worker process."""

    algorithm: str
    algorithm_folder: Path
    algorithms_root: Path  # where the worker finds adapters that this one is built from (pipeline stages)
    build: dict[str, Any]
    build_slug: str
    queries: list[dict[str, Any]]
    dataset: str  # its name in results
    dataset_path: Path
    representation: str | None  # of a multi-representation file: the one opened (``name:dense``)
    dataset_sha256: str  # the file's content, recorded with the result
    k: int
    runs: int
    modes: tuple[str, ...]
    result_path: Path
    data_root: Path  # the sweep's data folder (adapters keep caches there)
    command_line: list[str] = field(default_factory=list)
    label: str = ""  # "[i/n] algorithm slug", for progress lines
    core: int | None = None  # chosen by the executor: the primary core (the first of ``cores``)
    cores: tuple[int, ...] = ()  # every core the worker is pinned to: ``threads`` of them (set with ``core``)
    threads: int = 1  # threads the adapter runs with (``--threads N``): N > 1 measures only batch-Nt
    # The adapter's own virtualenv (harness.kit.environments), complete and pinned; empty: the runner's.
    environment: tuple[str, ...] = ()
    # --index-cache: the folder of saved indexes (harness.run.index_cache); None: always build.
    index_cache: Path | None = None

    def header(self) -> ResultHeader:
        """What its result file is the result of (the worker's file, or the runner's failure record)."""
        return ResultHeader(self.algorithm, self.dataset, self.k, self.build, self.build_slug, self.dataset_sha256,
                            self.threads)

    def on_core(self, core: int) -> WorkerJob:
        return self.on_cores((core,))

    def on_cores(self, cores: int | tuple[int, ...] | list[int]) -> WorkerJob:
        """This job on ``cores`` (one core per thread; the first is the primary ``core``)."""
        cores = (cores,) if isinstance(cores, int) else tuple(int(c) for c in cores)
        if len(cores) != self.threads or len(set(cores)) != len(cores):
            raise ValueError(f"{self.label or self.algorithm}: {self.threads} thread(s) need as many distinct cores, "
                             f"got {list(cores)}")
        return replace(self, core=cores[0], cores=cores)

    @property
    def pinned_cores(self) -> tuple[int, ...]:
        """The cores the worker pins to (a job written before ``cores`` existed: its one ``core``)."""
        return self.cores or ((int(self.core),) if self.core is not None else ())

    def to_json(self) -> str:
        values = asdict(self)
        for key, value in values.items():
            if isinstance(value, Path):
                values[key] = str(value)
        return json.dumps(values)

    @classmethod
    def from_json(cls, text: str) -> WorkerJob:
        values = json.loads(text)
        for key in ("algorithm_folder", "algorithms_root", "dataset_path", "result_path", "data_root"):
            values[key] = Path(values[key])
        values["modes"] = tuple(values["modes"])
        values["environment"] = tuple(values.get("environment", ()))
        values["index_cache"] = Path(values["index_cache"]) if values.get("index_cache") else None  # older: none
        values["cores"] = tuple(values.get("cores", ()))  # older jobs have neither cores nor threads (1)
        return cls(**values)

    def write(self, path: Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def read(cls, path: Path | str) -> WorkerJob:
        return cls.from_json(Path(path).read_text())

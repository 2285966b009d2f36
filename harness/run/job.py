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
    core: int | None = None  # chosen by the executor
    # The adapter's own virtualenv (harness.kit.environments), complete and pinned; empty: the runner's.
    environment: tuple[str, ...] = ()

    def header(self) -> ResultHeader:
        """What its result file is the result of (the worker's file, or the runner's failure record)."""
        return ResultHeader(self.algorithm, self.dataset, self.k, self.build, self.build_slug, self.dataset_sha256)

    def on_core(self, core: int) -> WorkerJob:
        return replace(self, core=core)

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
        return cls(**values)

    def write(self, path: Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def read(cls, path: Path | str) -> WorkerJob:
        return cls.from_json(Path(path).read_text())

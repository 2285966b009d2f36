"""The catalogue of algorithms: adapter folders found under one root, their classes, whether each
can run here, and the one way to make an adapter for a dataset.

An adapter whose library is missing (or whose module fails to import) is *unavailable*: listed
with the error in one line and skipped by a sweep, never a crash, as ann-benchmarks does.
Whether an adapter accepts a dataset (input kind and distance) is checked here and only here,
before it is made: :meth:`Catalogue.instantiate`, used by the worker and by adapters built from
others (a pipeline's stages).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import paths
from harness.kit.algorithm import Algorithm
from harness.kit.config import AlgorithmDefinition, ConfigError, load_definition

if TYPE_CHECKING:
    from harness.data.dataset import Dataset


class AdapterUnavailable(ConfigError):
    """An adapter's module cannot be imported here (its library is missing, or it is broken)."""


@dataclass(frozen=True)
class Entry:
    """One algorithm folder as ``annsweep algorithms`` lists it."""

    name: str
    definition: AlgorithmDefinition | None  # None when config.yml is malformed
    adapter: type[Algorithm] | None  # None when unavailable
    problem: str  # why it cannot run ("" when available), in one line


class Catalogue:
    """The algorithms under ``root`` (default ``paths.algorithms_dir()``); ``fallback`` is a second
    folder that :meth:`get` also looks in (a pipeline run from another root can still use the
    project's adapters as its stages).  Listing covers ``root`` only."""

    def __init__(self, root: Path | str | None = None, fallback: Path | str | None = None, threads: int = 1) -> None:
        self.threads = threads  # what adapters made here are given (``--threads N``; 1 by default)
        self.root = Path(root) if root is not None else paths.algorithms_dir()
        if not self.root.is_dir():
            raise ConfigError(f"{self.root}: no such algorithms folder (set by --algorithms-dir or "
                              "ANNSWEEP_ALGORITHMS_DIR)")
        self.fallback = Path(fallback) if fallback is not None and Path(fallback) != self.root else None

    def names(self) -> list[str]:
        """Folders under the root holding both adapter.py and config.yml, sorted."""
        return sorted(p.name for p in self.root.iterdir() if _is_algorithm(p))

    def discover(self) -> dict[str, AlgorithmDefinition]:
        """Every definition under the root (a malformed config.yml raises, naming the file)."""
        return {name: load_definition(self.root / name) for name in self.names()}

    def get(self, name: str) -> AlgorithmDefinition:
        for root in filter(None, (self.root, self.fallback)):
            if _is_algorithm(root / name):
                return load_definition(root / name)
        known = ", ".join(self.names()) or "none"
        raise ConfigError(f"unknown algorithm {name!r}: no {self.root / name}/adapter.py + config.yml "
                          f"(known: {known})")

    def entries(self) -> list[Entry]:
        """Every folder under the root with its status; never raises for one bad adapter."""
        listed = []
        for name in self.names():
            try:
                definition = load_definition(self.root / name)
            except ConfigError as exc:
                listed.append(Entry(name, None, None, _one_line(str(exc))))
                continue
            problem = self.problem(definition)
            listed.append(Entry(name, definition, None if problem else self.adapter_class(definition), problem))
        return listed

    @staticmethod
    def adapter_class(definition: AlgorithmDefinition) -> type[Algorithm]:
        """The adapter class (imported once per process); :class:`AdapterUnavailable` if it cannot be."""
        return _load_class(definition.adapter_path, definition.adapter_class_name, definition.name)

    def problem(self, definition: AlgorithmDefinition) -> str:
        """Why the adapter cannot run here, in one line ("" when it can)."""
        try:
            self.adapter_class(definition)
        except ConfigError as exc:
            return _one_line(str(exc))
        return ""

    def unsupported(self, definition: AlgorithmDefinition, dataset: Dataset) -> str | None:
        """None if the adapter accepts the dataset's input kind and distance, else the reason it does not."""
        cls = self.adapter_class(definition)
        if dataset.kind not in cls.accepts:
            hint = ""
            if dataset.representations:  # a multi-representation file: one of them may suit the adapter
                hint = (f" (one representation opens as an ordinary dataset: {dataset.name}:<representation>, "
                        f"of {', '.join(dataset.representations)})")
            return f"accepts {sorted(cls.accepts)} input, dataset {dataset.name} is {dataset.kind}{hint}"
        if dataset.distance not in cls.distances:
            return f"supports {sorted(cls.distances)} distances, dataset {dataset.name} is {dataset.distance}"
        return None

    def instantiate(self, definition: AlgorithmDefinition, build: dict[str, Any], dataset: Dataset) -> Algorithm:
        """The adapter of ``definition`` with build arguments ``build``, ready to ``fit(dataset)``.

        Refuses (ValueError naming the adapter) a dataset the adapter does not accept, and more than
        one thread for an adapter without ``parallel_batch``; holds the library to the catalogue's
        ``threads`` (``limit_threads``) before the adapter exists, and gives the adapter that number.
        """
        reason = self.unsupported(definition, dataset)
        if reason:
            raise ValueError(f"{definition.name} {reason}")
        cls = self.adapter_class(definition)
        if self.threads > 1 and not cls.parallel_batch:
            raise ValueError(f"{definition.name} {threads_refusal(cls, self.threads)}")
        cls.limit_threads(self.threads)
        adapter = cls(dataset.distance, **build)
        adapter.threads = self.threads
        adapter.catalogue = self
        return adapter

    def unsupported_threads(self, definition: AlgorithmDefinition, threads: int) -> str | None:
        """None if the adapter can run with ``threads`` threads, else the reason it cannot."""
        cls = self.adapter_class(definition)
        return threads_refusal(cls, threads) if threads > 1 and not cls.parallel_batch else None


def threads_refusal(cls: type[Algorithm], threads: int) -> str:
    return (f"runs its batch on one thread (no parallel_batch in {cls.__name__}): --threads {threads} "
            f"measures only libraries' own parallel batch search")


def _is_algorithm(folder: Path) -> bool:
    return (folder / "adapter.py").is_file() and (folder / "config.yml").is_file()


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


_LOADED: dict[tuple[Path, str], type[Algorithm] | AdapterUnavailable] = {}


def _load_class(path: Path, class_name: str, algorithm: str) -> type[Algorithm]:
    """The class ``class_name`` of the adapter file ``path``, named ``algorithm`` (its folder).

    An import error (a missing library) is remembered, so a sweep asks once and reports it once.
    """
    key = (Path(path), class_name)
    if key not in _LOADED:
        _LOADED[key] = _import(Path(path), class_name, algorithm)
    found = _LOADED[key]
    if isinstance(found, AdapterUnavailable):
        raise found
    return found


def _import(path: Path, class_name: str, algorithm: str) -> type[Algorithm] | AdapterUnavailable:
    module_name = "annsweep_adapter_" + re.sub(r"\W", "_", algorithm)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        return AdapterUnavailable(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a missing library (ImportError) or a broken module: unavailable here
        del sys.modules[module_name]
        return AdapterUnavailable(f"{path}: {type(exc).__name__}: {exc}")
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Algorithm)):
        return AdapterUnavailable(f"{path}: no subclass of harness.kit.Algorithm named {class_name!r}")
    if "name" not in cls.__dict__:  # messages name the adapter after its folder
        cls.name = algorithm
    return cls


def load_adapter_class(name: str, root: Path | str | None = None) -> type[Algorithm]:
    """The adapter class of algorithm ``name`` under ``root`` (default: the algorithms folder)."""
    catalogue = Catalogue(root)
    return catalogue.adapter_class(catalogue.get(name))

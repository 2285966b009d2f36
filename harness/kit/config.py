"""An algorithm's ``config.yml``: its run groups, expanded into builds and query settings.

Every folder ``algorithms/<name>/`` holding ``adapter.py`` and ``config.yml``
is an algorithm called ``<name>`` (found by :mod:`harness.kit.catalogue`); adding an
algorithm touches that folder only.  ``config.yml`` looks like::

    adapter: Hnswlib                  # class in adapter.py
    description: HNSW graph index
    groups:                           # named run groups
      M16:
        build: {M: 16, ef_construction: 200}
        query: {ef: [10, 20, 40]}     # lists expand to a cartesian grid
      i8:
        build: {M: 16, dtype: i8}
        query: {ef: [10, 20]}
        distances: [angular]          # optional: a group that applies to these distances only
    environment: [lib==1.0, numpy==1.25.2]   # optional: a virtualenv of its own (environments.py)

Builds with identical build arguments (from any group) are merged into one
build whose query settings are the union, so each index is built once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.data.dataset import DISTANCES

TOP_LEVEL_KEYS = {"adapter", "description", "groups", "environment"}
# An ``environment:`` entry (harness.kit.environments): an exact pin, name==version.
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9][A-Za-z0-9.+!_-]*)$")
# A config expands to at most this many builds and query settings per group: a grid larger than
# that is a mistake (or a YAML alias bomb), refused before it is expanded.
MAX_GRID = 100_000
GROUP_KEYS = {"build", "query", "description", "distances"}


class ConfigError(ValueError):
    """A config.yml or adapter is malformed; the message names the file."""


@dataclass(frozen=True)
class BuildSpec:
    """One index build and the query settings to run on it."""

    algorithm: str
    build: dict[str, Any]
    queries: list[dict[str, Any]]
    groups: tuple[str, ...]

    @property
    def slug(self) -> str:
        """File-name-safe, stable name of the build (``M=16_ef_construction=200``)."""
        return params_slug(self.build)


@dataclass(frozen=True)
class AlgorithmDefinition:
    name: str
    folder: Path
    adapter_class_name: str
    description: str
    groups: dict[str, dict[str, Any]] = field(repr=False)
    # Pinned requirements of an adapter that runs in a virtualenv of its own (harness.kit.environments);
    # empty: it runs in the project's environment.
    environment: tuple[str, ...] = ()

    @property
    def adapter_path(self) -> Path:
        return self.folder / "adapter.py"

    @property
    def config_path(self) -> Path:
        return self.folder / "config.yml"

    def builds(self, group: str | None = None, distance: str | None = None) -> list[BuildSpec]:
        """Expand the run groups (or one of them) into builds with their query settings; with a
        ``distance``, the groups whose ``distances:`` leave it out are left out."""
        if group is not None and group not in self.groups:
            raise ConfigError(f"{self.config_path}: no run group {group!r} (groups: {', '.join(self.groups)})")
        # Builds and settings are told apart by their canonical JSON (types kept: 1 is not "1").
        merged: dict[str, tuple[dict[str, Any], dict[str, dict[str, Any]], list[str]]] = {}
        for name, spec in self.groups.items():
            if group is not None and name != group:
                continue
            if distance is not None and distance not in spec.get("distances", DISTANCES):
                continue
            where = f"{self.config_path}: run group {name!r}"
            settings = [(canonical(q), q) for q in expand_grid(spec.get("query") or {}, f"{where}: query")]
            for build in expand_grid(spec.get("build") or {}, f"{where}: build"):
                _, queries, names = merged.setdefault(canonical(build), (build, {}, []))
                for key, q in settings:
                    queries.setdefault(key, q)
                names.append(name)
        specs = [BuildSpec(self.name, b, list(q.values()), tuple(n)) for b, q, n in merged.values()]
        seen: dict[str, BuildSpec] = {}
        for spec in specs:  # distinct builds must have distinct result files
            other = seen.setdefault(spec.slug, spec)
            if other is not spec:
                raise ConfigError(f"{self.config_path}: builds {other.build} and {spec.build} would share the "
                                  f"result file {spec.slug}.h5")
        return specs


def canonical(params: dict[str, Any]) -> str:
    """The JSON of a parameter mapping with sorted keys: equal only for equal values of equal types."""
    return json.dumps(params, sort_keys=True, default=repr)


def grid_size(params: dict[str, Any], where: str = "config") -> int:
    """How many combinations :func:`expand_grid` would make, without making them; an empty list
    (no value to run) is an error naming ``where`` and the key."""
    size = 1
    for key, value in params.items():
        if isinstance(value, list) and not value:
            raise ConfigError(f"{where}: {key!r} is an empty list: no value to run")
        size *= grid_size(value, f"{where}.{key}") if isinstance(value, dict) else len(value) \
            if isinstance(value, list) else 1
        size = min(size, MAX_GRID + 1)  # enough to refuse; keeps alias bombs from big-number arithmetic
    return size


def expand_grid(params: dict[str, Any], where: str = "config") -> list[dict[str, Any]]:
    """``{a: [1, 2], b: 3}`` → ``[{a: 1, b: 3}, {a: 2, b: 3}]`` (scalars are one-element lists).

    A nested mapping expands the same way, inside its key: ``{stage1: {ef: [10, 20]}}`` gives
    ``{stage1: {ef: 10}}`` and ``{stage1: {ef: 20}}`` (the pipeline adapter's stage parameters).
    A grid of more than ``MAX_GRID`` combinations is refused before it is made.
    """
    size = grid_size(params, where)
    if size > MAX_GRID:
        raise ConfigError(f"{where}: expands to more than {MAX_GRID:,} combinations")
    keys = list(params)
    values = [expand_grid(v, f"{where}.{k}") if isinstance(v, dict) else v if isinstance(v, list) else [v]
              for k, v in params.items()]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


SLUG_MAX = 200  # with .h5 / .log and the temp-file marker, names stay under the usual 255-byte limit


def params_slug(params: dict[str, Any]) -> str:
    """``M=16_ef_construction=200``; nested mappings flatten to dotted keys (``stage1.M=16``, a
    level named ``build`` is left out).

    The readable text is kept when it names the build unambiguously; it ends with a hash of the
    build's canonical JSON when it would not: characters outside ``[A-Za-z0-9=._+-]`` replaced
    (``x/y`` and ``x y``), a string that reads as another type (``"1"`` beside ``1``), or a slug
    too long for a file name (cut).
    """
    if not params:
        return "default"
    flat = _flatten(params)
    raw = "_".join(f"{k}={flat[k]}" for k in sorted(flat))
    text = re.sub(r"[^A-Za-z0-9=._+-]", "-", raw)
    ambiguous = text != raw or any(isinstance(v, str) and _reads_as_other_type(v) for v in flat.values())
    if ambiguous or len(text) > SLUG_MAX:
        digest = hashlib.sha256(canonical(params).encode()).hexdigest()[:12]
        text = f"{text[:SLUG_MAX - 13]}-{digest}"
    return text


def _reads_as_other_type(value: str) -> bool:
    if value in ("True", "False", "None"):
        return True
    try:
        float(value)
    except ValueError:
        return False
    return True


def _flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = prefix.rstrip(".") if key == "build" and prefix else f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}." if name else ""))
        else:
            flat[name] = value
    return flat


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_definition(folder: Path) -> AlgorithmDefinition:
    path = folder / "config.yml"
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    unknown = set(raw) - TOP_LEVEL_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)} (allowed: {sorted(TOP_LEVEL_KEYS)})")
    if not isinstance(raw.get("adapter"), str):
        raise ConfigError(f"{path}: 'adapter' must name the adapter class in adapter.py")
    groups = raw.get("groups")
    if not isinstance(groups, dict) or not groups:
        raise ConfigError(f"{path}: 'groups' must be a non-empty mapping of run groups")
    for name, spec in groups.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise ConfigError(f"{path}: run group {name!r} must be a mapping")
        unknown = set(spec) - GROUP_KEYS
        if unknown:
            raise ConfigError(f"{path}: run group {name!r} has unknown key(s) {sorted(unknown)} "
                              f"(allowed: {sorted(GROUP_KEYS)})")
        distances = spec.get("distances", list(DISTANCES))
        if not isinstance(distances, list) or not distances or not set(distances) <= set(DISTANCES):
            raise ConfigError(f"{path}: run group {name!r}: 'distances' must be a list of {', '.join(DISTANCES)}, "
                              f"got {distances!r}")
        for part in ("build", "query"):
            if spec.get(part) is not None and not isinstance(spec[part], dict):
                raise ConfigError(f"{path}: run group {name!r}: '{part}' must be a mapping of argument → value(s)")
        groups[name] = spec
    return AlgorithmDefinition(folder.name, folder, raw["adapter"], str(raw.get("description", "")), groups,
                               _pins(raw.get("environment"), path))


def _pins(requirements: object, path: Path) -> tuple[str, ...]:
    """The ``environment:`` list as exact pins; a ConfigError naming the file otherwise."""
    if requirements is None:
        return ()
    if not isinstance(requirements, list) or not requirements:
        raise ConfigError(f"{path}: 'environment' must be a non-empty list of pinned requirements (name==version)")
    bad = [r for r in requirements if not isinstance(r, str) or not PIN.match(r.strip())]
    if bad:
        raise ConfigError(f"{path}: 'environment' entries must be exact pins name==version, got {bad}")
    return tuple(r.strip() for r in requirements)

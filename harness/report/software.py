"""The environment section of the report site: the machines the runs used and every package they used.

Packages come from three places, none of them a fixed list: the versions each result file recorded
(``environment.packages``, written by :mod:`harness.run.environment`), the libraries each run's adapter
imports (read from its ``adapter.py`` and the project modules it imports, anywhere in the file: Seismic
imports ``seismic`` inside ``fit``), and the project's own requirements (``importlib.metadata.requires``).
Installed versions are read with ``importlib.metadata``: in this environment, and in an adapter's own
virtualenv when its runs used one (labelled with the adapter; never this environment's version in its
place), so a version that changed since the run shows as two versions.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path

import pandas as pd

from harness import paths

PROJECT = "annsweep"


@dataclass
class Machine:
    """One distinct machine/software record of the runs (time stamps and command lines aside)."""

    cpu_model: str
    cores: list[str]
    hostname: str
    platform: str
    python: str
    git_commit: str
    container: str
    interpreters: list[str]
    runs: int


@dataclass
class Package:
    name: str
    recorded: list[str] = field(default_factory=list)  # versions stored in the result files
    installed: str = ""  # importlib.metadata now, where the runs ran (each adapter virtualenv labelled)
    pinned: str = ""  # the project's requirement, e.g. "==0.5.4"
    used_by: list[str] = field(default_factory=list)  # algorithms, or "annsweep" for the harness's own


def _envs(frame: pd.DataFrame) -> list[tuple[dict, pd.Series]]:
    out = []
    for text, row in zip(frame.get("environment", pd.Series(dtype=object)), frame.itertuples(), strict=False):
        try:
            env = json.loads(text) if isinstance(text, str) else {}
        except json.JSONDecodeError:
            env = {}
        out.append((env if isinstance(env, dict) else {}, row))
    return out


def machines(frame: pd.DataFrame) -> list[Machine]:
    """The distinct machines (CPU, host, platform, Python, commit, container) of the runs."""
    found: dict[tuple, Machine] = {}
    for env, _ in _envs(frame):
        if not env:
            continue
        container = env.get("container") or {}
        if isinstance(container, dict):
            container = " ".join(f"{k}={v}" for k, v in container.items())
        facts = {k: str(env.get(k, "")) for k in ("cpu_model", "hostname", "platform", "python", "git_commit")}
        key = (*facts.values(), str(container))
        if key not in found:
            found[key] = Machine(**facts, container=str(container), cores=[], interpreters=[], runs=0)
        machine = found[key]
        machine.runs += 1
        core = env.get("core")
        cores = core if isinstance(core, list) else [core]
        machine.cores = sorted({*machine.cores, *(str(c) for c in cores if c is not None)}, key=_natural)
        if env.get("interpreter") and env["interpreter"] not in machine.interpreters:
            machine.interpreters.append(str(env["interpreter"]))
    return list(found.values())


def _natural(text: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def _requirement(text: str) -> tuple[str, str, bool]:
    """'pyseismic-lsr==0.5.4; extra == "x"' → ("pyseismic-lsr", "==0.5.4", True when behind an extra)."""
    spec, _, marker = text.partition(";")
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)", spec)
    name, version = (match.group(1), match.group(2).strip()) if match else (spec.strip(), "")
    return name, version, "extra" in marker


def project_requirements() -> dict[str, tuple[str, str, bool]]:
    """The project's requirements as installed: canonical name → (name, version spec, behind an extra)."""
    try:
        lines = metadata.requires(PROJECT) or []
    except metadata.PackageNotFoundError:
        return {}
    out = {}
    for line in lines:
        name, spec, extra = _requirement(line)
        out[_canonical(name)] = (name, spec, extra)
    return out


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def _module_owners() -> dict[str, list[str]]:
    # Slow-ish (reads every installed distribution's file list): once per report.
    return metadata.packages_distributions()


def adapter_folder(algorithm: str, algorithms_dir: Path | None = None) -> Path | None:
    """An algorithm's adapter folder: in ``algorithms_dir`` (where its runs came from; default
    ``paths.algorithms_dir()``), else among the project's own adapters."""
    for root in (Path(algorithms_dir) if algorithms_dir is not None else paths.algorithms_dir(),
                 paths.PROJECT_ALGORITHMS):
        if (root / algorithm / "adapter.py").is_file():
            return root / algorithm
    return None


def imported_modules(source: Path, seen: set[Path] | None = None) -> set[str]:
    """Top-level module names ``source`` imports anywhere (functions included), following the
    project's own ``algorithms.*`` modules it imports."""
    seen = seen if seen is not None else set()
    if source in seen or not source.is_file():
        return set()
    seen.add(source)
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    tops = set()
    for name in names:
        top, _, rest = name.partition(".")
        if top == "algorithms" and rest:  # a shared base module (algorithms/faiss_base.py): its imports too
            base = paths.PROJECT_ALGORITHMS / (rest.replace(".", "/") + ".py")
            tops |= imported_modules(base, seen)
        tops.add(top)
    return tops


def adapter_distributions(algorithm: str, algorithms_dir: Path | None = None) -> list[str]:
    """The installed distributions whose modules an algorithm's adapter imports (its library)."""
    folder = adapter_folder(algorithm, algorithms_dir)
    if folder is None:
        return []
    owners = _module_owners()
    dists = {d for module in imported_modules(folder / "adapter.py") for d in owners.get(module, [])}
    dists.discard(PROJECT)
    return sorted(dists, key=str.lower)


def _site_packages(interpreter: str) -> list[str]:
    """An interpreter's site-packages when it is another virtualenv than this process's."""
    path = Path(interpreter)
    if not interpreter or path.parent.parent == Path(sys.prefix):
        return []
    return [str(p) for p in sorted(path.parent.parent.glob("lib/python*/site-packages"))]


def installed_version(name: str, where: list[str] | None = None) -> str:
    """The version of ``name`` installed in the site-packages folders ``where`` (another virtualenv:
    never this process's version instead), or in this process's environment; "" when not installed."""
    if where:
        for dist in metadata.distributions(path=where):
            if _canonical(dist.metadata["Name"] or "") == _canonical(name):
                return dist.version
        return ""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def _installed(pkg: Package, venvs: dict[str, list[str]]) -> str:
    """Where ``pkg`` is installed now: this environment's version, and each adapter virtualenv's (labelled
    with the adapters that ran in it) when an adapter that used the package ran in one."""
    places: dict[tuple[str, ...], list[str]] = {}
    for user in pkg.used_by:
        if user in venvs:
            places.setdefault(tuple(venvs[user]), []).append(user)
    parts = [f"{installed_version(pkg.name, list(site)) or 'not installed'} (virtualenv of {', '.join(users)})"
             for site, users in places.items()]
    if not places or any(user not in venvs for user in pkg.used_by):  # used here too (or recorded only)
        own = installed_version(pkg.name)
        parts.insert(0, own if not places else f"{own or 'not installed'} (report environment)")
    return "; ".join(parts)


def packages(frame: pd.DataFrame, algorithms_dir: Path | None = None) -> list[Package]:
    """Every package the runs in ``frame`` used, sorted by name: recorded, imported by their adapters
    (in ``algorithms_dir``, see :func:`adapter_folder`), and the project's own requirements (those
    behind an extra only when a run used them)."""
    found: dict[str, Package] = {}
    venvs: dict[str, list[str]] = {}

    def add(name: str, user: str | None, version: str | None = None) -> Package:
        pkg = found.setdefault(_canonical(name), Package(name))
        if user and user not in pkg.used_by:
            pkg.used_by.append(user)
        if version and version not in pkg.recorded:
            pkg.recorded.append(version)
        return pkg

    for env, row in _envs(frame):
        algorithm = str(getattr(row, "algorithm", "") or "")
        for name, version in (env.get("packages") or {}).items():
            add(name, None, str(version))
        site = _site_packages(str(env.get("interpreter", "")))
        if site and algorithm:
            venvs[algorithm] = site
    algorithms = sorted({str(a) for a in frame.get("algorithm", pd.Series(dtype=object)).dropna()})
    for algorithm in algorithms:
        for dist in adapter_distributions(algorithm, algorithms_dir):
            add(dist, algorithm)
    requirements = project_requirements()
    for key, (name, spec, extra) in requirements.items():
        if not extra or key in found:
            add(name, PROJECT).pinned = spec
    for pkg in found.values():
        if _canonical(pkg.name) == PROJECT and PROJECT not in pkg.used_by:
            pkg.used_by.append(PROJECT)
        pkg.installed = _installed(pkg, venvs)
    return sorted(found.values(), key=lambda p: _canonical(p.name))


def summary(items: Iterable[Package]) -> str:
    """"name version" pairs on one line (for a page's footer or a log)."""
    return ", ".join(f"{p.name} {p.installed or '/'.join(p.recorded)}" for p in items)

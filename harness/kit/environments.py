"""Adapters with an environment of their own: a virtualenv per adapter whose pins conflict with the
project's (diskannpy 0.7.0 pins numpy 1.25 against the project's numpy 2.3.5).

An adapter declares its requirements in ``config.yml``::

    environment: [diskannpy==0.7.0, numpy==1.25.2, scipy==1.11.4, h5py==3.10.0, pandas==2.1.4]

Its worker then runs under ``<environments dir>/env-<hash>/bin/python`` instead of the
runner's interpreter (ann-benchmarks gives each algorithm its own Docker image for the same
reason).  The worker imports the harness from the project folder (``PYTHONPATH``), so the
environment holds only libraries: the adapter's pins, and every package the worker imports
(:data:`WORKER_PACKAGES`) that the adapter does not pin, at the version this project runs.  The
folder's name is a hash of that list: changing a pin makes a new environment, never a
half-updated one, and adapters with the same pins (diskann, diskann-ssd) share one.  It is built
on first use (or by ``annsweep algorithms --build-environments``), under a file lock so that two
builds at once (``--jobs``, Ray tasks on one machine) build it once, and marked ready only when pip
has finished.

The adapter module itself must import without its library (import it inside methods): the
runner's interpreter reads the adapter's parameters to check config.yml before any work.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import paths
from harness.kit.config import PIN

# What ``python -m harness.run.worker`` imports from outside the standard library.
WORKER_PACKAGES = ("numpy", "scipy", "h5py", "pandas", "psutil", "threadpoolctl", "tqdm", "PyYAML")
READY = ".ready"  # written last: the requirement list, one per line
PIP_TIMEOUT_S = 1800.0


class EnvironmentBuildError(RuntimeError):
    """An adapter's environment could not be built; the message names the adapter and pip's complaint."""


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def full_requirements(pins: Sequence[str]) -> tuple[str, ...]:
    """The adapter's pins, plus each worker package it does not pin at this interpreter's version."""
    pinned = {_key(PIN.match(p).group(1)) for p in pins}
    added = [f"{pkg}=={importlib.metadata.version(pkg)}" for pkg in WORKER_PACKAGES if _key(pkg) not in pinned]
    return (*pins, *added)


@dataclass(frozen=True)
class AdapterEnvironment:
    """The virtualenv of one adapter: where it lives and what it holds."""

    algorithm: str
    requirements: tuple[str, ...]  # complete and pinned (full_requirements)
    root: Path | None = None  # default: paths.environments_dir() where it is used (a Ray node's own)

    @property
    def folder(self) -> Path:
        digest = hashlib.sha256("\n".join(self.requirements).encode()).hexdigest()[:12]
        return Path(self.root or paths.environments_dir()) / f"env-{digest}"

    @property
    def python(self) -> Path:
        return self.folder / "bin" / "python"

    @property
    def ready(self) -> bool:
        return (self.folder / READY).is_file() and self.python.exists()

    def ensure(self, log=print) -> Path:
        """Build the environment unless it is ready; its interpreter.  EnvironmentBuildError if pip fails."""
        if self.ready:
            return self.python
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        with open(self.folder.with_name(self.folder.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it: wait, then look again
            if not self.ready:
                self._build(log)
        return self.python

    def _build(self, log) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)  # a build that was interrupted
        log(f"{self.algorithm}: building its own environment {self.folder} ({len(self.requirements)} "
            f"pinned packages; once)")
        steps = ([sys.executable, "-m", "venv", str(self.folder)],
                 [str(self.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                  *self.requirements])
        for command in steps:
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
            except subprocess.TimeoutExpired as exc:
                raise EnvironmentBuildError(f"{self.algorithm}: building its environment timed out "
                                        f"({command[2]} after {PIP_TIMEOUT_S:g}s)") from exc
            if done.returncode:
                tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])[-600:]
                shutil.rmtree(self.folder, ignore_errors=True)
                raise EnvironmentBuildError(f"{self.algorithm}: could not build its environment "
                                        f"({' '.join(command[2:5])} ...): {tail}")
        (self.folder / READY).write_text("\n".join(self.requirements) + "\n")
        log(f"{self.algorithm}: environment ready")

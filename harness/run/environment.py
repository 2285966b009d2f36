"""Facts about the machine and software a run used, stored with every result."""

from __future__ import annotations

import datetime as dt
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("annsweep", "numpy", "scipy", "h5py", "faiss-cpu", "hnswlib", "threadpoolctl", "psutil")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def container() -> dict[str, str] | None:
    """The container this process runs in, if any: its engine and, when the launcher passes it in
    ``ANNSWEEP_IMAGE_ID`` (``make docker-run`` and ``make docker-test`` do), the image's id."""
    import os

    engine = None
    if Path("/.dockerenv").exists():
        engine = "docker"
    elif Path("/run/.containerenv").exists():
        engine = "podman"
    else:
        try:
            cgroup = Path("/proc/1/cgroup").read_text()
        except OSError:
            cgroup = ""
        engine = next((name for name in ("docker", "containerd", "kubepods", "lxc") if name in cgroup), None)
    if engine is None and "ANNSWEEP_IMAGE_ID" not in os.environ:
        return None
    return {"engine": engine or "unknown", "image_id": os.environ.get("ANNSWEEP_IMAGE_ID", "unknown")}


def describe(core: int | list[int] | None = None, command_line: list[str] | None = None) -> dict[str, Any]:
    """The facts of this process's run; ``core``: its core, or its cores (a --threads N worker)."""
    return {
        "cpu_model": cpu_model(),
        "core": core,
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "interpreter": sys.executable,  # an adapter's own virtualenv (harness.kit.environments) shows here
        "packages": package_versions(),
        "git_commit": git_commit(),
        "command_line": command_line or sys.argv,
        "time_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "container": container(),
    }

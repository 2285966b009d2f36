"""The index cache of ``annsweep run --index-cache DIR``: a build's index saved by its adapter
(``Algorithm.save_index``) and loaded by later sweeps of the same build instead of building again.

An entry is the folder ``DIR/<algorithm>/<dataset SHA-256[:16]>/<build-slug>-<hash of the key>/``:
the files the adapter wrote, and ``entry.json`` with the full key — the dataset file's SHA-256 and
representation, the algorithm, its canonical build parameters, the adapter's ``index_versions()``
(its library's version) and the SHA-256 of the adapter's source files (a changed adapter may build
another index from the same parameters) — what the original build cost (its ``BuildFacts``), when
and where it was made, and every file with its size and SHA-256.

An entry is written into a hidden temporary folder beside it, its files synced to disk, and renamed
into place, so a worker killed while saving leaves no entry a later sweep could load (its temporary
folder is removed by the next save of that build on the same host).  An entry is loaded only when
its key equals the build's and every file has its recorded size and SHA-256; anything else — no
entry, an unreadable or mismatching one, a changed file — is built, with a line saying why, and the
new entry replaces the one found wanting.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import socket
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from harness.kit import Algorithm
from harness.kit.config import canonical
from harness.results import BuildFacts
from harness.run.job import WorkerJob

FORMAT = 1
ENTRY_FILE = "entry.json"
TMP_PREFIX = ".tmp-"
# What an entry keeps of the original build's facts (the rest describe one run of the worker).
ORIGINAL_FACTS = ("build_time_s", "rss_delta_bytes", "uss_delta_bytes", "index_size_bytes", "peak_rss_bytes")


def adapter_sources_sha256(adapter_class: type) -> str:
    """SHA-256 over the source files of the adapter's classes outside the harness (its adapter.py
    and a shared base such as algorithms/faiss_base.py), in the order of its class hierarchy."""
    digest = hashlib.sha256()
    seen = set()
    for cls in adapter_class.__mro__:
        if cls is object or cls.__module__.startswith("harness.") or cls.__module__ == "builtins":
            continue
        try:
            path = inspect.getsourcefile(cls)
        except TypeError:  # a class defined in C
            continue
        if path and path not in seen:
            seen.add(path)
            digest.update(Path(path).name.encode() + b"\0" + Path(path).read_bytes() + b"\0")
    return digest.hexdigest()


def cache_key(job: WorkerJob, adapter_class: type[Algorithm]) -> dict[str, Any]:
    """Everything that decides the index a build makes; an entry is loaded only for an equal key."""
    return {"format": FORMAT, "algorithm": job.algorithm, "build_params": canonical(job.build),
            "dataset_sha256": job.dataset_sha256, "representation": job.representation or "",
            # the build's thread count: its build time, the original's when loaded, depends on it
            "threads": int(getattr(job, "threads", 1)),
            "versions": adapter_class.index_versions(), "adapter_sha256": adapter_sources_sha256(adapter_class)}


class IndexCache:
    """The entry of one build (``job``) in the cache folder ``root``."""

    def __init__(self, root: Path, job: WorkerJob, adapter_class: type[Algorithm]) -> None:
        self.key = cache_key(job, adapter_class)
        self.job = job
        digest = hashlib.sha256(json.dumps(self.key, sort_keys=True).encode()).hexdigest()[:12]
        self.folder = Path(root) / job.algorithm / job.dataset_sha256[:16] / f"{job.build_slug}-{digest}"

    def lookup(self) -> BuildFacts | None:
        """The original build's facts when the entry is this build's and intact; else None, with a
        line saying why the build is built."""
        if not self.folder.exists():
            print(f"index cache: no entry {self.folder} yet: building", flush=True)
            return None
        try:
            entry = json.loads((self.folder / ENTRY_FILE).read_text())
            problem = self._problem(entry)
            facts = None if problem else BuildFacts(**{name: entry["build"][name] for name in ORIGINAL_FACTS})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problem = f"unreadable ({type(exc).__name__}: {exc})"
        if problem:
            print(f"index cache: entry {self.folder} not used, {problem}: building again", flush=True)
            return None
        return facts

    def _problem(self, entry: dict[str, Any]) -> str:
        """Why ``entry`` (read from entry.json) is not an intact entry of this build ("" when it is)."""
        key = entry.get("key")
        if not isinstance(key, dict):
            return "entry.json has no key"
        if key != self.key:
            differ = sorted(name for name in {*key, *self.key} if key.get(name) != self.key.get(name))
            return "its key differs in " + ", ".join(f"{n} ({key.get(n)!r}, this build {self.key.get(n)!r})"
                                                     for n in differ)
        files = entry.get("files")
        if not isinstance(files, list) or not files:
            return "entry.json lists no file"
        for item in files:
            path = self.folder / item["path"]
            if Path(item["path"]).is_absolute() or ".." in Path(item["path"]).parts:
                return f"file {item['path']!r} is outside the entry"
            size = path.stat().st_size if path.is_file() else None
            if size != item["bytes"]:
                return f"{item['path']} has {size} bytes, the entry says {item['bytes']}"
            if _sha256(path) != item["sha256"]:
                return f"{item['path']} is not the file saved (SHA-256 differs)"
        return ""

    def save(self, algo: Algorithm, facts: BuildFacts) -> bool:
        """Save ``algo``'s index with the build's ``facts`` as this build's entry (False: the adapter
        cannot save).  Errors propagate; no entry is left by a failed save."""
        parent = self.folder.parent
        parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temporaries()
        temp = parent / f"{TMP_PREFIX}{self.folder.name}-{_host()}-{os.getpid()}"
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir()
        try:
            if not algo.save_index(temp):
                print(f"index cache: {algo.label} cannot save its index (no save_index): not cached", flush=True)
                return False
            files = [_describe(temp, path) for path in sorted(temp.rglob("*")) if path.is_file()]
            if not files:
                raise ValueError(f"{algo.label}.save_index wrote no file")
            values = asdict(facts)
            entry = {"key": self.key, "algorithm": self.job.algorithm, "build_params": self.job.build,
                     "build_slug": self.job.build_slug, "dataset": self.job.dataset,
                     "build": {name: values[name] for name in ORIGINAL_FACTS},  # the original build's cost
                     "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": socket.gethostname(),
                     "files": files}
            with open(temp / ENTRY_FILE, "w") as f:
                json.dump(entry, f, indent=1, sort_keys=True, default=repr)
                f.flush()
                os.fsync(f.fileno())
            _fsync_folder(temp)
            self._move_into_place(temp)
        finally:
            shutil.rmtree(temp, ignore_errors=True)  # gone when renamed; left only by a failure
        return True

    def _move_into_place(self, temp: Path) -> None:
        try:
            os.rename(temp, self.folder)
        except OSError:  # an entry is there: one found wanting (replaced), or another sweep's of this build
            try:
                entry = json.loads((self.folder / ENTRY_FILE).read_text())
                if not self._problem(entry):
                    return  # an intact entry of this build, saved meanwhile: kept
            except (OSError, ValueError, KeyError, TypeError):
                pass
            old = self.folder.with_name(f"{TMP_PREFIX}{self.folder.name}-old-{_host()}-{os.getpid()}")
            os.rename(self.folder, old)
            os.rename(temp, self.folder)
            shutil.rmtree(old, ignore_errors=True)
        _fsync_folder(self.folder.parent)

    def _remove_stale_temporaries(self) -> None:
        """Temporary folders of this entry left on this host by a process that has ended (killed while saving)."""
        prefix = f"{TMP_PREFIX}{self.folder.name}-"
        for path in self.folder.parent.glob(f"{prefix}*"):
            host, _, pid = path.name[len(prefix):].removeprefix("old-").rpartition("-")
            if host == _host() and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)


def _describe(folder: Path, path: Path) -> dict[str, Any]:
    """A saved file's name, size and SHA-256, after syncing it to disk."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())
    return {"path": path.relative_to(folder).as_posix(), "bytes": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _host() -> str:
    return socket.gethostname().replace("-", "_")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def loaded_facts(original: BuildFacts, algo: Algorithm, load_s: float) -> BuildFacts:
    """The facts of a build loaded from the cache: the original build's cost, the loaded index's size."""
    values = {f.name: getattr(original, f.name) for f in fields(BuildFacts) if f.name in ORIGINAL_FACTS}
    values["index_size_bytes"] = algo.index_size_bytes()
    return BuildFacts(**values, index_cache="loaded", index_load_time_s=load_s)

"""The memory ceiling of a worker (``annsweep run --memory-limit``): sizes as users write them, the
default share of the machine, and :class:`MemoryWatch`, which the runner polls while it waits.

The limit is on the resident memory (RSS) of the worker's whole process tree (an engine's server or
JVM indexer counts), sampled every ``POLL_S``; past it the tree is killed and the build is a failed
run saying so.  A watch rather than ``RLIMIT_AS`` or ``RLIMIT_DATA``: those count address space
that is reserved but never touched (a JVM reserves a quarter of the machine for its heap, Rust and
jemalloc reserve arenas), so they refuse engines that would fit, and their failure is whatever
error the library makes of a failed ``malloc``.  cgroups would be exact but need a delegated
hierarchy, which containers and CI machines rarely give.
"""

from __future__ import annotations

import os
import re
import time

import psutil

POLL_S = 0.05
# The default ceiling: this share of the machine's memory, divided among the builds that run at once.
DEFAULT_SHARE = 0.8
_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str) -> int | None:
    """``16G``, ``1.5g``, ``512M``, ``2GiB``, ``1073741824`` → bytes; ``none`` or ``0`` → None (no limit)."""
    value = text.strip()
    if value.lower() in ("none", "off", "0"):
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgtKMGT]?)(?:i?[bB])?", value)
    if not match:
        raise ValueError(f"{text!r} is not a memory size (e.g. 16G, 512M, 1.5G, or none)")
    size = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if size < 2**20:
        raise ValueError(f"memory limit {text!r} is below 1 MiB: no worker can start in it")
    return size


def default_limit(concurrent: int) -> int:
    """A safe share of this machine for each of ``concurrent`` workers."""
    return int(DEFAULT_SHARE * psutil.virtual_memory().total / max(1, concurrent))


def format_size(size: float) -> str:
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


class MemoryWatch:
    """The resident memory of a process and its descendants, and its peak over the samples taken.

    A sample must cost the worker nothing: the runner may share a core with it (``--jobs`` with
    ``--use-all-cores``, ``--threads N``), and the proof flags a worker that loses its core.  So a sample
    reads only the tree's own ``/proc`` files (``statm``; children from ``task/*/children``), ~0.1 ms,
    where ``psutil.Process.children`` reads every process's ``stat`` (milliseconds on a busy machine,
    which flagged short runs).  Kernels without ``task/*/children`` fall back to psutil once a second.
    """

    def __init__(self, pid: int) -> None:
        self._root = pid
        self._tree: set[int] = {pid}
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._psutil_at = 0.0
        self.peak = 0

    def _children(self, pid: int) -> list[int]:
        found = []
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(c) for c in f.read().split())
        return found

    def _discover(self) -> None:
        try:
            frontier, seen = [self._root], {self._root}
            while frontier:
                for child in self._children(frontier.pop()):
                    if child not in seen:
                        seen.add(child)
                        frontier.append(child)
            self._tree = seen
        except FileNotFoundError:  # a process ended meanwhile, or no task/*/children: psutil, seldom
            now = time.monotonic()
            if now - self._psutil_at >= 1.0:
                self._psutil_at = now
                try:
                    self._tree = {self._root} | {c.pid for c in psutil.Process(self._root).children(recursive=True)}
                except psutil.Error:
                    pass
        except OSError:
            pass

    def sample(self) -> int:
        """Current RSS of the tree in bytes (processes that ended meanwhile count 0)."""
        self._discover()
        total = 0
        for pid in list(self._tree):
            try:
                with open(f"/proc/{pid}/statm") as f:
                    total += int(f.read().split()[1]) * self._page
            except (OSError, ValueError, IndexError):
                self._tree.discard(pid)
        self.peak = max(self.peak, total)
        return total

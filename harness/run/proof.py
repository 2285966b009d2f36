"""The single-thread proof, in one place for the runner and the worker: the thread variables every
worker starts with, pinning a worker to one core, and :class:`PhaseMonitor`, which measures how
many threads a timed phase really used.  With ``--threads N`` the same pieces pin a worker to N
cores with N-thread pools, and the proof checks the other way round: the phase used at most its N
cores and kept them busy (:meth:`PhaseProof.threads_ok`).

Imported by the worker *before* numpy or any adapter library (thread pools are sized when a
library loads), so this module imports nothing heavy.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

# Every thread-pool variable a library might read at import: BLAS and OpenMP pools, numexpr,
# Rayon (pyseismic-lsr's Rust pool) and Numba (pynndescent).
RUNNER_PID = "ANNSWEEP_RUNNER_PID"  # set by the runner: the worker's parent, checked at start
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
              "NUMEXPR_NUM_THREADS", "RAYON_NUM_THREADS", "NUMBA_NUM_THREADS")


def thread_environment(threads: int = 1) -> dict[str, str]:
    """The thread variables of a worker process: ``threads`` threads (default one) for every pool."""
    return {var: str(int(threads)) for var in THREAD_ENV}


def pin(cores: int | Iterable[int], threads: int = 1) -> None:
    """Pin this process to ``cores`` (one core, or one per thread) with pools of ``threads`` threads;
    it dies with its parent (the runner)."""
    os.environ.update(thread_environment(threads))  # this process's own pools, sized at library import
    os.sched_setaffinity(0, {cores} if isinstance(cores, int) else set(cores))
    # Die with the runner: a killed sweep must not leave workers running on.  The runner starts
    # the worker under setpriv --pdeathsig (set before Python starts); here it is set again, and a
    # runner that died before it was set is noticed by the parent no longer being the runner.
    try:
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    runner = os.environ.get(RUNNER_PID)
    if runner and os.getppid() != int(runner):
        os._exit(3)  # the runner is gone: nothing would wait for this build


# CPU/wall above this flags a run as not single-threaded.
MAX_CPU_RATIO = 1.05
# A thread "burned CPU" in a phase when it used more than this share of the
# phase's wall time (idle pool threads wake briefly; that is not parallelism).
ACTIVE_THREAD_SHARE = 0.02
# Threads of the worker that wait for each other for more than this share of the phase's wall
# time compete for the core.  Two threads that really share the work of a phase wait about half
# of it; a hand-off to a pool thread costs only the wake-ups around each call: measured with
# pyseismic's Rayon thread, ~0.1 % of a 1 s batch, up to 14 % of a 20 ms batch (225 Cranfield
# queries), where the pool thread spins after its work while the woken caller waits.
CONTENTION_SHARE = 0.25
# The worker's threads together must have had its core: CPU/wall below this means another process
# (a second sweep, a busy neighbour) took part of it, and the run measured a share of a core.
MIN_CPU_RATIO = 0.90
# Run-queue wait of the worker's threads that no thread of the worker explains (none of them ran
# meanwhile) is wait for something outside the worker; above this share of the wall time the core
# was not the worker's alone.
OUTSIDE_WAIT_SHARE = 0.10
# ...and both only when the core was lost for longer than this: a phase of a few milliseconds is
# easily interrupted for a fraction of one by a daemon, which says nothing about the run.
MIN_LOST_S = 0.002
# --threads N > 1 (mode batch-Nt): the phase must have kept each of its N cores busy, on average at
# least half of the time (batch calls have serial parts: the Python call, merging the threads'
# answers; hnswlib and faiss IVF on two cores measured 1.74-1.95 on random-s-dense, down to 1.48 on
# random-xs-dense's 2-5 ms batches, where thread start-up weighs) and at most MAX_CPU_RATIO of it
# (more than N cores' worth means threads escaped).  A library that ignores the setting answers on
# one thread: CPU/wall <= 1 plus the helpers' crumbs, so for N = 2 the floor is raised above one core
# (MIN_THREADED_CPU_RATIO), else a one-thread run at 1.00 would pass the bound 0.5 * 2.
MIN_THREADED_CORE_SHARE = 0.5
MIN_THREADED_CPU_RATIO = 1.25


@dataclass
class ThreadTimes:
    """One thread's scheduler counters (ns): time on a CPU, time runnable but waiting for one."""

    cpu_ns: int
    wait_ns: int | None  # None when /proc/<pid>/task/<tid>/schedstat is unavailable


@dataclass
class PhaseProof:
    """Evidence that a timed phase ran on one core, one thread at a time.

    Pinned to one core, threads cannot run in parallel, but they can still
    compete for it: then the timed thread waits while another one works, and
    the run is not the single-threaded run it claims to be.  Threads can also
    take turns: a library that hands a batch to one pool thread while the
    caller sleeps (pyseismic's Rayon pool) is sequential.  The scheduler tells
    the two apart: threads that compete each wait in the run queue while the
    others run (`contention_s`); a sleeping caller is not in the run queue at
    all, and an idle pool thread spinning on sched_yield is the only waiter.
    """

    wall_s: float
    cpu_s: float  # whole process
    other_threads_cpu_s: float  # process CPU not spent on the thread that ran the queries
    # Run-queue wait overlapping other threads' CPU time, summed over the threads but the one that
    # waited most, plus the CPU of threads that ended during the phase (their waits are gone).
    contention_s: float
    active_threads: int  # threads alive at the end that burned CPU during the phase
    num_threads: int
    affinity: list[int]  # union of every thread's allowed CPUs at the end
    # Run-queue wait beyond the CPU other threads of the worker used meanwhile: a process outside.
    outside_wait_s: float = 0.0
    storage_read_bytes: int = 0  # read from storage by the process (/proc/self/io read_bytes)
    schedstat: bool = True  # every thread's run-queue wait was known, so outside_wait_s is measured

    def ok(self, cores: int | Sequence[int], waits_for_storage: bool = False, threads: int = 1) -> bool:
        """One thread at a time, on ``cores`` (its one core), and the core the worker's alone; or, for
        ``threads`` > 1, the N-thread proof (:meth:`threads_ok`).

        CPU/wall below MIN_CPU_RATIO means the worker lost its core, unless the adapter declares that
        its queries wait for storage (an SSD index reading past the page cache) and the phase shows
        it: the process read from storage, and the scheduler's run-queue wait shows no other
        process holding the core (only measurable with schedstat).  A worker that sleeps without
        reading, e.g. while a server process answers for it, stays flagged.
        """
        allowed = [cores] if isinstance(cores, int) else sorted(cores)
        if threads > 1:
            return self.threads_ok(allowed, threads)
        core = allowed[0] if len(allowed) == 1 else None  # one thread on several cores: never ok
        lost = self.wall_s - self.cpu_s  # time the worker had no CPU
        io_wait = waits_for_storage and self.schedstat and self.storage_read_bytes > 0
        return (self.cpu_ratio <= MAX_CPU_RATIO and self.affinity == [core]
                and self.contention_s <= CONTENTION_SHARE * self.wall_s
                and (self.cpu_ratio >= MIN_CPU_RATIO or lost <= MIN_LOST_S or io_wait)
                and self.outside_wait_s <= max(OUTSIDE_WAIT_SHARE * self.wall_s, MIN_LOST_S))

    def threads_ok(self, cores: Sequence[int], threads: int) -> bool:
        """N threads on the worker's N cores, each core busy: every thread's affinity within ``cores``
        and CPU/wall within :func:`threaded_cpu_bounds`.

        Threads legitimately share the work here, so the contention rule does not apply; nor does
        the outside-wait rule (a thread's run-queue wait is explained away by its siblings' CPU on
        the other cores, so it never fires): a core lost to another process shows as CPU/wall
        below the floor instead, when it is lost for long enough to matter.
        """
        low, high = threaded_cpu_bounds(threads)
        return (len(cores) == threads and bool(self.affinity) and set(self.affinity) <= set(cores)
                and low <= self.cpu_ratio <= high)

    @property
    def cpu_ratio(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def describe(self, threads: int = 1) -> str:
        if threads > 1:
            low, high = threaded_cpu_bounds(threads)
            return (f"cpu/wall {self.cpu_ratio:.2f} (needs {low:.2f}-{high:.2f}), {self.active_threads} busy "
                    f"threads, affinity {self.affinity}")
        return (f"cpu/wall {self.cpu_ratio:.2f}, {self.contention_s:.3f}s of threads competing, "
                f"{self.outside_wait_s:.3f}s waiting for another process, "
                f"{self.storage_read_bytes / 2**20:.1f} MiB read from storage, "
                f"{self.other_threads_cpu_s:.2f}s CPU off the query thread, {self.active_threads} busy threads, "
                f"affinity {self.affinity}")


def threaded_cpu_bounds(threads: int) -> tuple[float, float]:
    """The CPU/wall range of an N-thread phase that passes the proof (see MIN_THREADED_CORE_SHARE)."""
    return max(MIN_THREADED_CORE_SHARE * threads, MIN_THREADED_CPU_RATIO), MAX_CPU_RATIO * threads


def thread_times() -> dict[int, ThreadTimes]:
    """Every thread of this process: CPU and run-queue wait from schedstat, else CPU from psutil."""
    times = {}
    for t in psutil.Process().threads():
        try:
            with open(f"/proc/self/task/{t.id}/schedstat") as f:
                cpu_ns, wait_ns = (int(x) for x in f.read().split()[:2])
            times[t.id] = ThreadTimes(cpu_ns, wait_ns)
        except (OSError, ValueError):
            times[t.id] = ThreadTimes(int((t.user_time + t.system_time) * 1e9), None)
    return times


def storage_read_bytes() -> int:
    """Bytes this process has caused to be fetched from storage (page-cache hits excluded), or 0."""
    try:
        return int(psutil.Process().io_counters().read_bytes)
    except (psutil.Error, AttributeError, OSError):  # no /proc/self/io (kernel without task I/O accounting)
        return 0


def thread_affinity(tids: Any) -> list[int]:
    cores: set[int] = set()
    for tid in tids:
        try:
            cores |= os.sched_getaffinity(tid)
        except OSError:  # the thread ended meanwhile
            pass
    return sorted(cores)


class PhaseMonitor:
    """Measures process CPU time, per-thread CPU and run-queue wait, and affinity around a phase."""

    def __enter__(self) -> PhaseMonitor:
        self._read = storage_read_bytes()
        self._threads = thread_times()
        self._cpu = time.process_time()
        self._own_cpu = time.thread_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        own = time.thread_time() - self._own_cpu
        cpu = time.process_time() - self._cpu
        after = thread_times()
        read = storage_read_bytes() - self._read
        zero = ThreadTimes(0, 0)
        cpu_of = {tid: (t.cpu_ns - self._threads.get(tid, zero).cpu_ns) / 1e9 for tid, t in after.items()}
        busy = [tid for tid, c in cpu_of.items() if c > ACTIVE_THREAD_SHARE * wall]
        # Each thread's run-queue wait while other threads of the worker had CPU time.  The one
        # thread that waited most is left out: a lone waiter is an idle pool thread that spins and
        # yields the core back at once (Rayon's pool thread, seen waiting as long as the caller ran
        # between batches, while the caller never waited).  Threads that compete all wait, each
        # while the others run.
        waits, outside = [], 0.0
        for tid, t in after.items():
            before = self._threads.get(tid, zero)
            others = max(0.0, cpu - cpu_of[tid])
            if t.wait_ns is None or before.wait_ns is None:  # no schedstat: a busy thread is suspect
                waits.append(others if tid in busy else 0.0)
            else:
                waited = (t.wait_ns - before.wait_ns) / 1e9
                waits.append(min(waited, others))
                # What no thread of the worker explains was spent waiting for another process; the
                # threads may wait for it at the same time, so the longest such wait is taken.
                outside = max(outside, waited - others)
        # Threads that ended during the phase are gone from `after`, but their CPU is still in the
        # process total: it counts as contention, since nothing shows they did not compete.
        ended_cpu = max(0.0, cpu - sum(cpu_of.values()))
        contention = sum(waits) - max(waits, default=0.0) + ended_cpu
        schedstat = all(t.wait_ns is not None for t in after.values())
        self.proof = PhaseProof(wall, cpu, max(0.0, cpu - own), contention, len(busy), len(after),
                                thread_affinity(after), outside, max(0, read), schedstat)

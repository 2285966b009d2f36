"""Where the builds of a sweep run: one at a time, N at once on N cores, or as Ray tasks.

Every executor runs the same code for a build, ``runner.run_task``: it starts the
``harness.run.worker`` process for a :class:`~harness.run.job.WorkerJob`, pinned to one core, and
waits for its result file.  An executor only decides *which core* and *when*:

* ``LocalExecutor(jobs=1)``: one build at a time on the runner's core (the default);
* ``LocalExecutor(jobs=N)``: N builds at once, each on its own core, never two on one;
  by default only N ≤ cores − 1 (core 0 stays free for the runner and the OS);
* ``RayExecutor(address)``: each build is one Ray task with ``num_cpus=1``.  Ray limits how
  many tasks a node runs but does not pin them (two concurrent tasks both see every core), so
  a task first leases a core of its node with an exclusive ``flock`` on
  ``<tmp>/annsweep-cores/core-<i>.lock`` and pins its worker there; the lease ends with the task.
  Datasets are read from their path (a shared filesystem on a real cluster); workers write results
  to the shared results folder with the same atomic rename as locally.  A task whose process dies
  (a killed Ray worker or node) is retried by Ray (``max_retries``), then recorded as failed.

With ``--threads N`` every "core" above is N cores: a local build leases and pins to N cores
(``--jobs J`` needs J·N), a Ray task asks for ``num_cpus=N`` and leases N cores of its node.

Each executor reports progress (tqdm over builds) and returns the outcomes in plan order.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

RunTask = Callable[[Any, tuple[int, ...]], Any]  # (job, its cores: one per thread) -> BuildOutcome


class Executor(Protocol):
    def run(self, jobs: Sequence[Any], run_task: RunTask, fail: Callable[[Any, str], Any]) -> list[Any]:
        """Run every job (a WorkerJob); ``fail(job, error)`` records one that could not run at all."""


def available_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def _say(line: str) -> None:
    print(line, flush=True)


def local_cores(jobs: int, core: int | None = None, use_all_cores: bool = False, threads: int = 1,
                say: Callable[[str], None] = _say) -> list[int]:
    """The cores ``jobs`` local workers of ``threads`` threads each pin to (``jobs`` × ``threads``,
    worker i on the i-th run of ``threads`` of them): the highest ones, leaving core 0 free unless
    ``use_all_cores``, or unless one worker's threads need every core; ``core`` (one job of one
    thread) chooses it."""
    cores = available_cores()
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    if threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    if core is not None:
        if jobs != 1 or threads != 1:
            raise ValueError("--core chooses the core of a single job of one thread; with --jobs N or --threads N "
                             "the highest cores are used")
        if core not in cores:
            raise ValueError(f"core {core} is not available to this process (available: {cores})")
        return [core]
    usable = cores if use_all_cores or len(cores) == 1 else [c for c in cores if c != min(cores)]
    needed = jobs * threads
    if jobs == 1 and threads > len(usable) and threads == len(cores):
        say(f"--threads {threads}: every core of this machine, core {min(cores)} too (shared with the runner "
            "and the OS)")
        usable = cores
    if needed > len(usable):
        what = f"--jobs {jobs}" if threads == 1 else f"--jobs {jobs} × --threads {threads} = {needed} cores"
        hint = ("" if use_all_cores or len(usable) == len(cores) or needed > len(cores)
                else " (add --use-all-cores to also use the runner's core)")
        raise ValueError(f"{what}: only {len(usable)} core(s) usable of {cores}{hint}")
    return usable[::-1][:needed]


@dataclass
class LocalExecutor:
    cores: list[int]
    threads: int = 1  # cores per worker: ``cores`` is cut into runs of this many, one per concurrent build
    note: str = ""  # printed when the sweep starts, not each time the options are checked

    @property
    def slots(self) -> list[tuple[int, ...]]:
        """The core sets builds run on at once (one core each, or ``threads`` cores each)."""
        n = self.threads
        return [tuple(self.cores[i:i + n]) for i in range(0, len(self.cores) - n + 1, n)]

    def run(self, jobs: Sequence[Any], run_task: RunTask, fail: Callable[[Any, str], Any]) -> list[Any]:
        outcomes: list[Any] = [None] * len(jobs)
        if self.note:
            print(self.note, flush=True)
        slots = self.slots
        with tqdm(total=len(jobs), desc="builds", unit="build", disable=len(jobs) < 2) as bar:
            if len(slots) == 1:
                for i, job in enumerate(jobs):
                    outcomes[i] = _on_leased_cores(run_task, job, slots[0])
                    bar.update()
                return outcomes
            free: queue.SimpleQueue[tuple[int, ...]] = queue.SimpleQueue()
            for slot in slots:
                free.put(slot)

            def on_free_cores(job: Any) -> Any:
                slot = free.get()  # a pool of len(slots) threads: one is always free here
                try:
                    return _on_leased_cores(run_task, job, slot)
                finally:
                    free.put(slot)

            with ThreadPoolExecutor(max_workers=len(slots), thread_name_prefix="annsweep-job") as pool:
                futures = {pool.submit(on_free_cores, job): i for i, job in enumerate(jobs)}
                pending: set[Future] = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        outcomes[futures[future]] = future.result()
                        bar.update()
        return outcomes


def _on_leased_cores(run_task: RunTask, job: Any, cores: tuple[int, ...]) -> Any:
    """A local build on ``cores``, once no other sweep of this machine (or Ray task) holds any of them."""
    named = f"core {cores[0]} is" if len(cores) == 1 else f"cores {', '.join(map(str, cores))} are"
    with cores_lease(len(cores), cores, waiting=f"{named} in use by another annsweep sweep; waiting for it"):
        return run_task(job, cores)


# --- core leases (local builds and Ray tasks) -----------------------------------------------------

LEASE_DIR = Path(tempfile.gettempdir()) / "annsweep-cores"


@contextmanager
def core_lease(cores: Sequence[int] | None = None, poll_s: float = 0.2, waiting: str = "") -> Iterator[int]:
    """Hold one core of this node exclusively (highest free first) until the block ends.

    An ``flock`` per core, shared by every sweep of this machine (any user: the files are
    world-writable in a sticky folder), so the lease also ends if the holder dies.  Local builds
    lease the core they pin to, so two sweeps never share one; Ray starts at most ``num_cpus``
    one-CPU tasks per node at a time, so with ``num_cpus`` ≤ the node's cores a free core is always
    found.  Otherwise the caller waits (``waiting`` is printed once).
    """
    with cores_lease(1, cores, poll_s, waiting) as held:
        yield held[0]


@contextmanager
def cores_lease(count: int, cores: Sequence[int] | None = None, poll_s: float = 0.2,
                waiting: str = "") -> Iterator[tuple[int, ...]]:
    """Hold ``count`` cores of ``cores`` (default: this process's) exclusively, highest free first,
    until the block ends: the lease of a ``--threads N`` worker (N cores), as :func:`core_lease` is
    of one.  All or nothing: when fewer than ``count`` are free, those just taken are let go before
    waiting, so two leases that each hold part of what the other needs never wait for each other."""
    cores = sorted(cores if cores is not None else os.sched_getaffinity(0), reverse=True)
    if not 1 <= count <= len(cores):
        raise ValueError(f"cannot lease {count} core(s) of {sorted(cores)}")
    if not LEASE_DIR.is_dir():
        LEASE_DIR.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            LEASE_DIR.chmod(0o1777)
    told = False
    while True:
        held: list[tuple[int, int]] = []  # (core, fd)
        for core in cores:
            if len(held) == count:
                break
            fd = os.open(LEASE_DIR / f"core-{core}.lock", os.O_RDONLY | os.O_CREAT, 0o666)
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            held.append((core, fd))
        try:
            if len(held) == count:
                yield tuple(core for core, _ in held)
                return
        finally:
            for _, fd in held:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        if waiting and not told:
            print(waiting, flush=True)
            told = True
        time.sleep(poll_s)


# --- Ray ----------------------------------------------------------------------------------------


def _leased(run_task: RunTask, job: Any, threads: int = 1) -> Any:
    """Inside a Ray task: lease a core of this node (``threads`` cores), then the same path as a local build."""
    with cores_lease(threads, waiting=f"waiting for {threads} free core(s) of this node") as cores:
        return run_task(job, cores)


@dataclass
class RayExecutor:
    address: str | None = None  # None: start a local Ray instance with every core of this machine
    max_retries: int = 2
    init_kwargs: dict[str, Any] | None = None
    threads: int = 1  # --threads N: each task asks Ray for N CPUs and leases N cores of its node

    def run(self, jobs: Sequence[Any], run_task: RunTask, fail: Callable[[Any, str], Any]) -> list[Any]:
        try:
            import ray
        except ImportError as exc:
            raise ValueError("--executor ray needs the [ray] extra: pip install -e '.[ray]'") from exc
        started = not ray.is_initialized()
        if started:
            # Ray's tqdm integration otherwise swaps builtins.print for its own in this process, and
            # Numba-compiled code that calls print (pynndescent) no longer compiles here.
            os.environ.setdefault("RAY_TQDM_PATCH_PRINT", "0")
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False, **(self.init_kwargs or {}))
        try:
            remote = ray.remote(num_cpus=self.threads, max_retries=self.max_retries)(_leased)
            refs = [remote.remote(run_task, job, self.threads) for job in jobs]
            index = {ref: i for i, ref in enumerate(refs)}
            outcomes: list[Any] = [None] * len(jobs)
            pending = list(refs)
            with tqdm(total=len(jobs), desc="builds (ray)", unit="build", disable=len(jobs) < 2) as bar:
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    i = index[done[0]]
                    try:
                        outcomes[i] = ray.get(done[0])
                    except Exception as exc:  # the task's process died max_retries + 1 times
                        outcomes[i] = fail(jobs[i], f"ray task failed after {self.max_retries} retries: "
                                                     f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
                    bar.update()
            return outcomes
        finally:
            if started:
                ray.shutdown()

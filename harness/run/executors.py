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

RunTask = Callable[[Any, int], Any]  # (job, core) -> BuildOutcome


class Executor(Protocol):
    def run(self, jobs: Sequence[Any], run_task: RunTask, fail: Callable[[Any, str], Any]) -> list[Any]:
        """Run every job (a WorkerJob); ``fail(job, error)`` records one that could not run at all."""


def available_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def local_cores(jobs: int, core: int | None = None, use_all_cores: bool = False) -> list[int]:
    """The cores ``jobs`` local workers pin to: the highest ones, leaving core 0 free unless
    ``use_all_cores``; ``core`` (only with one job) chooses it."""
    cores = available_cores()
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    if core is not None:
        if jobs != 1:
            raise ValueError("--core chooses the core of a single job; with --jobs N the N highest cores are used")
        if core not in cores:
            raise ValueError(f"core {core} is not available to this process (available: {cores})")
        return [core]
    usable = cores if use_all_cores or len(cores) == 1 else [c for c in cores if c != min(cores)]
    if jobs > len(usable):
        hint = "" if use_all_cores else " (add --use-all-cores to also use the runner's core)"
        raise ValueError(f"--jobs {jobs}: only {len(usable)} core(s) usable of {cores}{hint}")
    return usable[::-1][:jobs]


@dataclass
class LocalExecutor:
    cores: list[int]

    def run(self, jobs: Sequence[Any], run_task: RunTask, fail: Callable[[Any, str], Any]) -> list[Any]:
        outcomes: list[Any] = [None] * len(jobs)
        with tqdm(total=len(jobs), desc="builds", unit="build", disable=len(jobs) < 2) as bar:
            if len(self.cores) == 1:
                for i, job in enumerate(jobs):
                    outcomes[i] = _on_leased_core(run_task, job, self.cores[0])
                    bar.update()
                return outcomes
            free: queue.SimpleQueue[int] = queue.SimpleQueue()
            for core in self.cores:
                free.put(core)

            def on_a_free_core(job: Any) -> Any:
                core = free.get()  # a pool of len(cores) threads: one is always free here
                try:
                    return _on_leased_core(run_task, job, core)
                finally:
                    free.put(core)

            with ThreadPoolExecutor(max_workers=len(self.cores), thread_name_prefix="annsweep-job") as pool:
                futures = {pool.submit(on_a_free_core, job): i for i, job in enumerate(jobs)}
                pending: set[Future] = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        outcomes[futures[future]] = future.result()
                        bar.update()
        return outcomes


def _on_leased_core(run_task: RunTask, job: Any, core: int) -> Any:
    """A local build on ``core``, once no other sweep of this machine (or Ray task) holds it."""
    with core_lease([core], waiting=f"core {core} is in use by another annsweep sweep; waiting for it"):
        return run_task(job, core)


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
    cores = sorted(cores if cores is not None else os.sched_getaffinity(0), reverse=True)
    if not LEASE_DIR.is_dir():
        LEASE_DIR.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            LEASE_DIR.chmod(0o1777)
    told = False
    while True:
        for core in cores:
            path = LEASE_DIR / f"core-{core}.lock"
            fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield core
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        if waiting and not told:
            print(waiting, flush=True)
            told = True
        time.sleep(poll_s)


# --- Ray ----------------------------------------------------------------------------------------


def _leased(run_task: RunTask, job: Any) -> Any:
    """Inside a Ray task: lease a core of this node, then the same path as a local build."""
    with core_lease() as core:
        return run_task(job, core)


@dataclass
class RayExecutor:
    address: str | None = None  # None: start a local Ray instance with every core of this machine
    max_retries: int = 2
    init_kwargs: dict[str, Any] | None = None

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
            remote = ray.remote(num_cpus=1, max_retries=self.max_retries)(_leased)
            refs = [remote.remote(run_task, job) for job in jobs]
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

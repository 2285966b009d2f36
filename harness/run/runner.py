"""The runner: plans a sweep as worker jobs and runs each build in its own worker.

Each build runs in a fresh interpreter (``python -m harness.run.worker``) that pins itself to one
core (N cores with ``--threads N``); the runner only waits.  A crash (even a segfault), a timeout or an
exception in a worker becomes a failed-run record and the sweep goes on.  Finished results are skipped unless
``force``; adapters that are unavailable here (a missing library) are skipped with a line saying why.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import paths, results
from harness.data.dataset import Dataset
from harness.data.store import open_dataset
from harness.kit import AdapterEnvironment, Catalogue, EnvironmentBuildError
from harness.run import executors
from harness.run.job import WorkerJob
from harness.run.memory_watch import POLL_S, MemoryWatch, default_limit, format_size
from harness.run.plan import BuildOutcome, algorithms_for, plan_sweep

__all__ = ["BuildOutcome", "RunOptions", "algorithms_for", "check_options", "default_core", "run_sweep", "run_task"]
from harness.run.proof import RUNNER_PID, thread_environment

DEFAULT_TIMEOUT_S = 3600.0
DEFAULT_MEMORY_LIMIT = "default"
# The worker dies with the runner from its first instruction: util-linux's setpriv sets the
# parent-death signal, then execs Python (the worker sets it again and checks its parent, for
# machines without setpriv).
DEATH_WITH_PARENT = ("setpriv", "--pdeathsig", "KILL") if shutil.which("setpriv") else ()
MODES = ("single", "batch")


@dataclass
class RunOptions:
    k: int = 10
    runs: int = 3
    timeout_s: float = DEFAULT_TIMEOUT_S
    # Bytes of resident memory a worker may use (None: no ceiling); by default a share of the machine.
    memory_limit: int | None | str = DEFAULT_MEMORY_LIMIT
    force: bool = False  # rerun builds that have a result
    retry_failed: bool = False  # rerun builds whose result is a failure
    core: int | None = None
    modes: tuple[str, ...] = MODES
    group: str | None = None
    jobs: int = 1  # builds at once (local executor), each on its own core
    use_all_cores: bool = False  # let local jobs use core 0 too
    # --threads N: each worker on N cores, the adapter's batch search on N threads, mode batch-N t only
    # (``modes`` then stays the default, or is exactly that mode).
    threads: int = 1
    executor: str = "local"  # "local" or "ray"
    ray_address: str | None = None  # None: a local Ray instance
    results_root: Path = field(default_factory=paths.results_dir)
    algorithms_root: Path = field(default_factory=paths.algorithms_dir)
    data_root: Path = field(default_factory=paths.data_dir)
    index_cache: Path | None = None  # --index-cache: saved indexes are loaded from and saved into it
    command_line: list[str] = field(default_factory=lambda: list(sys.argv))


def default_core() -> int:
    """The core a single local worker pins to: the highest one (core 0 is left to the runner and the OS)."""
    return executors.local_cores(1)[0]


def run_sweep(algorithms: list[str], dataset: Dataset | str | Path, options: RunOptions) -> list[BuildOutcome]:
    """Every build of ``algorithms`` on ``dataset`` (opened here if given by name or path)."""
    executor = check_options(options)
    if not isinstance(dataset, Dataset):
        with open_dataset(dataset, options.data_root) as opened:
            return _sweep(algorithms, opened, options, executor)
    return _sweep(algorithms, dataset, options, executor)


def _sweep(algorithms: list[str], dataset: Dataset, options: RunOptions,
           executor: executors.Executor) -> list[BuildOutcome]:
    if options.k > dataset.distances.shape[1]:
        raise ValueError(f"--k {options.k} exceeds the ground-truth depth {dataset.distances.shape[1]} "
                         f"of {dataset.path}")
    catalogue = Catalogue(options.algorithms_root, threads=options.threads)
    plan = plan_sweep(algorithms, dataset, catalogue, k=options.k, runs=options.runs,
                      modes=modes_of(options), group=options.group, force=options.force,
                      results_root=options.results_root, data_root=options.data_root,
                      command_line=options.command_line, retry_failed=options.retry_failed,
                      index_cache=options.index_cache)
    return plan.outcomes + executor.run(plan.jobs, functools.partial(run_task, options=options),
                                        functools.partial(record_failure, options=options))


def modes_of(options: RunOptions) -> tuple[str, ...]:
    """The modes a sweep measures: ``options.modes``, or with ``threads`` N > 1 only batch-Nt (an
    N-thread run is never measured beside, nor mixed with, the one-thread modes)."""
    if isinstance(options.threads, bool) or not isinstance(options.threads, int) or options.threads < 1:
        raise ValueError(f"--threads must be an integer of at least 1, got {options.threads!r}")
    if options.threads == 1:
        if not options.modes or set(options.modes) - set(MODES):
            raise ValueError(f"--modes must be a subset of {','.join(MODES)}, got {','.join(options.modes)!r}")
        return tuple(options.modes)
    mode = results.threaded_mode(options.threads)
    if tuple(options.modes) not in (MODES, (mode,)):
        raise ValueError(f"--threads {options.threads} measures only mode {mode}; it cannot be combined with "
                         f"modes {','.join(options.modes)}")
    return (mode,)


def check_options(options: RunOptions) -> executors.Executor:
    """Refuse options that cannot run here (counts, modes, cores, executor) before a dataset is opened or
    prepared and before anything is written; the command line refuses the same values as it parses them.
    Returns the executor the options describe."""
    for name, low in (("k", 1), ("runs", 1), ("jobs", 1)):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"--{name} must be an integer of at least {low}, got {value!r}")
    if not options.timeout_s > 0:
        raise ValueError(f"--timeout must be a positive number of seconds, got {options.timeout_s!r}")
    if options.memory_limit not in (None, DEFAULT_MEMORY_LIMIT) and not options.memory_limit > 0:
        raise ValueError(f"--memory-limit must be a positive size, got {options.memory_limit!r}")
    modes_of(options)
    executor = make_executor(options)
    if options.executor == "ray":
        try:
            import ray  # noqa: F401  (imported here only to refuse early; RayExecutor imports it to run)
        except ImportError:
            raise ValueError("--executor ray needs the [ray] extra: pip install -e '.[ray]'") from None
    return executor


def make_executor(options: RunOptions) -> executors.Executor:
    if options.executor == "ray":
        if options.core is not None or options.jobs != 1:
            raise ValueError("--core and --jobs are for the local executor; Ray runs one task per CPU it has")
        return executors.RayExecutor(options.ray_address, threads=options.threads)
    if options.executor != "local":
        raise ValueError(f"unknown executor {options.executor!r} (local or ray)")
    notes: list[str] = []  # said when the sweep starts, not each time the options are checked
    cores = executors.local_cores(options.jobs, options.core, options.use_all_cores, options.threads, notes.append)
    return executors.LocalExecutor(cores, threads=options.threads, note="\n".join(notes))


def run_task(job: WorkerJob, cores: int | tuple[int, ...], options: RunOptions) -> BuildOutcome:
    """One build on ``cores`` (one core per thread of the job): the code path of every executor
    (locally, and inside a Ray task)."""
    job = job.on_cores(cores)
    where = (f"core {job.core}" if job.threads == 1
             else f"cores {', '.join(map(str, job.cores))} ({job.threads} threads)")
    print(f"{job.label}: {len(job.queries)} query setting(s) × {len(job.modes)} mode(s) × "
          f"{job.runs} run(s) on {where}", flush=True)
    try:  # an adapter with pins of its own runs under its virtualenv's interpreter, built here on first use
        python = AdapterEnvironment(job.algorithm, job.environment).ensure() if job.environment else None
    except EnvironmentBuildError as exc:
        return record_failure(job, str(exc), options)
    outcome = run_build(job, options.timeout_s, python, memory_limit_of(options))
    print(f"{job.label}: {outcome.status} in {outcome.seconds:.1f}s" +
          (f" — {outcome.error}" if outcome.error else ""), flush=True)
    return outcome


def memory_limit_of(options: RunOptions) -> int | None:
    """The ceiling of each worker: the option's, else a safe share of this machine (of this node, in
    a Ray task) among the builds that run on it at once."""
    if options.memory_limit != DEFAULT_MEMORY_LIMIT:
        return options.memory_limit
    at_once = options.jobs if options.executor == "local" else len(executors.available_cores()) // options.threads
    return default_limit(at_once)


def record_failure(job: WorkerJob, error: str, options: RunOptions) -> BuildOutcome:
    """A build that could not run at all (its Ray task died every time): a failed record all the same."""
    results.mark_failed(job.result_path, error, job.header())
    print(f"{job.label}: failed — {error}", flush=True)
    return BuildOutcome(job.algorithm, job.build_slug, "failed", job.result_path, error)


SCRATCH_PREFIX = "annsweep-worker-"


def run_build(job: WorkerJob, timeout_s: float, python: Path | None = None,
              memory_limit: int | None = None) -> BuildOutcome:
    """Start the worker of ``job`` (which has its core) under ``python`` (default: this interpreter),
    wait for it (killing it past ``timeout_s`` or past ``memory_limit`` bytes of resident memory),
    and record what became of it."""
    final = job.result_path
    results.remove_stale(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    log_path = final.with_suffix(".log")
    # The worker's temporary files (adapters' build folders, engines' databases) go to a folder of its
    # own, removed below whatever became of the worker: a killed worker cannot clean up after itself.
    # A runner killed outright (a Ray task's process, SIGKILL) leaves its folder: named after the
    # runner's pid, it is removed by the next runner that finds that pid gone.
    remove_orphaned_scratch()
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
    env = {**os.environ, **thread_environment(job.threads), **paths.worker_environment(job.data_root),
           RUNNER_PID: str(os.getpid()), "TMPDIR": str(scratch)}
    start = time.monotonic()
    job_path = scratch / "job.json"
    job.write(job_path)
    try:
        with open(log_path, "w") as log:
            proc = subprocess.Popen([*DEATH_WITH_PARENT, str(python or sys.executable), "-m", "harness.run.worker",
                                     str(job_path)],
                                    stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                code, error = _wait(proc, timeout_s, memory_limit)
                if error:
                    _kill(proc)
                    if not error.startswith("timeout"):
                        tail = _tail(log_path)
                        error += f" {_phase(log_path)}" + (f"; last output: {tail}" if tail else "")
                    results.mark_failed(final, error, job.header())
                    return BuildOutcome(job.algorithm, job.build_slug, "failed", final, error,
                                        time.monotonic() - start)
            except BaseException:
                # The sweep itself is being stopped: leave no partial file behind.
                _kill(proc)
                results.remove_stale(final)
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.monotonic() - start
    recorded = results.read_status(final)
    if code == 0 and recorded is not None and recorded[0] == "ok":
        return BuildOutcome(job.algorithm, job.build_slug, "ok", final, seconds=seconds)
    if recorded is None:  # the worker died without finishing its file: crash or kill
        how = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        error = f"worker crashed ({how}); last output: {_tail(log_path)}"
        results.mark_failed(final, error, job.header())
    else:
        error = recorded[1] or f"exit code {code}"
    return BuildOutcome(job.algorithm, job.build_slug, "failed", final, error, seconds)


def remove_orphaned_scratch(folder: Path | None = None) -> list[Path]:
    """Remove the worker scratch folders (``annsweep-worker-<runner pid>-*``) whose runner is gone."""
    removed = []
    for path in Path(folder or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = path.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _wait(proc: subprocess.Popen, timeout_s: float, memory_limit: int | None) -> tuple[int | None, str]:
    """Wait for the worker: (exit code, "") when it ends; (None, why) when it must be killed, for
    running past ``timeout_s`` or its process tree's resident memory passing ``memory_limit``."""
    deadline = time.monotonic() + timeout_s
    watch = MemoryWatch(proc.pid) if memory_limit else None
    while True:
        try:
            return proc.wait(timeout=POLL_S), ""
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if now > deadline:
            return None, f"timeout: no result after {timeout_s:g}s, worker killed"
        if watch is not None:
            rss = watch.sample()  # 0 when the tree ended between the wait and the sample
            if rss > memory_limit:
                return None, (f"out of memory: the worker's resident memory reached {format_size(rss)}, over "
                              f"--memory-limit {format_size(memory_limit)}; worker killed")


def _phase(log_path: Path) -> str:
    """When a killed worker was killed, from its own progress lines."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return ""
    return "while querying (the build had finished)" if "\nbuilt " in f"\n{text}" else "while building"


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])[-500:]

"""The runner: expands configs into builds and runs each build in its own worker.

Each build runs in a fresh interpreter (``python -m harness.worker``) that pins
itself to one core; the runner only waits.  A crash (even a segfault), a
timeout or an exception in a worker becomes a failed-run record and the sweep
goes on.  Finished results are skipped unless ``force``.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import configs, executors, results
from harness.datasets import Dataset, open_dataset

DEFAULT_TIMEOUT_S = 3600.0
MODES = ("single", "batch")


@dataclass
class RunOptions:
    k: int = 10
    runs: int = 3
    timeout_s: float = DEFAULT_TIMEOUT_S
    force: bool = False
    core: int | None = None
    modes: tuple[str, ...] = MODES
    group: str | None = None
    jobs: int = 1  # builds at once (local executor), each on its own core
    use_all_cores: bool = False  # let local jobs use core 0 too
    executor: str = "local"  # "local" or "ray"
    ray_address: str | None = None  # None: a local Ray instance
    results_root: Path = field(default_factory=results.results_dir)
    algorithms_root: Path = field(default_factory=configs.algorithms_dir)
    command_line: list[str] = field(default_factory=lambda: list(sys.argv))


@dataclass
class BuildOutcome:
    algorithm: str
    build: str
    status: str  # "ok", "failed", "skipped" (already done) or "unsupported"
    path: Path | None = None
    error: str = ""
    seconds: float = 0.0


def default_core() -> int:
    """The core a single local worker pins to: the highest one (core 0 is left to the runner and the OS)."""
    return executors.local_cores(1)[0]


def algorithms_for(dataset: Dataset, root: Path | None = None) -> list[str]:
    """Every discovered algorithm that accepts the dataset."""
    return [name for name, d in configs.discover(root).items() if d.unsupported(dataset) is None]


@dataclass(frozen=True)
class BuildTask:
    """One build to run: everything a worker needs, as plain picklable values (for Ray)."""

    algorithm_folder: Path
    build: configs.BuildSpec
    dataset_path: Path
    dataset_name: str
    final: Path
    label: str


def run_sweep(algorithms: list[str], dataset_name: str, options: RunOptions) -> list[BuildOutcome]:
    dataset = open_dataset(dataset_name)
    if options.k > dataset.distances.shape[1]:
        raise ValueError(f"--k {options.k} exceeds the ground-truth depth {dataset.distances.shape[1]} "
                         f"of {dataset.path}")
    executor = make_executor(options)
    plan: list[tuple[configs.AlgorithmDefinition, configs.BuildSpec]] = []
    outcomes: list[BuildOutcome] = []
    for name in algorithms:
        definition = configs.get(name, options.algorithms_root)
        reason = definition.unsupported(dataset)
        if reason:
            print(f"skip {name}: {reason}")
            outcomes.append(BuildOutcome(name, "-", "unsupported", error=reason))
            continue
        plan.extend((definition, b) for b in definition.builds(options.group))
    tasks: list[BuildTask] = []
    for i, (definition, build) in enumerate(plan, 1):
        final = results.result_path(options.results_root, dataset.name, options.k, build.algorithm, build.slug)
        label = f"[{i}/{len(plan)}] {build.algorithm} {build.slug}"
        existing = results.read_status(final)
        if existing is not None and not options.force:
            print(f"{label}: already done ({existing[0]}), skipped (use --force to rerun)")
            outcomes.append(BuildOutcome(build.algorithm, build.slug, "skipped", final))
            continue
        tasks.append(BuildTask(definition.folder, build, dataset.path.resolve(), dataset.name, final, label))
    outcomes.extend(executor.run(tasks, functools.partial(run_task, options=options),
                                 functools.partial(record_failure, options=options)))
    return outcomes


def make_executor(options: RunOptions) -> executors.Executor:
    if options.executor == "ray":
        if options.core is not None or options.jobs != 1:
            raise ValueError("--core and --jobs are for the local executor; Ray runs one task per CPU it has")
        return executors.RayExecutor(options.ray_address)
    if options.executor != "local":
        raise ValueError(f"unknown executor {options.executor!r} (local or ray)")
    return executors.LocalExecutor(executors.local_cores(options.jobs, options.core, options.use_all_cores))


def run_task(task: BuildTask, core: int, options: RunOptions) -> BuildOutcome:
    """One build on ``core``: the code path of every executor (locally, and inside a Ray task)."""
    definition = configs.load_definition(task.algorithm_folder)
    dataset = Dataset(task.dataset_path, name=task.dataset_name)
    print(f"{task.label}: {len(task.build.queries)} query setting(s) × {len(options.modes)} mode(s) × "
          f"{options.runs} run(s) on core {core}", flush=True)
    outcome = run_build(definition, task.build, dataset, task.final, core, options)
    print(f"{task.label}: {outcome.status} in {outcome.seconds:.1f}s" +
          (f" — {outcome.error}" if outcome.error else ""), flush=True)
    return outcome


def record_failure(task: BuildTask, error: str, options: RunOptions) -> BuildOutcome:
    """A build that could not run at all (its Ray task died every time): a failed record all the same."""
    results.mark_failed(task.final, results.temp_path(task.final), error, _base_attrs(task.build, task.dataset_name,
                                                                                    options))
    print(f"{task.label}: failed — {error}", flush=True)
    return BuildOutcome(task.build.algorithm, task.build.slug, "failed", task.final, error)


def _base_attrs(build: configs.BuildSpec, dataset_name: str, options: RunOptions) -> dict:
    return {"format_version": results.FORMAT_VERSION, "algorithm": build.algorithm, "dataset": dataset_name,
            "k": options.k, "build_params": build.build, "build_slug": build.slug}


def run_build(definition: configs.AlgorithmDefinition, build: configs.BuildSpec, dataset: Dataset, final: Path,
              core: int, options: RunOptions) -> BuildOutcome:
    for stale in results.stale_temp_files(final):
        stale.unlink(missing_ok=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = results.temp_path(final)
    job = {
        "algorithm": build.algorithm, "algorithm_folder": str(definition.folder), "build": build.build,
        "build_slug": build.slug, "queries": build.queries, "dataset": dataset.name,
        "dataset_path": str(dataset.path.resolve()), "k": options.k, "runs": options.runs, "core": core,
        "modes": list(options.modes), "result_path": str(final), "partial_path": str(partial),
        "command_line": options.command_line,
    }
    base_attrs = _base_attrs(build, dataset.name, options)
    log_path = final.with_suffix(".log")
    env = {**os.environ, **{var: "1" for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    # The worker must import this harness, wherever the runner was started from.
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                         *filter(None, [os.environ.get("PYTHONPATH")])])
    start = time.monotonic()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(job, f)
        job_path = Path(f.name)
    try:
        with open(log_path, "w") as log:
            proc = subprocess.Popen([sys.executable, "-m", "harness.worker", str(job_path)], stdout=log,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                code = proc.wait(timeout=options.timeout_s)
            except subprocess.TimeoutExpired:
                _kill(proc)
                error = f"timeout: no result after {options.timeout_s:g}s, worker killed"
                results.mark_failed(final, partial, error, base_attrs)
                return BuildOutcome(build.algorithm, build.slug, "failed", final, error, time.monotonic() - start)
            except BaseException:
                # The sweep itself is being stopped: leave no partial file behind.
                _kill(proc)
                partial.unlink(missing_ok=True)
                raise
    finally:
        job_path.unlink(missing_ok=True)
    seconds = time.monotonic() - start
    recorded = results.read_status(final)
    if code == 0 and recorded is not None and recorded[0] == "ok":
        return BuildOutcome(build.algorithm, build.slug, "ok", final, seconds=seconds)
    if recorded is None:  # the worker died without finishing its file: crash or kill
        how = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        error = f"worker crashed ({how}); last output: {_tail(log_path)}"
        results.mark_failed(final, partial, error, base_attrs)
    else:
        error = recorded[1] or f"exit code {code}"
    return BuildOutcome(build.algorithm, build.slug, "failed", final, error, seconds)


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

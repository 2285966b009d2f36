"""The runner: expands configs into builds and runs each build in its own worker.

Each build runs in a fresh interpreter (``python -m harness.worker``) that pins
itself to one core; the runner only waits.  A crash (even a segfault), a
timeout or an exception in a worker becomes a failed-run record and the sweep
goes on.  Finished results are skipped unless ``force``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import configs, results
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
    """The highest core this process may use: core 0 is left to the runner and the OS."""
    return max(os.sched_getaffinity(0))


def compatible(definition: configs.AlgorithmDefinition, dataset: Dataset) -> str | None:
    """None if the algorithm accepts the dataset, else the reason it does not."""
    cls = definition.load_adapter_class()
    if dataset.kind not in cls.accepts:
        return f"accepts {sorted(cls.accepts)} input, dataset {dataset.name} is {dataset.kind}"
    if dataset.distance not in cls.distances:
        return f"supports {sorted(cls.distances)} distances, dataset {dataset.name} is {dataset.distance}"
    return None


def algorithms_for(dataset: Dataset, root: Path | None = None) -> list[str]:
    """Every discovered algorithm that accepts the dataset."""
    return [name for name, d in configs.discover(root).items() if compatible(d, dataset) is None]


def run_sweep(algorithms: list[str], dataset_name: str, options: RunOptions) -> list[BuildOutcome]:
    dataset = open_dataset(dataset_name)
    if options.k > dataset.distances.shape[1]:
        raise ValueError(f"--k {options.k} exceeds the ground-truth depth {dataset.distances.shape[1]} "
                         f"of {dataset.path}")
    core = default_core() if options.core is None else options.core
    if core not in os.sched_getaffinity(0):
        raise ValueError(f"core {core} is not available to this process (available: "
                         f"{sorted(os.sched_getaffinity(0))})")
    plan: list[tuple[configs.AlgorithmDefinition, configs.BuildSpec]] = []
    outcomes: list[BuildOutcome] = []
    for name in algorithms:
        definition = configs.get(name, options.algorithms_root)
        reason = compatible(definition, dataset)
        if reason:
            print(f"skip {name}: {reason}")
            outcomes.append(BuildOutcome(name, "-", "unsupported", error=reason))
            continue
        plan.extend((definition, b) for b in definition.builds(options.group))
    for i, (definition, build) in enumerate(plan, 1):
        final = results.result_path(options.results_root, dataset.name, options.k, build.algorithm, build.slug)
        label = f"[{i}/{len(plan)}] {build.algorithm} {build.slug}"
        existing = results.read_status(final)
        if existing is not None and not options.force:
            print(f"{label}: already done ({existing[0]}), skipped (use --force to rerun)")
            outcomes.append(BuildOutcome(build.algorithm, build.slug, "skipped", final))
            continue
        print(f"{label}: {len(build.queries)} query setting(s) × {len(options.modes)} mode(s) × "
              f"{options.runs} run(s) on core {core}", flush=True)
        outcome = run_build(definition, build, dataset, final, core, options)
        print(f"{label}: {outcome.status} in {outcome.seconds:.1f}s" +
              (f" — {outcome.error}" if outcome.error else ""), flush=True)
        outcomes.append(outcome)
    return outcomes


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
    base_attrs = {"format_version": results.FORMAT_VERSION, "algorithm": build.algorithm, "dataset": dataset.name,
                  "k": options.k, "build_params": build.build, "build_slug": build.slug}
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

"""Planning a sweep: which algorithms can run, their builds, which builds already have a result, and
everything refused before any worker starts, each with a line saying why.

Refused here (nothing is run or written): an adapter unavailable on this machine (a missing
library), one that does not accept the dataset, one without ``parallel_batch`` when the catalogue's
``threads`` (``--threads N``) is above one, a config.yml whose grid or values break the
adapter's parameter declarations, and a build whose result file already holds another build's or
another dataset file's results (a name reused for different data never mixes results).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness import results
from harness.data.dataset import Dataset
from harness.kit import Catalogue, ConfigError, full_requirements
from harness.kit.config import AlgorithmDefinition, BuildSpec, canonical
from harness.kit.params import check_params
from harness.run.job import WorkerJob


@dataclass
class BuildOutcome:
    algorithm: str
    build: str
    status: str  # "ok", "failed", "skipped" (already done), "unsupported", "unavailable" or "refused"
    path: Path | None = None
    error: str = ""
    seconds: float = 0.0


@dataclass
class Plan:
    jobs: list[WorkerJob] = field(default_factory=list)
    outcomes: list[BuildOutcome] = field(default_factory=list)  # of what will not run


def algorithms_for(dataset: Dataset, catalogue: Catalogue) -> list[str]:
    """Every algorithm that accepts the dataset, and every unavailable one (the sweep reports it);
    a folder whose config.yml is malformed is left out with a line naming it."""
    names = []
    for entry in catalogue.entries():
        if entry.definition is None:
            print(f"skip {entry.name}: {entry.problem}")
        elif entry.problem or catalogue.unsupported(entry.definition, dataset) is None:
            names.append(entry.name)
    return names


def check_settings(catalogue: Catalogue, definition: AlgorithmDefinition, builds: list[BuildSpec]) -> None:
    """Every build and query setting against the adapter's declarations (ConfigError naming the file)."""
    cls = catalogue.adapter_class(definition)
    for build in builds:
        for role, declared, values in [("build", cls.build_parameters, build.build),
                                       *(("query", cls.query_parameters, q) for q in build.queries)]:
            try:
                check_params(definition.name, role, declared, values, cls.fixed_parameters)
            except ValueError as exc:
                raise ConfigError(f"{definition.config_path} (groups {', '.join(build.groups)}): {exc}") from exc


def plan_sweep(algorithms: list[str], dataset: Dataset, catalogue: Catalogue, *, k: int, runs: int,
               modes: tuple[str, ...], group: str | None, force: bool, results_root: Path, data_root: Path,
               command_line: list[str], retry_failed: bool = False, index_cache: Path | None = None) -> Plan:
    plan = Plan()
    builds: list[tuple[AlgorithmDefinition, BuildSpec]] = []
    for name in algorithms:
        try:
            definition = catalogue.get(name)
        except ConfigError as exc:  # an unknown name, or a config.yml that is not valid YAML
            print(f"skip {name}: {exc}")
            plan.outcomes.append(BuildOutcome(name, "-", "refused", error=str(exc)))
            continue
        problem = catalogue.problem(definition)
        if problem:
            print(f"skip {name}: unavailable here — {problem}")
            plan.outcomes.append(BuildOutcome(name, "-", "unavailable", error=problem))
            continue
        # --threads N (the catalogue's threads) is for adapters whose batch search runs on N threads.
        reason = catalogue.unsupported(definition, dataset) or catalogue.unsupported_threads(definition,
                                                                                             catalogue.threads)
        if reason:
            print(f"skip {name}: {reason}")
            plan.outcomes.append(BuildOutcome(name, "-", "unsupported", error=reason))
            continue
        try:
            mine = definition.builds(group, dataset.distance)
            if not mine:  # every group is for other distances
                reason = f"no run group of {definition.config_path} is for {dataset.distance} distance"
                print(f"skip {name}: {reason}")
                plan.outcomes.append(BuildOutcome(name, "-", "unsupported", error=reason))
                continue
            check_settings(catalogue, definition, mine)
        except ConfigError as exc:
            print(f"skip {name}: {exc}")
            plan.outcomes.append(BuildOutcome(name, "-", "refused", error=str(exc)))
            continue
        builds.extend((definition, b) for b in mine)
    results_root = Path(results_root).resolve()
    for i, (definition, build) in enumerate(builds, 1):
        final = results.result_path(results_root, dataset.name, k, build.algorithm, build.slug, catalogue.threads)
        label = f"[{i}/{len(builds)}] {build.algorithm} {build.slug}"
        existing = results.read_header(final)
        if existing is not None:
            clash = _clash(existing, build, dataset)
            if clash:
                print(f"{label}: refused — {final} {clash}")
                plan.outcomes.append(BuildOutcome(build.algorithm, build.slug, "refused", final, f"{final} {clash}"))
                continue
            if not force and not (retry_failed and existing.get("status") != "ok"):
                hint = "--force reruns it" + ("" if existing.get("status") == "ok" else ", --retry-failed too")
                print(f"{label}: already done ({existing.get('status')}), skipped ({hint})")
                plan.outcomes.append(BuildOutcome(build.algorithm, build.slug, "skipped", final))
                continue
        plan.jobs.append(WorkerJob(
            algorithm=build.algorithm, algorithm_folder=definition.folder.resolve(),
            algorithms_root=catalogue.root.resolve(), build=build.build, build_slug=build.slug,
            queries=build.queries, dataset=dataset.name, dataset_path=dataset.path.resolve(),
            representation=dataset.representation_name, dataset_sha256=dataset.sha256, k=k, runs=runs,
            modes=tuple(modes), threads=catalogue.threads, result_path=final, data_root=Path(data_root).resolve(),
            command_line=command_line,
            label=label, environment=full_requirements(definition.environment) if definition.environment else (),
            index_cache=Path(index_cache).resolve() if index_cache is not None else None))
    return plan


def _clash(existing: dict, build: BuildSpec, dataset: Dataset) -> str:
    """Why an existing result file is not this build's on this dataset ("" when it is)."""
    if existing.get("build_params") is not None and canonical(existing["build_params"]) != canonical(build.build):
        return (f"holds the results of another build ({existing['build_params']}); this one ({build.build}) "
                "would overwrite them")
    other = existing.get("dataset_sha256") or ""
    if other and other != dataset.sha256:
        return (f"holds results of another file named {dataset.name} (SHA-256 {other[:12]}…, this one "
                f"{dataset.sha256[:12]}…): move them or use another --results-dir")
    return ""

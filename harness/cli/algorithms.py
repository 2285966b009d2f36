"""``annsweep algorithms``: the adapters found, whether each can run here, and their environments."""

from __future__ import annotations

import argparse
import sys

from harness.cli import options as opt


def register(sub: argparse._SubParsersAction) -> None:
    algos = sub.add_parser("algorithms", help="list the adapters found under algorithms/",
                           formatter_class=opt.HelpFormatter)
    algos.add_argument("--build-environments", nargs="*", metavar="NAME",
                       help="build the virtualenvs of adapters with pins of their own (config.yml 'environment:'; "
                            "default: all of them) instead of on first use")
    algos.set_defaults(func=cmd_algorithms)


def cmd_algorithms(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from harness.kit import AdapterEnvironment, Catalogue, full_requirements

    entries = Catalogue(args.algorithms_dir).entries()
    if args.build_environments is not None:
        return _build_environments(entries, args.build_environments)
    rows, problems = [], []
    for entry in entries:
        builds = entry.definition.builds() if entry.definition is not None else []
        inputs = ",".join(sorted(entry.adapter.accepts)) if entry.adapter is not None else "-"
        status = "unavailable" if entry.problem else "available"
        if not entry.problem and entry.definition.environment:
            ready = AdapterEnvironment(entry.name, full_requirements(entry.definition.environment)).ready
            status += " (own env" + ("" if ready else ", built on first use") + ")"
        rows.append([entry.name, status, inputs, len(builds),
                     sum(len(b.queries) for b in builds), entry.definition.description if entry.definition else ""])
        if entry.problem:
            problems.append(f"  {entry.name}: {entry.problem}")
    print(tabulate(rows, headers=["name", "status", "inputs", "builds", "query settings", "description"],
                   maxcolwidths=[None, None, None, None, None, 70]))
    print(f"\nadapters in {args.algorithms_dir}: {len(rows) - len(problems)} available, {len(problems)} unavailable")
    if problems:
        print("unavailable here (a sweep skips them):\n" + "\n".join(problems))
    return 0


def _build_environments(entries, names: list[str]) -> int:
    from harness.kit import AdapterEnvironment, EnvironmentBuildError, full_requirements

    own = {e.name: e.definition.environment for e in entries if e.definition is not None and e.definition.environment}
    unknown = sorted(set(names) - set(own))
    if unknown:
        print(f"error: no adapter with an environment of its own named {', '.join(unknown)} "
              f"(those with one: {', '.join(sorted(own)) or 'none'})", file=sys.stderr)
        return 2
    status = 0
    for name in names or sorted(own):
        environment = AdapterEnvironment(name, full_requirements(own[name]))
        try:
            print(f"{name}: {environment.ensure()}")
        except EnvironmentBuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
    return status

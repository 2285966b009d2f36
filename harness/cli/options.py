"""What every command group shares: argument types that refuse bad values before any work (argparse
then exits with status 2 and the option's name), the help formatter that shows defaults, and tables."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from tabulate import tabulate


class HelpFormatter(argparse.HelpFormatter):
    """Adds "(default: X)" to every option that has a default worth showing and does not say it itself."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (default in (None, False, argparse.SUPPRESS) or "default" in text or "%(default)" in text
                or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


def at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= low."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    parse.__name__ = f"integer >= {low}"  # argparse names the type in its refusal
    return parse


def number(accept: Callable[[float], bool], wanted: str) -> Callable[[str], float]:
    """An argparse type: a float for which ``accept(value)`` holds, else a refusal saying ``wanted``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}")
        return value
    return parse


RECALL_HELP = ("which recall@k: tie-aware (a hit within a relative 1e-5 of the k-th true distance) or ab "
               "(ann-benchmarks': within d_k + 1e-3, absolute); see the README, 'Two recall conventions'")

positive_seconds = number(lambda v: 0 < v < math.inf, "a positive number of seconds")
recall = number(lambda v: 0 <= v <= 1, "a recall between 0 and 1")


def memory_size(text: str) -> tuple[int | None]:
    """--memory-limit: bytes, or (None,) for no limit (a tuple, so that 'none' differs from not given)."""
    from harness.run.memory_watch import parse_size

    try:
        return (parse_size(text),)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def mode(text: str) -> str:
    """A run mode: ``single``, ``batch`` or ``batch-Nt`` (N >= 2, from --threads N)."""
    from harness.results import mode_threads

    if mode_threads(text) is None:
        raise argparse.ArgumentTypeError(f"must be single, batch or batch-<N>t with N >= 2, got {text!r}")
    return text


def name_list(text: str) -> list[str]:
    """'a,b, c' → ['a', 'b', 'c']; an empty list is refused."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"must name at least one, got {text!r}")
    return names


def dims(text: str) -> list[int]:
    """'4..12' or '4,6,8' → the numbers (argparse names the option in its error, exit 2 before any work)."""
    try:
        if ".." in text:
            lo, hi = (int(x) for x in text.split(".."))
            numbers = list(range(lo, hi + 1))
        else:
            numbers = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must look like 4..12 or 4,6,8, got {text!r}") from None
    if not numbers or min(numbers) < 1:
        raise argparse.ArgumentTypeError(f"must name numbers >= 1, got {text!r}")
    return numbers


def load_selected(results_dir: Path, dataset: str | None, k: int | None = None) -> pd.DataFrame:
    """The stored runs of ``dataset`` (every dataset if None) with ``k``; a dataset or k without results
    is an error naming what there is, not an empty table."""
    from harness import results

    frame = results.load(results_dir, dataset=dataset)
    if dataset is not None and frame.empty:
        have = results.load(results_dir)
        names = sorted(have["dataset"].unique()) if len(have) else []
        raise ValueError(f"no results for dataset {dataset!r} under {results_dir} "
                         + (f"(datasets with results: {', '.join(names)})" if names else "(no results at all)"))
    if k is not None and len(frame):
        ks = sorted(int(v) for v in frame["k"].unique())
        frame = frame[frame["k"] == k]
        if frame.empty:
            raise ValueError(f"no results for k={k} under {results_dir / (dataset or '')} (k with results: "
                             f"{', '.join(map(str, ks))})")
    return frame


def _cell(column: str, value: object) -> object:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if isinstance(value, float) and (column == "qps" or column.startswith("qps@")):
        return f"{value:,.0f}"  # QPS as whole numbers with thousands separators, not 1.8e+04
    if isinstance(value, float) and ("recall" in column or column.startswith(("nDCG", "R@", "RR@"))):
        return f"{value:.4f}"  # 0.99996 must not print as 1
    if isinstance(value, float):
        return f"{value:.4g}"
    return value


def table(frame: pd.DataFrame, markdown: bool = False) -> str:
    """A frame as an aligned text (or Markdown) table: recall and qrels metrics to 4 decimals, QPS whole,
    other numbers to 4 significant digits."""
    columns = [str(c) for c in frame.columns]
    rows = [[_cell(c, v) for c, v in zip(columns, row, strict=True)] for row in frame.itertuples(index=False)]
    return tabulate(rows, headers=columns, tablefmt="github" if markdown else "simple", disable_numparse=True)

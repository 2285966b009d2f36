"""The report site: ``index.html`` (contents, every leaderboard, the environment), one page per dataset
(``datasets/<name>.html``: figures, leaderboard, runs, builds) and one per algorithm
(``algorithms/<name>.html``: its frontier on every dataset, its builds), from Jinja2 templates
(``templates/``, autoescaped) with the number filters of :mod:`.formats`.

Every link is relative, so the folder works from ``file://`` and when copied elsewhere; the pages load
nothing from the network (CSS and the sort/hover script are inlined from the templates folder).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from harness.report import charts, formats, leaderboard, plots, software
from harness.report.metrics import run_metric
from harness.results import series_of, trusted

TEMPLATES = Path(__file__).resolve().parent / "templates"
DATASETS, ALGORITHMS = "datasets", "algorithms"
FIGURES = plots.STANDARD_FIGURES


@dataclass(frozen=True)
class Column:
    """A table column: the row key, its heading, the filter of :mod:`.formats` that prints it
    (``text``: as it is), and the row key holding a link for the cell, if any."""

    key: str
    title: str
    fmt: str = "number"
    link: str | None = None

    @property
    def text(self) -> bool:
        return self.fmt in ("text", "params")


@dataclass
class Table:
    columns: list[Column]
    rows: list[dict[str, Any]]
    css: str = ""  # rows with a true "_flagged" are drawn red; "_id" is a row's element id


@dataclass
class Section:
    """A titled part of a page with its anchor (the table of contents lists them)."""

    anchor: str
    title: str
    charts: list[charts.Chart] = field(default_factory=list)
    tables: list[tuple[str, Table]] = field(default_factory=list)  # (caption, table)
    files: list[tuple[str, str]] = field(default_factory=list)  # (label, relative href): static figures
    link: str | None = None  # a page this section is the summary of
    notes: list[str] = field(default_factory=list)  # warnings: runs left out of the figures, failures
    intro: str = ""  # what the section's table shows


BOARD_COLUMNS = {
    "rank": Column("rank", "rank"), "algorithm": Column("algorithm", "algorithm", "text", "_href_algorithm"),
    "qps": Column("qps", "QPS", "qps"), "recall": Column("recall", "recall (tie-aware)", "recall"),
    "recall_ab": Column("recall_ab", "recall (ann-benchmarks)", "recall"),
    "max_recall": Column("max_recall", "max recall", "recall"), "build": Column("build", "build", "text"),
    "query_params": Column("query_params", "query", "text"),
    "build_time_s": Column("build_time_s", "build time", "duration"),
    "index_mib": Column("index_mib", "index size", "mib"), "peak_rss_mib": Column("peak_rss_mib", "peak RSS", "mib"),
    "repeat_spread": Column("repeat_spread", "repeat spread"), "cpu_ratio": Column("cpu_ratio", "CPU/wall"),
    "runs": Column("runs", "runs"), "flagged": Column("flagged", "flagged runs"),
}
BOARD_HIDDEN = set(leaderboard.GROUP) | {"contention_s"}


def slug(name: object) -> str:
    return plots.file_stem(name)


def dataset_href(name: object) -> str:
    return f"{DATASETS}/{slug(name)}.html"


def algorithm_href(name: object) -> str:
    return f"{ALGORITHMS}/{slug(name)}.html"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(formats.FILTERS)
    env.filters["fmt"] = lambda value, name: formats.FILTERS[name](value)  # a column's filter, by name
    return env


def owners(frame: pd.DataFrame) -> dict[str, str]:
    """Series → the algorithm (adapter) it belongs to: a pipeline's methods link to its page."""
    return {str(s): str(a) for s, a in zip(series_of(frame), frame["algorithm"], strict=True)}


def board_table(board: pd.DataFrame, root: str, owner: dict[str, str] | None = None) -> Table:
    """A leaderboard as a table: known columns formatted, columns added later (e.g. another recall
    convention) printed as recalls or numbers rather than dropped."""
    owner = owner or {}
    columns = [BOARD_COLUMNS.get(c, Column(c, c.replace("_", " "), "recall" if "recall" in c else "number"))
               for c in board.columns if c not in BOARD_HIDDEN]
    rows = []
    for record in board.to_dict("records"):
        record["_href_algorithm"] = root + algorithm_href(owner.get(str(record["algorithm"]), record["algorithm"]))
        record["_flagged"] = formats.missing(record.get("qps"))  # no trusted run at recall >= threshold
        rows.append(record)
    return Table(columns, rows, "leaderboard")


def _quality_columns(frame: pd.DataFrame) -> list[Column]:
    """Recall, the other recall conventions the runs carry, and the qrels measures with values."""
    cols = [Column("recall", "recall", "recall")]
    cols += [Column(m.name, m.label.format(k="k"), "recall") for m in charts.other_recalls(frame)]
    for name in ("nDCG@10", "R@10", "RR@10"):
        if name in frame and pd.to_numeric(frame[name], errors="coerce").notna().any():
            cols.append(Column(name, name, "recall"))
    return cols


def runs_table(frame: pd.DataFrame, root: str, dataset_column: bool = False) -> Table:
    columns = ([Column("dataset", "dataset", "text", "_href_dataset")] if dataset_column else []) + [
        Column("algorithm", "algorithm", "text", "_href_algorithm"), Column("series", "series", "text"),
        Column("k", "k"), Column("mode", "mode", "text"), Column("build_params", "build", "params"),
        Column("query_params", "query", "params"), *_quality_columns(frame), Column("qps", "QPS", "qps"),
        Column("latency_p50_us", "p50", "micros"), Column("latency_p99_us", "p99", "micros"),
        Column("repeat_spread", "repeat spread"), Column("status", "status", "text"),
        Column("trusted", "trusted", "text"), Column("error", "error", "text"),
    ]
    ok, series = trusted(frame), series_of(frame)
    rows = []
    for (_, run), good, name in zip(frame.iterrows(), ok, series, strict=True):
        row = run.to_dict()
        row["series"] = name
        row["trusted"] = "yes" if good else "no"
        row["_flagged"] = not good
        row["_id"] = charts.run_id(run.name)  # the figures' points name it (data-run)
        row["_href_algorithm"] = root + algorithm_href(run["algorithm"])
        row["_href_dataset"] = root + dataset_href(run["dataset"])
        rows.append(row)
    return Table(columns, rows, "runs")


def builds_table(frame: pd.DataFrame, root: str, dataset_column: bool = False,
                 algorithm_column: bool = True) -> Table:
    """One row per build (result file) and mode: its parameters, build time, index size, memory, and the
    best recall and best QPS of its trusted runs in that mode (a row without a trusted run is red and
    says why in its status; a failed build without runs has a row without a mode)."""
    columns = ([Column("dataset", "dataset", "text", "_href_dataset")] if dataset_column else []) + (
        [Column("algorithm", "algorithm", "text", "_href_algorithm")] if algorithm_column else []) + [
        Column("build_params", "build parameters", "params"), Column("k", "k"), Column("mode", "mode", "text"),
        Column("threads", "threads"), Column("build_time_s", "build time", "duration"),
        Column("index_size_bytes", "index size", "size"), Column("peak_rss_bytes", "peak RSS", "size"),
        Column("rss_delta_bytes", "RSS growth", "size_change"), Column("index_cache", "index cache", "text"),
        Column("runs", "successful runs"), Column("trusted_runs", "trusted runs"),
        Column("best_recall", "best recall (trusted)", "recall"), Column("best_qps", "best QPS (trusted)", "qps"),
        Column("status", "status", "text"), Column("error", "error", "text"),
    ]
    frame = frame.assign(_trusted=trusted(frame), _mode=frame["mode"].fillna("").astype(str))
    rows = []
    for _, runs in frame.groupby(["file", "_mode"], sort=False):
        first = runs.iloc[0].to_dict()
        good = runs[runs["_trusted"]]
        ok, failed = runs[runs["status"] == "ok"], runs[runs["status"] != "ok"]
        flagged = len(ok) - len(good)
        if ok.empty:
            status = "failed"
        elif good.empty:
            status = f"no trusted run ({flagged} flagged)"
        else:
            status = ("partly failed" if not failed.empty else "ok") + (f", {flagged} flagged" if flagged else "")
        row = {**first, "mode": first["_mode"], "runs": len(ok), "trusted_runs": len(good),
               "best_recall": pd.to_numeric(good["recall"], errors="coerce").max(),
               "best_qps": pd.to_numeric(good["qps"], errors="coerce").max(), "status": status,
               "error": "; ".join(dict.fromkeys(str(e) for e in failed["error"] if e)),
               "_flagged": good.empty, "_href_algorithm": root + algorithm_href(first["algorithm"]),
               "_href_dataset": root + dataset_href(first["dataset"])}
        rows.append(row)
    rows.sort(key=lambda r: (str(r["dataset"]), str(r["algorithm"]), str(r["build_params"]), int(r["k"]),
                             r["mode"]))
    return Table(columns, rows, "builds")


BUILDS_NOTE = ("One row per build and mode. Best recall and best QPS are over the mode's trusted runs (succeeded, "
               "passed the single-thread proof, not answered from a cache); a row in red has no trusted run: "
               "its runs failed, or were flagged by the single-thread proof or the cache canary (its status "
               "says which).")


def _groups(frame: pd.DataFrame) -> Iterable[tuple[tuple[str, int, str], pd.DataFrame]]:
    for (dataset, k, mode), group in frame.groupby(["dataset", "k", "mode"], sort=True):
        yield (str(dataset), int(k), str(mode)), group


class _Ids:
    """Unique element ids within a page."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, *parts: object) -> str:
        base = slug("-".join(str(p) for p in parts)).replace(".", "-").replace(":", "-").replace("@", "-")
        name, n = base, 1
        while name in self.used:
            n += 1
            name = f"{base}-{n}"
        self.used.add(name)
        return name


def dataset_sections(frame: pd.DataFrame, board: pd.DataFrame, dataset: str, figures: list[plots.Figure],
                     board_files: Sequence[Path], colors: dict, threshold: float, raw: bool,
                     x_scale: str | None = None, owner: dict[str, str] | None = None) -> list[Section]:
    ids, root = _Ids(), "../"
    sections = []
    for (name, k, mode), group in _groups(frame[frame["dataset"] == dataset]):
        section = Section(ids(f"k{k}", mode), f"k={k} · {mode} mode")
        good = plots.ok_runs(group)
        section.notes += _flag_notes(group, good)
        for xname, yname in FIGURES:
            x, y = run_metric(xname), run_metric(yname)
            chart = charts.frontier_chart(good, x, y, chart_id=ids("fig", k, mode, yname, xname),
                                          title=f"{y.label.format(k=k)} vs {x.label.format(k=k)}", k=k,
                                          colors=colors, raw=raw, x_scale=x_scale) if not good.empty else None
            if chart is not None:
                section.charts.append(chart)
        mine = board[(board["dataset"] == name) & (board["k"] == k) & (board["mode"] == mode)]
        if not mine.empty:
            caption = f"Leaderboard: {leaderboard.heading(threshold, 'recall', k)} (red: no trusted run reached it)"
            section.tables.append((caption, board_table(mine, root, owner)))
        for fig in figures:
            if (fig.dataset, fig.k, fig.mode) == (name, k, mode):
                section.files += [(f"{fig.y} vs {fig.x} ({p.suffix[1:].upper()})", root + p.name) for p in fig.paths]
        stem = plots.file_stem("leaderboard", name, f"k{k}", mode)
        for bar in board_files:  # the bar charts this report drew (a group without QPS has none)
            if bar.stem == stem:
                section.files.append((f"leaderboard bars ({bar.suffix[1:].upper()})", root + bar.name))
        sections.append(section)
    mine = frame[frame["dataset"] == dataset]
    sections.append(Section("runs", f"Runs ({len(mine)})", tables=[("", runs_table(mine, root))]))
    sections.append(Section("builds", "Builds", tables=[("", builds_table(mine, root))], intro=BUILDS_NOTE))
    return sections


def algorithm_sections(frame: pd.DataFrame, algorithm: str, colors: dict, raw: bool,
                       x_scale: str | None = None, ok: pd.DataFrame | None = None) -> list[Section]:
    ids, root = _Ids(), "../"
    ok = plots.ok_runs(frame) if ok is None else ok
    mine = frame[frame["algorithm"] == algorithm]
    own = set(series_of(mine).unique())
    sections = []
    x, y = run_metric("recall"), run_metric("qps")
    for dataset in sorted(set(mine["dataset"].astype(str))):
        section = Section(ids(dataset), dataset, link=root + dataset_href(dataset))
        for (_, k, mode), _ in _groups(mine[mine["dataset"] == dataset]):
            group = ok[(ok["dataset"] == dataset) & (ok["k"] == k) & (ok["mode"] == mode)]
            section.notes += [f"k={k} · {mode} mode: {note}" for note in _flag_notes(
                mine[(mine["dataset"] == dataset) & (mine["k"] == k) & (mine["mode"] == mode)],
                group[group["algorithm"] == algorithm])]
            chart = charts.frontier_chart(group, x, y, chart_id=ids("fig", dataset, k, mode), k=k, colors=colors,
                                          title=f"k={k} · {mode} mode (other algorithms grey)", highlight=own,
                                          raw=raw, x_scale=x_scale) if not group.empty else None
            if chart is not None and chart.points:
                section.charts.append(chart)
        sections.append(section)
    sections.append(Section("builds", "Builds", tables=[("", builds_table(mine, root, dataset_column=True,
                                                                          algorithm_column=False))],
                            intro=BUILDS_NOTE))
    sections.append(Section("runs", f"Runs ({len(mine)})", tables=[("", runs_table(mine, root, dataset_column=True))]))
    return sections


def _flag_notes(runs: pd.DataFrame, drawn: pd.DataFrame) -> list[str]:
    """Why runs of a group are missing from its figures: flagged (single-thread proof, cache canary)
    or failed, per series; said on the page rather than silently left out."""
    notes = []
    series = series_of(runs)
    for name in sorted(set(series.dropna().astype(str))):
        mine = runs[series == name]
        flagged = int(((mine["status"] == "ok") & ~mine.index.isin(drawn.index)).sum())
        failed = int((mine["status"] != "ok").sum())
        if flagged:
            notes.append(f"{name}: {flagged} of {len(mine)} runs flagged by the single-thread proof or the cache "
                         "canary, not drawn or ranked (the runs table shows them)")
        if failed:
            notes.append(f"{name}: {failed} failed run(s) (see the builds table)")
    return notes


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_site(frame: pd.DataFrame, board: pd.DataFrame, figures: list[plots.Figure], out_dir: Path,
               threshold: float = 0.9, raw: bool = False, x_scale: str | None = None,
               algorithms_dir: Path | None = None, board_files: Sequence[Path] = (),
               colors: dict | None = None) -> list[Path]:
    """Every page of the site in ``out_dir``; returns their paths, ``index.html`` first.

    ``x_scale`` as for the figures (:func:`.plots.draw`); ``algorithms_dir`` is where the runs' adapters
    are (their imports name the packages of the environment section; default ``paths.algorithms_dir()``).
    Each page's ``<main data-figures>`` says how many figures it draws, for ``report --check``."""
    env = environment()
    frame = frame.reset_index(drop=True)  # a run's label is its row id on every page (charts.run_id)
    ok = plots.ok_runs(frame)
    colors = colors or plots.algorithm_colors(list(series_of(ok).unique()))
    owner = owners(frame)
    generated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    datasets = sorted({str(d) for d in frame["dataset"].dropna()})
    algorithms = sorted({str(a) for a in frame["algorithm"].dropna()})
    common = {"generated": generated, "threshold": threshold, "datasets": datasets, "algorithms": algorithms,
              "dataset_href": dataset_href, "algorithm_href": algorithm_href, "runs": len(frame)}
    written = []
    boards = [((name, k, mode), leaderboard.heading(threshold, "recall", k), board_table(group, "", owner))
              for (name, k, mode), group in board.groupby(leaderboard.GROUP, sort=True)]
    counts = frame.groupby("dataset")["algorithm"].agg(lambda a: sorted(set(a))).to_dict()
    used_on = frame.groupby("algorithm")["dataset"].agg(lambda d: sorted(set(d))).to_dict()
    index = out_dir / "index.html"
    _write(index, env.get_template("index.html.j2").render(
        **common, root="", kind="index", name="", boards=boards, counts=counts, used_on=used_on,
        machines=software.machines(frame), packages=software.packages(frame, algorithms_dir),
        title="annsweep report", figures=0))
    written.append(index)
    for dataset in datasets:
        path = out_dir / dataset_href(dataset)
        mine = frame[frame["dataset"] == dataset]
        sections = dataset_sections(frame, board, dataset, figures, board_files, colors, threshold, raw, x_scale,
                                    owner)
        _write(path, env.get_template("page.html.j2").render(
            **common, root="../", title=f"Dataset {dataset}", kind="dataset", name=dataset,
            summary=_dataset_summary(mine), sections=sections, figures=sum(len(s.charts) for s in sections)))
        written.append(path)
    for algorithm in algorithms:
        path = out_dir / algorithm_href(algorithm)
        mine = frame[frame["algorithm"] == algorithm]
        sections = algorithm_sections(frame, algorithm, colors, raw, x_scale, ok)
        _write(path, env.get_template("page.html.j2").render(
            **common, root="../", title=f"Algorithm {algorithm}", kind="algorithm", name=algorithm,
            summary=_algorithm_summary(mine), sections=sections, figures=sum(len(s.charts) for s in sections)))
        written.append(path)
    return written


def _dataset_summary(mine: pd.DataFrame) -> list[tuple[str, str, str | None]]:
    """(label, text, link) lines under a dataset page's title."""
    lines = [("runs", f"{len(mine)} ({int((mine['status'] == 'ok').sum())} ok)", None),
             ("k", ", ".join(str(k) for k in sorted(set(mine["k"].dropna().astype(int)))), None),
             ("modes", ", ".join(sorted(set(mine["mode"].dropna().astype(str)))), None),
             ("machine", plots.machine_of(mine), None)]
    lines += [("algorithm", str(a), f"../{algorithm_href(a)}") for a in sorted(set(mine["algorithm"]))]
    return lines


def _algorithm_summary(mine: pd.DataFrame) -> list[tuple[str, str, str | None]]:
    lines = [("runs", f"{len(mine)} ({int((mine['status'] == 'ok').sum())} ok)", None),
             ("builds", str(mine["file"].nunique()), None)]
    lines += [("dataset", str(d), f"../{dataset_href(d)}") for d in sorted(set(mine["dataset"]))]
    return lines

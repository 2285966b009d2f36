"""``annsweep report --check``: every page of the site opened in headless Chromium, as a reader's
browser shows it.

A page passes when it loads without a console message or script error (the pages log nothing
themselves, so any message is a problem), its script ran to the end, every relative link and
image resolves to an existing file (and an anchor to an element of that page), no link leaves the
folder or goes to the network, and every figure has one hover label (an SVG ``<title>``) per point,
as many points as rows in its data table and at least one.  Two cross-checks catch a page that is
consistent with itself but wrong: the page holds as many figures as the site writer said it draws
(``<main data-figures>``, counted from the groups it plotted), and each point's hover label names
the series, recall and QPS its run's row in the page's runs table shows (the point's ``data-run``
is that row's id; the label is written by :mod:`.charts`, the row by the table template).  The DOM
checked is the one Chromium rendered (``--dump-dom``), after the scripts ran.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from harness.report.metrics import run_metric

# Chromium logs a page's console messages as "...:INFO:CONSOLE(12)] "text", source: file:///... (12)"
# (or "CONSOLE:12]" in newer builds).
CONSOLE = re.compile(r':CONSOLE[:(][^\]]*\] "(.*)", source: (\S*)')


class ChromiumMissing(OSError):
    """No Chromium to run the check with."""


def find_chromium() -> str | None:
    for name in (os.environ.get("ANNSWEEP_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@dataclass
class Figure:
    id: str
    points: int = 0  # marks with class "pt"
    labelled: int = 0  # of them, with a non-empty <title>
    rows: int = -1  # rows of its data table (-1: no table)
    declared: int = -1  # its data-points attribute
    hover: list[tuple[str, str]] = field(default_factory=list)  # (data-run, hover text) of each labelled point


@dataclass
class PageFacts:
    """What one rendered page holds."""

    links: list[str] = field(default_factory=list)  # href/src values, as written
    ids: set[str] = field(default_factory=set)
    figures: dict[str, Figure] = field(default_factory=dict)
    charts: int = 0  # <figure class="chart"> elements
    declared_figures: int | None = None  # <main data-figures>: how many the site writer drew
    runs: dict[str, dict[str, str]] = field(default_factory=dict)  # runs-table row id → column title → cell text
    tables: int = 0
    table_rows: int = 0
    images: int = 0
    ready: bool = False
    errors: str = ""


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.facts = PageFacts()
        self.figure: Figure | None = None  # the figure being read
        self.points_table: str | None = None  # the chart id of the data table being read
        self.in_pt = self.in_title = False
        self.title = self.run = ""
        self.runs_table = False  # inside the runs table
        self.headers: list[str] = []
        self.row: str | None = None  # the id of the runs-table row being read
        self.cells: list[str] = []
        self.cell: str | None = None  # the text of the th/td being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        facts = self.facts
        if a.get("id"):
            facts.ids.add(a["id"])
        if tag == "html":
            facts.errors = a.get("data-errors", "")
        elif tag == "body":
            facts.ready = a.get("data-ready") == "1"
        elif tag == "main":
            declared = a.get("data-figures", "")
            facts.declared_figures = int(declared) if declared.isdigit() else None
        for key in ("href", "src"):
            if key in a and tag in ("a", "img", "link", "script", "iframe", "source", "image", "use"):
                facts.links.append(a[key])
        if tag == "img":
            facts.images += 1
        elif tag == "table":
            facts.tables += 1
            self.runs_table = "runs" in a.get("class", "").split()
            self.headers = []
            if "points" in a.get("class", "").split():
                self.points_table = a.get("data-chart", "")
                facts.figures.setdefault(self.points_table, Figure(self.points_table)).rows = 0
        elif tag == "tr":
            facts.table_rows += 1
            if self.points_table is not None and self.points_table in facts.figures:
                facts.figures[self.points_table].rows += 1
            if self.runs_table and a.get("id"):
                self.row, self.cells = a["id"], []
        elif tag in ("th", "td") and self.runs_table:
            self.cell = ""
        elif tag == "figure" and "chart" in a.get("class", "").split():
            facts.charts += 1
            self.figure = facts.figures.setdefault(a.get("id", ""), Figure(a.get("id", "")))
            self.figure.declared = int(a.get("data-points", -1) or -1)
        elif "pt" in a.get("class", "").split() and self.figure is not None:
            self.figure.points += 1
            self.in_pt, self.title, self.run = True, "", a.get("data-run", "")
        elif tag == "title" and self.in_pt:
            self.in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.in_title:
            self.in_title = False
            if self.title.strip() and self.figure is not None:
                self.figure.labelled += 1
                self.figure.hover.append((self.run, self.title))
        elif tag == "path" and self.in_pt:
            self.in_pt = False
        elif tag == "thead" and self.points_table is not None:  # the header row is not a point
            self.facts.figures[self.points_table].rows -= 1
        elif tag in ("th", "td") and self.cell is not None:
            if tag == "th":
                self.headers.append(self.cell.strip())
            else:
                self.cells.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.facts.runs[self.row] = dict(zip(self.headers, self.cells, strict=False))
            self.row = None
        elif tag == "table":
            self.points_table, self.runs_table = None, False
        elif tag == "figure":
            self.figure = None

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        if self.cell is not None:
            self.cell += data


def page_facts(html: str) -> PageFacts:
    parser = _Parser()
    parser.feed(html)
    return parser.facts


def link_problems(page: Path, facts: PageFacts, site: Path) -> list[str]:
    """Links that do not resolve to a file inside ``site`` (or to an element of it, for anchors)."""
    problems = []
    for href in facts.links:
        parts = urlsplit(href)
        if parts.scheme or href.startswith("//"):
            if parts.scheme not in ("mailto",):
                problems.append(f"link {href!r} is not relative (the site must work offline and when moved)")
            continue
        if href.startswith("/"):
            problems.append(f"link {href!r} is absolute (the site must work when moved)")
            continue
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page.resolve()
        if not target.is_relative_to(site.resolve()):
            problems.append(f"link {href!r} leaves the site folder")
        elif not target.is_file():
            problems.append(f"link {href!r} points to a missing file ({target})")
        elif parts.fragment and target.suffix == ".html":
            ids = facts.ids if target == page.resolve() else _ids_of(target)
            if unquote(parts.fragment) not in ids:
                problems.append(f"link {href!r}: no element with id {parts.fragment!r} in {target.name}")
    return problems


def _ids_of(path: Path) -> set[str]:
    return page_facts(path.read_text(encoding="utf-8", errors="replace")).ids


def figure_problems(facts: PageFacts) -> list[str]:
    """Figures without points or labels, figures missing from the page, hover labels that disagree
    with the runs table."""
    problems = []
    if facts.declared_figures is None:
        problems.append("the page does not say how many figures it draws (no data-figures on <main>)")
    elif facts.charts != facts.declared_figures:
        problems.append(f"{facts.charts} figure(s) on the page, {facts.declared_figures} drawn by the site writer")
    for fig in facts.figures.values():
        name = f"figure {fig.id!r}"
        if fig.points == 0:
            problems.append(f"{name} has no points")
        if fig.labelled != fig.points:
            problems.append(f"{name}: {fig.points - fig.labelled} of {fig.points} points have no hover label")
        if fig.rows != fig.points:
            problems.append(f"{name}: {fig.points} points but {fig.rows} rows in its data table"
                            if fig.rows >= 0 else f"{name} has no data table")
        if fig.declared not in (-1, fig.points):
            problems.append(f"{name}: {fig.points} points drawn, {fig.declared} declared")
        problems += hover_problems(name, fig, facts.runs)
    return problems


def hover_problems(name: str, fig: Figure, runs: dict[str, dict[str, str]], most: int = 3) -> list[str]:
    """Points whose hover label disagrees with their run's row in the runs table (series, recall, QPS),
    or names no row; the first ``most`` of a figure and how many more."""
    found = []
    for run, text in fig.hover:
        row = runs.get(run)
        if row is None:
            found.append(f"a point names run {run!r}, which is not in the page's runs table" if run
                         else "a point does not name its run (data-run)")
            continue
        lines = text.strip().split("\n")
        said = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        recall = run_metric("recall").label.format(k=row.get("k", "k"))
        for what, label, column in (("series", lines[0], "series"), ("recall", said.get(recall), "recall"),
                                    ("QPS", said.get("QPS"), "QPS")):
            if label != row.get(column):
                found.append(f"the hover label of {run} says {what} {label!r}, its row in the runs table "
                             f"{row.get(column)!r}")
    more = f" (and {len(found) - most} more)" if len(found) > most else ""
    return [f"{name}: {p}" + (more if i == most - 1 else "") for i, p in enumerate(found[:most])]


@dataclass
class PageCheck:
    page: Path
    facts: PageFacts
    problems: list[str]


def render(chromium: str, page: Path, profile: str, timeout_s: float, screenshot: Path | None = None,
           window: str = "1400,2000") -> tuple[str, list[str]]:
    """The DOM Chromium rendered for ``page`` and the console messages it logged."""
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--enable-logging=stderr", "--v=0"]
    url = page.resolve().as_uri()
    dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=timeout_s)
    if dom.returncode != 0 or "<body" not in dom.stdout:
        raise OSError(f"chromium could not render {page}: {dom.stderr.strip()[-500:]}")
    console = [f"{text} ({source})" for text, source in CONSOLE.findall(dom.stderr)]
    if screenshot is not None:
        shot = subprocess.run(base + [f"--screenshot={screenshot.resolve()}", f"--window-size={window}",
                                      "--hide-scrollbars", url], capture_output=True, text=True, timeout=timeout_s)
        if shot.returncode != 0 or not screenshot.exists():
            raise OSError(f"chromium could not screenshot {page}: {shot.stderr.strip()[-500:]}")
    return dom.stdout, console


def check_page(chromium: str, page: Path, site: Path, profile: str, timeout_s: float = 120,
               screenshot: Path | None = None) -> PageCheck:
    html, console = render(chromium, page, profile, timeout_s, screenshot)
    facts = page_facts(html)
    problems = [f"console: {line}" for line in console]
    if facts.errors:
        problems.append(f"script or resource errors: {facts.errors}")
    if not facts.ready:
        problems.append("the page's script did not run to its end")
    problems += link_problems(page, facts, site) + figure_problems(facts)
    return PageCheck(page, facts, problems)


def site_pages(site: Path) -> list[Path]:
    """The site's pages, ``index.html`` first."""
    site = Path(site)
    pages = sorted(p for p in site.rglob("*.html") if not p.name.startswith("."))
    return sorted(pages, key=lambda p: (p != site / "index.html", str(p)))


def check_site(site: Path, screenshot: Path | None = None, timeout_s: float = 120) -> list[PageCheck]:
    """Every page of the site in ``site`` checked in headless Chromium (the index screenshotted to
    ``screenshot`` if given); :class:`ChromiumMissing` without Chromium."""
    chromium = find_chromium()
    if chromium is None:
        raise ChromiumMissing("no Chromium found to check the report with (install Debian's `chromium`, "
                              "or set ANNSWEEP_CHROMIUM to a Chromium or Chrome binary)")
    pages = site_pages(site)
    if not pages:
        raise FileNotFoundError(f"no HTML pages under {site} (run `annsweep report` first)")
    with tempfile.TemporaryDirectory() as profile:
        return [check_page(chromium, page, Path(site), profile, timeout_s,
                           screenshot if i == 0 else None) for i, page in enumerate(pages)]


def problems_of(checks: list[PageCheck], site: Path) -> list[str]:
    """One line per problem: the page (relative to the site) and what is wrong."""
    return [f"{c.page.relative_to(site) if c.page.is_relative_to(site) else c.page}: {p}"
            for c in checks for p in c.problems]

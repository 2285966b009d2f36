"""``annsweep report --check``: every page of the site opened in headless Chromium, as a reader's
browser shows it.

A page passes when it loads without a console message or script error (the pages log nothing
themselves, so any message is a problem), its script ran to the end, every relative link and
image resolves to an existing file (and an anchor to an element of that page), no link leaves the
folder or goes to the network, and every figure has one hover label (an SVG ``<title>``) per point,
as many points as rows in its data table and at least one.  The DOM checked is the one Chromium
rendered (``--dump-dom``), after the scripts ran.
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


@dataclass
class PageFacts:
    """What one rendered page holds."""

    links: list[str] = field(default_factory=list)  # href/src values, as written
    ids: set[str] = field(default_factory=set)
    figures: dict[str, Figure] = field(default_factory=dict)
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
        self.title = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        facts = self.facts
        if a.get("id"):
            facts.ids.add(a["id"])
        if tag == "html":
            facts.errors = a.get("data-errors", "")
        elif tag == "body":
            facts.ready = a.get("data-ready") == "1"
        for key in ("href", "src"):
            if key in a and tag in ("a", "img", "link", "script", "iframe", "source", "image", "use"):
                facts.links.append(a[key])
        if tag == "img":
            facts.images += 1
        elif tag == "table":
            facts.tables += 1
            if "points" in a.get("class", "").split():
                self.points_table = a.get("data-chart", "")
                facts.figures.setdefault(self.points_table, Figure(self.points_table)).rows = 0
        elif tag == "tr":
            facts.table_rows += 1
            if self.points_table is not None and self.points_table in facts.figures:
                facts.figures[self.points_table].rows += 1
        elif tag == "figure" and "chart" in a.get("class", "").split():
            self.figure = facts.figures.setdefault(a.get("id", ""), Figure(a.get("id", "")))
            self.figure.declared = int(a.get("data-points", -1) or -1)
        elif "pt" in a.get("class", "").split() and self.figure is not None:
            self.figure.points += 1
            self.in_pt, self.title = True, ""
        elif tag == "title" and self.in_pt:
            self.in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.in_title:
            self.in_title = False
            if self.title.strip() and self.figure is not None:
                self.figure.labelled += 1
        elif tag == "path" and self.in_pt:
            self.in_pt = False
        elif tag == "thead" and self.points_table is not None:  # the header row is not a point
            self.facts.figures[self.points_table].rows -= 1
        elif tag == "table":
            self.points_table = None
        elif tag == "figure":
            self.figure = None

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data


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
    problems = []
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
    return problems


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

"""A static HTML report, ``plots/index.html``: leaderboard tables, figures, and the runs' environment.

Self-contained: inline CSS and a few lines of inline JavaScript (sortable tables, a count of the
figures that loaded); images are relative links to the PNG files beside it.  No network resources.
``check_in_browser`` opens it in headless Chromium and reports what a reader would see.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from harness import results
from harness.report import leaderboard, plots

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1200px; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; cursor: pointer; user-select: none; }
td.text, th.text { text-align: left; }
tr.flagged td { background: #fff0f0; }
figure { display: inline-block; margin: 0 1em 1em 0; }
figure img { width: 560px; border: 1px solid #ddd; }
figcaption { font-size: 12px; color: #555; }
code { font-size: 12px; }
"""

# Click a header to sort by that column (numbers numerically, blanks last); click again to reverse.
# On load, count the figures that really decoded (naturalWidth > 0) for readers and for checks.
SCRIPT = """
function sortTable(th) {
  const table = th.closest('table'), body = table.tBodies[0];
  const col = Array.from(th.parentNode.children).indexOf(th);
  const dir = th.dataset.dir === 'asc' ? 'desc' : 'asc';
  table.querySelectorAll('th').forEach(h => delete h.dataset.dir);
  th.dataset.dir = dir;
  const key = tr => { const t = tr.children[col].textContent.trim(); const n = parseFloat(t.replace(/,/g, ''));
                      return t === '' ? null : (isNaN(n) ? t : n); };
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === null) return 1; if (y === null) return -1;
    const c = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
    return dir === 'asc' ? c : -c;
  });
  rows.forEach(r => body.appendChild(r));
}
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const loaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.imagesTotal = imgs.length;
  document.body.dataset.imagesLoaded = loaded;
  document.getElementById('image-status').textContent = loaded + ' of ' + imgs.length + ' figures loaded';
});
"""

BOARD_COLUMNS = [
    ("rank", "rank"), ("algorithm", "algorithm"), ("qps", "QPS"), ("recall", "recall"),
    ("max_recall", "max recall"), ("build", "build"), ("query_params", "query"), ("build_time_s", "build s"),
    ("index_mib", "index MiB"), ("peak_rss_mib", "peak RSS MiB"), ("repeat_spread", "repeat spread"),
    ("cpu_ratio", "CPU/wall"), ("runs", "runs"), ("flagged", "flagged runs"),
]
TEXT_COLUMNS = {"algorithm", "build", "query_params"}


def _cell(column: str, value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        text = ""
    elif column == "qps":
        text = f"{value:,.0f}"
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    cls = ' class="text"' if column in TEXT_COLUMNS else ""
    return f"<td{cls}>{html.escape(text)}</td>"


def board_table(board: pd.DataFrame) -> str:
    head = "".join(f'<th{" class=text" if c in TEXT_COLUMNS else ""} onclick="sortTable(this)">{html.escape(t)}</th>'
                   for c, t in BOARD_COLUMNS)
    rows = []
    for _, row in board.iterrows():
        # Runs that failed the single-thread proof or the cache canary are not ranked; say so.
        cls = ' class="flagged"' if row["flagged"] else ""
        rows.append(f"<tr{cls}>" + "".join(_cell(c, row[c]) for c, _ in BOARD_COLUMNS) + "</tr>")
    return f"<table class=leaderboard><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def environments(frame: pd.DataFrame) -> list[dict]:
    """The distinct machine/software records of the runs (time stamps aside)."""
    seen: dict[str, dict] = {}
    for text in frame["environment"].dropna():
        try:
            env = json.loads(text) if isinstance(text, str) else {}
        except json.JSONDecodeError:
            continue
        key = json.dumps({k: v for k, v in env.items() if k not in ("time_utc", "command_line")}, sort_keys=True)
        seen.setdefault(key, env)
    return list(seen.values())


def environment_section(frame: pd.DataFrame) -> str:
    parts = []
    for env in environments(frame):
        items = [("CPU", env.get("cpu_model")), ("core", env.get("core")), ("host", env.get("hostname")),
                 ("platform", env.get("platform")), ("Python", env.get("python")),
                 ("git commit", env.get("git_commit")),
                 ("packages", ", ".join(f"{k} {v}" for k, v in sorted(env.get("packages", {}).items())))]
        parts.append("<table>" + "".join(f'<tr><th class="text">{html.escape(k)}</th>'
                                         f'<td class="text"><code>{html.escape(str(v))}</code></td></tr>'
                                         for k, v in items) + "</table>")
    return "".join(parts) or "<p>No environment recorded.</p>"


def render(frame: pd.DataFrame, board: pd.DataFrame, figures: list[plots.Figure], out_dir: Path,
           threshold: float) -> str:
    sections = []
    for (dataset, k, mode), group in board.groupby(leaderboard.GROUP, sort=True):
        imgs = []
        bar = out_dir / f"{plots.file_stem('leaderboard', dataset, f'k{k}', mode)}.png"
        if bar.exists():
            imgs.append((bar.name, None, f"best QPS at recall ≥ {threshold:g}"))
        for fig in figures:
            if (fig.dataset, fig.k, fig.mode) == (dataset, k, mode):
                png = next(p for p in fig.paths if p.suffix == ".png")
                svg = next((p for p in fig.paths if p.suffix == ".svg"), None)
                imgs.append((png.name, svg.name if svg else None, f"{fig.y} vs {fig.x} (Pareto frontiers)"))
        figs = "".join(
            f'<figure><a href="{html.escape(svg or png)}"><img src="{html.escape(png)}" alt="{html.escape(cap)}">'
            f"</a><figcaption>{html.escape(cap)}</figcaption></figure>" for png, svg, cap in imgs)
        sections.append(f"<h2>{html.escape(str(dataset))} · k={k} · {html.escape(str(mode))} mode</h2>"
                        f"{board_table(group)}{figs}")
    generated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>annsweep report</title><style>{STYLE}</style></head><body>"
        f"<h1>annsweep report</h1><p>Best queries per second at recall ≥ {threshold:g} per algorithm "
        f"(single, batch and N-thread batch-Nt modes apart), from {len(frame)} runs; generated {generated}. Rows in "
        "red failed the single-thread (or N-thread) proof. Click a column header to sort. "
        "<span id=image-status></span></p>"
        + "".join(sections)
        + f"<h2>Environment</h2>{environment_section(frame)}<script>{SCRIPT}</script></body></html>"
    )


def write_report(frame: pd.DataFrame, out_dir: Path, threshold: float = 0.9, raw: bool = False,
                 x_scale: str | None = None) -> Path:
    """Figures, leaderboard files and ``index.html`` in ``out_dir``; returns the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    colors = plots.algorithm_colors(list(results.series_of(plots.ok_runs(frame)).unique()))
    figures = plots.plot_dataset(frame, out_dir, raw=raw, x_scale=x_scale, colors=colors)
    board = leaderboard.leaderboard(frame, threshold)
    leaderboard.write(board, out_dir, threshold)
    page = out_dir / "index.html"
    tmp = page.with_name(".index.html.tmp")
    tmp.write_text(render(frame, board, figures, out_dir, threshold), encoding="utf-8")
    os.replace(tmp, page)
    return page


# --- checking the report in a real browser -------------------------------------------------------

@dataclass
class BrowserView:
    images_total: int
    images_loaded: int
    tables: int
    table_rows: int
    screenshot: Path | None


class _DomFacts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.tables = self.rows = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.body = {k: v or "" for k, v in attrs}
        elif tag == "table":
            self.tables += 1
        elif tag == "tr":
            self.rows += 1


def find_chromium() -> str | None:
    for name in (os.environ.get("ANNSWEEP_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def check_in_browser(page: Path, screenshot: Path | None = None, timeout_s: float = 120) -> BrowserView:
    """Open ``page`` in headless Chromium; count tables and the images that decoded; optionally screenshot."""
    chromium = find_chromium()
    if chromium is None:
        raise OSError("no Chromium found (install Debian's `chromium`, or set ANNSWEEP_CHROMIUM)")
    url = Path(page).resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                f"--user-data-dir={profile}", "--virtual-time-budget=10000"]
        dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=timeout_s)
        if dom.returncode != 0 or "<body" not in dom.stdout:
            raise OSError(f"chromium could not render {page}: {dom.stderr.strip()[-500:]}")
        if screenshot is not None:
            shot = subprocess.run(base + [f"--screenshot={Path(screenshot).resolve()}", "--window-size=1300,2400",
                                          url], capture_output=True, text=True, timeout=timeout_s)
            if shot.returncode != 0 or not Path(screenshot).exists():
                raise OSError(f"chromium could not screenshot {page}: {shot.stderr.strip()[-500:]}")
    facts = _DomFacts()
    facts.feed(dom.stdout)
    return BrowserView(int(facts.body.get("data-images-total", -1)), int(facts.body.get("data-images-loaded", -1)),
                       facts.tables, facts.rows, Path(screenshot) if screenshot is not None else None)

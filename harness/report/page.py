"""``annsweep report``: the figures (PNG and SVG, as ``annsweep plot`` draws them), the leaderboard files
and the report site (:mod:`.site`: ``index.html``, a page per dataset and per algorithm) in one folder;
and its check in headless Chromium (:mod:`.sitecheck`).

The site is self-contained: relative links only, no network resources, figures drawn inline as SVG.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness import results
from harness.report import leaderboard, plots, site, sitecheck

ChromiumMissing = sitecheck.ChromiumMissing
find_chromium = sitecheck.find_chromium


def write_report(frame: pd.DataFrame, out_dir: Path, threshold: float = 0.9, raw: bool = False,
                 x_scale: str | None = None, algorithms_dir: Path | None = None) -> Path:
    """Figures, leaderboard files and the site's pages in ``out_dir``; returns ``index.html``.
    ``x_scale`` applies to the static and the inline figures alike; ``algorithms_dir`` is the adapter
    folder the runs came from (``--algorithms-dir``; default ``paths.algorithms_dir()``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    colors = plots.algorithm_colors(list(results.series_of(plots.ok_runs(frame)).unique()))
    figures = plots.plot_dataset(frame, out_dir, raw=raw, x_scale=x_scale, colors=colors)
    board = leaderboard.leaderboard(frame, threshold)
    board_files = leaderboard.write(board, out_dir, threshold)
    return site.write_site(frame, board, figures, out_dir, threshold, raw=raw, x_scale=x_scale,
                           algorithms_dir=algorithms_dir, board_files=board_files, colors=colors)[0]


@dataclass
class BrowserView:
    """What headless Chromium showed of the site: its pages, figures and tables, and every problem."""

    pages: int
    figures: int
    points: int
    tables: int
    table_rows: int
    screenshot: Path | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.pages > 0


def check_in_browser(page: Path, screenshot: Path | None = None, timeout_s: float = 120) -> BrowserView:
    """Every page of the site whose index is ``page``, opened in headless Chromium (the index
    screenshotted); :class:`ChromiumMissing` without Chromium."""
    folder = Path(page).parent
    checks = sitecheck.check_site(folder, screenshot=screenshot, timeout_s=timeout_s)
    facts = [c.facts for c in checks]
    return BrowserView(
        pages=len(checks), figures=sum(len(f.figures) for f in facts),
        points=sum(fig.points for f in facts for fig in f.figures.values()),
        tables=sum(f.tables for f in facts), table_rows=sum(f.table_rows for f in facts),
        screenshot=Path(screenshot) if screenshot is not None else None,
        problems=sitecheck.problems_of(checks, folder))

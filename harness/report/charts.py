"""Figures of the report site as data for an inline SVG template: each series' Pareto frontier, one
marker per run with the run's build and query parameters, recall and QPS as its hover text (an SVG
``<title>``, shown by every browser without scripts or network).

The geometry is computed here (axes, ticks, pixel positions); the ``chart`` macro of
``templates/macros.html.j2`` only draws it, escaping every text.  Which runs are drawn and how the
frontier is chosen is the same as the matplotlib figures of :mod:`.plots` (trusted runs,
:func:`.metrics.pareto_frontier`), and so is the x scale (``x_scale``: ``logit`` spreads out the
high-recall end, ``linear`` overrides a metric's log scale).  Each marker names its run
(``Point.run``: the id of the run's row in the page's runs table), so ``report --check`` can compare
the hover text with that row.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.colors import to_hex

from harness.report import formats
from harness.report.metrics import RUN_METRICS, RunMetric, pareto_frontier
from harness.report.plots import LOGIT_CLIP, algorithm_marker
from harness.results import series_of

WIDTH, HEIGHT = 720, 440
LEFT, TOP, RIGHT, BOTTOM = 78, 14, 560, 384  # the plot area; the legend is right of it
LEGEND_CHAR_PX = 6.4  # width of a legend character at 11px: the SVG is as wide as its longest name
MARKER_R = 4.2
CONTEXT_COLOR = "#c8c8c8"


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class Point:
    """One drawn run: where, how, and what a reader is told about it."""

    series: str
    x: float
    y: float
    px: float
    py: float
    path: str  # the marker's SVG path
    color: str
    label: str  # the hover text
    cells: tuple[str, ...]  # its row in the chart's data table (same order as Chart.columns)
    run: str = ""  # the id of the run's row in the page's runs table (see :func:`run_id`)


@dataclass
class Series:
    name: str
    color: str
    line: str  # polyline points "x,y x,y"
    points: list[Point] = field(default_factory=list)
    context: bool = False  # another algorithm's frontier, drawn grey behind (no markers)


@dataclass
class Chart:
    id: str
    title: str
    x_label: str
    y_label: str
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    series: list[Series]
    columns: tuple[str, ...]
    reference_px: float | None = None
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    right: int = RIGHT
    bottom: int = BOTTOM

    @property
    def points(self) -> list[Point]:
        return [p for s in self.series for p in s.points]

    @property
    def legend(self) -> list[Series]:
        return [s for s in self.series if not s.context]


def logit(value: float) -> float:
    """log10(p / (1 - p)) of a value clipped into (0, 1) as the matplotlib figures clip it."""
    p = min(max(float(value), LOGIT_CLIP), 1 - LOGIT_CLIP)
    return math.log10(p / (1 - p))


# Tick values of a logit axis: the decades towards 0 and 1, with finer steps when few fall inside.
LOGIT_TICKS = ((1e-4, 1e-3, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999),
               (0.02, 0.05, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.95, 0.98, 0.995, 0.998))


class Axis:
    """A linear, log or logit axis from data values to pixels (``lo_px`` at the low end)."""

    def __init__(self, values: np.ndarray, log: bool, lo_px: float, hi_px: float, extra: list[float] = (),
                 upper: float | None = None, logit_scale: bool = False):
        values = np.asarray([*values, *extra], dtype=float)
        self.logit = bool(logit_scale)
        self.log = bool(log and (values > 0).all()) and not self.logit
        v = np.array([self._scaled(x) for x in values])
        lo, hi = float(v.min()), float(v.max())
        if hi - lo < 1e-12:  # one value: an interval around it
            pad = 0.3 if self.log or self.logit else (abs(lo) * 0.1 or 0.5)
            lo, hi = lo - pad, hi + pad
        pad = (hi - lo) * 0.05
        lo, hi = lo - pad, hi + pad
        if upper is not None and not self.log and not self.logit:  # a recall never exceeds 1: no room beyond
            hi = min(hi, upper + pad * 0.6)
            lo = min(lo, hi - 0.1)
        self.lo, self.hi, self.lo_px, self.hi_px = lo, hi, lo_px, hi_px

    def _scaled(self, value: float) -> float:
        return logit(value) if self.logit else math.log10(value) if self.log else float(value)

    def __call__(self, value: float) -> float:
        v = self._scaled(value)
        return round(self.lo_px + (v - self.lo) / (self.hi - self.lo) * (self.hi_px - self.lo_px), 2)

    def ticks(self) -> list[Tick]:
        if self.logit:
            inside: list[float] = []
            for values in LOGIT_TICKS:  # the decades; finer values too when fewer than three fall inside
                inside = sorted({*inside, *(v for v in values if self.lo <= logit(v) <= self.hi)})
                if len(inside) >= 3:
                    return [Tick(self(v), tick_label(v)) for v in inside]
            # A narrow range (e.g. recall 0.93 to 0.97): evenly spaced values read better.
            lo, hi = (1 / (1 + 10 ** -v) for v in (self.lo, self.hi))
        elif self.log:
            first, last = math.floor(self.lo), math.ceil(self.hi)
            steps = (1, 2, 5) if last - first <= 3 else (1,)
            values = [m * 10.0**e for e in range(first, last + 1) for m in steps]
            inside = [v for v in values if self.lo <= math.log10(v) <= self.hi]
            if len(inside) >= 3:
                return [Tick(self(v), tick_label(v)) for v in inside]
            lo, hi = 10**self.lo, 10**self.hi  # less than a decade: evenly spaced values read better
        else:
            lo, hi = self.lo, self.hi
        raw = (hi - lo) / 5
        mag = 10 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
        values = [i * step for i in range(math.ceil(lo / step), math.floor(hi / step) + 1)]
        inside = [v for v in values if lo <= v <= hi and (v > 0 or not self.log) and (0 < v < 1 or not self.logit)]
        return [Tick(self(v), tick_label(v)) for v in inside]


def tick_label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return formats.significant(value)
    return f"{value:.6g}"


def marker_path(marker: str, x: float, y: float, r: float = MARKER_R) -> str:
    """An SVG path for a matplotlib marker letter (the figures' markers, so both agree)."""
    if marker == "s":
        return f"M{x - r:.2f},{y - r:.2f}h{2 * r:.2f}v{2 * r:.2f}h{-2 * r:.2f}z"
    if marker in "^v<>":
        d = -1 if marker in "^<" else 1
        if marker in "^v":
            return f"M{x:.2f},{y + d * r:.2f}L{x + r:.2f},{y - d * r:.2f}L{x - r:.2f},{y - d * r:.2f}z"
        return f"M{x + d * r:.2f},{y:.2f}L{x - d * r:.2f},{y + r:.2f}L{x - d * r:.2f},{y - r:.2f}z"
    if marker == "D":
        return f"M{x:.2f},{y - r:.2f}L{x + r:.2f},{y:.2f}L{x:.2f},{y + r:.2f}L{x - r:.2f},{y:.2f}z"
    return f"M{x - r:.2f},{y:.2f}a{r:.2f},{r:.2f} 0 1,0 {2 * r:.2f},0a{r:.2f},{r:.2f} 0 1,0 {-2 * r:.2f},0"


def _value(metric: RunMetric, value: float) -> str:
    """An axis value as the tables print it."""
    name = metric.name
    if name == "qps":
        return formats.qps(value)
    if name == "build_time":
        return formats.duration(value)
    if name in ("p50", "p99"):
        return formats.micros(value)
    if name in ("index_size", "peak_rss"):
        return formats.mib(value)
    if name == "build_rss":  # RSS growth: negative when the build freed memory
        return formats.mib_change(value)
    if not metric.log_scale and metric.higher_is_better:  # recall and the qrels measures
        return formats.recall(value)
    return formats.number(value)


# Metrics whose values :func:`_value` prints with a unit of its own ("4.55 ms", "1.20 MiB"): the unit of
# their axis label ("Build time (s)") is left out of hover texts and data tables, where it would disagree.
UNIT_PRINTED = ("build_time", "p50", "p99", "index_size", "build_rss", "peak_rss", "qps")


def value_label(metric: RunMetric, k: int) -> str:
    """``metric``'s label for a value printed by :func:`_value`: "Build time", "p99 latency"."""
    label = metric.label.format(k=k)
    return re.sub(r"\s*\([^()]*\)$", "", label) if metric.name in UNIT_PRINTED else label


def other_recalls(frame: pd.DataFrame) -> list[RunMetric]:
    """Recall conventions besides the tie-aware one (e.g. ann-benchmarks' ε = 1e-3) the runs carry."""
    return [m for name, m in RUN_METRICS.items()
            if name != "recall" and name.startswith("recall") and m.values(frame).notna().any()]


def point_text(run: pd.Series, series: str, x: RunMetric, y: RunMetric, k: int,
               extra: list[RunMetric]) -> tuple[str, tuple[str, ...]]:
    """The hover text and the data-table cells of one run."""
    one = run.to_frame().T
    value = {m.name: m.values(one).iloc[0] for m in (*extra, x, y)}  # each metric once per point
    build = formats.params(run.get("build_params")) or str(run.get("build", ""))
    query = formats.params(run.get("query_params")) or "(none)"
    recall, qps = formats.recall(run.get("recall")), formats.qps(run.get("qps"))
    lines = [series, f"build: {build}", f"query: {query}", f"{RUN_METRICS['recall'].label.format(k=k)}: {recall}"]
    lines += [f"{m.label.format(k=k)}: {_value(m, value[m.name])}" for m in extra
              if not formats.missing(value[m.name])]  # older result files lack ann-benchmarks' recall
    lines.append(f"QPS: {qps}")
    for metric in (x, y):
        if metric.name not in ("recall", "qps"):
            lines.append(f"{value_label(metric, k)}: {_value(metric, value[metric.name])}")
    cells = (series, build, query, recall, *(_value(m, value[m.name]) for m in extra), qps,
             *(_value(m, value[m.name]) for m in (x, y) if m.name not in ("recall", "qps")))
    return "\n".join(lines), cells


def _upper(metric: RunMetric) -> float | None:
    """1.0 for the scores in [0, 1] (recall, the qrels measures: linear, higher is better)."""
    return 1.0 if metric.higher_is_better and not metric.log_scale else None


def run_id(label: object) -> str:
    """The element id of a run's row in a page's runs table, from its label in the results table."""
    return f"run-{label}"


def frontier_chart(frame: pd.DataFrame, x: RunMetric, y: RunMetric, *, chart_id: str, title: str, k: int,
                   colors: dict[str, tuple], highlight: set[str] | None = None, raw: bool = False,
                   x_scale: str | None = None) -> Chart | None:
    """Each series' Pareto frontier of (x, y) over the runs in ``frame`` (trusted runs of one dataset,
    k and mode); None when no run has both values.  With ``highlight``, other series are drawn as grey
    lines behind (no markers, no hover); ``raw`` also draws every other run (smaller, with hover).
    ``x_scale`` as in :func:`.plots.draw`: ``logit`` (for an x in [0, 1], e.g. recall) or ``linear``
    (instead of a metric's log scale); each point's ``run`` is :func:`run_id` of its row label."""
    xs, ys = x.values(frame), y.values(frame)
    have = ~(xs.isna() | ys.isna())
    if x.log_scale:
        have &= xs > 0
    if y.log_scale:
        have &= ys > 0
    if not have.any():
        return None
    series = series_of(frame)
    extra = other_recalls(frame)
    # What each series draws: its frontier (and with ``raw`` its other runs); the axes span only that.
    parts = []
    for name in sorted(series[have].unique()):
        mine = frame[(series == name) & have]
        px, py = xs[mine.index].to_numpy(), ys[mine.index].to_numpy()
        front = [int(i) for i in pareto_frontier(px, py, x.higher_is_better, y.higher_is_better)]
        context = highlight is not None and name not in highlight
        on_front = set(front)
        shown = front + ([i for i in range(len(mine)) if i not in on_front] if raw and not context else [])
        parts.append((name, mine, px, py, front, shown, context))
    all_x = np.concatenate([px[shown] for _, _, px, _, _, shown, _ in parts])
    all_y = np.concatenate([py[shown] for _, _, _, py, _, shown, _ in parts])
    logit_x = x_scale == "logit" and _upper(x) is not None
    ax = Axis(all_x, x.log_scale and x_scale != "linear", LEFT, RIGHT,
              extra=[x.reference] if x.reference is not None and all_x.min() < x.reference else [],
              upper=_upper(x), logit_scale=logit_x)
    ay = Axis(all_y, y.log_scale, BOTTOM, TOP, upper=_upper(y))
    columns = ("series", "build", "query", "recall", *(m.label.format(k=k) for m in extra), "QPS",
               *(value_label(m, k) for m in (x, y) if m.name not in ("recall", "qps")))
    drawn: list[Series] = []
    for name, mine, px, py, front, shown, context in parts:
        color = CONTEXT_COLOR if context else to_hex(colors.get(name, "black"))
        entry = Series(name, color, " ".join(f"{ax(px[i])},{ay(py[i])}" for i in front), context=context)
        if not context:
            marker = algorithm_marker(name, colors)
            on_front = set(front)
            for i in shown:
                cx, cy = ax(px[i]), ay(py[i])
                label, cells = point_text(mine.iloc[i], name, x, y, k, extra)
                r = MARKER_R if i in on_front else MARKER_R * 0.6
                entry.points.append(Point(name, float(px[i]), float(py[i]), cx, cy, marker_path(marker, cx, cy, r),
                                          color, label, cells, run_id(mine.index[i])))
        drawn.append(entry)
    drawn.sort(key=lambda s: not s.context)  # grey context behind the highlighted series
    reference = None
    if x.reference is not None and (x.reference > 0 or not ax.log):
        reference = ax(x.reference) if LEFT <= ax(x.reference) <= RIGHT else None
    names = [s.name for s in drawn if not s.context] + (["other algorithms"] if highlight is not None else [])
    width = max(WIDTH - 40, int(RIGHT + 40 + LEGEND_CHAR_PX * max(map(len, names))))
    x_label = x.label.format(k=k) + (" · logit scale" if logit_x else "")
    return Chart(chart_id, title, x_label, y.label.format(k=k), ax.ticks(), ay.ticks(), drawn,
                 columns, reference, width=width)

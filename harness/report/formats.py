"""Numbers as the report site prints them: durations with a unit, QPS to three significant digits with
thousands separators, sizes in binary units.  Each function is also a Jinja2 filter (:data:`FILTERS`).

A missing value (None, NaN, pandas' NA, or a negative "not recorded" size) prints as an empty string,
so an empty cell always means "no value", never zero; a change of size (RSS growth) can be negative and
prints with a minus sign (:func:`size_change`).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

SIGNIFICANT = 3


def missing(value: Any) -> bool:
    """None, NaN, pandas' NA or anything that is not a number."""
    if value is None or isinstance(value, bool):
        return value is None
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def significant(value: float, digits: int = SIGNIFICANT, separators: bool = True) -> str:
    """``value`` rounded to ``digits`` significant digits: 12345.6 → "12,300", 0.012345 → "0.0123"."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    if abs(round(value, decimals)) >= 10 ** (digits - decimals):  # 999.7 rounds up to 1,000: one decimal fewer
        decimals -= 1
    comma = "," if separators else ""
    if decimals <= 0:
        return f"{round(value, decimals):{comma}.0f}"
    return f"{value:{comma}.{decimals}f}"


def duration(seconds: Any) -> str:
    """A time in seconds with the unit a reader expects: 0.0000153 s → "15.3 µs", 0.0002295 s → "0.23 ms",
    0.0123 s → "12.3 ms", 3.2 s → "3.20 s", 750 s → "12.5 min", 18000 s → "5.00 h"."""
    if missing(seconds):
        return ""
    s = float(seconds)
    if s < 0:
        return ""
    if s == 0:
        return "0 s"
    if s < 1e-4:  # below 0.1 ms: microseconds and nanoseconds read better than "0.0x ms"
        return f"{significant(s * 1e6)} µs" if s >= 1e-6 else f"{significant(s * 1e9)} ns"
    if s < 0.9995:  # what rounds to 1,000 ms is "1.00 s"
        ms = s * 1e3
        # Three significant digits, never more than two decimals: 0.2295 ms → "0.23 ms".
        return f"{ms:.2f} ms" if ms < 1 else f"{significant(ms)} ms"
    if s < 599.5:
        return f"{significant(s)} s"
    if s < 3 * 3600:
        return f"{significant(s / 60)} min"
    return f"{significant(s / 3600)} h"


def micros(value: Any) -> str:
    """A time stored in microseconds (the latency columns), printed like :func:`duration`."""
    return "" if missing(value) else duration(float(value) * 1e-6)


def qps(value: Any) -> str:
    """Queries per second: three significant digits, thousands separators (12345.6 → "12,300")."""
    return "" if missing(value) else significant(float(value))


def size(num_bytes: Any) -> str:
    """Bytes in binary units, three significant digits: 5 << 20 → "5.00 MiB"; negative: not recorded."""
    if missing(num_bytes) or float(num_bytes) < 0:
        return ""
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} B" if unit == "B" else f"{significant(value, separators=False)} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def mib(value: Any) -> str:
    """A size given in MiB (the leaderboard's columns), printed like :func:`size`."""
    return "" if missing(value) else size(float(value) * 2**20)


def size_change(num_bytes: Any) -> str:
    """A change of size in bytes, which can be negative (RSS growth: a build that freed memory):
    -1.2 MiB → "−1.20 MiB" (a minus sign), 5 << 20 → "5.00 MiB"; only a missing value is ""."""
    if missing(num_bytes):
        return ""
    value = float(num_bytes)
    return f"−{size(-value)}" if value < 0 else size(value)


def mib_change(value: Any) -> str:
    """A change of size given in MiB, printed like :func:`size_change`."""
    return "" if missing(value) else size_change(float(value) * 2**20)


def recall(value: Any) -> str:
    """A recall or another score in [0, 1]: four decimals."""
    return "" if missing(value) else f"{float(value):.4f}"


def number(value: Any) -> str:
    """Any other number: integers as they are (with separators), floats to four significant digits."""
    if missing(value):
        return "" if not isinstance(value, str) else value
    v = float(value)
    if v.is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    return significant(v, 4)


def params(value: Any) -> str:
    """Parameters stored as JSON text (``{"ef": 10}``) or a dict → "ef=10"; "" for none."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            return value
    if not isinstance(value, dict):
        return "" if missing(value) else str(value)
    return " ".join(f"{k}={v}" for k, v in value.items())


def text(value: Any) -> str:
    """A name or message as it is; a missing value (None, NaN) as ""."""
    if isinstance(value, str):
        return value
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA else str(value)


def sort_key(value: Any) -> str:
    """The raw value a table cell is sorted by (``data-v``): numbers as they are, missing as ""."""
    if isinstance(value, str):
        return value
    return "" if missing(value) else repr(float(value))


FILTERS = {"text": text, "duration": duration, "micros": micros, "qps": qps, "size": size, "mib": mib,
           "size_change": size_change, "mib_change": mib_change, "recall": recall, "number": number, "params": params,
           "sort_key": sort_key}

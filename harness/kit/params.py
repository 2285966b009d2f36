"""Parameter declarations: an adapter says once what its build and query parameters are (name,
type, default, range or choices), and the kit checks every value and words every refusal.

    build_parameters = (Param("M", int, 16, low=1), Param("ef_construction", int, 200, low=1))
    query_parameters = (Param("ef", int, 10, low=1),)

Types: ``int`` (not bool; numpy integers accepted), ``float`` (ints accepted, stored as float),
``bool``, ``str`` (usually with ``choices``), ``dict`` (a nested mapping: a pipeline's stage).
``default=REQUIRED`` makes a parameter required; ``default=None`` makes it optional (None is then
accepted and means "not set").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of a parameter that must be given


@dataclass(frozen=True)
class Param:
    """One build or query parameter of an adapter."""

    name: str
    type: type
    default: Any = REQUIRED
    low: float | None = None  # smallest allowed value
    high: float | None = None  # largest allowed value
    low_open: bool = False  # the range excludes ``low`` itself
    choices: tuple[Any, ...] | None = None
    help: str = ""  # what the value holds, added to the error when it is missing

    def check(self, adapter: str, value: Any) -> Any:
        """``value`` converted to the declared type, or a ValueError naming adapter and parameter."""
        if value is None and self.default is None:
            return None
        ok = _CHECKS[self.type](value)
        if not ok or not self._in_range(value):
            raise ValueError(f"{adapter}: {self.name} must be {self.describe()}, got {value!r}")
        if self.type is float:
            return float(value)
        if self.type is int:
            return int(value)
        if self.type is bool:
            return bool(value)
        return value

    def _in_range(self, value: Any) -> bool:
        if self.choices is not None and value not in self.choices:
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high

    def describe(self) -> str:
        """What a valid value is, in words (for errors)."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        noun = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
                dict: "a mapping"}[self.type]
        if self.type is int and self.low == 1 and self.high is None:
            return "a positive integer"
        if self.low is not None and self.high is not None:
            return f"{noun} in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"{noun} {'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{noun} <= {self.high:g}"
        return noun


_CHECKS = {
    int: lambda v: isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_),
    float: lambda v: isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)
    and bool(np.isfinite(v) or v == np.inf),
    bool: lambda v: isinstance(v, bool | np.bool_),
    str: lambda v: isinstance(v, str),
    dict: lambda v: isinstance(v, dict),
}


def check_params(adapter: str, role: str, declared: Sequence[Param], given: Mapping[str, Any],
                 fixed: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every declared parameter's value (given, else its default), checked; ``role`` is "build" or
    "query".  ``fixed`` names library parameters the adapter holds fixed, with the reason."""
    known = {p.name: p for p in declared}
    held = sorted(set(given) & set(fixed or {}))
    if held:
        raise ValueError(f"{adapter}: {role} parameter {held[0]} cannot be set: {fixed[held[0]]}")
    unknown = sorted(set(given) - set(known))
    if unknown:
        if not known:
            raise ValueError(f"{adapter}: takes no {role} parameters, got {unknown}")
        raise ValueError(f"{adapter}: unknown {role} parameter(s) {unknown} (known: {', '.join(known)})")
    missing = [name for name, p in known.items() if p.default is REQUIRED and name not in given]
    if missing:
        hints = "".join(f"; {name}: {known[name].help}" for name in missing if known[name].help)
        raise ValueError(f"{adapter}: {role} parameter(s) {missing} are required{hints}")
    return {name: p.check(adapter, given[name]) if name in given else p.default for name, p in known.items()}

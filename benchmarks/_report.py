"""Plain-text tables and the measures every section shares.

A `Table` is a title, column headers and rows of already-formatted cells; numbers are
right-aligned, words left-aligned. `Goal` is one line of the closing goals table: a
measured value against its target, reported as met or short with the ratio, never as
an exit code.
"""

from __future__ import annotations

import math
import resource
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = (
    "Goal",
    "Table",
    "cpu_seconds",
    "percentile",
    "ratio",
)


def cpu_seconds() -> float:
    """This process's CPU time so far (user + system, every thread; children excluded)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (0 < fraction <= 1); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else math.nan


def _is_number(cell: str) -> bool:
    text = cell.strip().rstrip("%x").replace(",", "")
    try:
        float(text)
    except ValueError:
        return cell.strip() in {"-", "n/a"}
    return True


@dataclass
class Table:
    """A titled plain-text table with aligned columns."""

    title: str
    headers: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: str) -> None:
        """Append a row (as many cells as headers)."""
        if len(cells) != len(self.headers):
            raise ValueError(f"{len(cells)} cells for {len(self.headers)} columns")
        self.rows.append(cells)

    def render(self) -> str:
        """The table as text: title, header, rule, rows, then the notes."""
        widths = [
            max([len(header)] + [len(row[i]) for row in self.rows])
            for i, header in enumerate(self.headers)
        ]
        numeric = [
            bool(self.rows) and all(_is_number(row[i]) for row in self.rows)
            for i in range(len(self.headers))
        ]

        def line(cells: Sequence[str]) -> str:
            parts = [
                cell.rjust(width) if right else cell.ljust(width)
                for cell, width, right in zip(cells, widths, numeric, strict=True)
            ]
            return "  ".join(parts).rstrip()

        out = [self.title, "=" * len(self.title), line(self.headers)]
        out.append("  ".join("-" * width for width in widths))
        out += [line(row) for row in self.rows]
        out += self.notes
        return "\n".join(out)


@dataclass(frozen=True, slots=True)
class Goal:
    """One goal of the issue: `measured` against `target` (higher is better unless
    `at_most`), with the unit they are printed in."""

    name: str
    measured: float
    target: float
    unit: str = "x"
    at_most: bool = False

    @property
    def met(self) -> bool:
        """Whether the measured value reaches the target (NaN never does)."""
        if math.isnan(self.measured):
            return False
        return self.measured <= self.target if self.at_most else self.measured >= self.target

    def verdict(self) -> str:
        """'met' or 'short', with the measured value as a share of the target."""
        if math.isnan(self.measured):
            return "not measured"
        share = self.measured / self.target
        if self.at_most:
            margin = abs(self.target - self.measured)
            if self.met:
                return f"met: {share:.1%} of the limit ({margin:,.1f} {self.unit} to spare)"
            return f"short: {share:.1%} of the limit ({margin:,.1f} {self.unit} over)"
        if self.met:
            return f"met: {share:.1%} of the target"
        return f"short: {share:.1%} of the target ({1 / share - 1:.1%} more needed)"

    def cells(self) -> tuple[str, str, str, str]:
        """The goal's row: name, measured, target, verdict."""
        sign = "<=" if self.at_most else ">="
        if self.unit == "x":
            places = 1 if round(self.target, 1) == self.target else 2
            measured, target = f"{self.measured:.2f}x", f"{sign} {self.target:.{places}f}x"
        else:
            measured = f"{self.measured:,.1f} {self.unit}"
            target = f"{sign} {self.target:,.0f} {self.unit}"
        if math.isnan(self.measured):
            measured = "-"
        return self.name, measured, target, self.verdict()

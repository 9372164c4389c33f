"""The result type shared by all parsers: a frame and what was skipped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl


@dataclass(frozen=True)
class Problem:
    """One skipped record: its 1-based line number (0 if unknown) and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class Parsed:
    """A parsed file: the good records as a frame, the skipped ones, and any
    secondary frames the format carries (e.g. node-level data in samples)."""

    frame: pl.DataFrame
    problems: tuple[Problem, ...] = field(default=())
    extra: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    # 0-based input line of each row of `frame` ("") and of each extra frame, in
    # ascending order; lets one parse of several concatenated files be split again.
    lines: dict[str, pl.Series] = field(default_factory=dict)

    def without_lines(self) -> Parsed:
        """The same parse without the line bookkeeping."""
        return Parsed(self.frame, self.problems, self.extra)

    @property
    def soft_errors(self) -> int:
        """How many records were skipped."""
        return len(self.problems)


def line_index(frame: pl.DataFrame, column: str = "lineno") -> pl.Series:
    """The 0-based input line of each row, as `Parsed.lines` wants it."""
    return frame[column].cast(pl.UInt32) if column in frame.columns else pl.Series([], dtype=pl.UInt32)


def problems_from(line_numbers: pl.Series, reasons: pl.Series | str) -> list[Problem]:
    """Problems for the given (0-based) line indices; cheap for the few bad lines."""
    numbers = line_numbers.to_list()
    if isinstance(reasons, str):
        return [Problem(n + 1, reasons) for n in numbers]
    return [Problem(n + 1, r) for n, r in zip(numbers, reasons.to_list(), strict=True)]

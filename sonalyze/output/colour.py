"""Colour for aligned (fixed) output in a terminal: good values green, poor yellow, bad red.

Applied to the finished text, cell by cell, so alignment is untouched (the
escape codes take no columns).  Only when writing to a terminal and
`NO_COLOR` is not set (https://no-color.org); never in csv, json or awk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

RED, YELLOW, GREEN = "\x1b[31m", "\x1b[33m", "\x1b[32m"
RESET = "\x1b[0m"

Rule = Callable[[str], str | None]  # cell text -> colour code, or None for none


def wanted(stream: object) -> bool:
    """True when `stream` is a terminal and the user has not asked for no colour."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def percent_rule(bad_below: float, poor_below: float, poor_from: float | None = None) -> Rule:
    """Red below `bad_below`, yellow below `poor_below` (or from `poor_from`), else green."""

    def rule(cell: str) -> str | None:
        try:
            value = float(cell)
        except ValueError:
            return None
        if value < bad_below:
            return RED
        if value < poor_below or (poor_from is not None and value >= poor_from):
            return YELLOW
        return GREEN

    return rule


def colourize(text: str, rules: dict[str, Rule]) -> str:
    """Colour the cells of the columns named in `rules`; the first line is the header."""
    lines = text.split("\n")
    if not lines or not rules:
        return text
    header = lines[0]
    spans = [(m.start(), m.group()) for m in re.finditer(r"\S+", header)]
    columns = []
    for i, (start, name) in enumerate(spans):
        end = spans[i + 1][0] if i + 1 < len(spans) else None
        if name in rules:
            columns.append((start, end, rules[name]))
    if not columns:
        return text
    out = [header]
    for line in lines[1:]:
        for start, end, rule in reversed(columns):  # right to left keeps offsets valid
            cell = line[start:end] if end is not None else line[start:]
            colour = rule(cell.strip()) if cell.strip() else None
            if colour:
                stripped = cell.rstrip()
                line = line[:start] + colour + stripped + RESET + cell[len(stripped):] + (
                    line[end:] if end is not None else "")  # fmt: skip
        out.append(line)
    return "\n".join(out)

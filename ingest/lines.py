"""Splitting a file's bytes into numbered text lines, setting invalid UTF-8 aside."""

from __future__ import annotations

import polars as pl

from sonalyze.ingest.parsed import Problem


def split_lines(data: bytes) -> tuple[pl.DataFrame, list[Problem]]:
    """Lines as a frame (`lineno` 0-based, `line` text), without blank lines.

    A line that is not valid UTF-8 is not decoded but reported as a problem,
    so one bad byte costs one record, never the file.  A missing final
    newline is fine; a final line torn by a crashed writer is just a line
    that will fail to parse.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _split_lines_slow(data)
    lines = pl.Series("line", text.split("\n"), dtype=pl.String)
    frame = pl.DataFrame({"line": lines}).with_row_index("lineno")
    frame = frame.with_columns(pl.col("line").str.strip_chars_end("\r")).filter(
        pl.col("line").str.len_bytes() > 0
    )
    return frame, []


def _split_lines_slow(data: bytes) -> tuple[pl.DataFrame, list[Problem]]:
    # Only files with invalid UTF-8 come here, so a per-line loop is acceptable.
    good_numbers: list[int] = []
    good_lines: list[str] = []
    problems: list[Problem] = []
    for n, raw in enumerate(data.split(b"\n")):
        try:
            line = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            problems.append(Problem(n + 1, "invalid UTF-8"))
            continue
        if line:
            good_numbers.append(n)
            good_lines.append(line)
    frame = pl.DataFrame(
        {
            "lineno": pl.Series(good_numbers, dtype=pl.UInt32),
            "line": pl.Series(good_lines, dtype=pl.String),
        }
    )
    return frame, problems

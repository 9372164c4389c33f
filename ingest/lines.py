"""Splitting a file's bytes into numbered text lines, setting invalid UTF-8 aside."""

from __future__ import annotations

import io

import polars as pl

from sonalyze.ingest.parsed import Problem


def split_lines(data: bytes) -> tuple[pl.DataFrame, list[Problem]]:
    """Lines as a frame (`lineno` 0-based, `line` text), without blank lines.

    A line that is not valid UTF-8 is not decoded but reported as a problem,
    so one bad byte costs one record, never the file.  A missing final
    newline is fine; a final line torn by a crashed writer is just a line
    that will fail to parse.
    """
    data = data.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark is not part of a record
    try:
        text = data.decode("utf-8")  # validates in C; the text itself is only used below
    except UnicodeDecodeError:
        return _split_lines_slow(data)
    if not data or b"\x1f" in data:
        lines = pl.Series("line", text.split("\n"), dtype=pl.String)
        return _drop_blank(pl.DataFrame({"line": lines}).with_row_index("lineno")), []
    # Polars' CSV reader with a separator that does not occur splits lines in Rust,
    # keeping blank lines as nulls, so row index = line index.
    frame = pl.read_csv(
        io.BytesIO(data), has_header=False, separator="\x1f", quote_char=None,
        new_columns=["line"], infer_schema=False, raise_if_empty=False,
    )  # fmt: skip
    return _drop_blank(frame.with_row_index("lineno").drop_nulls("line")), []


def _drop_blank(frame: pl.DataFrame) -> pl.DataFrame:
    # Blank and whitespace-only lines are not records (and not errors).  The anchored
    # regex stops at the first character of an ordinary line, so this stays cheap.
    return frame.filter(~pl.col("line").str.contains(r"^\s*$")).with_columns(
        pl.col("line").str.strip_chars_end("\r")
    )


def _split_lines_slow(data: bytes) -> tuple[pl.DataFrame, list[Problem]]:
    # Decode leniently, then check strictly only the lines that came out with a
    # replacement character: the work is per suspect line, not per line.
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    suspects = pl.Series(lines, dtype=pl.String).str.contains("\ufffd", literal=True).arg_true()
    raw = data.split(b"\n")
    problems: list[Problem] = []
    for n in suspects.to_list():
        try:
            lines[n] = raw[n].decode("utf-8")  # a genuine U+FFFD in the data
        except UnicodeDecodeError:
            lines[n] = ""
            problems.append(Problem(n + 1, "invalid UTF-8"))
    frame = pl.DataFrame({"line": pl.Series(lines, dtype=pl.String)}).with_row_index("lineno")
    return _drop_blank(frame), problems

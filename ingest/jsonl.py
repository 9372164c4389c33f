"""Tolerant JSON-lines reading: Arrow's reader on the good lines, bad lines counted.

The fast path hands the file's bytes to Arrow's JSON reader with the
format's schema (lines that cannot be objects -- torn or foreign -- are set
aside first).  Only when that fails do we look for the culprits: lines that
are not JSON objects at all (`json.loads`, one call per line), then lines
whose values do not fit the schema (bisection, so a few bad lines cost a
few extra reads).  Every surviving row keeps its 0-based `lineno`.
"""

from __future__ import annotations

import functools
import io
import json

import polars as pl
import pyarrow as pa
import pyarrow.json as pj

from sonalyze.ingest.lines import split_lines
from sonalyze.ingest.parsed import Problem

_NOT_JSON = "not a JSON object"
_BAD_TYPES = "value of the wrong type or out of range"


def _arrow_type(t: pa.DataType) -> pa.DataType:
    # Arrow's JSON reader wants plain lists and strings, not the large/view kinds Polars uses.
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        return pa.list_(_arrow_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _arrow_type(f.type)) for f in t])
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    return t


@functools.cache
def _arrow_schema(schema_items: tuple[tuple[str, pl.DataType], ...]) -> pa.Schema:
    polars_schema = pl.DataFrame(schema=dict(schema_items)).to_arrow().schema
    return pa.schema([pa.field(f.name, _arrow_type(f.type)) for f in polars_schema])


def _read(
    lines: list[str] | pl.Series,
    schema: dict[str, pl.DataType],
    payload: bytes | None = None,
    expected_rows: int | None = None,
) -> pl.DataFrame:
    """Arrow's multi-threaded JSON reader (several times Polars' on nested data).

    `payload`, when given, is the original bytes holding exactly `lines`.
    """
    if payload is None and isinstance(lines, pl.Series):
        payload = (lines.str.join("\n").item() + "\n").encode()
    elif payload is None:
        payload = ("\n".join(lines) + "\n").encode()
    options = pj.ParseOptions(
        explicit_schema=_arrow_schema(tuple(schema.items())), unexpected_field_behavior="ignore"
    )
    # Blocks of 16 MiB let Arrow parse on every core; a line longer than a block
    # fails the fast path and is handled one line at a time.
    read = pj.ReadOptions(block_size=16 << 20)
    table = pj.read_json(io.BytesIO(payload), read_options=read, parse_options=options)
    if table.num_rows != (len(lines) if expected_rows is None else expected_rows):
        # Two objects on one line: not one record per line, so not readable in bulk.
        raise ValueError("line and record counts differ")
    return pl.from_arrow(table, schema_overrides=schema)  # type: ignore[return-value]


def _is_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def _bisect(
    numbers: list[int], lines: list[str], schema: dict[str, pl.DataType]
) -> tuple[list[pl.DataFrame], list[int], list[int]]:
    """Frames for the readable runs, their line numbers, and the bad line numbers."""
    try:
        return [_read(lines, schema)], numbers, []
    except (pl.exceptions.PolarsError, pa.ArrowException, ValueError, OverflowError):
        if len(lines) == 1:
            return [], [], numbers
    mid = len(lines) // 2
    f1, ok1, bad1 = _bisect(numbers[:mid], lines[:mid], schema)
    f2, ok2, bad2 = _bisect(numbers[mid:], lines[mid:], schema)
    return f1 + f2, ok1 + ok2, bad1 + bad2


def _read_whole(data: bytes, schema: dict[str, pl.DataType]) -> pl.DataFrame | None:
    """The common case -- every line one good object, no blank lines -- read straight
    from the bytes, so that row i is line i; None when that does not hold."""
    if not data or data.startswith((b"\n", b"\xef\xbb\xbf")) or b"\n\n" in data:
        return None
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    try:
        frame = _read([], schema, data, expected_rows=lines)
    except (pl.exceptions.PolarsError, pa.ArrowException, ValueError, OverflowError):
        return None
    return frame.with_row_index("lineno").with_columns(pl.col("lineno").cast(pl.UInt32))


# COMPAT(bad-lines): a bad line costs that line, never the file.
def read_json_lines(
    data: bytes, schema: dict[str, pl.DataType]
) -> tuple[pl.DataFrame, list[Problem]]:
    """Rows of a JSON-lines file under `schema`, plus a `lineno` column."""
    fast = _read_whole(data, schema)
    if fast is not None:
        return fast, []
    lines_frame, problems = split_lines(data)
    # A torn or foreign line is usually visible from its ends: set those aside
    # before the fast path, so one of them does not send the file down the slow one.
    shaped = pl.col("line").str.contains(r"^\s*\{") & pl.col("line").str.contains(r"\}\s*$")
    misshapen = lines_frame.filter(~shaped)
    problems += [Problem(n + 1, _NOT_JSON) for n in misshapen["lineno"].to_list()]
    lines_frame = lines_frame.filter(shaped)
    if not lines_frame.height:
        return pl.DataFrame(schema=schema).with_columns(lineno=pl.lit(0, pl.UInt32)), problems
    # Nothing set aside and no blank lines: Arrow can read the original bytes.
    untouched = lines_frame["lineno"][-1] + 1 == lines_frame.height and not data.startswith(
        b"\xef\xbb\xbf"
    )
    try:
        frame = _read(lines_frame["line"], schema, data if untouched else None)
        problems.sort(key=lambda p: p.line)
        return frame.with_columns(lineno=lines_frame["lineno"].cast(pl.UInt32)), problems
    except (pl.exceptions.PolarsError, pa.ArrowException, ValueError, OverflowError):
        pass
    # The slow path, for files with bad lines only: Python objects per line are fine here.
    numbers: list[int] = lines_frame["lineno"].to_list()
    lines: list[str] = lines_frame["line"].to_list()
    keep = [i for i, line in enumerate(lines) if _is_object(line)]
    kept = set(keep)
    problems += [Problem(numbers[i] + 1, _NOT_JSON) for i in range(len(lines)) if i not in kept]
    frames, ok_numbers, bad_numbers = _bisect(
        [numbers[i] for i in keep], [lines[i] for i in keep], schema
    )
    problems += [Problem(n + 1, _BAD_TYPES) for n in bad_numbers]
    problems.sort(key=lambda p: p.line)
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
    return frame.with_columns(lineno=pl.Series(ok_numbers, dtype=pl.UInt32)), problems

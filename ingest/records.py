"""Sonar output cut into records for appending: each record's text, table, host,
cluster and time, and why any record is refused.

The format is detected per input: new JSON-lines envelopes (any data type,
line by line), old free-CSV samples, old `sacct` CSV, old concatenated
sysinfo JSON.  Every record is checked by the parser that will read it back
from the tree, so what is appended is what the tables can read; a record
with any problem is refused whole.  Envelopes that carry only Sonar's own
`errors` are not data: they are returned as reports, not records.

A record's `key` is its identity for de-duplication: the line itself, or for
old sysinfo (objects that may span lines) the object in canonical JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from sonalyze.ingest.envelope import envelope_schema
from sonalyze.ingest.lines import split_lines
from sonalyze.ingest.numbers import checked_time
from sonalyze.ingest.parsed import Parsed, Problem
from sonalyze.ingest.schemas import UTC_TIME

TABLES = ("sample", "sysinfo", "sacct", "partitions")
NEW_TYPES = {"sample": "sample", "sysinfo": "sysinfo", "job": "sacct", "cluster": "partitions"}
HOST_TABLES = ("sample", "sysinfo")
OPTION_OF = {"sample": "sample", "sysinfo": "sysinfo", "sacct": "job", "partitions": "partitions"}
# Host and cluster names become file and directory names: letters, digits, '.', '_'
# and '-', not starting with a dot or dash, at most a DNS name's 253 characters.
SAFE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$"
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "lineno": pl.UInt32(),  # 1-based input line where the record starts
    "table": pl.String(),
    "format": pl.String(),  # "old" or "new"
    "host": pl.String(),
    "cluster": pl.String(),
    "time": UTC_TIME,
    "text": pl.String(),
    "key": pl.String(),
}

_ROUTING = envelope_schema(
    pl.Struct({"time": pl.String, "cluster": pl.String, "node": pl.String})
)
_NEW_START = re.compile(rb'^\s*\{\s*"(?:meta|data|errors)"\s*:')


@dataclass(frozen=True)
class Rejected:
    """A refused record: where it starts (1-based line), why, and its raw bytes."""

    line: int
    reason: str
    raw: bytes


@dataclass(frozen=True)
class Records:
    """The records of one input, those refused, and Sonar's own error reports."""

    frame: pl.DataFrame  # RECORD_SCHEMA
    rejected: tuple[Rejected, ...]
    reports: tuple[Problem, ...]
    format: str  # what `detect_format` found


def detect_format(data: bytes) -> str:
    """`new`, `sample-old`, `sacct-old`, `sysinfo-old`, or `empty`."""
    body = data.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not body:
        return "empty"
    first = body.split(b"\n", 1)[0]
    if body.startswith(b"{"):
        return "new" if _NEW_START.match(first) else "sysinfo-old"
    return "sacct-old" if b"JobID=" in first else "sample-old"


def classify(data: bytes, expect: str | None = None, now: datetime | None = None) -> Records:
    """Cut `data` into records; refuse those that are invalid or not of table `expect`."""
    fmt = detect_format(data)
    if fmt == "empty":
        return Records(pl.DataFrame(schema=RECORD_SCHEMA), (), (), fmt)
    if fmt == "new":
        frame, rejected, reports = _new_records(data)
    elif fmt == "sysinfo-old":
        frame, rejected, reports = _sysinfo_records(data), [], []
    else:
        frame, rejected, reports = _csv_records(data, fmt), [], []
    frame = _check(frame, expect, now or datetime.now(UTC))
    refused = frame.filter(pl.col("reason").is_not_null())
    rejected += [
        Rejected(n, r, raw)
        for n, r, raw in refused.select("lineno", "reason", "raw").iter_rows()
    ]
    rejected.sort(key=lambda r: r.line)
    good = frame.filter(pl.col("reason").is_null()).select(list(RECORD_SCHEMA))
    return Records(good, tuple(rejected), tuple(reports), fmt)


def _raw_lines(data: bytes) -> list[bytes]:
    return data.removeprefix(b"\xef\xbb\xbf").split(b"\n")


def _unreadable(data: bytes, problems: list[Problem]) -> list[Rejected]:
    """Rejections for problems found before any record could be built (few lines)."""
    if not problems:
        return []
    raw = _raw_lines(data)
    return [Rejected(p.line, p.reason, raw[p.line - 1] if p.line else b"") for p in problems]


def _with_problems(frame: pl.DataFrame, problems: tuple[Problem, ...] | list[Problem],
                   lineno: pl.Series | None = None) -> pl.DataFrame:  # fmt: skip
    """Set `reason` on the rows whose input line had a problem.

    A problem's line is 1-based in what the parser saw; `lineno[i]` is the input
    line of the parser's line i + 1 when that was not the input itself.
    """
    if not problems:
        return frame
    first: dict[int, str] = {}
    for p in problems:  # one entry per problem, and problems are few
        line = int(lineno[p.line - 1]) if lineno is not None and p.line else p.line
        first.setdefault(line, p.reason)
    found = pl.DataFrame(
        {"lineno": list(first), "_problem": list(first.values())},
        schema={"lineno": pl.UInt32, "_problem": pl.String},
    )
    return (
        frame.join(found, on="lineno", how="left")
        .with_columns(pl.coalesce("_problem", "reason").alias("reason"))
        .drop("_problem")
    )


def _csv_records(data: bytes, fmt: str) -> pl.DataFrame:
    """Old samples or `sacct` records: one line each, checked by their parser."""
    from sonalyze.ingest.sacct_csv import parse_sacct_csv
    from sonalyze.ingest.sample_csv import parse_sample_csv

    lines, bad_utf8 = split_lines(data)
    lines = lines.with_columns((pl.col("lineno") + 1).cast(pl.UInt32))
    if fmt == "sample-old":
        parsed = parse_sample_csv(data)
        route = parsed.frame.select("host", "time", table=pl.lit("sample"))
    else:
        parsed = parse_sacct_csv(data)
        # COMPAT(add-sacct-day): old job records are filed by their end, as the Go
        # `add` does; one still running by its start (the Go `add` refuses it).
        route = parsed.frame.select(
            host=pl.lit(None, pl.String),
            time=pl.coalesce("end", pl.max_horizontal("start", "submit")),
            table=pl.lit("sacct"),
        )
    route = route.with_columns(
        lineno=(parsed.lines[""] + 1).cast(pl.UInt32) if parsed.lines else pl.lit(0, pl.UInt32)
    ).unique("lineno", keep="first")
    frame = lines.join(route, on="lineno", how="left").with_columns(
        pl.lit("old").alias("format"),
        pl.lit(None, pl.String).alias("cluster"),
        pl.col("line").alias("text"),
        pl.col("line").alias("key"),
        pl.col("line").cast(pl.Binary).alias("raw"),
        pl.when(pl.col("table").is_null()).then(pl.lit("not a record")).alias("reason"),
    )
    frame = _with_problems(frame, parsed.problems)
    if bad_utf8:  # lines that could not be decoded are not in `lines`: add them as refused
        frame = pl.concat([frame, _refused_rows(data, bad_utf8, "old")], how="diagonal_relaxed")
    return frame


def _refused_rows(data: bytes, problems: list[Problem], fmt: str) -> pl.DataFrame:
    raw = _raw_lines(data)
    return pl.DataFrame(
        {
            "lineno": [p.line for p in problems],
            "reason": [p.reason for p in problems],
            "raw": [raw[p.line - 1] for p in problems],
            "format": [fmt] * len(problems),
        },
        schema={"lineno": pl.UInt32, "reason": pl.String, "raw": pl.Binary, "format": pl.String},
    )


def _new_records(data: bytes) -> tuple[pl.DataFrame, list[Rejected], list[Problem]]:
    """Envelopes, one per line: routed by `data.type` and `data.attributes`, then each
    type's lines checked together by that type's parser."""
    lines, _ = split_lines(data)
    # Imported here: Arrow's JSON reader (and numpy with it) costs every command's start-up.
    from sonalyze.ingest.jsonl import read_json_lines

    routes, problems = read_json_lines(data, _ROUTING)  # invalid UTF-8 is among the problems
    rejected = _unreadable(data, problems)
    has_errors = pl.col("errors").is_not_null() & (pl.col("errors").list.len() > 0)
    has_data = pl.col("data").is_not_null()
    kind = pl.col("data").struct.field("type")
    routes = routes.select(
        (pl.col("lineno") + 1).cast(pl.UInt32),
        kind.replace_strict(NEW_TYPES, default=None).alias("table"),
        pl.col("data").struct.field("attributes").struct.field("time").alias("_time"),
        pl.col("data").struct.field("attributes").struct.field("cluster").alias("cluster"),
        pl.col("data").struct.field("attributes").struct.field("node").alias("_node"),
        pl.col("errors").list.first().struct.field("detail").alias("_detail"),
        pl.when(has_errors & has_data).then(pl.lit("envelope has both data and errors"))
        .when(~has_data & ~has_errors).then(pl.lit("envelope has no data"))
        .when(has_data & kind.is_null()).then(pl.lit("envelope has no data type"))
        .when(has_data & ~kind.is_in(list(NEW_TYPES)))
        .then(pl.format("unknown data type {}", kind))
        .alias("reason"),
        (has_errors & ~has_data).alias("_report"),
    )  # fmt: skip
    reports = [
        Problem(n, f"Sonar reported an error: {d or 'no detail'}")
        for n, d in routes.filter("_report").select("lineno", "_detail").iter_rows()
    ]
    time, _ = checked_time(pl.col("_time"))
    frame = (
        routes.filter(~pl.col("_report"))
        .join(lines.select((pl.col("lineno") + 1).cast(pl.UInt32), "line"), on="lineno")
        .with_columns(
            time.alias("time"),
            pl.when(pl.col("table").is_in(HOST_TABLES)).then(pl.col("_node")).alias("host"),
            pl.lit("new").alias("format"),
            pl.col("line").alias("text"),
            pl.col("line").alias("key"),
            pl.col("line").cast(pl.Binary).alias("raw"),
        )
    )
    checked = [_checked_by_parser(frame.filter(pl.col("table") == t), t) for t in NEW_TYPES.values()]
    rest = frame.filter(pl.col("table").is_null())
    return pl.concat([rest, *checked], how="diagonal_relaxed"), rejected, reports


def _checked_by_parser(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """`frame` with `reason` set where the table's own parser finds a problem."""
    if not frame.height:
        return frame
    from sonalyze.ingest.cluzter_json import parse_cluzter_json
    from sonalyze.ingest.sacct_json import parse_job_json
    from sonalyze.ingest.sample_json import parse_sample_json
    from sonalyze.ingest.sysinfo_json import parse_sysinfo_json

    parser = {"sample": parse_sample_json, "sysinfo": parse_sysinfo_json,
              "sacct": parse_job_json, "partitions": parse_cluzter_json}[table]  # fmt: skip
    payload = (frame["text"].str.join("\n").item() + "\n").encode()
    parsed: Parsed = parser(payload)
    return _with_problems(frame, parsed.problems, frame["lineno"])


def _sysinfo_records(data: bytes) -> pl.DataFrame:
    """Old sysinfo: JSON objects one after another, each parsed on its own (a few per
    node and day, so a loop per object is cheap)."""
    from sonalyze.ingest.sysinfo_old import object_spans, parse_sysinfo_old

    text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    spans, problems = object_spans(text)
    lines = text.split("\n")
    rows: list[dict] = []
    for p in problems:  # unreadable: keep the text up to the next object as the record
        stop = next((s[0] for s in spans if s[0] > p.line), len(lines) + 1)
        raw = "\n".join(lines[p.line - 1 : stop - 1])
        rows.append({"lineno": p.line, "reason": p.reason, "raw": raw.encode()})
    for line, start, end, obj in spans:
        raw = text[start:end]
        parsed = parse_sysinfo_old(raw.encode())
        row = {"lineno": line, "raw": raw.encode(), "text": raw,
               "key": json.dumps(obj, sort_keys=True, separators=(",", ":"))}  # fmt: skip
        if parsed.problems or not parsed.frame.height:
            reason = parsed.problems[0].reason if parsed.problems else "not a sysinfo record"
            rows.append(row | {"reason": reason})
        else:
            rows.append(row | {"host": parsed.frame["host"][0], "time": parsed.frame["time"][0],
                               "table": "sysinfo"})  # fmt: skip
    schema: dict[str, pl.DataType] = {
        "lineno": pl.UInt32(), "reason": pl.String(), "raw": pl.Binary(), "text": pl.String(),
        "key": pl.String(), "host": pl.String(), "time": UTC_TIME, "table": pl.String(),
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema).with_columns(
        pl.lit("old").alias("format"), pl.lit(None, pl.String).alias("cluster")
    )


def _check(frame: pl.DataFrame, expect: str | None, now: datetime) -> pl.DataFrame:
    """The checks every record gets, whatever its format; the first failing one is the reason."""
    for name, dtype in {**RECORD_SCHEMA, "reason": pl.String(), "raw": pl.Binary()}.items():
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype).alias(name))
    unsafe_host = ~pl.col("host").str.contains(SAFE_NAME) | pl.col("host").str.contains(r"\.\.")
    unsafe_cluster = ~pl.col("cluster").str.contains(SAFE_NAME) | pl.col("cluster").str.contains(
        r"\.\."
    )
    check = (
        pl.when(pl.col("reason").is_not_null()).then(pl.col("reason"))
        .when(pl.col("time").is_null()).then(pl.lit("bad or missing time"))
        .when(pl.col("time") < EARLIEST).then(pl.lit("time before 2000"))
        .when(pl.col("time") > now + FUTURE_SLACK)
        .then(pl.lit("time more than a day in the future"))
        .when(pl.col("table").is_in(HOST_TABLES) & (pl.col("host").fill_null("") == ""))
        .then(pl.lit("missing host name"))
        .when(pl.col("host").is_not_null() & unsafe_host)
        .then(pl.format("unsafe host name {}", pl.col("host").str.slice(0, 80)))
        .when(pl.col("cluster").is_not_null() & unsafe_cluster)
        .then(pl.format("unsafe cluster name {}", pl.col("cluster").str.slice(0, 80)))
    )  # fmt: skip
    if expect is not None:
        term = pl.col("table").replace_strict(OPTION_OF, default=pl.col("table"))
        check = check.when(pl.col("table") != expect).then(
            pl.format("a {} record, but --{} was given", term, pl.lit(OPTION_OF[expect]))
        )
    return frame.with_columns(
        check.alias("reason"), pl.col("lineno").cast(pl.UInt32), pl.col("time").cast(UTC_TIME)
    )

"""Old free-CSV Sonar samples (`<host>.csv`), tagged and untagged, vectorised.

Tagged lines are `key=value` fields in any order, CSV-quoted where needed
(`"cmd=a, b"`).  Untagged lines (Sonar 0.6 and earlier) are positional:
time, host, cores, user, job, cmd, cpu%, cpukib.  Rules follow the Go
sonalyze: `v`, `time`, `host` and `cmd` are required, `user` too except on
`_heartbeat_` records; a value that does not parse drops its line; numbers
are plain non-negative decimals.  Unknown keys are ignored (newer Sonars
add fields).  `load` and `gpuinfo` are kept as raw text.
"""

from __future__ import annotations

import polars as pl

from sonalyze.ingest.freecsv import syntax_ok, tagged_columns, tagged_fields
from sonalyze.ingest.gpuset import parse_gpuset
from sonalyze.ingest.lines import split_lines
from sonalyze.ingest.numbers import checked_float, checked_time, checked_uint
from sonalyze.ingest.parsed import Parsed, Problem, line_index, problems_from
from sonalyze.ingest.schemas import FLAG_HEARTBEAT, SAMPLE, conform

HEARTBEAT_CMD = "_heartbeat_"
UNTAGGED_VERSION = "0.6.0"

# key -> (column, kind); kind drives the checked cast.
TAGGED_KEYS: dict[str, tuple[str, str]] = {
    "v": ("version", "str"),
    "time": ("time", "time"),
    "host": ("host", "str"),
    "cores": ("cores", "u32"),
    "memtotalkib": ("memtotal_kib", "u64"),
    "user": ("user", "str"),
    "pid": ("pid", "u64"),
    "ppid": ("ppid", "u64"),
    "job": ("job", "u64"),
    "epoch": ("epoch", "u64"),
    "cmd": ("cmd", "str"),
    "cpu%": ("cpu_pct", "f32"),
    "cpukib": ("cpu_kib", "u64"),
    "rssanonkib": ("rssanon_kib", "u64"),
    "gpus": ("gpus", "gpus"),
    "gpu%": ("gpu_pct", "f32"),
    "gpumem%": ("gpumem_pct", "f32"),
    "gpukib": ("gpu_kib", "u64"),
    "gpufail": ("gpufail", "u8"),
    "cputime_sec": ("cputime_sec", "u64"),
    "rolledup": ("rolledup", "u32"),
    "load": ("load", "str"),
    "gpuinfo": ("gpuinfo", "str"),
}

UNTAGGED_POSITIONS: dict[str, tuple[int, str]] = {
    "time": (0, "time"),
    "host": (1, "str"),
    "cores": (2, "u32"),
    "user": (3, "str"),
    "job": (4, "u64"),
    "cmd": (5, "str"),
    "cpu_pct": (6, "f32"),
    "cpu_kib": (7, "u64"),
}

_DTYPES = {
    "u8": pl.UInt8(),
    "u32": pl.UInt32(),
    "u64": pl.UInt64(),
    "f32": pl.Float32(),
}
_TAGGED_START = r'^"?[^,="]+='

# Zero-valued defaults for optional numeric columns, as in the reference.
_DEFAULT_ZERO = [
    "cores", "memtotal_kib", "pid", "ppid", "job", "cpu_pct", "cpu_kib", "rssanon_kib",
    "gpus", "gpu_pct", "gpumem_pct", "gpu_kib", "gpufail", "cputime_sec", "rolledup",
]  # fmt: skip


def _typed(text: pl.Expr, kind: str) -> tuple[pl.Expr, pl.Expr | None]:
    if kind == "str":
        return text, None
    if kind == "time":
        return checked_time(text)
    if kind == "gpus":
        return parse_gpuset(text)
    if kind == "f32":
        return checked_float(text, _DTYPES[kind])
    return checked_uint(text, _DTYPES[kind])


def _finish(raw: pl.DataFrame, kinds: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cast the text columns of `raw`; returns (good rows, bad rows with reasons)."""
    values: list[pl.Expr] = []
    bads: list[pl.Expr] = []
    for column, kind in kinds.items():
        value, is_bad = _typed(pl.col(column), kind)
        values.append(value.alias(column))
        if is_bad is not None:
            bads.append(pl.when(is_bad).then(pl.lit(f"bad value for {column}")))
    missing = (
        pl.when(pl.col("version").is_null() | (pl.col("version") == ""))
        .then(pl.lit("missing v"))
        .when(pl.col("time").is_null())
        .then(pl.lit("missing time"))
        .when(pl.col("host").is_null() | (pl.col("host") == ""))
        .then(pl.lit("missing host"))
        .when(pl.col("cmd").is_null() | (pl.col("cmd") == ""))
        .then(pl.lit("missing cmd"))
        .when(
            (pl.col("cmd") != HEARTBEAT_CMD)
            & (pl.col("user").is_null() | (pl.col("user") == ""))
        )
        .then(pl.lit("missing user"))
    )
    checked = raw.with_columns(
        pl.coalesce(bads).alias("_bad") if bads else pl.lit(None, pl.String).alias("_bad"),
    ).with_columns(values)
    checked = checked.with_columns(pl.coalesce(pl.col("_bad"), missing).alias("_bad"))
    good = checked.filter(pl.col("_bad").is_null())
    bad = checked.filter(pl.col("_bad").is_not_null()).select("lineno", "_bad")
    return good, bad


def _tagged(lines: pl.DataFrame, payload: bytes | None) -> pl.DataFrame:
    keys = list(TAGGED_KEYS)
    keyed = tagged_columns(lines, keys, payload)
    if keyed is None:  # the CSV reader and the lines disagree: split field by field
        keyed = tagged_fields(lines, keys)
    return keyed.rename({key: column for key, (column, _) in TAGGED_KEYS.items()})


def _untagged(lines: pl.DataFrame) -> pl.DataFrame:
    parts = pl.col("line").str.split(",")
    return lines.select(
        "lineno",
        pl.when(parts.list.len() >= len(UNTAGGED_POSITIONS))
        .then(pl.lit(UNTAGGED_VERSION))
        .alias("version"),
        *[
            parts.list.get(pos, null_on_oob=True).alias(column)
            for column, (pos, _) in UNTAGGED_POSITIONS.items()
        ],
    )


def parse_sample_csv(data: bytes) -> Parsed:
    """Parse an old-format `<host>.csv` file into `sample` rows."""
    lines, problems = split_lines(data)
    # Only lines with quotes other than around a whole GPU-list field (which Sonar
    # writes on every multi-GPU record) need the full quoting check.
    quoted = (
        pl.col("line").str.replace_all(r'(^|,)"gpus=[0-9,]*"(,|$)', "${1}${2}").str.contains('"')
    )
    lines = lines.with_columns(
        pl.col("line").str.contains(_TAGGED_START).alias("_tagged"), quoted.alias("_quoted")
    )
    broken = lines.filter(pl.col("_quoted")).filter(~syntax_ok())["lineno"]
    problems += problems_from(broken, "CSV syntax error")
    if broken.len():
        lines = lines.filter(~pl.col("lineno").is_in(broken.implode()))

    tagged_kinds = {column: kind for column, kind in TAGGED_KEYS.values()}
    parts: list[pl.DataFrame] = []
    tagged = lines.filter(pl.col("_tagged"))
    # When every line is a tagged record, the reader can take the original bytes.
    whole = tagged.height and tagged["lineno"][-1] + 1 == tagged.height
    payload = data if whole and not data.startswith(b"\xef\xbb\xbf") else None
    for raw in (_tagged(tagged, payload),):
        if raw.height:
            good, bad = _finish(raw, tagged_kinds)
            parts.append(good)
            problems += problems_from(bad["lineno"], bad["_bad"])

    untagged = lines.filter(~pl.col("_tagged"))
    if untagged.height:
        raw = _untagged(untagged)
        short = raw.filter(pl.col("version").is_null())
        problems += problems_from(short["lineno"], "untagged record with too few fields")
        raw = raw.filter(pl.col("version").is_not_null())
        kinds = {"version": "str"} | {c: k for c, (_, k) in UNTAGGED_POSITIONS.items()}
        good, bad = _finish(raw, kinds)
        parts.append(good.with_columns(pl.col("job").alias("pid")))
        problems += problems_from(bad["lineno"], bad["_bad"])

    frames = [p for p in parts if p.height]
    if not frames:
        return Parsed(conform(pl.DataFrame(), SAMPLE), tuple(sorted(problems, key=_by_line)))
    frame = pl.concat(frames, how="diagonal_relaxed").sort("lineno")
    frame = frame.with_columns(
        [pl.col(c).fill_null(0) for c in _DEFAULT_ZERO if c in frame.columns]
    ).with_columns(
        pl.col("epoch").fill_null(1) if "epoch" in frame.columns else pl.lit(1).alias("epoch"),
        pl.when(pl.col("cmd") == HEARTBEAT_CMD)
        .then(pl.lit(FLAG_HEARTBEAT))
        .otherwise(pl.lit(0))
        .alias("flags"),
    )
    out = conform(frame, SAMPLE).with_columns(
        pl.col(c).fill_null(0) for c in _DEFAULT_ZERO + ["threads", "data_read_kib",
                                                        "data_written_kib", "data_cancelled_kib",
                                                        "cpu_sampled_util_pct"]
    ).with_columns(pl.col("in_container").fill_null(False))
    return Parsed(out, tuple(sorted(problems, key=_by_line)), lines={"": line_index(frame)})


def _by_line(p: Problem) -> int:
    return p.line

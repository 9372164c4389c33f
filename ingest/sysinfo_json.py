"""New-format sysinfo envelopes (`0+sysinfo-<host>.json`), one line per reading.

Topology fields arrive base64-encoded and are decoded; a node that reports no
NUMA distances gets `[[10]]`, as in the Go sonalyze.
"""

from __future__ import annotations

import base64
import binascii

import polars as pl

from sonalyze.ingest.envelope import attributes, envelope_schema, split_errors
from sonalyze.ingest.jsonl import read_json_lines
from sonalyze.ingest.numbers import checked_time
from sonalyze.ingest.parsed import Parsed, line_index, problems_from
from sonalyze.ingest.schemas import SYSINFO, conform

_U64 = pl.UInt64
CARD = pl.Struct(
    {
        "index": _U64,
        "uuid": pl.String,
        "address": pl.String,
        "manufacturer": pl.String,
        "model": pl.String,
        "architecture": pl.String,
        "driver": pl.String,
        "firmware": pl.String,
        "memory": _U64,
        "power_limit": _U64,
        "max_power_limit": _U64,
        "min_power_limit": _U64,
        "max_ce_clock": _U64,
        "max_memory_clock": _U64,
    }
)
SYSINFO_ATTRIBUTES = pl.Struct(
    {
        "time": pl.String,
        "cluster": pl.String,
        "node": pl.String,
        "os_name": pl.String,
        "os_release": pl.String,
        "architecture": pl.String,
        "numa_nodes": _U64,
        "sockets": _U64,
        "cores_per_socket": _U64,
        "threads_per_core": _U64,
        "cpu_model": pl.String,
        "memory": _U64,
        "topo_svg": pl.String,
        "topo_text": pl.String,
        "cards": pl.List(CARD),
        "distances": pl.List(pl.List(_U64)),
    }
)
SCHEMA = envelope_schema(SYSINFO_ATTRIBUTES)


def _b64(text: str | None) -> str | None:
    if not text:
        return text
    try:
        return base64.b64decode(text, validate=False).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return None


def parse_sysinfo_json(data: bytes) -> Parsed:
    """Parse a new-format sysinfo file into `sysinfo` rows."""
    raw, problems = read_json_lines(data, SCHEMA)
    good, errored = split_errors(raw)
    problems += problems_from(errored["lineno"], "envelope carries errors or no data")
    flat = attributes(good).rename({"node": "host", "memory": "memory_kib", "time": "timestamp"})
    time, bad_time = checked_time(pl.col("timestamp"))
    flat = flat.with_columns(
        time.alias("time"),
        pl.when(bad_time | pl.col("timestamp").is_null())
        .then(pl.lit("bad or missing time"))
        .when(pl.col("host").is_null() | (pl.col("host") == ""))
        .then(pl.lit("missing node"))
        .alias("_bad"),
    )
    bad = flat.filter(pl.col("_bad").is_not_null())
    problems += problems_from(bad["lineno"], bad["_bad"])
    flat = flat.filter(pl.col("_bad").is_null()).with_columns(
        # Topology blobs are one per node per day: decoding them one by one is cheap.
        pl.col("topo_svg").map_elements(_b64, return_dtype=pl.String),
        pl.col("topo_text").map_elements(_b64, return_dtype=pl.String),
        pl.when(pl.col("distances").is_null() | (pl.col("distances").list.len() == 0))
        .then(pl.lit([[10]], dtype=pl.List(pl.List(_U64))))
        .otherwise(pl.col("distances"))
        .alias("distances"),
        pl.col("cards").list.eval(
            pl.element().struct.rename_fields(
                [f if f != "memory" else "memory_kib" for f in CARD.to_schema()]
            )
        ),
    )
    problems.sort(key=lambda p: p.line)
    return Parsed(conform(flat, SYSINFO), tuple(problems), lines={"": line_index(flat)})

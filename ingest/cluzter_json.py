"""Slurm partition and node-state snapshots (`0+cluzter-slurm.json`).

Each line is one snapshot of the cluster: its partitions (name, node ranges)
and groups of nodes sharing a set of states.  The main frame holds the
partitions; the extra frame `nodes` holds the node-state groups.
"""

from __future__ import annotations

import polars as pl

from sonalyze.ingest.envelope import attributes, envelope_schema, split_errors
from sonalyze.ingest.jsonl import read_json_lines
from sonalyze.ingest.numbers import checked_time
from sonalyze.ingest.parsed import Parsed, line_index, problems_from
from sonalyze.ingest.schemas import NODE_STATE, PARTITION, conform

CLUSTER_ATTRIBUTES = pl.Struct(
    {
        "time": pl.String,
        "cluster": pl.String,
        "slurm": pl.Boolean,
        "partitions": pl.List(pl.Struct({"name": pl.String, "nodes": pl.List(pl.String)})),
        "nodes": pl.List(
            pl.Struct({"names": pl.List(pl.String), "states": pl.List(pl.String)})
        ),
    }
)
SCHEMA = envelope_schema(CLUSTER_ATTRIBUTES)


def parse_cluzter_json(data: bytes) -> Parsed:
    """Parse a partitions/node-state file: partitions, plus `nodes` as an extra frame."""
    raw, problems = read_json_lines(data, SCHEMA)
    good, errored = split_errors(raw)
    problems += problems_from(errored["lineno"], "envelope carries errors or no data")
    flat = attributes(good).rename({"time": "timestamp"})
    time, bad = checked_time(pl.col("timestamp"))
    flat = flat.with_columns(time.alias("time"), bad.alias("_bad"))
    problems += problems_from(flat.filter("_bad")["lineno"], "bad or missing time")
    flat = flat.filter(~pl.col("_bad"))
    parts = (
        flat.select("lineno", "time", "timestamp", "cluster", "partitions")
        .explode("partitions")
        .filter(pl.col("partitions").is_not_null())
        .unnest("partitions")
        .rename({"name": "partition"})
    )
    nodes = (
        flat.select("lineno", "time", "timestamp", "cluster", "nodes")
        .explode("nodes")
        .filter(pl.col("nodes").is_not_null())
        .unnest("nodes")
        .rename({"names": "nodes"})
    )
    problems.sort(key=lambda p: p.line)
    return Parsed(
        conform(parts, PARTITION),
        tuple(problems),
        extra={"nodes": conform(nodes, NODE_STATE)},
        lines={"": line_index(parts), "nodes": line_index(nodes)},
    )

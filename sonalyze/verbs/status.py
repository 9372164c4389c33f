"""`status`: is data flowing?  Per cluster and table, the newest record, the last
append, how far behind that is, and the hosts that have gone silent.

A host is silent in a table when its newest record is older than the
threshold: `silent_after` for samples, a day more for sysinfo (written once a
day).  Job and partition records are not kept per host; their rows show only
the newest record and the last append.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from sonalyze.output.fields import Field, FieldTable
from sonalyze.verbs import VerbInfo

F = Field
FIELDS = FieldTable(
    (
        F("Cluster", "str", "cluster", "Cluster name", ("cluster",)),
        F("Table", "str", "table", "Table: sample, sysinfo, sacct or partitions", ("table",)),
        F("Host", "str", "host", "Host name (with --hosts)", ("host",)),
        F("Newest", "isotime", "newest", "Time of the newest record", ("newest",)),
        F("LastAppend", "isotime", "last_append", "When its file was last written",
          ("last_append", "last-append")),
        F("Behind", "duration", "behind", "How long before now the newest record is (? if none)",
          ("behind",), present="has_newest"),
        F("Hosts", "uint", "hosts", "Hosts with records in the lookback period", ("hosts",)),
        F("Silent", "uint", "silent", "Hosts silent longer than the threshold (with --hosts: 1 "
          "if this one is)", ("silent",)),
        F("SilentHosts", "hosts", "silent_hosts", "The silent hosts", ("silent_hosts", "silent-hosts")),
    ),
    groups={
        "default": ("cluster", "table", "newest", "behind", "hosts", "silent", "silent_hosts"),
        "Default": ("Cluster", "Table", "Newest", "Behind", "Hosts", "Silent", "SilentHosts"),
        "per_host": ("cluster", "table", "host", "newest", "last_append", "behind", "silent"),
        "all": ("cluster", "table", "host", "newest", "last_append", "behind", "hosts", "silent",
                "silent_hosts"),
        "All": ("Cluster", "Table", "Host", "Newest", "LastAppend", "Behind", "Hosts", "Silent",
                "SilentHosts"),
    },
)

INFO = VerbInfo("status", (), "Show whether data are flowing: newest records and silent hosts.",
                FIELDS)  # fmt: skip

HOST_TABLES = ("sample", "sysinfo")
SYSINFO_PERIOD = timedelta(days=1)


@dataclass(frozen=True)
class StatusOptions:
    """The time to measure against and the silence threshold for samples."""

    now: datetime
    silent_after: timedelta = timedelta(hours=1)
    by_host: bool = False


def run(hosts: pl.DataFrame, opts: StatusOptions) -> pl.DataFrame:
    """Rows per cluster and table (or per host), from `tables.status.host_status` rows
    with a `cluster` column."""
    limit = pl.when(pl.col("table") == "sysinfo").then(
        pl.lit(opts.now - opts.silent_after - SYSINFO_PERIOD)
    ).otherwise(pl.lit(opts.now - opts.silent_after))
    marked = hosts.with_columns(
        (pl.col("table").is_in(HOST_TABLES) & (pl.col("newest").is_null() | (pl.col("newest") < limit)))
        .alias("_silent"),
        order=pl.col("table").replace_strict({t: i for i, t in enumerate(
            ("sample", "sysinfo", "sacct", "partitions"))}, default=9, return_dtype=pl.Int8),
    )  # fmt: skip
    behind = (pl.lit(opts.now) - pl.col("newest")).dt.total_seconds().clip(0)
    known = pl.col("newest").is_not_null().alias("has_newest")
    if opts.by_host:
        return marked.sort("cluster", "order", "host").select(
            "cluster", "table", "host", "newest", "last_append", behind.alias("behind"),
            pl.col("_silent").cast(pl.UInt64).alias("silent"),
            pl.lit(None, pl.UInt64).alias("hosts"),
            pl.lit(None, pl.List(pl.String)).alias("silent_hosts"),
            known,
        )
    per_host = pl.col("table").is_in(HOST_TABLES)
    return (
        marked.group_by("cluster", "table", "order")
        .agg(
            pl.col("newest").max(),
            pl.col("last_append").max(),
            pl.when(per_host.first()).then(pl.col("host").n_unique()).alias("hosts"),
            pl.col("_silent").sum().cast(pl.UInt64).alias("silent"),
            pl.col("host").filter("_silent").sort().alias("silent_hosts"),
        )
        .sort("cluster", "order")
        .with_columns(behind.alias("behind"), pl.col("hosts").cast(pl.UInt64),
                      pl.lit(None, pl.String).alias("host"), known)
        .drop("order")
    )

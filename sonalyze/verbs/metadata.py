"""`metadata`: what the sample data covers: each host's first and last
sample time, the files a query reads, and the window it asks for."""

from __future__ import annotations

import polars as pl

from sonalyze.output.fields import Field, FieldTable
from sonalyze.verbs import VerbInfo

F = Field
FIELDS = FieldTable(
    (
        F("Hostname", "str", "host", "Name that host is known by on the cluster", ("host",)),
        F("Earliest", "datetime", "earliest", "Timestamp of earliest sample for host",
          ("earliest",)),
        F("Latest", "datetime", "latest", "Timestamp of latest sample for host", ("latest",)),
    ),
    groups={
        "default": ("host", "earliest", "latest"),
        "Default": ("Hostname", "Earliest", "Latest"),
        "all": ("default",),
        "All": ("Default",),
    },
)  # fmt: skip

INFO = VerbInfo(
    "metadata",
    ("meta",),
    "Display metadata about the sample data: time bounds per host, files, the window.",
    FIELDS,
    default_format="csv",
)


def _times(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.from_epoch(c, "s").dt.replace_time_zone("UTC") for c in ("earliest", "latest")
    )


def host_bounds(bounds: pl.DataFrame) -> pl.DataFrame:
    """Per host, earliest and latest sample time, sorted by host."""
    return _times(bounds.sort("host", "earliest"))


def job_bounds(bounds: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """Bounds per merged job's host set (the hosts' widest span); job 0 keeps its host.

    `groups` are the merged jobs (hosts lists); `bounds` the per-host spans
    over every record read, so the filters choose which keys appear but not
    their times, as in the reference.
    """
    from sonalyze.tables.hostglob import compress_hostnames

    named = groups.select(
        pl.col("hosts").map_elements(lambda h: ",".join(compress_hostnames(h.to_list())),
                                     return_dtype=pl.String).alias("host"),
        pl.col("hosts").alias("members"),
    ).unique("host", keep="first", maintain_order=True)  # fmt: skip
    spans = (
        named.explode("members")
        .join(bounds, left_on="members", right_on="host")
        .group_by("host")
        .agg(pl.col("earliest").min(), pl.col("latest").max())
    )
    return _times(spans.sort("host", "earliest"))

"""`uptime`: when hosts and their GPUs were up or down, from the samples.

A host is up while its samples come at most `cutoff` seconds apart
(`--interval` minutes times two: a missed sample is forgiven, two are
not); a longer gap, or a gap longer than that at either edge of the time
span, is down time.  A host known from sysinfo (or the cluster config) but
with no samples at all is down for the whole span.  Within each up period
the GPUs are up or down by the samples' `gpufail` flag.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sonalyze.output.fields import Field, FieldTable
from sonalyze.verbs import VerbInfo

F = Field
FIELDS = FieldTable(
    (
        F("Device", "str", "device", "Device type: host or gpu", ("device",)),
        F("Hostname", "str", "host", "Host name", ("host",)),
        F("State", "str", "state", "Device state: up or down", ("state",)),
        F("Start", "datetime", "start", "Start time of the period", ("start",)),
        F("End", "datetime", "end", "End time of the period", ("end",)),
    ),
    groups={
        "default": ("device", "host", "state", "start", "end"),
        "Default": ("Device", "Hostname", "State", "Start", "End"),
        "all": ("default",),
        "All": ("Default",),
    },
)

INFO = VerbInfo(
    "uptime",
    (),
    "Display the periods nodes and their GPUs were up and down.",
    FIELDS,
)

SECONDS_PER_INTERVAL_MINUTE = 120  # the cutoff is twice the interval, in seconds


@dataclass(frozen=True)
class UptimeOptions:
    """The sampling interval (minutes) and which states to show."""

    interval: int
    only_up: bool = False
    only_down: bool = False

    @property
    def cutoff(self) -> int:
        return self.interval * SECONDS_PER_INTERVAL_MINUTE


_SCHEMA = {"device": pl.String, "host": pl.String, "state": pl.String, "start": pl.Int64,
           "end": pl.Int64}  # fmt: skip


def _rows(frame: pl.DataFrame, device: str, state: str | pl.Expr) -> pl.DataFrame:
    state_expr = pl.lit(state) if isinstance(state, str) else state
    return frame.select(
        pl.lit(device).alias("device"), "host", state_expr.alias("state"),
        pl.col("start").cast(pl.Int64), pl.col("end").cast(pl.Int64),
    )  # fmt: skip


def periods(samples: pl.DataFrame, silent_hosts: list[str], start: int, end: int,
            opts: UptimeOptions) -> pl.DataFrame:  # fmt: skip
    """Up and down periods; `samples` has host, t (epoch s) and gpufail."""
    cutoff = opts.cutoff
    rows = (
        samples.filter(pl.col("t").is_between(start, end))
        .select("host", "t", (pl.col("gpufail").fill_null(0) == 0).alias("gpu_ok"))
        .sort("host", "t", "gpu_ok")
    )
    first_of_host = (pl.col("host") != pl.col("host").shift(1)).fill_null(True)
    gap = pl.col("t") - pl.col("t").shift(1)
    rows = rows.with_columns((first_of_host | (gap > cutoff)).cum_sum().alias("run"))
    runs = rows.group_by("run", maintain_order=True).agg(
        pl.col("host").first(), pl.col("t").min().alias("start"), pl.col("t").max().alias("end")
    )
    same_host_next = pl.col("host") == pl.col("host").shift(-1)
    gaps = runs.with_columns(pl.col("end").alias("start"), pl.col("start").shift(-1).alias("end")
                             ).filter(same_host_next.fill_null(False))  # fmt: skip
    per_host = runs.group_by("host", maintain_order=True).agg(
        pl.col("start").min().alias("first"), pl.col("end").max().alias("last")
    )
    before = per_host.filter(pl.col("first") - start > cutoff).select(
        "host", pl.lit(start).alias("start"), pl.col("first").alias("end"))
    after = per_host.filter(end - pl.col("last") > cutoff).select(
        "host", pl.col("last").alias("start"), pl.lit(end).alias("end"))
    new_gpu_run = (pl.col("run") != pl.col("run").shift(1)).fill_null(True) | (
        pl.col("gpu_ok") != pl.col("gpu_ok").shift(1)
    )
    gpu = (
        rows.with_columns(new_gpu_run.cum_sum().alias("grun"))
        .group_by("grun", maintain_order=True)
        .agg(pl.col("host").first(), pl.col("run").first(), pl.col("gpu_ok").first(),
             pl.col("t").first().alias("start"))  # fmt: skip
        .join(runs.select("run", pl.col("end").alias("run_end")), on="run")
        .with_columns(
            pl.when(pl.col("run") == pl.col("run").shift(-1))
            .then(pl.col("start").shift(-1)).otherwise(pl.col("run_end")).alias("end")
        )
    )  # fmt: skip
    silent = pl.DataFrame({"host": silent_hosts, "start": [start] * len(silent_hosts),
                           "end": [end] * len(silent_hosts)}, schema={"host": pl.String,
                           "start": pl.Int64, "end": pl.Int64})  # fmt: skip
    parts = []
    if not opts.only_down:
        parts += [_rows(runs, "host", "up"), _rows(gpu.filter(pl.col("gpu_ok")), "gpu", "up")]
    if not opts.only_up:
        parts += [_rows(frame, "host", "down") for frame in (silent, before, after, gaps)]
        parts.append(_rows(gpu.filter(~pl.col("gpu_ok")), "gpu", "down"))
    result = pl.concat(parts) if parts else pl.DataFrame(schema=_SCHEMA)
    return (
        result.sort(["host", "start", pl.col("device") == "gpu", "end", "state"])
        .with_columns(
            pl.from_epoch("start", "s").dt.replace_time_zone("UTC"),
            pl.from_epoch("end", "s").dt.replace_time_zone("UTC"),
        )
    )  # fmt: skip

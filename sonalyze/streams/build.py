"""Process streams from sample records: keys, order, duplicates, CPU utilisation.

A stream is the records of one (host, process, command).  A process is its
pid, except for rolled-up records written without one (old Sonar), which
are told apart by job: their stream id is `JOB_ID_TAG + job`.  Within a
stream, records are ordered by time (stable, so file order breaks ties),
repeated timestamps keep their first record, and each record's
`cpu_util_pct` is the CPU time used since the previous record over the
time passed; the first record takes Sonar's `cpu%`.  A negative value
(Sonar's counters went backwards) drops the record.  Sonar 0.6 and older
had no CPU time counter, so their records keep `cpu%` throughout.
"""

from __future__ import annotations

import polars as pl

JOB_ID_TAG = 10_000_000

STREAM_KEY = ("host", "stream_pid", "cmd")


def _stream_pid() -> pl.Expr:
    pid = pl.col("pid").fill_null(0)
    rolled_without_pid = (pl.col("rolledup").fill_null(0) > 0) & (pid == 0)
    return (
        pl.when(rolled_without_pid)
        .then(pl.col("job").fill_null(0) + JOB_ID_TAG)
        .otherwise(pid)
        .cast(pl.UInt64)
        .alias("stream_pid")
    )


def _old_sonar(version: pl.Expr) -> pl.Expr:
    """True for versions 0.6.x and older, which have no CPU time counter."""
    parts = version.fill_null("").str.split(".")
    major = parts.list.get(0, null_on_oob=True).cast(pl.Int64, strict=False)
    minor = parts.list.get(1, null_on_oob=True).cast(pl.Int64, strict=False)
    has_three = parts.list.len() >= 3
    return (has_three & (major == 0) & (minor <= 6)).fill_null(False)


def epoch_seconds(column: str = "time") -> pl.Expr:
    """A UTC datetime column as whole seconds since the epoch."""
    return pl.col(column).dt.epoch("s")


def build_streams(samples: pl.LazyFrame) -> pl.LazyFrame:
    """Clean process streams: sorted by (stream, t), one row per sample.

    Adds `t` (epoch seconds), `stream` (dense id, in key order), the
    stream's `stream_job`, `stream_user` and `stream_epoch` (from its first
    record, as the reference keys a stream's job by its first record) and
    `cpu_util_pct`.
    """
    ordered = (
        samples.with_columns(epoch_seconds().alias("t"), _stream_pid())
        .sort([*STREAM_KEY, "t"], maintain_order=True)
    )
    key_changed = pl.any_horizontal(
        [pl.col(c).ne_missing(pl.col(c).shift(1)) for c in STREAM_KEY]
    )
    numbered = ordered.with_columns(key_changed.fill_null(True).cum_sum().alias("stream"))
    deduped = numbered.filter(
        (pl.col("stream") != pl.col("stream").shift(1)).fill_null(True)
        | (pl.col("t") != pl.col("t").shift(1))
    )
    first = (pl.col("stream") != pl.col("stream").shift(1)).fill_null(True)
    dt = (pl.col("t") - pl.col("t").shift(1)).cast(pl.Float64)
    dc = (
        pl.col("cputime_sec").cast(pl.Int64) - pl.col("cputime_sec").shift(1).cast(pl.Int64)
    ).cast(pl.Float64)
    by_counter = (dc / dt * 100.0).cast(pl.Float32)
    old = _old_sonar(pl.col("version").first().over("stream"))
    util = (
        pl.when(first | old).then(pl.col("cpu_pct")).otherwise(by_counter).alias("cpu_util_pct")
    )
    return (
        deduped.with_columns(util, first.alias("_first"))
        .filter(pl.col("_first") | (pl.col("cpu_util_pct") >= 0))
        .drop("_first")
        .with_columns(
            pl.col("job").first().over("stream").fill_null(0).alias("stream_job"),
            pl.col("user").first().over("stream").alias("stream_user"),
            pl.col("epoch").first().over("stream").fill_null(1).alias("stream_epoch"),
        )
    )


def host_bounds(samples: pl.LazyFrame) -> pl.LazyFrame:
    """Earliest and latest sample time per host (epoch seconds), over all records read."""
    return samples.group_by("host").agg(
        epoch_seconds().min().alias("earliest"), epoch_seconds().max().alias("latest")
    )

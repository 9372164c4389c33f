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

from collections.abc import Sequence

import polars as pl

JOB_ID_TAG = 10_000_000


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


def _old_sonar(versions: pl.Series) -> pl.Expr:
    """True for records of versions 0.6.x and older, which have no CPU time counter.

    Decided once per distinct version string (a few), not per record.
    """
    distinct = versions.unique().drop_nulls()
    parts = distinct.str.split(".")
    major = parts.list.get(0, null_on_oob=True).cast(pl.Int64, strict=False)
    minor = parts.list.get(1, null_on_oob=True).cast(pl.Int64, strict=False)
    old = ((parts.list.len() >= 3) & (major == 0) & (minor <= 6)).fill_null(False)
    return pl.col(versions.name).is_in(distinct.filter(old).implode()).fill_null(False)


def _name_rank(names: pl.Series) -> tuple[pl.Expr, int]:
    """Each value's rank among the column's distinct values in sorted order, and how
    many distinct values there are."""
    ordered = names.unique().drop_nulls().sort()
    return pl.col(names.name).cast(pl.Enum(ordered)).to_physical(), ordered.len()


def _packed_order(data: pl.DataFrame, host_names: int, cmd_names: int) -> pl.Expr | None:
    """One unsigned key ordering rows as (host rank, stream pid, cmd rank, t) do, when
    their ranges fit in 64 bits together and none is null; else None.

    A stable sort on one integer takes about 60% of the time of a sort on four
    columns.
    """
    if not data.height or any(data[c].null_count() for c in ("host", "cmd", "t")):
        return None
    t_first: int = data["t"].min()  # type: ignore[assignment]
    t_last: int = data["t"].max()  # type: ignore[assignment]
    pid_last: int = data["stream_pid"].max()  # type: ignore[assignment]
    parts = [(pl.col("_host"), host_names), (pl.col("stream_pid"), pid_last),
             (pl.col("_cmd"), cmd_names), (pl.col("t") - t_first, t_last - t_first)]  # fmt: skip
    widths = [max(1, int(top).bit_length()) for _, top in parts]
    if sum(widths) > 64:
        return None
    key = pl.lit(0, pl.UInt64)
    shift = 64
    for (value, _), width in zip(parts, widths, strict=True):
        shift -= width
        key = key + value.cast(pl.UInt64) * pl.lit(1 << shift, pl.UInt64)
    return key


def epoch_seconds(column: str = "time") -> pl.Expr:
    """A UTC datetime column as whole seconds since the epoch."""
    return pl.col(column).dt.epoch("s")


# The columns the views derived from streams use; `build_streams` keeps these unless
# asked for fewer (a view that reads few) or all (the raw-sample views print any column).
STREAM_COLUMNS = (
    "time", "version", "host", "user", "pid", "job", "epoch", "cmd", "rolledup", "cpu_pct",
    "cputime_sec", "cpu_kib", "rssanon_kib", "gpus", "gpu_pct", "gpumem_pct", "gpu_kib",
    "gpufail", "threads", "in_container", "cpu_sampled_util_pct", "data_read_kib",
    "data_written_kib", "data_cancelled_kib",
)  # fmt: skip


# What the cleaning reads, whatever the caller keeps.
_CLEANING_INPUTS = ("time", "version", "host", "user", "pid", "job", "epoch", "cmd", "rolledup",
                    "cpu_pct", "cputime_sec")  # fmt: skip


def stream_inputs(columns: Sequence[str] = STREAM_COLUMNS, where: pl.Expr | None = None
                  ) -> tuple[str, ...]:  # fmt: skip
    """The sample columns `build_streams(columns=columns, where=where)` reads."""
    filtered_on = where.meta.root_names() if where is not None else []
    return tuple(dict.fromkeys(["host", "user", "cmd", *columns, *_CLEANING_INPUTS, *filtered_on]))


def build_streams(samples: pl.LazyFrame, *, all_columns: bool = False,
                  columns: Sequence[str] = STREAM_COLUMNS,
                  where: pl.Expr | None = None) -> pl.LazyFrame:  # fmt: skip
    """Clean process streams: sorted by (stream, t), one row per sample.

    Keeps the sample `columns` (and host, user, cmd), or every column with
    `all_columns`.  `where` selects the records to use; giving it here rather
    than filtering `samples` first saves a copy of every selected record.

    Adds `t` (epoch seconds), `stream` (dense id, in key order), the
    stream's `stream_job`, `stream_user` and `stream_epoch` (from its first
    record, as the reference keys a stream's job by its first record) and
    `cpu_util_pct`.
    """
    if all_columns:
        kept_columns = list(samples.collect_schema().names())
    else:
        kept_columns = list(dict.fromkeys(["host", "user", "cmd", *columns]))
    needed = list(stream_inputs(kept_columns, where))
    data = samples.select(needed).with_columns(epoch_seconds().alias("t"), _stream_pid()).collect()
    selected = data.lazy().with_row_index("_row")
    if where is not None:
        selected = selected.filter(where)
    # Only the key and the few columns the cleaning needs are sorted; the kept rows of
    # the whole frame are then gathered once, in order, instead of sorted and filtered.
    # Streams are ordered by host and command name (as ranks: sorting small integers
    # is cheaper than sorting strings), then pid, so that the streams of a run of hosts
    # are numbered as they are among all hosts' streams; the row number breaks ties, so
    # repeated timestamps keep the first record.
    (host_rank, host_names), (cmd_rank, cmd_names) = _name_rank(data["host"]), _name_rank(data["cmd"])
    key = ("_host", "stream_pid", "_cmd")
    ordered = selected.select(
        "_row", host_rank.alias("_host"), cmd_rank.alias("_cmd"), "stream_pid", "t",
        "cputime_sec", "cpu_pct", "job", "epoch", _old_sonar(data["version"]).alias("_old"),
    )  # fmt: skip
    packed = _packed_order(data, host_names, cmd_names)
    # Rows are in `_row` order: a stable sort on the packed key breaks ties as `_row` does.
    ordered = (ordered.sort(packed, maintain_order=True) if packed is not None
               else ordered.sort([*key, "t", "_row"]))  # fmt: skip
    key_changed = pl.any_horizontal([pl.col(c).ne_missing(pl.col(c).shift(1)) for c in key])
    numbered = ordered.with_columns(key_changed.fill_null(True).cum_sum().alias("stream"))
    first = (pl.col("stream") != pl.col("stream").shift(1)).fill_null(True)
    first_at_time = first | (pl.col("t") != pl.col("t").shift(1))

    def of_first(value: pl.Expr, start: pl.Expr = first) -> pl.Expr:
        # Rows are grouped, so a group's first value carries forward (no hashing).
        return pl.when(start).then(value).forward_fill()

    # The CPU time before a record is that of the first record at the previous time,
    # found without dropping the repeats first.
    dt = (pl.col("t") - pl.col("t").shift(1)).cast(pl.Float64)
    before = of_first(pl.col("cputime_sec").cast(pl.Int64), first_at_time).shift(1)
    dc = (pl.col("cputime_sec").cast(pl.Int64) - before).cast(pl.Float64)
    by_counter = (dc / dt * 100.0).cast(pl.Float32)
    util = pl.when(first | of_first(pl.col("_old"))).then(pl.col("cpu_pct")).otherwise(by_counter)
    kept = (
        numbered.with_columns(
            util.alias("cpu_util_pct"),
            (first_at_time & (first | (util >= 0))).alias("_keep"),
            of_first(pl.col("job").fill_null(0)).alias("stream_job"),
            of_first(pl.col("epoch").fill_null(1)).alias("stream_epoch"),
        )
        .filter(pl.col("_keep"))
        .select("_row", "stream", "cpu_util_pct", "stream_job", "stream_epoch")
        .collect()
    )  # fmt: skip
    rows = kept["_row"]
    first_row = (pl.col("stream") != pl.col("stream").shift(1)).fill_null(True)
    return (
        data.select(pl.col(*kept_columns, "t", "stream_pid").gather(rows))
        .with_columns(kept.drop("_row"))
        .with_columns(pl.when(first_row).then(pl.col("user").fill_null("")).forward_fill()
                      .alias("stream_user"))
        .lazy()
    )  # fmt: skip


def host_bounds(samples: pl.LazyFrame) -> pl.LazyFrame:
    """Earliest and latest sample time per host (epoch seconds), over all records read."""
    return samples.group_by("host").agg(
        epoch_seconds().min().alias("earliest"), epoch_seconds().max().alias("latest")
    )

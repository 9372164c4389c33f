"""Merging process streams into one synthesised time series per job or host.

Streams are grouped (by job across hosts, by host and job, or by host),
and each group becomes one series of *steps*, with the reference's
alignment rule: a step starts at the earliest time not yet consumed, takes
every stream's next record that lies less than `WINDOW` seconds after
that, and also counts, for `LINGER` seconds after a stream's last record,
that last record again -- so a process that just ended still weighs in
when other hosts' records arrive a little later.  A step's values are sums
over the records it took; its GPU set is their union.

When no stream of a group has two records less than `WINDOW` seconds apart
(always, for Sonar's minutes-apart sampling), steps are found from the
group's distinct times alone: a time starts a step unless it lies within
`WINDOW` of the step before.  Groups with denser streams are stepped
exactly, one step at a time, with a loop over steps (not records).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sonalyze.ingest.schemas import GPUSET_UNKNOWN
from sonalyze.streams.floatsum import running_sums

WINDOW = 10
LINGER = 60
_KEY_SPAN = 1 << 34

SUMMED = (
    "cpu_pct", "cpu_util_pct", "cpu_sampled_util_pct", "gpu_pct", "gpumem_pct",
    "cpu_kib", "rssanon_kib", "gpu_kib", "cputime_sec", "threads", "rolledup",
    "data_read_kib", "data_written_kib", "data_cancelled_kib",
)  # fmt: skip

MODES = ("auto", "job", "host-job", "host")


@dataclass(frozen=True)
class Merged:
    """Synthesised series: `steps` (grp, t, sums, gpus, gpufail, records) and `groups`.

    `groups` has one row per group: grp, job, user, cmd, hosts (sorted
    list), streams (count), t_first, t_last (epoch seconds), and totals
    over its processes: cputime_total (s), read_kib_total,
    written_kib_total (each process's last counter), zombie.
    """

    steps: pl.DataFrame
    groups: pl.DataFrame


def gpus_union(column: pl.Expr) -> pl.Expr:
    """The union of GPU sets; `unknown` if any of them is."""
    union = column.fill_null(0).bitwise_or()
    unknown = pl.lit(GPUSET_UNKNOWN, pl.UInt32)
    return pl.when((union & unknown) != 0).then(unknown).otherwise(union)


# The percentages jobs and load report are added in float32 one record after the other
# (`floatsum`), as the reference adds them; the others are plain sums.
FLOAT32_SUMMED = ("cpu_util_pct", "gpu_pct")


def _sums() -> list[pl.Expr]:
    return [
        *(pl.col(c).fill_null(0).sum().alias(c) for c in SUMMED if c not in FLOAT32_SUMMED),
        gpus_union(pl.col("gpus")).alias("gpus"),
        pl.col("gpufail").fill_null(0).max().alias("gpufail"),
        pl.col("in_container").fill_null(False).any().alias("in_container"),
        pl.col("records").sum().alias("records"),
    ]


def aggregate(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per group of `keys`: the sums, GPU union, failure flag and record count."""
    exact = frame.group_by(keys).agg(_sums())
    return exact.join(running_sums(frame, keys, list(FLOAT32_SUMMED)), on=keys)


def _group_keys(mode: str) -> list[pl.Expr]:
    """Per-stream group key columns (`k_host`, `k_job`, `k_stream`) for a merge mode.

    Job 0 (no job) is never merged: each such stream is a group of its own.
    """
    # COMPAT(jobs-job0): job-0 streams are kept also on hosts that ran no other job.
    job = pl.col("stream_job")
    alone = job == 0
    by_job = {
        "job": pl.lit(True),
        "auto": pl.col("stream_epoch") == 0,
        "host-job": pl.lit(False),
        "host": pl.lit(False),
    }[mode]
    if mode == "host":
        return [pl.col("host").alias("k_host"), pl.lit(0, pl.UInt64).alias("k_job"),
                pl.lit(0, pl.UInt32).alias("k_stream")]  # fmt: skip
    return [
        pl.when(by_job & ~alone).then(pl.lit("")).otherwise(pl.col("host")).alias("k_host"),
        job.cast(pl.UInt64).alias("k_job"),
        pl.when(alone).then(pl.col("stream")).otherwise(0).cast(pl.UInt32).alias("k_stream"),
    ]


def _stream_groups(streams: pl.DataFrame, mode: str) -> pl.DataFrame:
    """One row per stream with its group id `grp`."""
    per_stream = streams.group_by("stream").agg(
        pl.col("host").first(), pl.col("cmd").first(), pl.col("stream_job").first(),
        pl.col("stream_user").first(), pl.col("stream_epoch").first(),
        pl.col("t").min().alias("t_first"), pl.col("t").max().alias("t_last"),
        (pl.col("t").diff().min() < WINDOW).fill_null(False).alias("dense"),
        # COMPAT(jobs-cputime), COMPAT(jobs-io): each process's largest counter, not a sum
        # of counters over samples.
        pl.col("cputime_sec").max().fill_null(0).alias("cputime_total"),
        pl.col("data_read_kib").max().fill_null(0).alias("read_kib_total"),
        pl.col("data_written_kib").max().fill_null(0).alias("written_kib_total"),
    )  # fmt: skip
    keyed = per_stream.with_columns(_group_keys(mode))
    ids = (
        keyed.select("k_host", "k_job", "k_stream").unique()
        .sort("k_host", "k_job", "k_stream").with_row_index("grp")
    )
    return keyed.join(ids, on=["k_host", "k_job", "k_stream"])


def _describe_groups(per_stream: pl.DataFrame, mode: str) -> pl.DataFrame:
    merged_name = pl.lit("_merged_")
    return per_stream.group_by("grp").agg(
        pl.col("stream_job").first().alias("job") if mode != "host"
        else pl.lit(0, pl.UInt64).alias("job"),
        pl.col("stream_user").unique().sort().str.join(",").alias("user") if mode != "host"
        else merged_name.alias("user"),
        pl.col("cmd").unique().sort().str.join(",").alias("cmd") if mode != "host"
        else merged_name.alias("cmd"),
        pl.col("host").unique().sort().alias("hosts"),
        pl.len().alias("streams"),
        pl.col("t_first").min(),
        pl.col("t_last").max(),
        pl.col("dense").any(),
        pl.col("cputime_total").sum(),
        pl.col("read_kib_total").sum(),
        pl.col("written_kib_total").sum(),
        (pl.col("cmd").str.contains("<defunct>", literal=True)
         | pl.col("cmd").str.starts_with("_zombie_")).any().alias("zombie"),
    ).sort("grp")  # fmt: skip


def _cluster_times(times: pl.DataFrame) -> pl.DataFrame:
    """Step start `step` for each distinct (grp, t), sorted; `WINDOW`-wide greedy clusters."""
    times = times.sort("grp", "t")
    new_group = (pl.col("grp") != pl.col("grp").shift(1)).fill_null(True)
    run_start = new_group | ((pl.col("t") - pl.col("t").shift(1)) >= WINDOW)
    runs = times.with_columns(run_start.cum_sum().alias("run"))
    runs = runs.with_columns(
        pl.col("t").first().over("run").alias("step"),
        (pl.col("t").max() - pl.col("t").min()).over("run").alias("span"),
    )
    simple = runs.filter(pl.col("span") < WINDOW).select("grp", "t", "step")
    pending = runs.filter(pl.col("span") >= WINDOW).select("grp", "t", "run")
    resolved = [simple]
    while pending.height:
        pending = pending.with_columns(pl.col("t").first().over("run").alias("step"))
        inside = pl.col("t") < pl.col("step") + WINDOW
        resolved.append(pending.filter(inside).select("grp", "t", "step"))
        pending = pending.filter(~inside).drop("step")
    return pl.concat(resolved).sort("grp", "t")


def _exact_steps(records: pl.DataFrame) -> pl.Series:
    """Step start for each record of one group, stepping exactly as the reference does."""
    import numpy as np  # here, not at import: every command's start-up would pay for it

    t = records["t"].to_numpy()
    stream = records["stream"].to_numpy()
    starts = np.flatnonzero(np.r_[True, stream[1:] != stream[:-1]])
    ends = np.r_[starts[1:], len(t)]
    at = starts.copy()
    step = np.empty(len(t), dtype=np.int64)
    while True:
        live = at < ends
        if not live.any():
            break
        heads = np.where(live, t[np.minimum(at, len(t) - 1)], np.iinfo(np.int64).max)
        low = heads.min()
        take = live & (heads < low + WINDOW)
        step[at[take]] = low
        at[take] += 1
    return pl.Series("step", step)


def _lingering(lasts: pl.DataFrame, steps: pl.DataFrame) -> pl.DataFrame:
    """Each stream's last record again, once for every later step within `LINGER` s."""
    import numpy as np

    step_key = (steps["grp"].cast(pl.Int64) * _KEY_SPAN + steps["step"]).to_numpy()
    base = lasts["grp"].cast(pl.Int64).to_numpy() * _KEY_SPAN + lasts["t"].to_numpy()
    lo = np.searchsorted(step_key, base, side="right")
    hi = np.searchsorted(step_key, base + LINGER, side="right")
    repeated = lasts.with_columns(
        pl.int_ranges(pl.Series(lo), pl.Series(hi)).alias("at")
    ).explode("at").drop_nulls("at")
    if repeated.height == 0:
        return repeated.drop("at").with_columns(pl.lit(0, pl.Int64).alias("step")).clear()
    return repeated.with_columns(
        steps["step"].gather(repeated["at"].cast(pl.UInt32)).alias("step")
    ).drop("at")


def merge_streams(streams: pl.DataFrame, mode: str) -> Merged:
    """Merge clean streams (from `build_streams`, in its order) into one series per group."""
    if mode not in MODES:
        raise ValueError(f"unknown merge mode {mode}")
    per_stream = _stream_groups(streams, mode).sort("stream")
    groups = _describe_groups(per_stream, mode)
    # Stream ids are 1..N and every stream has rows: a gather maps them to groups
    # without a join, and keeps the rows in (stream, t) order.
    grp_of_stream = per_stream["grp"]
    records = streams.with_columns(
        pl.lit(grp_of_stream).gather(pl.col("stream").cast(pl.Int64) - 1).alias("grp"),
        pl.lit(1, pl.UInt32).alias("records"),
    )
    dense_groups = groups.filter(pl.col("dense"))["grp"]
    value_cols = [*SUMMED, "gpus", "gpufail", "in_container", "records"]

    sparse = records.filter(~pl.col("grp").is_in(dense_groups.implode()))
    by_time = aggregate(sparse, ["grp", "t"])
    stepped = [by_time.join(_cluster_times(by_time.select("grp", "t")), on=["grp", "t"])]
    if dense_groups.len():
        for _, group in records.filter(pl.col("grp").is_in(dense_groups.implode())).sort(
            "grp", "stream", "t"
        ).group_by("grp", maintain_order=True):
            stepped.append(group.with_columns(_exact_steps(group)))
    contributions = pl.concat(
        [s.select("grp", "step", *value_cols) for s in stepped], how="vertical_relaxed"
    )
    step_times = contributions.select("grp", "step").unique().sort("grp", "step")
    lasts = records.filter((pl.col("stream") != pl.col("stream").shift(-1)).fill_null(True))
    linger = _lingering(lasts.select("grp", "t", *value_cols), step_times)
    all_parts = pl.concat(
        [contributions, linger.select("grp", "step", *value_cols)], how="vertical_relaxed"
    )
    # COMPAT(merge-rolledup): a step stands for the processes it took and those they rolled up.
    steps = (
        aggregate(all_parts, ["grp", "step"]).rename({"step": "t"}).sort("grp", "t")
        .with_columns((pl.col("rolledup") + pl.col("records") - 1).alias("rolledup"))
    )
    return Merged(steps=steps, groups=groups)


def concat_merged(parts: list[Merged]) -> Merged:
    """Series merged separately for disjoint sets of hosts, as one (groups renumbered).

    Only for merges whose groups never span hosts (modes `host` and `host-job`):
    given the parts in host order, the result is what one merge of all their
    streams gives.  `steps` may be anything keyed by `grp` (per-group buckets, say).
    """
    steps, groups = [], []
    offset = 0
    for part in parts:
        shift = pl.col("grp") + offset
        steps.append(part.steps.with_columns(shift.cast(part.steps["grp"].dtype)))
        groups.append(part.groups.with_columns(shift.cast(part.groups["grp"].dtype)))
        offset += part.groups.height
    if not parts:
        raise ValueError("nothing to concatenate")
    return Merged(steps=pl.concat(steps, how="vertical_relaxed"),
                  groups=pl.concat(groups, how="vertical_relaxed"))  # fmt: skip

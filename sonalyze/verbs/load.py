"""`load`: how busy each host was over time, from its merged samples.

Each host's process streams are merged into one series (every process's
CPU, memory and GPU summed per sample time), then averaged per UTC time
bucket: the mean is over the host's sample times in the bucket, not over
processes.  `--group` sums the hosts' bucketed series into one.  Empty
buckets between the window's start and end are printed as zeros unless
`--compact`.  Rounding follows the reference: absolute values are
truncated to integers, relative ones rounded half away from zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sonalyze.output.fields import Field, FieldTable
from sonalyze.streams.floatsum import round_half_away, running_sums
from sonalyze.streams.merge import gpus_union
from sonalyze.verbs import VerbInfo

_KIB_PER_GIB = 1024 * 1024
BUCKETS = {"half-hourly": 1800, "hourly": 3600, "half-daily": 43200, "daily": 86400,
           "weekly": 604800, "none": 0}  # fmt: skip
_MONDAY_OFFSET_DAYS = 3  # 1970-01-01 was a Thursday

F = Field
FIELDS = FieldTable(
    (
        F("Now", "datetime", "now", "The current time", ("now",)),
        F("DateTime", "datetime", "time", "Timestamp (bucket start)", ("datetime",)),
        F("Date", "date", "time", "Date of the timestamp", ("date",)),
        F("Time", "hhmm", "time", "Time of the timestamp", ("time",)),
        F("Cpu", "int", "cpu", "Average CPU utilization in percent (100% = 1 core)", ("cpu",)),
        F("RelativeCpu", "int", "rcpu",
          "Average relative CPU utilization in percent (100% = all cores)", ("rcpu",)),
        F("VirtualGB", "int", "mem", "Average virtual memory utilization in GiB", ("mem",)),
        F("RelativeVirtualMem", "int", "rmem",
          "Average relative virtual memory utilization in percent (100% = all RAM)", ("rmem",)),
        F("ResidentGB", "int", "res", "Average resident memory utilization in GiB", ("res",)),
        F("RelativeResidentMem", "int", "rres",
          "Average relative resident memory utilization in percent (100% = all RAM)", ("rres",)),
        F("Gpu", "int", "gpu", "Average GPU utilization in percent (100% = 1 card)", ("gpu",)),
        F("RelativeGpu", "int", "rgpu",
          "Average relative GPU utilization in percent (100% = all cards)", ("rgpu",)),
        F("GpuGB", "int", "gpumem", "Average GPU memory utilization in GiB", ("gpumem",)),
        F("RelativeGpuMem", "int", "rgpumem",
          "Average relative GPU memory utilization in percent (100% = all GPU RAM)",
          ("rgpumem",)),
        F("Gpus", "gpuset", "gpus", "GPU device numbers used", ("gpus",)),
        F("Hostname", "str", "host", "Host name, or the compressed set of hosts with --group",
          ("host",)),
    ),
    groups={
        "default": ("date", "time", "cpu", "mem", "gpu", "gpumem"),
        "Default": ("Date", "Time", "Cpu", "ResidentGB", "Gpu", "GpuGB", "Gpus"),
        "all": ("datetime", "host", "cpu", "mem", "res", "gpu", "gpumem", "gpus"),
        "All": ("DateTime", "Hostname", "Cpu", "VirtualGB", "ResidentGB", "Gpu", "GpuGB", "Gpus"),
        "relative": ("rcpu", "rmem", "rres", "rgpu", "rgpumem"),
        "Relative": ("RelativeCpu", "RelativeVirtualMem", "RelativeResidentMem", "RelativeGpu",
                     "RelativeGpuMem"),
    },
)  # fmt: skip

INFO = VerbInfo(
    "load",
    (),
    "Compute aggregate load for hosts and groups of hosts, per time bucket.",
    FIELDS,
)

# The merged step values `bucketed` reads.
STEP_VALUES = ("cpu_util_pct", "gpu_pct", "cpu_kib", "rssanon_kib", "gpu_kib", "gpus")

RELATIVE_COLUMNS = frozenset({"rcpu", "rmem", "rres", "rgpu", "rgpumem"})


@dataclass(frozen=True)
class LoadOptions:
    """Bucketing and printing options of `load`."""

    bucket: str = "hourly"
    group: bool = False
    last: bool = False
    compact: bool = False


def bucket_start(t: pl.Expr, bucket: str) -> pl.Expr:
    """Epoch seconds truncated to the start of their UTC bucket (Monday for weeks)."""
    if bucket == "none":
        return t
    if bucket == "weekly":
        days = t // 86400
        return (days - (days + _MONDAY_OFFSET_DAYS) % 7) * 86400
    step = BUCKETS[bucket]
    return t - t % step


def bucketed(steps: pl.DataFrame, bucket: str) -> pl.DataFrame:
    """Per series (`grp`) and bucket: the mean of the merged samples in it.

    CPU and GPU percentages are means in 32-bit floats (summed in time
    order), memory in whole KiB (floored), as the reference computes them.
    """
    columns = ["grp", "t", *STEP_VALUES]
    if bucket == "none":
        return steps.select(columns)
    n = pl.len()
    in_buckets = steps.sort("grp", "t").with_columns(bucket_start(pl.col("t"), bucket).alias("t"))
    means = in_buckets.group_by("grp", "t").agg(
        n.alias("_n"),
        *(pl.col(c).sum() // n for c in ("cpu_kib", "rssanon_kib", "gpu_kib")),
        gpus_union(pl.col("gpus")).alias("gpus"),
    )
    floats = running_sums(in_buckets, ["grp", "t"], ["cpu_util_pct", "gpu_pct"])
    return (
        means.join(floats, on=["grp", "t"])
        .with_columns((pl.col(c) / pl.col("_n").cast(pl.Float32)).alias(c)
                      for c in ("cpu_util_pct", "gpu_pct"))
        .sort("grp", "t")
        .select(columns)
    )  # fmt: skip


def grouped(series: pl.DataFrame) -> pl.DataFrame:
    """All series summed per bucket into one series (`grp` 0)."""
    ordered = series.sort("grp", "t")
    floats = running_sums(ordered, ["t"], ["cpu_util_pct", "gpu_pct"])
    return (
        ordered.group_by("t")
        .agg(pl.col("cpu_kib").sum(), pl.col("rssanon_kib").sum(), pl.col("gpu_kib").sum(),
             gpus_union(pl.col("gpus")).alias("gpus"))  # fmt: skip
        .join(floats, on="t")
        .with_columns(pl.lit(0, pl.UInt32).alias("grp"))
        .sort("t")
        .select(series.columns)
    )  # fmt: skip


def filled(series: pl.DataFrame, bucket: str, start: int, end: int) -> pl.DataFrame:
    """Zero rows for the empty buckets from `start`'s bucket to `end`'s, inclusive."""
    first = pl.select(bucket_start(pl.lit(start, pl.Int64), bucket)).item()
    last = pl.select(bucket_start(pl.lit(end, pl.Int64), bucket)).item()
    if last < first or series.height == 0:
        return series
    grid = pl.DataFrame({"t": pl.int_range(first, last + 1, BUCKETS[bucket], eager=True)})
    slots = series.select("grp").unique().join(grid, how="cross")
    empty = slots.join(series.select("grp", "t"), on=["grp", "t"], how="anti").with_columns(
        pl.lit(0.0, pl.Float32).alias("cpu_util_pct"), pl.lit(0.0, pl.Float32).alias("gpu_pct"),
        *(pl.lit(0, pl.UInt64).alias(c) for c in ("cpu_kib", "rssanon_kib", "gpu_kib")),
        pl.lit(0, pl.UInt32).alias("gpus"),
    )  # fmt: skip
    return pl.concat([series, empty.select(series.columns)], how="vertical_relaxed").sort("grp", "t")


def last_only(series: pl.DataFrame) -> pl.DataFrame:
    """Each series' final row."""
    return series.group_by("grp", maintain_order=True).last()


def _relative(value: pl.Expr, capacity: str, scale: float) -> pl.Expr:
    cap = pl.col(capacity).cast(pl.Float64)
    return pl.when(cap > 0).then(round_half_away(value * scale / cap)).otherwise(0).fill_null(0)


def report(series: pl.DataFrame, capacity: pl.DataFrame, now) -> pl.DataFrame:
    """The printed values per row; `capacity` has grp, name, description and the capacities."""
    gib = [(pl.col(c).cast(pl.Float64) / _KIB_PER_GIB) for c in ("cpu_kib", "rssanon_kib", "gpu_kib")]
    return series.join(capacity, on="grp", how="left").select(
        "grp",
        pl.col("name").alias("host"),
        pl.from_epoch("t", "s").dt.replace_time_zone("UTC").alias("time"),
        pl.lit(now).alias("now"),
        pl.col("cpu_util_pct").cast(pl.Int64).alias("cpu"),
        (pl.col("cpu_kib") // _KIB_PER_GIB).cast(pl.Int64).alias("mem"),
        (pl.col("rssanon_kib") // _KIB_PER_GIB).cast(pl.Int64).alias("res"),
        pl.col("gpu_pct").cast(pl.Int64).alias("gpu"),
        (pl.col("gpu_kib") // _KIB_PER_GIB).cast(pl.Int64).alias("gpumem"),
        _relative(pl.col("cpu_util_pct").cast(pl.Float64), "cpu_cores", 1.0).alias("rcpu"),
        _relative(gib[0], "mem_gb", 100.0).alias("rmem"),
        _relative(gib[1], "mem_gb", 100.0).alias("rres"),
        _relative(pl.col("gpu_pct").cast(pl.Float64), "gpu_cards", 1.0).alias("rgpu"),
        _relative(gib[2], "gpumem_gb", 100.0).alias("rgpumem"),
        "gpus",
    )  # fmt: skip

"""`sample` (alias `parse`): the raw Sonar process samples, filtered.

Rows come in data order (day directory, file name, line); the Go
sonalyze's order varies from run to run, ours does not.  Default output is
headerless CSV of `job,user,cmd`, as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from sonalyze.output.fields import Field, FieldTable
from sonalyze.verbs import VerbInfo
from sonalyze.verbs.filters import RecordFilter

F = Field
FIELDS = FieldTable(
    (
        F("Version", "str", "version", "Semver string (MAJOR.MINOR.BUGFIX)", ("version", "v")),
        F("Timestamp", "datetime", "time", "Timestamp of record", ("localtime",)),
        F("time", "isotime", "time", "Timestamp of record"),
        F("Hostname", "str", "host", "Host name (FQDN)", ("host",)),
        F("NumCores", "uint", "cores", "Total number of cores (including hyperthreads)",
          ("Cores", "cores")),
        F("NumThreads", "uint", "threads", "Number of threads active", ("Threads", "threads")),
        F("MemtotalKB", "uint", "memtotal_kib", "Installed main memory"),
        F("memtotal", "gib", "memtotal_kib", "Installed main memory (GB)"),
        F("User", "str", "user", "Username of process owner", ("user",)),
        F("Pid", "uint", "pid", "Process ID", ("pid",)),
        F("Ppid", "uint", "ppid", "Process parent ID", ("ppid",)),
        F("Job", "uint", "job", "Job ID", ("job",)),
        F("Cmd", "str", "cmd", "Command name", ("cmd",)),
        F("CpuPct", "f32", "cpu_pct", "cpu% reading (CONSULT DOCUMENTATION)", ("cpu_pct", "cpu%")),
        F("CpuKB", "uint", "cpu_kib", "Virtual memory reading", ("cpukib",)),
        F("mem_gb", "gib", "cpu_kib", "Virtual memory reading"),
        F("RssAnonKB", "uint", "rssanon_kib", "RssAnon reading"),
        F("res_gb", "gib", "rssanon_kib", "RssAnon reading"),
        F("Gpus", "gpuset", "gpus", "GPU set (`none`,`unknown`,list)", ("gpus",)),
        F("GpuPct", "f32", "gpu_pct", "GPU utilization reading", ("gpu_pct", "gpu%")),
        F("GpuMemPct", "f32", "gpumem_pct", "GPU memory percentage reading",
          ("gpumem_pct", "gpumem%")),
        F("GpuKB", "uint", "gpu_kib", "GPU memory utilization reading", ("gpukib",)),
        F("gpumem_gb", "gib", "gpu_kib", "GPU memory utilization reading"),
        F("GpuFail", "uint", "gpufail", "GPU status flag (0=ok, 1=error state)",
          ("gpu_status", "gpufail")),
        F("CpuTimeSec", "uint", "cputime_sec",
          "CPU time since last reading (seconds, CONSULT DOCUMENTATION)", ("cputime_sec",)),
        F("Rolledup", "uint", "rolledup", "Number of rolled-up processes, minus 1", ("rolledup",)),
        F("Flags", "uint", "flags", "Bit vector of flags, UTSL"),
        F("CpuUtilPct", "f32", "cpu_util_pct",
          "CPU utilization since last reading (percent, CONSULT DOCUMENTATION)",
          ("cpu_util_pct",)),
        F("InContainer", "bool", "in_container", "True if process runs in container",
          ("contained",)),
        F("CpuSampledUtilPct", "f32", "cpu_sampled_util_pct",
          "Sampled CPU utilization (percent, CONSULT DOCUMENTATION)", ("cpu_util_sampled",)),
        F("DataReadKB", "uint", "data_read_kib", "All read traffic", ("read",)),
        F("DataWrittenKB", "uint", "data_written_kib", "All write traffic", ("written",)),
        F("DataCancelledKB", "uint", "data_cancelled_kib", "All cancelled write traffic",
          ("cancelled",)),
    ),
    groups={
        "default": ("job", "user", "cmd"),
        "Default": ("Job", "User", "Cmd"),
        "all": ("version", "localtime", "host", "cores", "threads", "memtotal", "user", "pid",
                "job", "cmd", "cpu_pct", "mem_gb", "res_gb", "gpus", "gpu_pct", "gpumem_pct",
                "gpumem_gb", "gpu_status", "cputime_sec", "rolledup", "cpu_util_pct"),
        "All": ("Version", "Timestamp", "Hostname", "Cores", "Threads", "MemtotalKB", "User",
                "Pid", "Ppid", "Job", "Cmd", "CpuPct", "CpuKB", "RssAnonKB", "Gpus", "GpuPct",
                "GpuMemPct", "GpuKB", "GpuFail", "CpuTimeSec", "Rolledup", "CpuUtilPct"),
        "roundtrip": ("v", "time", "host", "cores", "user", "job", "pid", "cmd", "cpu%",
                      "cpukib", "gpus", "gpu%", "gpumem%", "gpukib", "gpufail", "cputime_sec",
                      "rolledup"),
    },
)  # fmt: skip

INFO = VerbInfo(
    "sample",
    ("parse",),
    "Print raw Sonar process samples, filtered by time, host, user, job and command.",
    FIELDS,
    default_format="csv",
)


@dataclass(frozen=True)
class SampleOptions:
    """Options of `sample`: the record filter (all users by default)."""

    records: RecordFilter = field(default_factory=RecordFilter)


# COMPAT(order): rows stay in data order (day, file, line).
def run(samples: pl.LazyFrame, opts: SampleOptions) -> pl.DataFrame:
    """The filtered samples.  CPU utilisation needs stream processing, so it is 0 here."""
    return (
        samples.filter(opts.records.predicate())
        .with_columns(pl.lit(0.0, pl.Float32).alias("cpu_util_pct"))
        .collect()
    )


STREAM_VIEWS = ("clean", "merge-by-job", "merge-by-host-and-job")


def stream_rows(samples: pl.LazyFrame, view: str, last: int) -> pl.DataFrame:
    """Samples as streams, for `--clean` and the `--merge-by-*` views.

    Returns the sample columns plus `stream_no`, numbering the streams in
    the reference's order: first sample's host, time, job, command.
    `last` > 0 keeps each stream's last `last` samples.
    """
    from sonalyze.streams.build import build_streams
    from sonalyze.streams.merge import merge_streams

    streams = build_streams(samples, all_columns=True).collect()
    if view == "clean":
        rows = streams.rename({"stream": "_key"})
    else:
        merged = merge_streams(streams, "job" if view == "merge-by-job" else "host-job")
        names = merged.groups.select(
            "grp", "job", "user", "cmd",
            pl.col("hosts").map_elements(_host_set_name, return_dtype=pl.String).alias("host"),
        )  # fmt: skip
        rows = merged.steps.join(names, on="grp").rename({"grp": "_key"}).with_columns(
            pl.from_epoch("t", "s").dt.replace_time_zone("UTC").alias("time"),
            pl.lit("0.0.0").alias("version"),
            *(pl.lit(0).alias(c) for c in ("cores", "memtotal_kib", "pid", "ppid", "flags")),
        )  # fmt: skip
    rows = rows.sort("_key", "t", maintain_order=True)
    order = (
        rows.group_by("_key", maintain_order=True)
        .agg(pl.col("host").first(), pl.col("t").first(), pl.col("job").first(),
             pl.col("cmd").first())  # fmt: skip
        .sort("host", "t", "job", "cmd", maintain_order=True)
        .with_row_index("stream_no")
        .select("_key", "stream_no")
    )
    rows = rows.join(order, on="_key").sort("stream_no", "t", maintain_order=True)
    if last > 0:
        rows = rows.filter(pl.int_range(pl.len()).reverse().over("stream_no") < last)
    return rows.drop("_key")


def _host_set_name(hosts: pl.Series) -> str:
    from sonalyze.tables.hostglob import compress_hostnames

    return ",".join(compress_hostnames(hosts.to_list()))

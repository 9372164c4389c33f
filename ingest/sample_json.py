"""New-format Sonar sample envelopes (`0+sample-<host>.json`), one line per sample.

Each line holds a node's jobs and their processes plus the node-wide
`system` block.  Processes become `sample` rows (mapped as the Go sonalyze
maps them: threads = num_threads + 1, cores = number of CPUs, GPU figures
summed over the process's cards); a sample with no jobs becomes one
heartbeat row.  The `system` block becomes the extra frames `node` (memory,
load averages, per-CPU seconds) and `gpu` (one row per card).
"""

from __future__ import annotations

import polars as pl

from sonalyze.ingest.envelope import attributes, envelope_schema, split_errors
from sonalyze.ingest.gpuset import mask_from_indices
from sonalyze.ingest.jsonl import read_json_lines
from sonalyze.ingest.numbers import checked_time
from sonalyze.ingest.parsed import Parsed, line_index, problems_from
from sonalyze.ingest.schemas import (
    FLAG_HEARTBEAT,
    GPU_SAMPLE,
    NODE_SAMPLE,
    SAMPLE,
    conform,
    out_of_range,
)

_U64 = pl.UInt64
PROCESS_GPU = pl.Struct(
    {
        "index": _U64,
        "uuid": pl.String,
        "gpu_util": pl.Float64,
        "gpu_memory": _U64,
        "gpu_memory_util": pl.Float64,
    }
)
PROCESS = pl.Struct(
    {
        "resident_memory": _U64,
        "virtual_memory": _U64,
        "cmd": pl.String,
        "pid": _U64,
        "ppid": _U64,
        "in_container": pl.Boolean,
        "num_threads": _U64,
        "cpu_avg": pl.Float64,
        "cpu_util": pl.Float64,
        "cpu_time": _U64,
        "data_read": _U64,
        "data_written": _U64,
        "data_cancelled": _U64,
        "rolledup": pl.Int64,
        "gpus": pl.List(PROCESS_GPU),
    }
)
JOB = pl.Struct({"job": _U64, "user": pl.String, "epoch": _U64, "processes": pl.List(PROCESS)})
SYSTEM_GPU = pl.Struct(
    {
        "index": _U64,
        "uuid": pl.String,
        "failing": _U64,
        "fan": _U64,
        "compute_mode": pl.String,
        "performance_state": _U64,
        "memory": _U64,
        "ce_util": _U64,
        "memory_util": _U64,
        "temperature": pl.Int64,
        "power": _U64,
        "power_limit": _U64,
        "ce_clock": _U64,
        "memory_clock": _U64,
    }
)
SYSTEM = pl.Struct(
    {
        "boot": pl.String,
        "cpus": pl.List(_U64),
        "gpus": pl.List(SYSTEM_GPU),
        "used_memory": _U64,
        "load1": pl.Float64,
        "load5": pl.Float64,
        "load15": pl.Float64,
        "runnable_entities": _U64,
        "existing_entities": _U64,
    }
)
SAMPLE_ATTRIBUTES = pl.Struct(
    {
        "time": pl.String,
        "cluster": pl.String,
        "node": pl.String,
        "system": SYSTEM,
        "jobs": pl.List(JOB),
    }
)
SCHEMA = envelope_schema(SAMPLE_ATTRIBUTES)


def _processes(samples: pl.DataFrame) -> pl.DataFrame:
    failing = pl.col("system").struct.field("gpus").list.eval(
        pl.when(pl.element().struct.field("failing") > 0).then(
            pl.element().struct.field("index").fill_null(0)
        ).drop_nulls()
    )
    jobs = (
        samples.select(
            "lineno",
            "time",
            "version",
            "cluster",
            "host",
            pl.col("system").struct.field("cpus").list.len().cast(pl.UInt32).alias("cores"),
            failing.alias("_failing"),
            "jobs",
        )
        .explode("jobs")
        .filter(pl.col("jobs").is_not_null())
        .unnest("jobs")
        .explode("processes")
        .filter(pl.col("processes").is_not_null())
        .unnest("processes")
    )
    card = pl.col("gpus").list.eval(pl.element().struct.field("index").fill_null(0))
    return jobs.select(
        "lineno",
        "time",
        "version",
        "cluster",
        "host",
        "cores",
        "user",
        pl.col("pid").fill_null(0),
        pl.col("ppid").fill_null(0),
        pl.col("job").fill_null(0),
        pl.col("epoch").fill_null(0),
        pl.col("cmd").fill_null(""),
        pl.col("cpu_avg").fill_null(0).alias("cpu_pct"),
        pl.col("virtual_memory").fill_null(0).alias("cpu_kib"),
        pl.col("resident_memory").fill_null(0).alias("rssanon_kib"),
        mask_from_indices(card).alias("gpus"),
        pl.col("gpus").list.eval(pl.element().struct.field("gpu_util")).list.sum()
        .fill_null(0).alias("gpu_pct"),
        pl.col("gpus").list.eval(pl.element().struct.field("gpu_memory_util")).list.sum()
        .fill_null(0).alias("gpumem_pct"),
        pl.col("gpus").list.eval(pl.element().struct.field("gpu_memory")).list.sum()
        .fill_null(0).alias("gpu_kib"),
        pl.when(card.list.set_intersection(pl.col("_failing")).list.len() > 0)
        .then(1).otherwise(0).alias("gpufail"),
        pl.col("cpu_time").fill_null(0).alias("cputime_sec"),
        pl.col("rolledup").fill_null(0).clip(0).alias("rolledup"),
        pl.lit(0).alias("flags"),
        (pl.col("num_threads").fill_null(0) + 1).alias("threads"),
        pl.col("in_container").fill_null(False),
        pl.col("cpu_util").fill_null(0).alias("cpu_sampled_util_pct"),
        pl.col("data_read").fill_null(0).alias("data_read_kib"),
        pl.col("data_written").fill_null(0).alias("data_written_kib"),
        pl.col("data_cancelled").fill_null(0).alias("data_cancelled_kib"),
    )


def _heartbeats(samples: pl.DataFrame) -> pl.DataFrame:
    no_jobs = pl.col("jobs").is_null() | (pl.col("jobs").list.len() == 0)
    return samples.filter(no_jobs).select(
        "lineno",
        "time",
        "version",
        "cluster",
        "host",
        pl.col("system").struct.field("cpus").list.len().cast(pl.UInt32).alias("cores"),
        pl.lit(FLAG_HEARTBEAT).alias("flags"),
    )


def _node_frames(samples: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series]:
    system = samples.select("lineno", "time", "host", "system").unnest("system")
    boot, _ = checked_time(pl.col("boot"))
    node = system.select(
        "time",
        "host",
        boot.alias("boot"),
        pl.col("used_memory").alias("used_memory_kib"),
        "load1",
        "load5",
        "load15",
        "runnable_entities",
        "existing_entities",
        "cpus",
    )
    gpu = (
        system.select("lineno", "time", "host", "gpus")
        .explode("gpus")
        .filter(pl.col("gpus").is_not_null())
        .unnest("gpus")
        .rename({"memory": "memory_kib"})
        .with_columns(pl.col("index").fill_null(0), pl.col("failing").fill_null(0))
    )
    return conform(node, NODE_SAMPLE), conform(gpu, GPU_SAMPLE), line_index(gpu)


def parse_sample_json(data: bytes) -> Parsed:
    """Parse a new-format sample file into `sample` rows plus `node` and `gpu` frames."""
    raw, problems = read_json_lines(data, SCHEMA)
    good, errored = split_errors(raw)
    problems += problems_from(errored["lineno"], "envelope carries errors or no data")
    flat = attributes(good).rename({"node": "host"})
    time, bad_time = checked_time(pl.col("time"))
    flat = flat.with_columns(
        time.alias("time"),
        pl.when(bad_time | pl.col("time").is_null())
        .then(pl.lit("bad or missing time"))
        .when(pl.col("host").is_null() | (pl.col("host") == ""))
        .then(pl.lit("missing node"))
        .alias("_bad"),
    )
    bad = flat.filter(pl.col("_bad").is_not_null())
    problems += problems_from(bad["lineno"], bad["_bad"])
    samples = flat.filter(pl.col("_bad").is_null())
    rows = pl.concat([_processes(samples), _heartbeats(samples)], how="diagonal_relaxed")
    rows = rows.sort("lineno", maintain_order=True).with_columns(
        out_of_range(rows, SAMPLE).alias("_bad")
    )
    bad_rows = rows.filter(pl.col("_bad").is_not_null()).unique("lineno", keep="first")
    problems += problems_from(bad_rows["lineno"], bad_rows["_bad"])
    rows = rows.filter(pl.col("_bad").is_null())  # other processes of the sample stay
    frame = conform(rows, SAMPLE).with_columns(
        pl.col(c).fill_null(0)
        for c in ("memtotal_kib", "pid", "ppid", "job", "epoch", "cpu_pct", "cpu_kib",
                  "rssanon_kib", "gpus", "gpu_pct", "gpumem_pct", "gpu_kib", "gpufail",
                  "cputime_sec", "rolledup", "threads", "cpu_sampled_util_pct",
                  "data_read_kib", "data_written_kib", "data_cancelled_kib", "cores")
    ).with_columns(pl.col("in_container").fill_null(False), pl.col("cmd").fill_null(""),
                   pl.col("user").fill_null(""))
    node, gpu, gpu_lines = _node_frames(samples)
    problems.sort(key=lambda p: p.line)
    lines = {"": line_index(rows), "node": line_index(samples), "gpu": gpu_lines}
    return Parsed(frame, tuple(problems), extra={"node": node, "gpu": gpu}, lines=lines)

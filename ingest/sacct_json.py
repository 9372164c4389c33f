"""New-format Slurm job envelopes (`0+job-slurm.json`): `slurm_jobs` per line.

Mapped as the Go sonalyze maps them: `time_limit` and `priority` are
"extended" integers (0 unset, 1 infinite, v+2 otherwise), times may be empty
for jobs that have not started or ended (null here), and the optional
`sacct` object carries CPU times and memory high-water marks.
"""

from __future__ import annotations

import polars as pl

from sonalyze.ingest.envelope import attributes, envelope_schema, split_errors
from sonalyze.ingest.jsonl import read_json_lines
from sonalyze.ingest.numbers import checked_time
from sonalyze.ingest.parsed import Parsed, line_index, problems_from
from sonalyze.ingest.schemas import SACCT, conform, out_of_range
from sonalyze.ingest.slurm import gpus_from_tres

_U64 = pl.UInt64
SACCT_DATA = pl.Struct(
    {
        "MinCPU": _U64, "AveCPU": _U64, "UserCPU": _U64, "SystemCPU": _U64,
        "AllocTRES": pl.String, "AveDiskRead": _U64, "AveDiskWrite": _U64, "AveRSS": _U64,
        "AveVMSize": _U64, "MaxRSS": _U64, "MaxVMSize": _U64, "ElapsedRaw": _U64,
    }
)  # fmt: skip
SLURM_JOB = pl.Struct(
    {
        "job_id": _U64, "job_step": pl.String, "job_name": pl.String, "job_state": pl.String,
        "array_job_id": _U64, "array_task_id": _U64, "het_job_id": _U64,
        "het_job_offset": _U64, "user_name": pl.String, "account": pl.String,
        "submit_time": pl.String, "start_time": pl.String, "end_time": pl.String,
        "time_limit": _U64, "partition": pl.String, "reservation": pl.String,
        "nodes": pl.List(pl.String), "priority": _U64, "distribution": pl.String,
        "requested_resources": pl.String, "allocated_resources": pl.String,
        "requested_cpus": _U64, "requested_memory_per_node": _U64,
        "requested_node_count": _U64, "suspend_time": _U64, "exit_code": _U64,
        "sacct": SACCT_DATA,
    }
)  # fmt: skip
JOB_ATTRIBUTES = pl.Struct(
    {"time": pl.String, "cluster": pl.String, "slurm_jobs": pl.List(SLURM_JOB)}
)
SCHEMA = envelope_schema(JOB_ATTRIBUTES)


def _extended(col: str) -> pl.Expr:
    """Extended uint: v+2 -> v; 0 (unset) and 1 (infinite) -> null."""
    value = pl.col(col)
    return pl.when(value >= 2).then(value - 2)


def _time(col: str) -> pl.Expr:
    text = pl.when(pl.col(col) != "").then(pl.col(col))
    return checked_time(text)[0]


def parse_job_json(data: bytes) -> Parsed:
    """Parse a new-format job file into `sacct` rows."""
    raw, problems = read_json_lines(data, SCHEMA)
    good, errored = split_errors(raw)
    problems += problems_from(errored["lineno"], "envelope carries errors or no data")
    flat = attributes(good)
    time, bad_time = checked_time(pl.col("time"))
    flat = flat.with_columns(time.alias("time"), bad_time.alias("_bad"))
    problems += problems_from(flat.filter("_bad")["lineno"], "bad or missing time")
    jobs = (
        flat.filter(~pl.col("_bad"))
        .select("lineno", "time", "version", "cluster", "slurm_jobs")
        .explode("slurm_jobs")
        .filter(pl.col("slurm_jobs").is_not_null())
        .unnest("slurm_jobs")
        .unnest("sacct")
    )
    alloc = pl.coalesce(
        pl.when(pl.col("allocated_resources") != "").then(pl.col("allocated_resources")),
        pl.col("AllocTRES"),
    )
    # The first source with a GPU part wins: job allocation, request, sacct allocation.
    gpu_choices = [gpus_from_tres(pl.col(c)) for c in ("allocated_resources",
                                                       "requested_resources", "AllocTRES")]
    req_gpus = pl.coalesce([pl.when(g != "").then(g) for g in gpu_choices]).fill_null("")
    rows = jobs.select(
        "lineno", "time", "version", "cluster",
        pl.col("job_id").fill_null(0),
        pl.col("job_step").fill_null(""),
        pl.when(pl.col("array_job_id") > 0).then(pl.col("array_job_id")).alias("array_job_id"),
        pl.when(pl.col("array_job_id") > 0).then(pl.col("array_task_id").fill_null(0))
        .alias("array_task_id"),
        pl.when(pl.col("het_job_id") > 0).then(pl.col("het_job_id")).alias("het_job_id"),
        pl.when(pl.col("het_job_id") > 0).then(pl.col("het_job_offset").fill_null(0))
        .alias("het_job_offset"),
        pl.col("user_name").fill_null("").alias("user"),
        pl.col("job_name").fill_null(""),
        pl.col("account").fill_null(""),
        pl.col("job_state").fill_null("").alias("state"),
        pl.col("partition").fill_null(""),
        pl.col("reservation").fill_null(""),
        pl.col("distribution").fill_null("").alias("layout"),
        pl.col("nodes").list.join(",").fill_null("").alias("node_list"),
        _time("submit_time").alias("submit"),
        _time("start_time").alias("start"),
        _time("end_time").alias("end"),
        pl.col("ElapsedRaw").fill_null(0).alias("elapsed_raw"),
        pl.col("suspend_time").fill_null(0).alias("suspended"),
        # COMPAT(sacct-json-timelimit): minutes, as the format says; Go takes them as seconds.
        (_extended("time_limit") * 60).alias("timelimit_raw"),
        pl.col("exit_code").fill_null(0),
        pl.col("requested_cpus").fill_null(0).alias("req_cpus"),
        pl.col("requested_node_count").fill_null(0).alias("req_nodes"),
        pl.col("requested_memory_per_node").fill_null(0).alias("req_mem_kib"),
        req_gpus.alias("req_gpus"),
        alloc.fill_null("").alias("alloc_tres"),
        pl.col("requested_resources").fill_null("").alias("req_tres"),
        _extended("priority").fill_null(0).alias("priority"),
        pl.col("MinCPU").fill_null(0).alias("min_cpu"),
        pl.col("AveCPU").fill_null(0).alias("ave_cpu"),
        pl.col("UserCPU").fill_null(0).alias("user_cpu"),
        pl.col("SystemCPU").fill_null(0).alias("system_cpu"),
        pl.col("AveDiskRead").fill_null(0).alias("ave_disk_read_kib"),
        pl.col("AveDiskWrite").fill_null(0).alias("ave_disk_write_kib"),
        pl.col("AveRSS").fill_null(0).alias("ave_rss_kib"),
        pl.col("AveVMSize").fill_null(0).alias("ave_vmsize_kib"),
        pl.col("MaxRSS").fill_null(0).alias("max_rss_kib"),
        pl.col("MaxVMSize").fill_null(0).alias("max_vmsize_kib"),
    )  # fmt: skip
    rows = rows.with_columns(out_of_range(rows, SACCT).alias("_bad"))
    bad_rows = rows.filter(pl.col("_bad").is_not_null()).unique("lineno", keep="first")
    problems += problems_from(bad_rows["lineno"], bad_rows["_bad"])
    rows = rows.filter(pl.col("_bad").is_null())
    problems.sort(key=lambda p: p.line)
    return Parsed(conform(rows, SACCT), tuple(problems), lines={"": line_index(rows)})

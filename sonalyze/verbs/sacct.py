"""`sacct`: Slurm jobs from the job records, one row per job, with derived figures.

A job is its main record (empty step) plus its steps.  `MaxRSS` is the
largest over the job and all its steps; `RelativeCPU` is used CPU time
(user + system) against requested (CPUs x elapsed); `RelativeResidentMem`
is MaxRSS against requested memory.  Rows are sorted by job id, then array
task, where the reference's order is random.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sonalyze.errors import UsageError
from sonalyze.output.fields import Field, FieldTable
from sonalyze.tables.hostglob import HostFilter, expand_pattern, split_multi_pattern
from sonalyze.verbs import VerbInfo

F = Field
FIELDS = FieldTable(
    (
        F("Start", "isotime_or_unknown", "start", "Start time of job, if any"),
        F("End", "isotime_or_unknown", "end", "End time of job"),
        F("Submit", "isotime_or_unknown", "submit", "Submit time of job"),
        F("RequestedCPU", "int", "requested_cpu", "Requested CPU time (elapsed * cores)"),
        F("UsedCPU", "int", "used_cpu", "Used CPU time"),
        F("RelativeCPU", "int", "relative_cpu",
          "Percent cpu utilization: UsedCPU/RequestedCPU*100", ("rcpu",)),
        F("RelativeResidentMem", "int", "relative_mem",
          "Percent memory utilization: MaxRSS/ReqMem*100", ("rmem",)),
        F("User", "str", "user", "Job's user"),
        F("JobName", "str30", "job_name", "Job name"),
        F("State", "str", "state", "Job completion state"),
        F("Account", "str", "account", "Job's account"),
        F("Reservation", "str", "reservation", "Job's reservation, if any"),
        F("Layout", "str", "layout", "Job's layout, if any"),
        F("NodeList", "str", "node_list", "Job's node list"),
        F("JobID", "int", "job_id", "Primary Job ID"),
        F("MaxRSS", "int", "max_rss", "Max resident set size (RSS) across all steps (KiB)"),
        F("ReqMem", "int", "req_mem_kib", "Raw requested memory (KiB)"),
        F("ReqCPUS", "int", "req_cpus", "Raw requested CPU cores"),
        F("ReqGPUS", "str", "req_gpus", "Raw requested GPU cards"),
        F("ReqNodes", "int", "req_nodes", "Raw requested system nodes"),
        F("ReqRes", "str", "req_tres", "Raw requested resources"),
        F("AllocRes", "str", "alloc_tres", "Raw allocated resources"),
        F("Elapsed", "int", "elapsed_raw", "Time elapsed"),
        F("Suspended", "int", "suspended", "Time suspended"),
        F("Timelimit", "int", "timelimit_raw", "Time limit in seconds"),
        F("ExitCode", "int", "exit_code", "Exit code"),
        F("Wait", "int", "wait", "Wait time of job (start - submit), in seconds"),
        F("Partition", "str", "partition", "Requested partition"),
        F("ArrayJobID", "int", "array_job_id", "ID of the overarching array job"),
        F("ArrayTaskID", "int", "array_task_id", "Index of this job within an array job"),
        F("Priority", "int", "priority", "Job's priority, if any"),
    ),
    groups={
        "default": ("JobID", "JobName", "User", "Account", "rcpu", "rmem"),
        "Default": ("JobID", "JobName", "User", "Account", "RelativeCPU", "RelativeResidentMem"),
        "all": ("JobID", "JobName", "User", "Account", "State", "Start", "End", "Submit",
                "Wait", "Elapsed", "Suspended", "Timelimit", "ExitCode", "RequestedCPU",
                "UsedCPU", "rcpu", "rmem", "MaxRSS", "ReqMem", "ReqCPUS", "ReqGPUS", "ReqNodes",
                "ReqRes", "AllocRes", "Partition", "Reservation", "Layout", "NodeList",
                "ArrayJobID", "ArrayTaskID", "Priority"),
    },
)  # fmt: skip

INFO = VerbInfo(
    "sacct",
    (),
    "Print Slurm jobs from the accounting records, with CPU and memory utilisation.",
    FIELDS,
)

KIB_PER_GB = 1024 * 1024


@dataclass(frozen=True)
class SacctOptions:
    """Job filters; `None` bounds are open."""

    states: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    partitions: tuple[str, ...] = ()
    jobs: tuple[int, ...] = ()
    min_runtime: int = 0
    max_runtime: int | None = None
    min_reserved_mem_gb: int = 0
    max_reserved_mem_gb: int | None = None
    min_reserved_cores: int = 0
    max_reserved_cores: int | None = None
    some_gpu: bool = False
    no_gpu: bool = False
    kind: str = "regular"  # regular | array | het
    hosts: HostFilter = HostFilter()


def _round(x: pl.Expr) -> pl.Expr:
    # Go's math.Round: halves away from zero (all values here are >= 0).
    return (x + 0.5).floor().cast(pl.Int64)


# COMPAT(sacct-maxrss): MaxRSS is the maximum over the job and every step.
def _jobs(records: pl.LazyFrame) -> pl.LazyFrame:
    steps_rss = (
        records.group_by("job_id").agg(pl.col("max_rss_kib").max().alias("max_rss"))
    )
    main = records.filter(pl.col("job_step") == "")
    return main.join(steps_rss, on="job_id", how="left")


def _filter(jobs: pl.LazyFrame, o: SacctOptions) -> pl.LazyFrame:
    keep = pl.lit(True)
    for values, column in ((o.states, "state"), (o.users, "user"), (o.accounts, "account"),
                           (o.partitions, "partition")):  # fmt: skip
        if values:
            keep &= pl.col(column).is_in(list(values))
    if o.jobs:
        ids = list(o.jobs)
        keep &= (
            pl.col("job_id").is_in(ids)
            | pl.col("array_job_id").is_in(ids).fill_null(False)
            | pl.col("het_job_id").is_in(ids).fill_null(False)
        )
    has_gpu = pl.col("req_gpus").fill_null("") != ""
    if o.some_gpu:
        keep &= has_gpu
    if o.no_gpu:
        keep &= ~has_gpu
    elapsed = pl.col("elapsed_raw").cast(pl.Int64)
    keep &= elapsed >= o.min_runtime
    if o.max_runtime is not None:
        keep &= elapsed <= o.max_runtime
    # COMPAT(sacct-mem-filter): GB limits compared with KiB values, converted.
    mem = pl.col("req_mem_kib")
    keep &= mem >= o.min_reserved_mem_gb * KIB_PER_GB
    if o.max_reserved_mem_gb is not None:
        keep &= mem <= o.max_reserved_mem_gb * KIB_PER_GB
    # COMPAT(sacct-reqcpu): ReqCPUS is already the job's total.
    cores = pl.col("req_cpus")
    keep &= cores >= o.min_reserved_cores
    if o.max_reserved_cores is not None:
        keep &= cores <= o.max_reserved_cores
    is_array = pl.col("array_job_id").is_not_null()
    is_het = pl.col("het_job_id").is_not_null()
    keep &= {"regular": ~is_array & ~is_het, "array": is_array, "het": is_het}[o.kind]
    # COMPAT(sacct-host-het): --host filters on the job's nodes (the reference panics).
    if not o.hosts.is_empty:
        nodes = pl.col("node_list").map_elements(_expand_node_list, return_dtype=pl.List(pl.String))
        keep &= nodes.list.eval(pl.element().str.contains(o.hosts.regex())).list.any()
    return jobs.filter(keep)


def _expand_node_list(text: str) -> list[str]:
    # Runs once per job, and only with --host: node lists need pattern expansion.
    try:
        return [n for p in split_multi_pattern(text) for n in expand_pattern(p)] if text else []
    except UsageError:
        return []


def run(records: pl.LazyFrame, opts: SacctOptions) -> pl.DataFrame:
    """One row per job passing the filters, with the derived columns."""
    jobs = _filter(_jobs(records), opts)
    requested = pl.col("req_cpus").cast(pl.Int64) * pl.col("elapsed_raw").cast(pl.Int64)
    used = (pl.col("user_cpu") + pl.col("system_cpu")).cast(pl.Int64)
    return (
        jobs.with_columns(
            requested.alias("requested_cpu"),
            used.alias("used_cpu"),
            pl.when(requested > 0).then(_round(100 * used / requested)).otherwise(0)
            .alias("relative_cpu"),
            pl.when(pl.col("req_mem_kib") > 0)
            .then(_round(100 * pl.col("max_rss") / pl.col("req_mem_kib")))
            .otherwise(0)
            .alias("relative_mem"),
            pl.when(pl.col("start").is_not_null() & pl.col("submit").is_not_null())
            .then((pl.col("start") - pl.col("submit")).dt.total_seconds())
            .otherwise(0)
            .alias("wait"),
            pl.col("timelimit_raw").fill_null(0),
        )
        # COMPAT(order): sorted by job id.
        .sort(["job_id", "array_task_id"], nulls_last=False)
        .collect()
    )

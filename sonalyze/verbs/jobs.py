"""`jobs`: jobs aggregated from process samples, one row per job.

A job is the merged series of its processes' streams (`sonalyze.streams`):
across hosts where the job id is cluster-wide, per host otherwise.  Its
averages and peaks are over the merged series' steps; the relative `r*`
figures are against the capacity of its nodes at its first sample, the
`s*` figures against the GPUs it used.  Slurm fields come from the job's
`sacct` record, `?` where there is none.  Rows are sorted by start time,
then job id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from sonalyze.ingest.schemas import GPUSET_UNKNOWN
from sonalyze.output.fields import Field, FieldTable
from sonalyze.streams.floatsum import running_sums
from sonalyze.streams.merge import Merged, gpus_union
from sonalyze.verbs import VerbInfo

LIVE_AT_START = 2
LIVE_AT_END = 1
_KIB_PER_GIB = 1024 * 1024
_SLURM = "sacct_present"


def _slurm(name: str, kind: str, column: str, desc: str) -> Field:
    return Field(name, kind, column, desc + " (Slurm)", present=_SLURM)


F = Field
_SONAR_FIELDS = (
    F("JobAndMark", "str", "jobm", "Job ID with mark: ! running at start and end of the window, "
      "< at start, > at end", ("jobm",)),
    F("Job", "uint", "job", "Job ID", ("job",)),
    F("User", "str", "user", "Name of user running the job", ("user",)),
    F("Duration", "duration", "duration", "Time of last observation minus time of first",
      ("duration",)),
    F("Start", "datetime", "start", "Time of first observation", ("start",)),
    F("End", "datetime", "end", "Time of last observation", ("end",)),
    F("CpuAvgPct", "ceil", "cpu_avg", "Average CPU utilization in percent (100% = 1 core)",
      ("cpu-avg",)),
    F("CpuPeakPct", "ceil", "cpu_peak", "Peak CPU utilization in percent (100% = 1 core)",
      ("cpu-peak",)),
    F("RelativeCpuAvgPct", "ceil", "rcpu_avg",
      "Average relative CPU utilization in percent (100% = all cores)", ("rcpu-avg",)),
    F("RelativeCpuPeakPct", "ceil", "rcpu_peak",
      "Peak relative CPU utilization in percent (100% = all cores)", ("rcpu-peak",)),
    F("MemAvgGB", "ceil", "mem_avg", "Average main virtual memory utilization in GB",
      ("mem-avg",)),
    F("MemPeakGB", "ceil", "mem_peak", "Peak main virtual memory utilization in GB",
      ("mem-peak",)),
    F("RelativeMemAvgPct", "ceil", "rmem_avg",
      "Average relative main virtual memory utilization in percent (100% = system RAM)",
      ("rmem-avg",)),
    F("RelativeMemPeakPct", "ceil", "rmem_peak",
      "Peak relative main virtual memory utilization in percent (100% = system RAM)",
      ("rmem-peak",)),
    F("ResidentMemAvgGB", "ceil", "res_avg", "Average main resident memory utilization in GB",
      ("res-avg",)),
    F("ResidentMemPeakGB", "ceil", "res_peak", "Peak main resident memory utilization in GB",
      ("res-peak",)),
    F("RelativeResidentMemAvgPct", "ceil", "rres_avg",
      "Average relative main resident memory utilization in percent (100% = all RAM)",
      ("rres-avg",)),
    F("RelativeResidentMemPeakPct", "ceil", "rres_peak",
      "Peak relative main resident memory utilization in percent (100% = all RAM)",
      ("rres-peak",)),
    F("GpuAvgPct", "ceil", "gpu_avg", "Average GPU utilization in percent (100% = 1 card)",
      ("gpu-avg",)),
    F("GpuPeakPct", "ceil", "gpu_peak", "Peak GPU utilization in percent (100% = 1 card)",
      ("gpu-peak",)),
    F("RelativeGpuAvgPct", "ceil", "rgpu_avg",
      "Average relative GPU utilization in percent (100% = all cards)", ("rgpu-avg",)),
    F("RelativeGpuPeakPct", "ceil", "rgpu_peak",
      "Peak relative GPU utilization in percent (100% = all cards)", ("rgpu-peak",)),
    F("OccupiedRelativeGpuAvgPct", "ceil", "sgpu_avg",
      "Average relative GPU utilization in percent (100% = all cards used by job)",
      ("sgpu-avg",)),
    F("OccupiedRelativeGpuPeakPct", "ceil", "sgpu_peak",
      "Peak relative GPU utilization in percent (100% = all cards used by job)",
      ("sgpu-peak",)),
    F("GpuMemAvgGB", "ceil", "gpumem_avg", "Average resident GPU memory utilization in GB",
      ("gpumem-avg",)),
    F("GpuMemPeakGB", "ceil", "gpumem_peak", "Peak resident GPU memory utilization in GB",
      ("gpumem-peak",)),
    F("RelativeGpuMemAvgPct", "ceil", "rgpumem_avg",
      "Average relative GPU resident memory utilization in percent (100% = all GPU RAM)",
      ("rgpumem-avg",)),
    F("RelativeGpuMemPeakPct", "ceil", "rgpumem_peak",
      "Peak relative GPU resident memory utilization in percent (100% = all GPU RAM)",
      ("rgpumem-peak",)),
    F("OccupiedRelativeGpuMemAvgPct", "ceil", "sgpumem_avg",
      "Average relative GPU resident memory utilization in percent "
      "(100% = all GPU RAM on cards used by job)", ("sgpumem-avg",)),
    F("OccupiedRelativeGpuMemPeakPct", "ceil", "sgpumem_peak",
      "Peak relative GPU resident memory utilization in percent "
      "(100% = all GPU RAM on cards used by job)", ("sgpumem-peak",)),
    F("ThreadAvg", "ceil", "thread_avg",
      "Average number of active threads summed across all processes", ("thread-avg",)),
    F("ThreadPeak", "ceil", "thread_peak",
      "Peak number of active threads summed across all processes", ("thread-peak",)),
    F("Gpus", "gpuset", "gpus",
      "GPU device numbers used by the job, 'none' if none or 'unknown' in error states",
      ("gpus",)),
    F("GpuFail", "int", "gpufail", "Flag indicating GPU status (0=Ok, 1=Failing)",
      ("gpufail",)),
    F("Cmd", "str", "cmd", "The commands invoking the processes of the job", ("cmd",)),
    F("Hosts", "hosts", "hosts", "List of the host name(s) running the job", ("host", "hosts")),
    F("Now", "datetime", "now", "The current time", ("now",)),
    F("Classification", "int", "classification",
      "Bit vector of live-at-start (2) and live-at-end (1) flags", ("classification",)),
    F("CpuTime", "duration", "cputime", "Total CPU time of the job across all cores",
      ("cputime",)),
    F("GpuTime", "duration", "gputime", "Total GPU time of the job across all cards",
      ("gputime",)),
    F("ReadGB", "uint", "read_gb", "Total read traffic", ("read",)),
    F("WrittenGB", "uint", "written_gb", "Total write traffic", ("written",)),
    F("SomeGpu", "bool", "some_gpu", "True iff process was seen to use some GPU"),
    F("NoGpu", "bool", "no_gpu", "True iff process was seen to use no GPU"),
    F("Running", "bool", "running",
      "True iff process appears to still be running at end of time window"),
    F("Completed", "bool", "completed",
      "True iff process appears not to be running at end of time window"),
    F("Zombie", "bool", "zombie", "True iff the process looks like a zombie"),
    F("Primordial", "bool", "primordial",
      "True iff the process appears to have been alive at the start of the time window"),
    F("BornLater", "bool", "born_later",
      "True iff the process appears not to have been alive at the start of the time window"),
)  # fmt: skip

# (name, kind, sacct column, description); the column is taken from the job's main record.
SLURM_COLUMNS = (
    ("Account", "str", "account", "Name of job's account"),
    ("ArrayJobID", "uint", "array_job_id", "The overarching ID of an array job, or 0"),
    ("ArrayStep", "str", "job_step", "The name of the step, or empty string"),
    ("ArrayTaskID", "uint", "array_task_id", "The index of the array element"),
    ("AveCPU", "uint", "ave_cpu", "Average (system + user) CPU time of all tasks in job (sec)"),
    ("AveDiskRead", "uint", "ave_disk_read_kib", "Average number of KB read by all tasks in job"),
    ("AveDiskWrite", "uint", "ave_disk_write_kib",
     "Average number of KB written by all tasks in job"),
    ("AveRSS", "uint", "ave_rss_kib", "Average resident set size of all tasks in job (KB)"),
    ("AveVMSize", "uint", "ave_vmsize_kib", "Average Virtual Memory size of all tasks in job (KB)"),
    ("ElapsedRaw", "uint", "elapsed_raw", "The job's elapsed time (sec)"),
    ("ExitCode", "uint", "exit_code", "Exit code of job"),
    ("HetJobID", "uint", "het_job_id", "The overarching ID of a heterogenous job, or 0"),
    ("HetJobOffset", "uint", "het_job_offset", "The het job element's index"),
    ("HetStep", "str", "job_step", "The name of the step, or empty string"),
    ("JobName", "str", "job_name", "Name of the job"),
    ("JobStep", "str", "job_step", "Name of step if any"),
    ("Layout", "str", "layout", "Layout spec of job"),
    ("MaxRSS", "uint", "max_rss_kib", "Maximum resident set size of all tasks in job (KB)"),
    ("MaxVMSize", "uint", "max_vmsize_kib", "Maximum Virtual Memory size of all tasks in job (KB)"),
    ("MinCPU", "uint", "min_cpu", "Minimum (system + user) CPU time of all tasks in job (sec)"),
    ("NodeList", "str", "node_list", "The nodes allocated to the job or step"),
    ("Partition", "str", "partition", "Partition of job"),
    ("Priority", "uint", "priority", "Job priority"),
    ("ReqCPUS", "uint", "req_cpus", "Number of requested CPUs"),
    ("ReqGPUS", "str", "req_gpus", "Names of requested GPUs (Slurm AllocTRES)"),
    ("ReqMem", "uint", "req_mem_kib", "Requested memory in KB"),
    ("ReqNodes", "uint", "req_nodes", "Number of requested nodes"),
    ("Reservation", "str", "reservation", "Name of job's reservation"),
    ("State", "str", "state", "Completion state of job"),
    ("Submit", "datetime", "submit", "Submit time of job"),
    ("Suspended", "uint", "suspended", "Number of seconds the job was suspended"),
    ("SystemCPU", "uint", "system_cpu",
     "The amount of system CPU time used by the job or job step (sec)"),
    ("Time", "datetime", "time", "Time stamp of reading"),
    ("TimelimitRaw", "duration", "timelimit_raw", "Elapsed time limit"),
    ("UserCPU", "uint", "user_cpu", "The amount of user CPU time used by the job or job step (sec)"),
    ("Version", "str", "version", "Version of the record's producer"),
)  # fmt: skip

SLURM_PREFIX = "slurm_"
_SLURM_FIELDS = tuple(
    _slurm(name, kind, SLURM_PREFIX + name, desc) for name, kind, _, desc in SLURM_COLUMNS
)

_PAIRS = (
    ("cpu", "Cpu", "CpuAvgPct", "CpuPeakPct"), ("rcpu", "RelativeCpu", "RelativeCpuAvgPct",
    "RelativeCpuPeakPct"), ("mem", "Mem", "MemAvgGB", "MemPeakGB"),
    ("rmem", "RelativeMem", "RelativeMemAvgPct", "RelativeMemPeakPct"),
    ("res", "ResidentMem", "ResidentMemAvgGB", "ResidentMemPeakGB"),
    ("rres", "RelativeResidentMem", "RelativeResidentMemAvgPct", "RelativeResidentMemPeakPct"),
    ("gpu", "Gpu", "GpuAvgPct", "GpuPeakPct"),
    ("rgpu", "RelativeGpu", "RelativeGpuAvgPct", "RelativeGpuPeakPct"),
    ("sgpu", "OccupiedRelativeGpu", "OccupiedRelativeGpuAvgPct", "OccupiedRelativeGpuPeakPct"),
    ("gpumem", "GpuMem", "GpuMemAvgGB", "GpuMemPeakGB"),
    ("rgpumem", "RelativeGpuMem", "RelativeGpuMemAvgPct", "RelativeGpuMemPeakPct"),
    ("sgpumem", "OccupiedRelativeGpuMem", "OccupiedRelativeGpuMemAvgPct",
     "OccupiedRelativeGpuMemPeakPct"),
)  # fmt: skip

_GROUPS: dict[str, tuple[str, ...]] = {}
for _short, _long, _avg, _peak in _PAIRS:
    _GROUPS[_short] = (f"{_short}-avg", f"{_short}-peak")
    _GROUPS[_long] = (_avg, _peak)
_GROUPS.update({
    "threads": ("thread-avg", "thread-peak"),
    "Threads": ("ThreadAvg", "ThreadPeak"),
    "std": ("jobm", "user", "duration", "host"),
    "Std": ("JobAndMark", "User", "Duration", "Hosts"),
    "default": ("std", "cpu", "mem", "gpu", "gpumem", "cmd"),
    "Default": ("Std", "Cpu", "Mem", "Gpu", "GpuMem", "Cmd"),
    "all": ("jobm", "job", "user", "duration", "duration/sec", "start", "start/sec", "end",
            "end/sec", *(n for p in _PAIRS for n in (f"{p[0]}-avg", f"{p[0]}-peak")),
            "thread-avg", "thread-peak", "gpus", "gpufail", "cmd", "host", "now", "now/sec",
            "classification", "cputime/sec", "cputime", "gputime/sec", "gputime"),
    "All": ("JobAndMark", "Job", "User", "Duration", "Duration/sec", "Start", "Start/sec", "End",
            "End/sec", *(n for p in _PAIRS for n in p[2:]), "ThreadAvg", "ThreadPeak", "Gpus",
            "GpuFail", "Cmd", "Hosts", "Now", "Now/sec", "Classification", "CpuTime/sec",
            "CpuTime", "GpuTime/sec", "GpuTime", "SomeGpu", "NoGpu", "Running", "Completed",
            "Zombie", "Primordial", "BornLater"),
})  # fmt: skip

FIELDS = FieldTable(_SONAR_FIELDS + _SLURM_FIELDS, groups=_GROUPS)

INFO = VerbInfo(
    "jobs",
    (),
    "Aggregate process samples into jobs: CPU, memory and GPU use, duration, hosts.",
    FIELDS,
)

# The filterable aggregates: option stem -> result column.  `--min-<stem>` and
# `--max-<stem>` exist for each.
AGGREGATES = {f"{p[0]}-{k}": f"{p[0]}_{k}" for p in _PAIRS for k in ("avg", "peak")}
_RELATIVE_STEMS = ("rcpu", "rmem", "rres", "rgpu", "sgpu", "rgpumem", "sgpumem")
RELATIVE_COLUMNS = frozenset(f"{s}_{k}" for s in _RELATIVE_STEMS for k in ("avg", "peak"))


def needs_config(columns: set[str]) -> bool:
    """True when any of these result columns is relative to node capacity."""
    return bool(columns & RELATIVE_COLUMNS)


def needs_slurm(columns: set[str]) -> bool:
    """True when any of these result columns comes from `sacct`."""
    return any(c.startswith(SLURM_PREFIX) for c in columns)


@dataclass(frozen=True)
class SlurmFilter:
    """Keep only jobs whose Slurm record matches; jobs without one are kept, as in the reference."""

    partitions: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    reservations: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    gpu_types: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.partitions or self.accounts or self.reservations or self.states
                    or self.gpu_types)  # fmt: skip

    def predicate(self) -> pl.Expr:
        keep = pl.lit(True)
        for values, column in ((self.partitions, "partition"), (self.accounts, "account"),
                               (self.reservations, "reservation"), (self.states, "state")):
            if values:
                keep &= pl.col(column).is_in(list(values))
        if self.gpu_types:
            request = pl.col("req_gpus").fill_null("")
            starts = pl.any_horizontal([request.str.starts_with(g) for g in self.gpu_types])
            keep &= (request != "") & starts
        return keep.fill_null(False)


@dataclass(frozen=True)
class JobsOptions:
    """Aggregate filters and printing options of `jobs`."""

    min_samples: int = 1
    # (column, lowest, highest); None bounds are open.
    bounds: tuple[tuple[str, float | None, float | None], ...] = ()
    min_runtime: int = 0
    some_gpu: bool = False
    no_gpu: bool = False
    running: bool = False
    completed: bool = False
    zombie: bool = False
    slurm: SlurmFilter = field(default_factory=SlurmFilter)
    numjobs: int = 0
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def _gib(kib: pl.Expr) -> pl.Expr:
    return kib.cast(pl.Float64) / _KIB_PER_GIB


_AVERAGED = {"cpu": pl.col("cpu_util_pct").cast(pl.Float64), "mem": _gib(pl.col("cpu_kib")),
             "res": _gib(pl.col("rssanon_kib")), "gpu": pl.col("gpu_pct").cast(pl.Float64),
             "gpumem": _gib(pl.col("gpu_kib")), "thread": pl.col("threads").cast(pl.Float64)}  # fmt: skip
# The merged step values `aggregate` reads.
STEP_VALUES = (*(v.meta.root_names()[0] for v in _AVERAGED.values()), "gpus", "gpufail")


def aggregate(merged: Merged) -> pl.DataFrame:
    """Per group: averages and peaks over the merged steps, and the step count.

    Averages are running float64 sums in time order over the count, the
    reference's arithmetic, so that rounding up lands where it does there.
    """
    values = merged.steps.sort("grp", "t").select(
        "grp", *(v.alias(f"{k}_avg") for k, v in _AVERAGED.items()))
    sums = running_sums(values, ["grp"], [f"{k}_avg" for k in _AVERAGED], dtype="float64")
    rest = merged.steps.group_by("grp").agg(
        pl.len().alias("samples"),
        *(v.max().clip(0).alias(f"{k}_peak") for k, v in _AVERAGED.items()),
        gpus_union(pl.col("gpus")).alias("gpus"),
        pl.col("gpufail").max().cast(pl.Int64).alias("gpufail"),
    )
    return rest.join(sums, on="grp").with_columns(
        pl.col(f"{k}_avg") / pl.col("samples") for k in _AVERAGED)


def _relative(capacity: str, scale: float = 1.0) -> list[pl.Expr]:
    cap = pl.col(capacity).cast(pl.Float64)
    names = {"cpu_cores": ("cpu", "rcpu"), "mem_gb": ("mem", "rmem"),
             "gpu_cards": ("gpu", "rgpu"), "gpumem_gb": ("gpumem", "rgpumem")}[capacity]
    out = []
    for kind in ("avg", "peak"):
        value = pl.col(f"{names[0]}_{kind}") * scale / cap
        out.append(pl.when(cap > 0).then(value).otherwise(0.0).fill_null(0.0)
                   .alias(f"{names[1]}_{kind}"))
    if capacity == "mem_gb":
        for kind in ("avg", "peak"):
            value = pl.col(f"res_{kind}") * scale / cap
            out.append(pl.when(cap > 0).then(value).otherwise(0.0).fill_null(0.0)
                       .alias(f"rres_{kind}"))
    return out


def _occupied() -> list[pl.Expr]:
    cards = pl.col("gpus").cast(pl.UInt32).bitwise_count_ones().cast(pl.Float64)
    known = (pl.col("gpus") != 0) & (pl.col("gpus") != GPUSET_UNKNOWN) & pl.col("known")
    per_card = pl.col("gpumem_gb").cast(pl.Float64) / pl.col("gpu_cards").cast(pl.Float64)
    has_mem = (pl.col("gpu_cards") > 0) & (pl.col("gpumem_gb") > 0)
    out = []
    for kind in ("avg", "peak"):
        out.append(pl.when(known).then(pl.col(f"gpu_{kind}") / cards).otherwise(0.0)
                   .alias(f"sgpu_{kind}"))
        out.append(pl.when(known & has_mem)
                   .then(pl.col(f"gpumem_{kind}") * 100 / (cards * per_card)).otherwise(0.0)
                   .fill_null(0.0).alias(f"sgpumem_{kind}"))
    return out


def summarize(merged: Merged, bounds: pl.DataFrame, capacity: pl.DataFrame | None,
              opts: JobsOptions) -> pl.DataFrame:  # fmt: skip
    """One row per job with every Sonar-derived column (Slurm columns are joined later).

    `bounds` holds each host's earliest and latest sample time;
    `capacity` each group's summed node capacity at its first sample
    (columns grp, cpu_cores, mem_gb, gpu_cards, gpumem_gb, known), or None.
    """
    groups = merged.groups
    host_span = (
        groups.select("grp", "hosts").explode("hosts")
        .join(bounds, left_on="hosts", right_on="host", how="left")
        .group_by("grp").agg(pl.col("earliest").min(), pl.col("latest").max())
    )  # fmt: skip
    rows = aggregate(merged).join(groups, on="grp").join(host_span, on="grp", how="left")
    if capacity is None:
        capacity = groups.select(
            "grp", *(pl.lit(0, pl.Int64).alias(c) for c in
                     ("cpu_cores", "mem_gb", "gpu_cards", "gpumem_gb")),
            pl.lit(False).alias("known"))  # fmt: skip
    rows = rows.join(capacity, on="grp", how="left").with_columns(pl.col("known").fill_null(False))
    rows = rows.with_columns(
        *_relative("cpu_cores"), *_relative("mem_gb", 100.0), *_relative("gpu_cards"),
        *_relative("gpumem_gb", 100.0), *_occupied(),
    )
    duration = pl.col("t_last") - pl.col("t_first")
    at_start = pl.col("t_first") == pl.col("earliest")
    at_end = pl.col("t_last") == pl.col("latest")
    mark = (pl.when(at_start & at_end).then(pl.lit("!")).when(at_start).then(pl.lit("<"))
            .when(at_end).then(pl.lit(">")).otherwise(pl.lit("")))  # fmt: skip
    uses_gpu = pl.col("gpus") != 0
    return rows.with_columns(
        (pl.col("job").cast(pl.String) + mark).alias("jobm"),
        duration.alias("duration"),
        pl.from_epoch("t_first", "s").dt.replace_time_zone("UTC").alias("start"),
        pl.from_epoch("t_last", "s").dt.replace_time_zone("UTC").alias("end"),
        pl.lit(opts.now).dt.replace_time_zone("UTC").alias("now") if opts.now.tzinfo is None
        else pl.lit(opts.now).alias("now"),
        (at_start.cast(pl.Int64) * LIVE_AT_START + at_end.cast(pl.Int64) * LIVE_AT_END)
        .alias("classification"),
        pl.col("cputime_total").cast(pl.Int64).alias("cputime"),
        (pl.col("gpu_avg") * duration / 100).round(0).cast(pl.Int64).alias("gputime"),
        (pl.col("read_kib_total") // _KIB_PER_GIB).alias("read_gb"),
        (pl.col("written_kib_total") // _KIB_PER_GIB).alias("written_gb"),
        uses_gpu.alias("some_gpu"),
        (~uses_gpu).alias("no_gpu"),
        at_end.alias("running"),
        (~at_end).alias("completed"),
        at_start.alias("primordial"),
        (~at_start).alias("born_later"),
        pl.lit(False).alias(_SLURM),
    )  # fmt: skip


def filter_jobs(rows: pl.DataFrame, opts: JobsOptions) -> pl.DataFrame:
    """The aggregate filters: sample count, bounds, runtime and flags."""
    keep = pl.col("samples") >= opts.min_samples
    for column, low, high in opts.bounds:
        if low is not None:
            keep &= pl.col(column) >= low
        if high is not None:
            keep &= pl.col(column) <= high
    keep &= pl.col("duration") >= opts.min_runtime
    for wanted, column in ((opts.some_gpu, "some_gpu"), (opts.no_gpu, "no_gpu"),
                           (opts.running, "running"), (opts.completed, "completed"),
                           (opts.zombie, "zombie")):  # fmt: skip
        if wanted:
            keep &= pl.col(column)
    return rows.filter(keep)


# COMPAT(jobs-slurm-filter): failing jobs are dropped (the reference crashes here).
def join_slurm(rows: pl.DataFrame, sacct: pl.DataFrame, slurm: SlurmFilter) -> pl.DataFrame:
    """Attach each job's main `sacct` record; drop jobs whose record fails the Slurm filter."""
    main = sacct.filter((pl.col("job_step") == "") & pl.col("job_id").is_in(rows["job"].implode()))
    main = main.unique("job_id", keep="last", maintain_order=True)
    if not slurm.is_empty:
        failing = main.filter(~slurm.predicate())["job_id"]
        rows = rows.filter(~pl.col("job").is_in(failing.implode()))
        main = main.filter(slurm.predicate())
    attached = main.select(
        pl.col("job_id").alias("job"),
        pl.lit(True).alias("_present"),
        *(pl.col(column).alias(SLURM_PREFIX + name) for name, _, column, _ in SLURM_COLUMNS),
    )
    joined = rows.drop(_SLURM).join(attached, on="job", how="left")
    return joined.with_columns(
        (pl.col("_present").fill_null(False) & (pl.col("job") != 0)).alias(_SLURM)
    ).drop("_present")


def with_empty_slurm(rows: pl.DataFrame, sacct_schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Absent Slurm columns, typed, so that every field can be printed (as `?`)."""
    return rows.with_columns(
        pl.lit(None, sacct_schema[column]).alias(SLURM_PREFIX + name)
        for name, _, column, _ in SLURM_COLUMNS
    )


def finish(rows: pl.DataFrame, opts: JobsOptions) -> pl.DataFrame:
    """Sort by start, then job; keep each user's `numjobs` latest jobs if asked."""
    rows = rows.sort("t_first", "job", maintain_order=True)
    if opts.numjobs > 0:
        rank = pl.int_range(pl.len()).reverse().over("user")
        rows = rows.filter(rank < opts.numjobs)
    return rows

"""`efficiency`: per job, what Slurm allocated against what was used -- CPU, memory,
GPU, time -- with waste in resource-hours, flags and advice; and per user,
account, partition, job name or command, the same weighted over jobs.

Two sources, joined on the Slurm job id: the `sacct` records (allocation from
`AllocTRES`, CPU time of the job and its steps, the steps' memory high-water
marks, state, time limit) and the Sonar samples merged per job across hosts
(cores busy and memory resident at each sample time, GPU use).  Every
formula and threshold is in docs/efficiency.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from datetime import datetime

import polars as pl

from sonalyze.errors import UsageError
from sonalyze.output.fields import Field, FieldTable
from sonalyze.streams.merge import Merged, gpus_union
from sonalyze.verbs import VerbInfo

_KIB_PER_GIB = 1024 * 1024
_GPUSET_KNOWN = (1 << 31) - 1


@dataclass(frozen=True)
class Thresholds:
    """Flag thresholds (percent, cores, GiB, minutes); see docs/efficiency.md."""

    low_cpu: float = 25.0  # cpu_eff below this
    serial_cores: float = 1.25  # p95 of cores busy at most this, with min_cpus or more
    min_cpus: int = 4  # the core flags only for jobs holding at least this many
    cores_used: float = 50.0  # p95 of cores busy below this share of the cores
    low_mem: float = 25.0  # mem_eff below this, with min_mem_gb or more allocated
    min_mem_gb: float = 4.0
    near_mem: float = 90.0  # mem_eff at least this
    low_gpu: float = 25.0  # gpu_eff below this
    low_time: float = 25.0  # time_eff below this, for jobs with a limit of min_limit_h or more
    min_limit_h: float = 1.0
    short_min: float = 5.0  # run time below this
    sparse: float = 0.5  # coverage below this: too few samples for advice
    hog_cores: float = 2.0  # non-Slurm processes busy on this many cores of a job's node
    mem_headroom: float = 1.2  # advice: memory = peak x this
    time_headroom: float = 1.2  # advice: time = p95 of similar jobs x this

    @classmethod
    def parse(cls, items: list[str], base: Thresholds | None = None) -> Thresholds:
        """`name=value` overrides, e.g. `low_cpu=30`."""
        known = {f.name: f.type for f in fields(cls)}
        changes: dict[str, float | int] = {}
        for item in items:
            name, _, value = item.partition("=")
            name = name.strip().replace("-", "_")
            if name not in known:
                raise UsageError(f"Unknown threshold {name!r}; known: {', '.join(known)}")
            try:
                changes[name] = int(value) if known[name] == "int" else float(value)
            except ValueError:
                raise UsageError(f"Invalid threshold value {item!r}: a number is needed") from None
            if not math.isfinite(changes[name]) or changes[name] < 0:
                raise UsageError(f"Invalid threshold value {item!r}: must be a number >= 0")
        return replace(base or cls(), **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class EfficiencyOptions:
    """The time running jobs are measured to, the sampling interval (None: the median
    gap between a job's sample times, over all jobs), the thresholds."""

    now: datetime
    interval_s: int | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)


F = Field
FIELDS = FieldTable(
    (
        F("job", "str", "job", "Job id: N, N_T for an array task, N+O for a het component",
          ("JobID", "jobid")),
        F("user", "str", "user", "User", ("User",)),
        F("account", "str", "account", "Slurm account", ("Account",)),
        F("partition", "str", "partition", "Slurm partition", ("Partition",)),
        F("state", "str", "state", "Slurm state (the job's last record)", ("State",)),
        F("job_name", "str30", "job_name", "Job name", ("JobName",)),
        F("cmd", "str", "cmd", "The job's commands, from the samples", ()),
        F("hosts", "hosts", "hosts", "Nodes the job ran on (samples, else Slurm)", ()),
        F("start", "isotime", "start", "Start time", ("Start",)),
        F("end", "isotime", "end", "End time (empty while running)", ("End",)),
        F("elapsed", "duration", "elapsed_s", "Run time (up to now while running), less "
          "suspended time", ("Elapsed",)),
        F("time_limit", "duration", "limit_s", "Time limit (? if unlimited)", ("Timelimit",),
          present="has_limit"),
        F("nodes", "uint", "nodes", "Nodes allocated", ()),
        F("cpus", "uint", "cpus", "Cores allocated (AllocTRES cpu)", ()),
        F("mem_gb", "f64", "mem_gb", "Memory allocated, GiB (AllocTRES mem)", ()),
        F("gpus", "uint", "gpus", "GPUs allocated (AllocTRES gres/gpu)", ()),
        F("core_h", "f64", "core_h", "Core-hours allocated: cpus x elapsed", ()),
        F("gpu_h", "f64", "gpu_h", "GPU-hours allocated", ()),
        F("mem_gb_h", "f64", "mem_gb_h", "GiB-hours of memory allocated", ()),
        F("billing_h", "f64", "billing_h", "Billing units x hours (AllocTRES billing)", ()),
        F("cpu_used_h", "f64", "cpu_used_h", "Core-hours used: CPU time (? if unknown)", (),
          present="has_cpu"),
        F("cpu_source", "str", "cpu_source", "Where CPU time came from: sacct or sonar", ()),
        F("cpu_eff", "f64", "cpu_eff", "CPU time / core-hours allocated, percent",
          ("CPUEff", "cpueff"), present="has_cpu"),
        F("cores_mean", "f64", "cores_mean", "Cores busy, mean over sample times", (),
          present="has_sonar"),
        F("cores_p75", "f64", "cores_p75", "Cores busy, 75th percentile", (), present="has_sonar"),
        F("cores_p95", "f64", "cores_p95", "Cores busy, 95th percentile", (), present="has_sonar"),
        F("cores_peak", "f64", "cores_peak", "Cores busy, peak", (), present="has_sonar"),
        F("mem_peak_gb", "f64", "mem_peak_gb", "Memory peak, GiB: the larger of sacct's MaxRSS "
          "and the samples' resident sum", (), present="has_mem"),
        F("mem_median_gb", "f64", "mem_median_gb", "Memory resident, median over sample times",
          (), present="has_sonar"),
        F("mem_p95_gb", "f64", "mem_p95_gb", "Memory resident, 95th percentile", (),
          present="has_sonar"),
        F("mem_eff", "f64", "mem_eff", "Memory peak / memory allocated, percent",
          ("MemEff", "memeff"), present="has_mem"),
        F("time_eff", "f64", "time_eff", "Elapsed / time limit, percent (? if unlimited)",
          ("TimeEff", "timeeff"), present="has_limit"),
        F("gpu_eff", "f64", "gpu_eff", "GPU utilisation, mean over the allocated cards, percent",
          ("GPUEff", "gpueff"), present="has_gpu_use"),
        F("idle_gpus", "uint", "idle_gpus", "Allocated cards never seen busy", (),
          present="has_gpu_use"),
        F("gpu_mem_peak_gb", "f64", "gpu_mem_peak_gb", "GPU memory peak, GiB", (),
          present="has_gpu_use"),
        F("gpu_mem_eff", "f64", "gpu_mem_eff", "GPU memory peak / memory of the allocated "
          "cards, percent", (), present="has_gpu_mem"),
        F("idle_core_h", "f64", "idle_core_h", "Core-hours allocated and not used", (),
          present="has_cpu"),
        F("unused_mem_gb_h", "f64", "unused_mem_gb_h", "GiB-hours allocated above the peak", (),
          present="has_mem"),
        F("idle_gpu_h", "f64", "idle_gpu_h", "GPU-hours allocated and not used", (),
          present="has_gpu_use"),
        F("samples", "uint", "samples", "Sample times seen for the job", ()),
        F("coverage", "f64", "coverage", "Share of the run time the samples cover, 0-1", ()),
        F("quality", "str", "quality", "ok, short, sparse, no_sonar or no_sacct", ()),
        F("flags", "strings", "flags", "What looks wrong (docs/efficiency.md)", ("Flags",)),
        F("advice", "str", "advice", "#SBATCH lines for the next such job (quality ok only)", ()),
    ),
    groups={
        "default": ("job", "state", "elapsed", "time_eff", "cpu_eff", "mem_eff", "gpu_eff",
                    "flags"),
        "Default": ("JobID", "State", "Elapsed", "TimeEff", "CPUEff", "MemEff", "GPUEff",
                    "Flags"),
        "alloc": ("job", "user", "account", "nodes", "cpus", "mem_gb", "gpus", "core_h",
                  "gpu_h", "mem_gb_h", "billing_h"),
        "waste": ("job", "user", "idle_core_h", "unused_mem_gb_h", "idle_gpu_h", "flags"),
        "all": ("job", "user", "account", "partition", "state", "job_name", "cmd", "hosts",
                "start", "end", "elapsed", "time_limit", "nodes", "cpus", "mem_gb", "gpus",
                "core_h", "gpu_h", "mem_gb_h", "billing_h", "cpu_used_h", "cpu_source",
                "cpu_eff", "cores_mean", "cores_p75", "cores_p95", "cores_peak", "mem_peak_gb",
                "mem_median_gb", "mem_p95_gb", "mem_eff", "time_eff", "gpu_eff", "idle_gpus",
                "gpu_mem_peak_gb", "gpu_mem_eff", "idle_core_h", "unused_mem_gb_h", "idle_gpu_h", "samples",
                "coverage", "quality", "flags", "advice"),
    },
)  # fmt: skip

INFO = VerbInfo("efficiency", ("eff",), "What each job was allocated against what it used, "
                "with waste, flags and advice.", FIELDS)  # fmt: skip


def _tres(name: str) -> pl.Expr:
    """A count from `AllocTRES` (`cpu=`, `node=`, `billing=`, `gres/gpu=`), null if absent."""
    pattern = rf"(?:^|,){name}=(\d+)(?:,|$)"
    return pl.col("alloc_tres").str.extract(pattern, 1).cast(pl.UInt64, strict=False)


def _tres_mem_kib() -> pl.Expr:
    """`mem=` of `AllocTRES` in KiB (Slurm's unit is M when none is written), null if absent."""
    found = pl.col("alloc_tres").str.extract_groups(r"(?:^|,)mem=([0-9.]+)([KMGTP]?)(?:,|$)")
    scale = found.struct.field("2").replace_strict(
        {"K": 1, "": 1024, "M": 1024, "G": 1024**2, "T": 1024**3, "P": 1024**4},
        default=None, return_dtype=pl.Float64)  # fmt: skip
    return found.struct.field("1").cast(pl.Float64, strict=False) * scale


def job_label() -> pl.Expr:
    """The id users write: `N`, `N_T` (array task) or `N+O` (het component)."""
    return (
        pl.when(pl.col("array_job_id").is_not_null() & pl.col("array_task_id").is_not_null())
        .then(pl.format("{}_{}", pl.col("array_job_id"), pl.col("array_task_id")))
        .when(pl.col("het_job_id").is_not_null() & pl.col("het_job_offset").is_not_null())
        .then(pl.format("{}+{}", pl.col("het_job_id"), pl.col("het_job_offset")))
        .otherwise(pl.col("job_id").cast(pl.String))
    )


def slurm_jobs(sacct: pl.DataFrame) -> pl.DataFrame:
    """One row per job (array task, het component) from its record and its steps'.

    CPU time is the job record's user + system time; if that is 0, the sum over
    its steps'.  Memory is the largest step MaxRSS; unknown (null, not 0) when
    there are no step records or none measured any.
    """
    if not sacct.height:
        return pl.DataFrame(schema=_SLURM_SCHEMA)
    cpu = (pl.col("user_cpu").fill_null(0) + pl.col("system_cpu").fill_null(0)).cast(pl.Float64)
    steps = (
        sacct.filter(pl.col("job_step") != "")
        .group_by("job_id")
        .agg(cpu.sum().alias("_steps_cpu"), pl.col("max_rss_kib").max().alias("_steps_mem"))
    )
    jobs = sacct.filter(pl.col("job_step") == "").join(steps, on="job_id", how="left")
    cpu_s = pl.when(cpu > 0).then(cpu).when(pl.col("_steps_cpu") > 0).then(pl.col("_steps_cpu"))
    return jobs.select(
        "job_id", job_label().alias("job"), "user", "account", "partition", "state", "job_name",
        "start", "end", "node_list",
        pl.col("elapsed_raw").cast(pl.Float64).alias("slurm_elapsed_s"),
        pl.col("suspended").fill_null(0).cast(pl.Float64).alias("suspended_s"),
        pl.when(pl.col("timelimit_raw") > 0).then(pl.col("timelimit_raw").cast(pl.Float64))
        .alias("limit_s"),
        pl.coalesce(_tres("cpu"), pl.col("req_cpus")).alias("cpus"),
        pl.coalesce(_tres_mem_kib(), pl.col("req_mem_kib").cast(pl.Float64)).alias("mem_kib"),
        _tres("gres/gpu").fill_null(0).alias("gpus"),
        pl.col("alloc_tres").str.extract(r"gres/gpu:([^=,]+)=", 1).fill_null("").alias("gpu_type"),
        pl.coalesce(_tres("node"), pl.col("req_nodes")).alias("nodes"),
        pl.coalesce(_tres("billing"), _tres("cpu"), pl.col("req_cpus")).alias("billing"),
        cpu_s.alias("slurm_cpu_s"),
        pl.when(pl.col("_steps_mem") > 0).then(pl.col("_steps_mem").cast(pl.Float64))
        .alias("slurm_mem_kib"),
    )  # fmt: skip


_SLURM_SCHEMA: dict[str, pl.DataType] = {
    "job_id": pl.UInt64(), "job": pl.String(), "user": pl.String(), "account": pl.String(),
    "partition": pl.String(), "state": pl.String(), "job_name": pl.String(),
    "start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC"), "node_list": pl.String(),
    "slurm_elapsed_s": pl.Float64(), "suspended_s": pl.Float64(), "limit_s": pl.Float64(),
    "cpus": pl.UInt64(), "mem_kib": pl.Float64(), "gpus": pl.UInt64(), "gpu_type": pl.String(),
    "nodes": pl.UInt64(),
    "billing": pl.UInt64(), "slurm_cpu_s": pl.Float64(), "slurm_mem_kib": pl.Float64(),
}  # fmt: skip

_SONAR_SCHEMA: dict[str, pl.DataType] = {
    "job_id": pl.UInt64(), "sonar_user": pl.String(), "cmd": pl.String(),
    "hosts": pl.List(pl.String()), "samples": pl.UInt32(), "t_first": pl.Int64(),
    "t_last": pl.Int64(), "sonar_cpu_s": pl.Float64(), "cores_mean": pl.Float64(),
    "cores_p75": pl.Float64(), "cores_p95": pl.Float64(), "cores_peak": pl.Float64(),
    "sonar_mem_kib": pl.Float64(), "mem_median_kib": pl.Float64(), "mem_p95_kib": pl.Float64(),
    "gpu_pct_mean": pl.Float64(), "gpu_kib_peak": pl.Float64(), "cards_busy": pl.UInt32(),
}  # fmt: skip


def sonar_usage(merged: Merged) -> pl.DataFrame:
    """Per Slurm job (merged across hosts): what its processes used, per sample time."""
    if not merged.steps.height:
        return pl.DataFrame(schema=_SONAR_SCHEMA)
    cores = pl.col("cpu_util_pct").cast(pl.Float64) / 100
    mem = pl.col("rssanon_kib").cast(pl.Float64)
    busy_cards = gpus_union(pl.col("gpus").filter(pl.col("gpu_pct") > 0)) & _GPUSET_KNOWN
    per_group = merged.steps.group_by("grp").agg(
        pl.len().cast(pl.UInt32).alias("samples"),
        cores.mean().alias("cores_mean"),
        cores.quantile(0.75, "linear").alias("cores_p75"),
        cores.quantile(0.95, "linear").alias("cores_p95"),
        cores.max().alias("cores_peak"),
        mem.max().alias("sonar_mem_kib"),
        mem.median().alias("mem_median_kib"),
        mem.quantile(0.95, "linear").alias("mem_p95_kib"),
        pl.col("gpu_pct").cast(pl.Float64).mean().alias("gpu_pct_mean"),
        pl.col("gpu_kib").cast(pl.Float64).max().alias("gpu_kib_peak"),
        busy_cards.fill_null(0).bitwise_count_ones().cast(pl.UInt32).alias("cards_busy"),
    )
    groups = merged.groups.filter(pl.col("job") > 0).select(
        "grp", pl.col("job").cast(pl.UInt64).alias("job_id"), pl.col("user").alias("sonar_user"),
        "cmd", "hosts", "t_first", "t_last",
        pl.col("cputime_total").cast(pl.Float64).alias("sonar_cpu_s"),
    )
    return groups.join(per_group, on="grp").drop("grp").select(list(_SONAR_SCHEMA))


DEFAULT_INTERVAL_S = 300


def sampling_interval(sonar: pl.DataFrame) -> int:
    """Sonar's interval as the data show it: the median over jobs of the mean gap between
    their sample times (5 minutes, Sonar's default, when no job has two samples)."""
    gaps = sonar.filter(pl.col("samples") >= 2).select(
        ((pl.col("t_last") - pl.col("t_first")) / (pl.col("samples") - 1)).median()
    ).item() if sonar.height else None
    return int(round(gaps)) if gaps else DEFAULT_INTERVAL_S


def hog_samples(streams: pl.DataFrame, cores: float) -> pl.DataFrame:
    """(host, t) where processes outside Slurm (job 0) kept at least `cores` cores busy."""
    return (
        streams.filter(pl.col("job") == 0)
        .group_by("host", "t").agg(pl.col("cpu_util_pct").cast(pl.Float64).sum())
        .filter(pl.col("cpu_util_pct") >= 100 * cores)
        .select("host", "t")
    )  # fmt: skip


def _hogged(rows: pl.DataFrame, hogs: pl.DataFrame) -> pl.Series:
    """Per row, whether a hog sample lies on one of its hosts within its run."""
    if not hogs.height or not rows.height:
        return pl.Series("hogged", [False] * rows.height)
    spans = rows.with_row_index("_row").select(
        "_row", pl.col("hosts").alias("host"),
        pl.coalesce(pl.col("start").dt.epoch("s"), pl.col("t_first")).alias("_from"),
        pl.coalesce(pl.col("end").dt.epoch("s"), pl.col("t_last"), pl.lit(2**62)).alias("_to"),
    ).explode("host")  # fmt: skip
    hit = (
        spans.join(hogs, on="host")
        .filter(pl.col("t").is_between(pl.col("_from"), pl.col("_to")))
        .select("_row").unique()
    )
    return rows.with_row_index("_row").select(
        pl.col("_row").is_in(hit["_row"].implode()).alias("hogged"))["hogged"]


def run(slurm: pl.DataFrame, sonar: pl.DataFrame, opts: EfficiencyOptions,
        hogs: pl.DataFrame | None = None) -> pl.DataFrame:  # fmt: skip
    """One row per job: allocation, use, efficiencies, waste, quality, flags, advice.

    `hogs` (from `hog_samples`) are the sample times at which non-Slurm processes
    kept a node busy."""
    t = opts.thresholds
    now = pl.lit(opts.now)
    interval = opts.interval_s or sampling_interval(sonar)
    if "card_gb" not in sonar.columns:
        sonar = sonar.with_columns(pl.lit(None, pl.Float64).alias("card_gb"))
    rows = slurm.join(sonar, on="job_id", how="full", coalesce=True).with_columns(
        pl.col("slurm_elapsed_s").is_not_null().alias("has_sacct"),
        (pl.col("samples").fill_null(0) > 0).alias("has_sonar"),
    )
    running = pl.col("has_sacct") & pl.col("end").is_null() & pl.col("start").is_not_null()
    sonar_span = (pl.col("t_last") - pl.col("t_first") + interval).cast(pl.Float64)
    elapsed = (
        pl.when(running).then((now - pl.col("start")).dt.total_seconds().cast(pl.Float64))
        .when(pl.col("has_sacct")).then(pl.col("slurm_elapsed_s"))
        .otherwise(sonar_span)
    )  # fmt: skip
    rows = rows.with_columns(
        (elapsed - pl.col("suspended_s").fill_null(0)).clip(0).alias("elapsed_s"),
        pl.when(pl.col("has_sacct")).then(pl.col("slurm_cpu_s"))
        .when(pl.col("has_sonar")).then(pl.col("sonar_cpu_s")).alias("_sacct_or_sonar"),
    )  # fmt: skip
    cpu_s = pl.coalesce(pl.col("slurm_cpu_s"), pl.col("sonar_cpu_s"))
    hours = pl.col("elapsed_s") / 3600
    mem_peak = pl.max_horizontal("slurm_mem_kib", "sonar_mem_kib")
    # Sonar's gpu% is summed over a process's cards: per allocated card, divide by them.
    gpu_eff = pl.col("gpu_pct_mean") / pl.col("gpus").cast(pl.Float64)
    rows = rows.with_columns(
        pl.coalesce("user", "sonar_user").alias("user"),
        pl.when(pl.col("hosts").is_null() & pl.col("node_list").is_not_null())
        .then(pl.col("node_list").str.split(",")).otherwise(pl.col("hosts")).alias("hosts"),
        (pl.col("cpus").cast(pl.Float64) * hours).alias("core_h"),
        (pl.col("gpus").cast(pl.Float64) * hours).alias("gpu_h"),
        (pl.col("mem_kib") / _KIB_PER_GIB * hours).alias("mem_gb_h"),
        (pl.col("billing").cast(pl.Float64) * hours).alias("billing_h"),
        (pl.col("mem_kib") / _KIB_PER_GIB).alias("mem_gb"),
        (cpu_s / 3600).alias("cpu_used_h"),
        pl.when(pl.col("slurm_cpu_s").is_not_null()).then(pl.lit("sacct"))
        .when(pl.col("sonar_cpu_s").is_not_null()).then(pl.lit("sonar")).alias("cpu_source"),
        (100 * cpu_s / (pl.col("cpus").cast(pl.Float64) * pl.col("elapsed_s"))).alias("cpu_eff"),
        (mem_peak / _KIB_PER_GIB).alias("mem_peak_gb"),
        (100 * mem_peak / pl.col("mem_kib")).alias("mem_eff"),
        (100 * pl.col("elapsed_s") / pl.col("limit_s")).alias("time_eff"),
        pl.when((pl.col("gpus") > 0) & pl.col("has_sonar")).then(gpu_eff).alias("gpu_eff"),
        pl.when((pl.col("gpus") > 0) & pl.col("has_sonar"))
        .then((pl.col("gpus").cast(pl.Int64) - pl.col("cards_busy").cast(pl.Int64)).clip(0))
        .alias("idle_gpus"),
        (pl.col("gpu_kib_peak") / _KIB_PER_GIB).alias("gpu_mem_peak_gb"),
        pl.when((pl.col("gpus") > 0) & pl.col("has_sonar"))
        .then(100 * pl.col("gpu_kib_peak") / _KIB_PER_GIB
              / (pl.col("gpus").cast(pl.Float64) * pl.col("card_gb")))
        .alias("gpu_mem_eff"),
        (pl.col("mem_median_kib") / _KIB_PER_GIB).alias("mem_median_gb"),
        (pl.col("mem_p95_kib") / _KIB_PER_GIB).alias("mem_p95_gb"),
        pl.col("samples").fill_null(0),
        (pl.col("samples").fill_null(0) * interval / pl.col("elapsed_s")).clip(0, 1)
        .fill_nan(None).alias("coverage"),
    )  # fmt: skip
    rows = rows.with_columns(
        (pl.col("core_h") - pl.col("cpu_used_h")).clip(0).alias("idle_core_h"),
        ((pl.col("mem_kib") - mem_peak).clip(0) / _KIB_PER_GIB * hours).alias("unused_mem_gb_h"),
        (pl.col("gpu_h") * (1 - pl.col("gpu_eff") / 100).clip(0, 1)).alias("idle_gpu_h"),
        pl.when(~pl.col("has_sacct")).then(pl.lit("no_sacct"))
        .when(~pl.col("has_sonar")).then(pl.lit("no_sonar"))
        .when(pl.col("elapsed_s") < 2 * interval).then(pl.lit("short"))
        .when(pl.col("coverage") < t.sparse).then(pl.lit("sparse"))
        .otherwise(pl.lit("ok")).alias("quality"),
    )  # fmt: skip
    rows = rows.with_columns(
        _hogged(rows, hogs if hogs is not None else pl.DataFrame()).alias("_hogged"))
    rows = _flag(rows, t).drop("_hogged").with_columns(
        pl.col("cpu_used_h").is_not_null().alias("has_cpu"),
        pl.col("mem_peak_gb").is_not_null().alias("has_mem"),
        pl.col("limit_s").is_not_null().alias("has_limit"),
        pl.col("gpu_eff").is_not_null().alias("has_gpu_use"),
        pl.col("gpu_mem_eff").is_not_null().alias("has_gpu_mem"),
    )
    rows = _advise(rows, t)
    rounded = {c: 2 for c in ("core_h", "gpu_h", "mem_gb_h", "billing_h", "cpu_used_h",
                              "idle_core_h", "unused_mem_gb_h", "idle_gpu_h", "mem_gb",
                              "mem_peak_gb", "mem_median_gb", "mem_p95_gb", "gpu_mem_peak_gb",
                              "cores_mean", "cores_p75", "cores_p95", "cores_peak", "coverage")}
    rounded |= {c: 1 for c in ("cpu_eff", "mem_eff", "time_eff", "gpu_eff", "gpu_mem_eff")}
    return rows.with_columns(
        *(pl.col(c).round(d) for c, d in rounded.items()),
        pl.col("elapsed_s").round(0).cast(pl.Int64),
        pl.col("limit_s").cast(pl.Int64),
    ).sort("start", "job_id", nulls_last=True)  # fmt: skip


def _flag(rows: pl.DataFrame, t: Thresholds) -> pl.DataFrame:
    """The `flags` list, in a fixed order; a flag needs the figures it rests on."""
    state = pl.col("state").fill_null("")
    cpus = pl.col("cpus").fill_null(0)
    serial = (cpus >= t.min_cpus) & (pl.col("cores_p95") <= t.serial_cores)
    checks = {
        "oom": state.str.starts_with("OUT_OF_ME"),
        "timeout": state.str.starts_with("TIMEOUT"),
        "short": pl.col("elapsed_s") < t.short_min * 60,
        "low_cpu": pl.col("cpu_eff") < t.low_cpu,
        "serial": serial,
        "cores_overbooked": ~serial & (cpus >= t.min_cpus)
        & (pl.col("cores_p95") < cpus * t.cores_used / 100),
        "mem_overbooked": (pl.col("mem_eff") < t.low_mem) & (pl.col("mem_gb") >= t.min_mem_gb),
        "near_mem_limit": pl.col("mem_eff") >= t.near_mem,
        "zero_gpu": (pl.col("gpus") > 0) & pl.col("has_sonar") & (pl.col("gpu_pct_mean") == 0),
        "low_gpu": (pl.col("gpu_pct_mean") > 0) & (pl.col("gpu_eff") < t.low_gpu),
        "idle_gpus": (pl.col("gpu_pct_mean") > 0) & (pl.col("idle_gpus") > 0),
        "time_overrequested": state.str.starts_with("COMPLETED") & (pl.col("time_eff") < t.low_time)
        & (pl.col("limit_s") >= t.min_limit_h * 3600),
        "non_slurm_hog": pl.col("_hogged"),
    }  # fmt: skip
    flagged = [pl.when(expr.fill_null(False)).then(pl.lit(name)) for name, expr in checks.items()]
    return rows.with_columns(pl.concat_list(flagged).list.drop_nulls().alias("flags"))


def _advise(rows: pl.DataFrame, t: Thresholds) -> pl.DataFrame:
    """Ready `#SBATCH` lines for what the flags say, when the evidence is good."""
    flags = pl.col("flags")
    has = lambda name: flags.list.contains(pl.lit(name))  # noqa: E731 - a local shorthand
    mem_gib = (pl.max_horizontal("slurm_mem_kib", "sonar_mem_kib") * t.mem_headroom
               / _KIB_PER_GIB).ceil().cast(pl.Int64)  # fmt: skip
    cores = pl.col("cores_p95").ceil().clip(1).cast(pl.Int64)
    minutes = (pl.col(_ADVISED_TIME) / 60).ceil().cast(pl.Int64)
    time_text = pl.format("{}:{}:00", minutes // 60, (minutes % 60).cast(pl.String).str.pad_start(2, "0"))
    advice = pl.concat_list(
        pl.when(has("mem_overbooked") | has("near_mem_limit") | has("oom"))
        .then(pl.format("#SBATCH --mem={}G", mem_gib)),
        pl.when(has("serial") | has("cores_overbooked"))
        .then(pl.format("#SBATCH --cpus-per-task={}", cores)),
        pl.when(has("time_overrequested")).then(pl.format("#SBATCH --time={}", time_text)),
    ).list.drop_nulls().list.join("; ")  # fmt: skip
    return _with_similar_time(rows, t).with_columns(
        pl.when(pl.col("quality") == "ok").then(advice).otherwise(pl.lit("")).alias("advice")
    ).drop(_ADVISED_TIME)


_ADVISED_TIME = "_advised_time_s"


def _with_similar_time(rows: pl.DataFrame, t: Thresholds) -> pl.DataFrame:
    """Per job, a time limit from similar jobs: the 95th percentile of the run times of
    the user's completed jobs of the same name (this one's alone if there are fewer
    than 3), times the headroom, at least 5 minutes."""
    done = rows.filter(pl.col("state").fill_null("").str.starts_with("COMPLETED"))
    stats = done.group_by("user", "job_name").agg(
        pl.col("elapsed_s").quantile(0.95, "linear").alias("_p95"), pl.len().alias("_n")
    )
    joined = rows.join(stats, on=["user", "job_name"], how="left", nulls_equal=True)
    basis = pl.when(pl.col("_n") >= 3).then(pl.col("_p95")).otherwise(pl.col("elapsed_s"))
    return joined.with_columns((basis * t.time_headroom).clip(300).alias(_ADVISED_TIME)).drop(
        "_p95", "_n"
    )


BY = ("user", "account", "partition", "job_name", "cmd")

SUMMARY_FIELDS = FieldTable(
    (
        *(F(k, "str", k, f"The {k.replace('_', ' ')} summarised (with --by {k})", ())
          for k in BY),
        F("jobs", "uint", "jobs", "Jobs", ()),
        F("core_h", "f64", "core_h", "Core-hours allocated", ()),
        F("cpu_used_h", "f64", "cpu_used_h", "Core-hours used (jobs with known CPU time)", ()),
        F("cpu_eff", "f64", "cpu_eff", "Sum of CPU time / sum of core-hours allocated, percent, "
          "over jobs with known CPU time", (), present="has_cpu"),
        F("mem_gb_h", "f64", "mem_gb_h", "GiB-hours of memory allocated", ()),
        F("mem_eff", "f64", "mem_eff", "Sum of peak x hours / sum of allocated x hours, percent, "
          "over jobs with a known peak", (), present="has_mem"),
        F("gpu_h", "f64", "gpu_h", "GPU-hours allocated", ()),
        F("gpu_eff", "f64", "gpu_eff", "GPU utilisation weighted by GPU-hours, percent",
          (), present="has_gpu_use"),
        F("idle_core_h", "f64", "idle_core_h", "Core-hours allocated and not used", ()),
        F("unused_mem_gb_h", "f64", "unused_mem_gb_h", "GiB-hours allocated above the peaks", ()),
        F("idle_gpu_h", "f64", "idle_gpu_h", "GPU-hours allocated and not used", ()),
        F("flagged", "uint", "flagged", "Jobs with at least one flag", ()),
        F("flags", "str", "flag_counts", "Jobs per flag, most frequent first", ()),
    ),
    groups={"default": ("jobs", "core_h", "cpu_eff", "mem_eff", "gpu_eff", "idle_core_h",
                        "unused_mem_gb_h", "idle_gpu_h", "flagged", "flags")},
)  # fmt: skip

SUMMARY_INFO = VerbInfo("efficiency --summary", (), "Efficiency and waste per user, account, "
                        "partition, job name or command.", SUMMARY_FIELDS)  # fmt: skip


def summarize(rows: pl.DataFrame, by: str) -> pl.DataFrame:
    """Weighted efficiencies (sum used / sum allocated), waste totals and flag counts per
    `by`, most waste (idle core-hours, then idle GPU-hours) first."""
    if by not in BY:
        raise UsageError(f"Invalid --by {by!r}: one of {', '.join(BY)}")
    known_cpu = pl.col("cpu_used_h").is_not_null()
    known_mem = pl.col("mem_peak_gb").is_not_null()
    gpu_used = pl.col("gpu_eff").is_not_null()
    peak_h = pl.col("mem_peak_gb") * pl.col("elapsed_s") / 3600
    cpu_h = pl.col("core_h").filter(known_cpu).sum()
    mem_h = pl.col("mem_gb_h").filter(known_mem).sum()
    gpu_h = pl.col("gpu_h").filter(gpu_used).sum()
    counts = (
        rows.select(by, "flags").explode("flags").drop_nulls("flags")
        .group_by(by, "flags").len().sort(["len", "flags"], descending=[True, False])
        .group_by(by, maintain_order=True)
        .agg(pl.format("{}:{}", "flags", "len").str.join(",").alias("flag_counts"))
    )  # fmt: skip
    summary = rows.group_by(by).agg(
        pl.len().cast(pl.UInt64).alias("jobs"),
        pl.col("core_h").sum(),
        pl.col("cpu_used_h").sum(),
        (100 * pl.col("cpu_used_h").filter(known_cpu).sum() / cpu_h).alias("cpu_eff"),
        pl.col("mem_gb_h").sum(),
        (100 * peak_h.filter(known_mem).sum() / mem_h).alias("mem_eff"),
        pl.col("gpu_h").sum(),
        ((pl.col("gpu_eff") * pl.col("gpu_h")).filter(gpu_used).sum() / gpu_h).alias("gpu_eff"),
        pl.col("idle_core_h").sum(),
        pl.col("unused_mem_gb_h").sum(),
        pl.col("idle_gpu_h").sum(),
        (pl.col("flags").list.len() > 0).sum().cast(pl.UInt64).alias("flagged"),
        (known_cpu.any() & (cpu_h > 0)).alias("has_cpu"),
        (known_mem.any() & (mem_h > 0)).alias("has_mem"),
        (gpu_used.any() & (gpu_h > 0)).alias("has_gpu_use"),
    )
    out = summary.join(counts, on=by, how="left", nulls_equal=True).with_columns(
        pl.col("flag_counts").fill_null(""),
        *(pl.col(c).round(1) for c in ("cpu_eff", "mem_eff", "gpu_eff")),
        *(pl.col(c).round(2) for c in ("core_h", "cpu_used_h", "mem_gb_h", "gpu_h",
                                       "idle_core_h", "unused_mem_gb_h", "idle_gpu_h")),
        *(pl.lit(None, pl.String).alias(k) for k in BY if k != by),
    )  # fmt: skip
    return out.sort(["idle_core_h", "idle_gpu_h", by], descending=[True, True, False],
                    nulls_last=True)  # fmt: skip


_BLOCKS = " ▁▂▃▄▅▆▇█"


def _meter(percent: float | None, width: int = 20) -> str:
    if percent is None:
        return "[" + "?" * width + "]      ?"
    filled = max(0, min(width, round(width * percent / 100)))
    return f"[{'#' * filled}{'-' * (width - filled)}] {percent:5.1f}%"


def sparkline(values: list[float], top: float | None = None, width: int = 60) -> str:
    """Values as block characters, scaled to `top` (default: their maximum); at most
    `width` characters (later values are averaged into earlier cells when longer)."""
    if not values:
        return ""
    if len(values) > width:
        per = len(values) / width
        values = [sum(values[int(i * per):int((i + 1) * per)] or [0])
                  / max(1, len(values[int(i * per):int((i + 1) * per)])) for i in range(width)]
    scale = top or max(values) or 1.0
    # Anything above zero shows, however small next to the scale.
    return "".join(_BLOCKS[max(int(v > 0), min(8, round(8 * v / scale)))] for v in values)


def card(job: dict, profile: pl.DataFrame, per_node: pl.DataFrame) -> str:
    """One job as a card: meters, per-node figures, a profile of cores busy, flags, advice.

    `job` is a row of `run`; `profile` has the job's `cores` per sample time;
    `per_node` has host, cores_mean, mem_peak_gb.
    """
    def num(key: str, digits: int = 1) -> str:
        value = job.get(key)
        return "?" if value is None else f"{value:.{digits}f}"

    limit = job.get("limit_s")
    limit_text = f"of a {_hm(limit)} limit" if limit else "with no time limit"
    hosts = ",".join(job.get("hosts") or []) or "?"
    lines = [
        f"Job {job['job']}  {job.get('user') or '?'}  {job.get('account') or '?'}  "
        f"{job.get('partition') or '?'}  {job.get('state') or '?'}",
        f"  {_stamp(job.get('start'))} .. {_stamp(job.get('end')) or 'now'}  "
        f"{_hm(job.get('elapsed_s'))} {limit_text}  on {hosts}",
        f"  CPU     {_meter(job.get('cpu_eff'))}  {num('cores_mean')} of {job.get('cpus') or '?'} "
        f"cores busy on average (p95 {num('cores_p95')}, peak {num('cores_peak')}); "
        f"{num('cpu_used_h', 2)} of {num('core_h', 2)} core-hours used",
        f"  Memory  {_meter(job.get('mem_eff'))}  {num('mem_peak_gb')} of {num('mem_gb')} GiB at "
        f"peak (median {num('mem_median_gb')})",
    ]  # fmt: skip
    if job.get("gpus"):
        lines.append(f"  GPU     {_meter(job.get('gpu_eff'))}  {job['gpus']} card(s), "
                     f"{job.get('idle_gpus') if job.get('idle_gpus') is not None else '?'} never "
                     f"busy; {num('gpu_mem_peak_gb')} GiB GPU memory at peak "
                     f"({num('gpu_mem_eff')}% of the cards')")  # fmt: skip
    lines.append(f"  Time    {_meter(job.get('time_eff'))}  of the limit")
    if profile.height:
        top = job.get("cpus")
        lines.append(f"  Cores busy per sample, of {top or '?'}: "
                     f"{sparkline(profile['cores'].to_list(), top)}")
    for host, cores, mem in per_node.select("host", "cores_mean", "mem_peak_gb").iter_rows():
        lines.append(f"  Node {host}: {cores:.1f} cores busy on average, {mem:.1f} GiB at peak")
    lines.append(f"  Flags   {', '.join(job.get('flags') or []) or 'none'}")
    advice = [a for a in (job.get("advice") or "").split("; ") if a]
    if advice:
        lines.append("  Advice  " + "\n          ".join(advice))
    elif job.get("quality") != "ok":
        lines.append("  Advice  none: too little evidence")
    lines.append(f"  Evidence: {job.get('samples') or 0} samples, coverage "
                 f"{num('coverage', 2)}, quality {job.get('quality')}; CPU time from "
                 f"{job.get('cpu_source') or 'nowhere'}")  # fmt: skip
    return "\n".join(lines) + "\n"


def _hm(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes = int(round(seconds / 60))
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _stamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%MZ") if value is not None else ""


def job_profile(steps: pl.DataFrame, streams: pl.DataFrame, grp: int, job_id: int
                ) -> tuple[pl.DataFrame, pl.DataFrame]:  # fmt: skip
    """A job's cores busy per merged step, and per node its mean cores and memory peak."""
    profile = steps.filter(pl.col("grp") == grp).sort("t").select(
        (pl.col("cpu_util_pct").cast(pl.Float64) / 100).alias("cores"))
    per_node = (
        streams.filter(pl.col("job") == job_id)
        .group_by("host", "t").agg(pl.col("cpu_util_pct").sum(), pl.col("rssanon_kib").sum())
        .group_by("host").agg(
            (pl.col("cpu_util_pct").cast(pl.Float64).mean() / 100).alias("cores_mean"),
            (pl.col("rssanon_kib").max().cast(pl.Float64) / _KIB_PER_GIB).alias("mem_peak_gb"))
        .sort("host")
    )  # fmt: skip
    return profile, per_node

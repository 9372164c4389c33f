"""`reconcile`: the inconsistencies between Slurm's records and the samples that lead to
wrong charges, each as a correction an allocation system can apply (job, field, old
value, new value, reason).

Checks, in this order: duplicated and conflicting records of one job or step,
step records without a job record, jobs left RUNNING or PENDING that have ended
(by their own end time, their time limit, or the samples), jobs with samples but
no Slurm record and the reverse, and charges that differ between the record and
the samples.  docs/reconcile.md states every rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from sonalyze.output.fields import Field, FieldTable
from sonalyze.output.values import float_text
from sonalyze.verbs import VerbInfo

F = Field
FIELDS = FieldTable(
    (
        F("kind", "str", "kind", "What was found: duplicate, conflict, orphan_step, stale_state, "
          "no_slurm_record, no_samples, charge_difference", ()),
        F("job", "str", "job", "Job id (N, N_T, N+O; with .step for step records); empty for a "
          "project's total", ()),
        F("account", "str", "account", "The job's account (the project)", ()),
        F("user", "str", "user", "The job's user", ()),
        F("field", "str", "field", "The field to correct", ()),
        F("old", "str", "old", "Its value now", ()),
        F("new", "str", "new", "The value the evidence gives (empty: remove or review)", ()),
        F("reason", "str", "reason", "The evidence", ()),
    ),
    groups={"default": ("kind", "job", "field", "old", "new", "reason"),
            "all": ("kind", "job", "account", "user", "field", "old", "new", "reason")},
)  # fmt: skip

INFO = VerbInfo("reconcile", (), "Inconsistencies between Slurm's records and the samples that "
                "lead to wrong charges, as corrections.", FIELDS)  # fmt: skip

OUT_SCHEMA: dict[str, pl.DataType] = {c: pl.String() for c in
                                      ("kind", "job", "account", "user", "field", "old", "new",
                                       "reason")}  # fmt: skip
COMPARED = ("state", "start", "end", "elapsed_raw", "alloc_tres", "account", "user")
OPEN_STATES = ("RUNNING", "PENDING", "REQUEUED", "SUSPENDED")


@dataclass(frozen=True)
class ReconcileOptions:
    """The time to judge running jobs against, the sampling interval, and the
    relative difference of charges worth reporting."""

    now: datetime
    start: datetime  # the window checked: charges are compared for jobs wholly inside it
    end: datetime
    interval_s: int = 300
    tolerance: float = 0.10
    min_core_h: float = 0.1


def _label() -> pl.Expr:
    from sonalyze.verbs.efficiency import job_label

    step = pl.when(pl.col("job_step") != "").then(pl.lit(".") + pl.col("job_step")).otherwise(
        pl.lit(""))
    return job_label() + step


def _text(column: str, kind: str | None = None) -> pl.Expr:
    """A record field as text (times in ISO 8601 UTC); `kind` names the field when
    `column` is a suffixed copy of it."""
    value = pl.col(column)
    if (kind or column) in ("start", "end"):
        return value.dt.strftime("%Y-%m-%dT%H:%M:%SZ").fill_null("")
    return value.cast(pl.String).fill_null("")


def _rows(frame: pl.DataFrame, kind: str, **columns: pl.Expr | str) -> pl.DataFrame:
    exprs = {k: (pl.lit(v) if isinstance(v, str) else v) for k, v in columns.items()}
    job = _label() if "array_job_id" in frame.columns else pl.col("job")
    defaults = {"job": job, "account": pl.col("account").fill_null(""),
                "user": pl.col("user").fill_null("")}  # fmt: skip
    return frame.select(
        pl.lit(kind).alias("kind"),
        *((exprs.get(c, defaults.get(c, pl.lit(""))).cast(pl.String).alias(c))
          for c in OUT_SCHEMA if c != "kind"),
    )  # fmt: skip


def duplicates(records: pl.DataFrame) -> pl.DataFrame:
    """Records of one (job, step) seen more than once: identical ones (`duplicate`, to be
    counted once) and differing ones (`conflict`, one row per differing field: the
    first value seen and the one the newest record gives)."""
    if not records.height:
        return pl.DataFrame(schema=OUT_SCHEMA)
    keyed = records.with_row_index("_order").with_columns(
        pl.len().over("job_id", "job_step").alias("_n"))
    many = keyed.filter(pl.col("_n") > 1).sort("job_id", "job_step", "time", "_order",
                                                 nulls_last=False)  # fmt: skip
    if not many.height:
        return pl.DataFrame(schema=OUT_SCHEMA)
    firsts = many.group_by("job_id", "job_step", maintain_order=True).first()
    lasts = many.group_by("job_id", "job_step", maintain_order=True).last()
    both = firsts.join(lasts, on=["job_id", "job_step"], suffix="_new")
    files = many.group_by("job_id", "job_step", maintain_order=True).agg(
        pl.col("_file").unique(maintain_order=True).str.join(", ").alias("_files"),
        pl.len().alias("_count"))
    both = both.join(files, on=["job_id", "job_step"])
    out = []
    differs = pl.lit(False)
    for column in COMPARED:
        if column not in both.columns:
            continue
        changed = _text(column) != _text(f"{column}_new", column)
        differs = differs | changed
        out.append(_rows(
            both.filter(changed), "conflict", field=column, old=_text(column),
            new=_text(f"{column}_new", column),
            reason=pl.format("{} records for one job in {}; the newest wins", pl.col("_count"),
                             pl.col("_files")),
        ))  # fmt: skip
    same = both.filter(~differs)
    out.append(_rows(same, "duplicate", field="record", old=pl.col("_count").cast(pl.String),
                     new="1", reason=pl.format("{} identical records in {}; count one",
                                               pl.col("_count"), pl.col("_files"))))  # fmt: skip
    return pl.concat(out)


def orphan_steps(latest: pl.DataFrame) -> pl.DataFrame:
    """Step records whose job has no record of its own."""
    jobs = latest.filter(pl.col("job_step") == "").select("job_id")
    orphans = latest.filter(pl.col("job_step") != "").join(jobs, on="job_id", how="anti")
    return _rows(orphans, "orphan_step", field="record", old="step without job", new="",
                 reason="a step record whose job has no record: the job's charge is unknown")


def stale_states(jobs: pl.DataFrame, sonar: pl.DataFrame, opts: ReconcileOptions) -> pl.DataFrame:
    """Jobs whose newest record is RUNNING/PENDING although they have ended: the record has
    an end time, the time limit has passed, or the samples stopped well before now."""
    open_jobs = jobs.filter(pl.col("state").fill_null("").is_in(OPEN_STATES) | pl.col("state")
                            .fill_null("").str.starts_with("RUNNING"))  # fmt: skip
    if not open_jobs.height:
        return pl.DataFrame(schema=OUT_SCHEMA)
    now = pl.lit(opts.now)
    last_sample = pl.from_epoch(pl.col("t_last") + opts.interval_s, "s").dt.replace_time_zone("UTC")
    limit_end = pl.col("start") + pl.duration(seconds=pl.col("limit_s").fill_null(10**11))
    rows = open_jobs.join(sonar.select("job_id", "t_last"), on="job_id", how="left").with_columns(
        pl.when(pl.col("end").is_not_null()).then(pl.col("end"))
        .when(pl.col("t_last").is_not_null() & (last_sample < now - pl.duration(
            seconds=2 * opts.interval_s))).then(last_sample)
        .when(pl.col("start").is_not_null() & (limit_end < now)).then(limit_end)
        .alias("_ended"),
        pl.when(pl.col("end").is_not_null()).then(pl.lit("the record has an end time"))
        .when(pl.col("t_last").is_not_null() & (last_sample < now - pl.duration(
            seconds=2 * opts.interval_s))).then(pl.lit("its samples stopped"))
        .when(pl.col("start").is_not_null() & (limit_end < now))
        .then(pl.lit("its time limit has passed")).alias("_why"),
    ).filter(pl.col("_ended").is_not_null())  # fmt: skip
    return _rows(rows, "stale_state", field="end",
                 old="", new=pl.col("_ended").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 reason=pl.format("last record says {} but {}; charge up to the new end",
                                  pl.col("state"), pl.col("_why")))  # fmt: skip


def missing(jobs: pl.DataFrame, sonar: pl.DataFrame, sampled_hosts: pl.DataFrame) -> pl.DataFrame:
    """Jobs with samples but no Slurm record, and Slurm jobs that ran on sampled nodes while
    they were sampled yet left no samples."""
    no_record = sonar.join(jobs.select("job_id"), on="job_id", how="anti").with_columns(
        pl.col("job_id").cast(pl.String).alias("job"))
    first = pl.from_epoch("t_first", "s").dt.strftime("%Y-%m-%dT%H:%MZ")
    last = pl.from_epoch("t_last", "s").dt.strftime("%Y-%m-%dT%H:%MZ")
    out = [_rows(no_record, "no_slurm_record", job=pl.col("job"),
                 account=pl.lit(""), user=pl.col("sonar_user").fill_null(""), field="record",
                 old="", new="", reason=pl.format("samples on {} from {} to {}, no Slurm record",
                                                  pl.col("hosts").list.join(","), first, last))]  # fmt: skip
    ended = jobs.filter(pl.col("end").is_not_null() & pl.col("start").is_not_null()
                        & (pl.col("slurm_elapsed_s") > 0))  # fmt: skip
    no_samples = ended.join(sonar.select("job_id"), on="job_id", how="anti")
    if no_samples.height and sampled_hosts.height:
        spans = no_samples.select(
            "job_id", pl.col("node_list").str.split(",").alias("host"),
            pl.col("start").dt.epoch("s").alias("_from"), pl.col("end").dt.epoch("s").alias("_to"),
        ).explode("host")  # fmt: skip
        watched = spans.join(sampled_hosts, on="host").filter(
            pl.col("t").is_between("_from", "_to")).select("job_id").unique()
        gone = no_samples.join(watched, on="job_id").with_columns(pl.lit("").alias("job_step"))
        out.append(_rows(gone, "no_samples", field="record", old="", new="",
                         reason=pl.format("Slurm ran it on {} while Sonar sampled that node, "
                                          "but no process of it was seen", pl.col("node_list"))))  # fmt: skip
    return pl.concat(out)


def charge_differences(rows: pl.DataFrame, opts: ReconcileOptions) -> pl.DataFrame:
    """Per job and per project, core-hours as Slurm charges them (cpus x elapsed) against
    what the samples show the job ran (cpus x the time from first to last sample plus
    one interval).

    Only jobs wholly inside the window are compared (the samples of the others are cut
    off by it).  Samples place a job's start and end only to within a sampling interval, so a job is
    reported when the two differ by more than the tolerance and by more than one
    interval's worth of its cores; a project when its totals do, with the square root of
    the sum of its jobs' squared allowances as the allowance (their errors are
    independent)."""
    inside = (pl.col("start") >= pl.lit(opts.start)) & (pl.col("end") <= pl.lit(opts.end))
    sampled = rows.filter(pl.col("has_sacct") & pl.col("has_sonar") & inside.fill_null(False))
    seen_h = ((pl.col("t_last") - pl.col("t_first") + opts.interval_s) / 3600).clip(0)
    per_job = sampled.with_columns(
        pl.col("core_h").alias("_slurm"), (pl.col("cpus").cast(pl.Float64) * seen_h).alias("_sonar"),
        (pl.col("cpus").cast(pl.Float64) * opts.interval_s / 3600).alias("_allow"),
        pl.lit("").alias("job_step"), pl.col("job").alias("_label"))

    def far(allowance: pl.Expr) -> pl.Expr:
        diff = (pl.col("_slurm") - pl.col("_sonar")).abs()
        return ((diff > opts.tolerance * pl.max_horizontal("_slurm", "_sonar"))
                & (diff > allowance) & (diff > opts.min_core_h))  # fmt: skip

    jobs_out = _rows(per_job.filter(far(pl.col("_allow"))), "charge_difference",
                     job=pl.col("_label"), field="core_h", old=float_text(pl.col("_slurm").round(2)),
                     new=float_text(pl.col("_sonar").round(2)),
                     reason="the samples show a different run time")  # fmt: skip
    projects = per_job.group_by("account").agg(
        pl.col("_slurm", "_sonar").sum(), (pl.col("_allow") ** 2).sum().sqrt().alias("_allow"),
    ).with_columns(pl.lit("").alias("user"))
    projects_out = _rows(projects.filter(far(pl.col("_allow"))), "charge_difference",
                         job=pl.lit(""), field="core_h", old=float_text(pl.col("_slurm").round(2)),
                         new=float_text(pl.col("_sonar").round(2)),
                         reason="the project's sampled jobs: Slurm against the samples")  # fmt: skip
    return pl.concat([jobs_out, projects_out])

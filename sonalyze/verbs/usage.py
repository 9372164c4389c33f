"""`usage`: what was allocated (and, from the samples, used) per period and per cluster,
account, user, partition or GPU type -- core-, GPU-, node-, memory- and
billing-hours, as sreport and XDMoD count them.

A job's run is [start, end) with end the job's end, or for a job still
running `now` but never past start + time limit (a job whose last record says
RUNNING cannot have run longer than its limit).  Its allocation is spread
over the periods its run overlaps (`overlap`, the default), or charged whole
to the period it ended or started in (`end`, `start`).  Suspended time is
removed in proportion.  Formulas in docs/usage.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from sonalyze.errors import UsageError
from sonalyze.output.fields import Field, FieldTable
from sonalyze.verbs import VerbInfo

KEYS = ("cluster", "account", "user", "partition", "gpu_type")
PERIODS = {"day": "1d", "week": "1w", "month": "1mo", "quarter": "1q", "year": "1y"}
MODES = ("overlap", "end", "start")
UNITS = ("hours", "minutes", "percent")
AMOUNTS = ("core_h", "gpu_h", "node_h", "mem_gb_h", "billing_h", "cpu_used_h", "idle_core_h",
           "gpu_busy_h")  # fmt: skip

F = Field
FIELDS = FieldTable(
    (
        F("period_start", "date", "period_start", "First day of the period (ISO date, UTC)", ()),
        *(F(k, "str", k, f"The job's {k.replace('_', ' ')}", ()) for k in KEYS),
        F("jobs_started", "uint", "jobs_started", "Jobs that started in the period", ()),
        F("jobs_ended", "uint", "jobs_ended", "Jobs that ended in the period", ()),
        F("jobs_running", "uint", "jobs_running", "Jobs that ran in the period at all", ()),
        F("core_h", "f64", "core_h", "Core-hours allocated (cpus x hours)", ()),
        F("gpu_h", "f64", "gpu_h", "GPU-hours allocated", ()),
        F("node_h", "f64", "node_h", "Node-hours allocated", ()),
        F("mem_gb_h", "f64", "mem_gb_h", "GiB-hours of memory allocated", ()),
        F("billing_h", "f64", "billing_h", "Billing units x hours", ()),
        F("cpu_used_h", "f64", "cpu_used_h", "Core-hours busy, from the samples in the period", ()),
        F("idle_core_h", "f64", "idle_core_h", "core_h - cpu_used_h for jobs with samples", ()),
        F("gpu_busy_h", "f64", "gpu_busy_h", "GPU-hours busy (utilisation x time), from the samples",
          ()),
        F("cpu_eff_w", "f64", "cpu_eff_w", "cpu_used_h / core_h of the jobs with samples, percent",
          (), present="has_samples"),
        F("share", "f64", "share", "core_h as a percentage of the period's total core_h", ()),
        F("capacity_share", "f64", "capacity_share", "core_h as a percentage of the cluster's "
          "cores x the period's hours in the window (? when the cores are unknown)", (),
          present="has_capacity"),
        F("proj_id", "str", "account", "The account (UPPMAX's name for it)", ()),
        F("month", "str", "month", "The month, YYYY-MM (corehour-monthly)", ()),
        F("week", "str", "week", "The ISO week, YYYY-Www (corehour-weekly)", ()),
        F("used", "f64", "core_h", "Core-hours allocated (UPPMAX's 'used')", ()),
        F("accounts", "strings", "accounts", "The user's accounts (top-users)", ()),
    ),
    groups={
        "default": ("period_start", "jobs_running", "core_h", "gpu_h", "billing_h", "cpu_used_h",
                    "cpu_eff_w", "share"),
        "all": ("period_start", *KEYS, "jobs_started", "jobs_ended", "jobs_running", *AMOUNTS,
                "cpu_eff_w", "share", "capacity_share"),
    },
)  # fmt: skip

INFO = VerbInfo("usage", (), "Core-, GPU-, node-, memory- and billing-hours per period and "
                "per cluster, account, user, partition or GPU type.", FIELDS)  # fmt: skip


@dataclass(frozen=True)
class UsageOptions:
    """The window, grouping, period, attribution mode, units, the time `now`, and the
    cluster's cores (for `capacity_share`; None when unknown)."""

    start: datetime
    end: datetime
    now: datetime
    by: tuple[str, ...] = ("account",)
    period: str | None = "day"
    mode: str = "overlap"
    units: str = "hours"
    capacity_cores: int | None = None

    def __post_init__(self) -> None:
        for key in self.by:
            if key not in KEYS:
                raise UsageError(f"Invalid --by key {key!r}: one of {', '.join(KEYS)}")
        if self.period is not None and self.period not in PERIODS:
            raise UsageError(f"Invalid --period {self.period!r}: one of {', '.join(PERIODS)}, none")
        if self.mode not in MODES:
            raise UsageError(f"Invalid attribution {self.mode!r}: one of {', '.join(MODES)}")
        if self.units not in UNITS:
            raise UsageError(f"Invalid --units {self.units!r}: one of {', '.join(UNITS)}")


def job_runs(jobs: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """Each job's run [run_start, run_end) and the share of it not suspended.

    `jobs` is `efficiency.slurm_jobs` output plus `cluster`."""
    limit_end = pl.col("start") + pl.duration(seconds=pl.col("limit_s").fill_null(float("inf"))
                                              .clip(upper_bound=10**11))  # fmt: skip
    running_end = pl.min_horizontal(pl.lit(now), limit_end)
    run_end = pl.when(pl.col("end").is_not_null()).then(pl.col("end")).otherwise(running_end)
    length = (pl.col("_run_end") - pl.col("start")).dt.total_seconds().cast(pl.Float64)
    return (
        jobs.filter(pl.col("start").is_not_null())
        .with_columns(run_end.alias("_run_end"))
        .filter(pl.col("_run_end") >= pl.col("start"))
        .with_columns(
            pl.when(length > 0)
            .then(((length - pl.col("suspended_s").fill_null(0)) / length).clip(0, 1))
            .otherwise(1.0).alias("_active"),
        )
        .rename({"start": "run_start", "_run_end": "run_end"})
    )  # fmt: skip


def _periods(runs: pl.DataFrame, opts: UsageOptions) -> pl.DataFrame:
    """One row per job and period it is charged to, with the seconds charged (`_secs`)."""
    lo = pl.max_horizontal("run_start", pl.lit(opts.start))
    hi = pl.min_horizontal("run_end", pl.lit(opts.end))
    if opts.mode != "overlap":
        anchor = pl.col("run_end" if opts.mode == "end" else "run_start")
        charged = runs.filter(anchor.is_between(pl.lit(opts.start), pl.lit(opts.end))).with_columns(
            (pl.col("run_end") - pl.col("run_start")).dt.total_seconds().cast(pl.Float64)
            .alias("_secs"),
            anchor.alias("_anchor"),
        )  # fmt: skip
        if opts.period is None:
            return charged.with_columns(pl.lit(opts.start).alias("period_start"))
        return charged.with_columns(
            pl.col("_anchor").dt.truncate(PERIODS[opts.period]).alias("period_start"))
    clipped = runs.with_columns(lo.alias("_lo"), hi.alias("_hi")).filter(pl.col("_hi") > pl.col("_lo"))
    if opts.period is None:
        return clipped.with_columns(
            (pl.col("_hi") - pl.col("_lo")).dt.total_seconds().cast(pl.Float64).alias("_secs"),
            pl.lit(opts.start).alias("period_start"),
        )
    every = PERIODS[opts.period]
    spread = clipped.with_columns(
        pl.datetime_ranges(pl.col("_lo").dt.truncate(every), pl.col("_hi"), every,
                           closed="left").alias("period_start")
    ).explode("period_start")  # fmt: skip
    period_end = pl.col("period_start").dt.offset_by(every)
    secs = (pl.min_horizontal("_hi", period_end) - pl.max_horizontal("_lo", "period_start"))
    return spread.with_columns(secs.dt.total_seconds().cast(pl.Float64).alias("_secs")).filter(
        pl.col("_secs") > 0)


def charge(runs: pl.DataFrame, busy: pl.DataFrame, opts: UsageOptions) -> pl.DataFrame:
    """Rows per period and `by` keys with every amount (hours) and job counts.

    `busy` has per job (`job_id`) and period start the samples' `cpu_busy_h` and
    `gpu_busy_h` (zero rows when there are no samples)."""
    charged = _periods(runs, opts)
    hours = pl.col("_secs") * pl.col("_active") / 3600
    period_end = (pl.col("period_start").dt.offset_by(PERIODS[opts.period]) if opts.period
                  else pl.lit(opts.end))  # fmt: skip
    in_period = lambda c: pl.col(c).is_not_null() & (pl.col(c) >= pl.col("period_start")) & (  # noqa: E731
        pl.col(c) < period_end)  # fmt: skip
    per_job = charged.select(
        "job_id", "period_start", *opts.by,
        (pl.col("cpus").cast(pl.Float64) * hours).alias("core_h"),
        (pl.col("gpus").cast(pl.Float64) * hours).alias("gpu_h"),
        (pl.col("nodes").cast(pl.Float64) * hours).alias("node_h"),
        (pl.col("mem_kib") / (1024 * 1024) * hours).alias("mem_gb_h"),
        (pl.col("billing").cast(pl.Float64) * hours).alias("billing_h"),
        in_period("run_start").alias("_started"),
        (in_period("end")).alias("_ended"),
    )  # fmt: skip
    if opts.period is None:
        busy = busy.group_by("job_id").agg(pl.col("cpu_busy_h", "gpu_busy_h").sum()).with_columns(
            pl.lit(opts.start).alias("period_start"))
    per_job = per_job.join(busy, on=["job_id", "period_start"], how="left").with_columns(
        pl.col("cpu_busy_h").is_not_null().alias("_sampled"))
    grouped = per_job.group_by("period_start", *opts.by).agg(
        pl.col("_started").sum().cast(pl.UInt64).alias("jobs_started"),
        pl.col("_ended").sum().cast(pl.UInt64).alias("jobs_ended"),
        pl.col("job_id").n_unique().cast(pl.UInt64).alias("jobs_running"),
        *(pl.col(c).sum() for c in ("core_h", "gpu_h", "node_h", "mem_gb_h", "billing_h")),
        pl.col("cpu_busy_h").fill_null(0).sum().alias("cpu_used_h"),
        (pl.col("core_h") - pl.col("cpu_busy_h")).filter("_sampled").sum().clip(0)
        .alias("idle_core_h"),
        pl.col("gpu_busy_h").fill_null(0).sum().alias("gpu_busy_h"),
        pl.col("core_h").filter("_sampled").sum().alias("_sampled_core_h"),
    )  # fmt: skip
    total = pl.col("core_h").sum().over("period_start")
    out = grouped.with_columns(
        (100 * pl.col("cpu_used_h") / pl.col("_sampled_core_h")).alias("cpu_eff_w"),
        (pl.col("_sampled_core_h") > 0).alias("has_samples"),
        (100 * pl.col("core_h") / total).fill_nan(0).alias("share"),
    ).drop("_sampled_core_h")
    out = _with_capacity(out, opts)
    out = _in_units(out, opts)
    for key in KEYS:
        if key not in opts.by:
            out = out.with_columns(pl.lit(None, pl.String).alias(key))
    return out.sort("period_start", *opts.by)


def rounded(rows: pl.DataFrame) -> pl.DataFrame:
    """Amounts to 2 decimals, percentages to 1, period starts as dates: for printing, after
    any totals are taken (so that a total is the rounded sum, not the sum of roundings)."""
    have = set(rows.columns)
    return rows.with_columns(
        *(pl.col(c).round(2) for c in AMOUNTS if c in have),
        *(pl.col(c).round(1) for c in ("cpu_eff_w", "share", "capacity_share") if c in have),
        pl.col("period_start").dt.date(),
    )


def _with_capacity(frame: pl.DataFrame, opts: UsageOptions) -> pl.DataFrame:
    """`capacity_share`: core-hours against cores x the period's hours inside the window."""
    if not opts.capacity_cores:
        return frame.with_columns(pl.lit(None, pl.Float64).alias("capacity_share"),
                                  pl.lit(False).alias("has_capacity"))  # fmt: skip
    if opts.period is None:
        lo, hi = pl.lit(opts.start), pl.lit(opts.end)
    else:
        lo = pl.max_horizontal("period_start", pl.lit(opts.start))
        hi = pl.min_horizontal(pl.col("period_start").dt.offset_by(PERIODS[opts.period]),
                               pl.lit(opts.end))  # fmt: skip
    hours = (hi - lo).dt.total_seconds().cast(pl.Float64) / 3600
    return frame.with_columns(
        (100 * pl.col("core_h") / (opts.capacity_cores * hours)).alias("capacity_share"),
        pl.lit(True).alias("has_capacity"),
    )


def _in_units(frame: pl.DataFrame, opts: UsageOptions) -> pl.DataFrame:
    if opts.units == "minutes":
        return frame.with_columns((pl.col(c) * 60).alias(c) for c in AMOUNTS)
    if opts.units == "percent":
        return frame.with_columns(
            (100 * pl.col(c) / pl.col(c).sum().over("period_start")).fill_nan(0).alias(c)
            for c in AMOUNTS)
    return frame


def sample_busy(steps: pl.DataFrame, groups: pl.DataFrame, interval_s: int,
                opts: UsageOptions) -> pl.DataFrame:  # fmt: skip
    """Per job and period, the samples' busy core-hours and GPU-hours: each merged step
    stands for one sampling interval."""
    if not steps.height:
        return pl.DataFrame(schema={"job_id": pl.UInt64, "period_start": pl.Datetime("us", "UTC"),
                                    "cpu_busy_h": pl.Float64, "gpu_busy_h": pl.Float64})
    jobs = groups.filter(pl.col("job") > 0).select("grp", pl.col("job").cast(pl.UInt64).alias("job_id"))
    t = pl.from_epoch("t", "s").dt.replace_time_zone("UTC")
    period = t.dt.truncate(PERIODS[opts.period]) if opts.period else pl.lit(opts.start)
    return (
        steps.join(jobs, on="grp")
        .filter(t.is_between(pl.lit(opts.start), pl.lit(opts.end)))
        .group_by("job_id", period.alias("period_start"))
        .agg(
            (pl.col("cpu_util_pct").cast(pl.Float64).sum() / 100 * interval_s / 3600).alias("cpu_busy_h"),
            (pl.col("gpu_pct").cast(pl.Float64).sum() / 100 * interval_s / 3600).alias("gpu_busy_h"),
        )
        .with_columns(pl.col("period_start").cast(pl.Datetime("us", "UTC")))
    )  # fmt: skip


@dataclass(frozen=True)
class Preset:
    """A report with sreport's (or UPPMAX's) name and shape."""

    by: tuple[str, ...]
    period: str | None
    fields: str


PRESETS = {
    "cluster": Preset(("cluster",), None, "cluster,jobs_running,core_h,gpu_h,node_h,billing_h,"
                      "cpu_used_h,cpu_eff_w,capacity_share"),
    "account-by-user": Preset(("cluster", "account", "user"), None,
                              "cluster,account,user,jobs_running,core_h,gpu_h,billing_h,share"),
    "user-by-account": Preset(("cluster", "user", "account"), None,
                              "cluster,user,account,jobs_running,core_h,gpu_h,billing_h,share"),
    "top-users": Preset(("cluster", "user", "account"), None,
                        "cluster,user,accounts,jobs_running,core_h,gpu_h,billing_h,share"),
    "corehour-monthly": Preset(("account", "cluster"), "month", "proj_id,month,cluster,used"),
    "corehour-weekly": Preset(("account", "cluster"), "week", "proj_id,week,cluster,used"),
}  # fmt: skip


_NULL_OF_KIND = {"str": pl.String(), "uint": pl.UInt64(), "f64": pl.Float64(),
                 "strings": pl.List(pl.String()), "date": pl.Datetime("us", "UTC")}


def _complete(rows: pl.DataFrame) -> pl.DataFrame:
    """Every column a field shows, null where the report's shape has none (`--fmt=all`)."""
    missing = {f.column: _NULL_OF_KIND[f.kind] for f in FIELDS.fields if f.column not in rows.columns}
    rows = rows.with_columns(pl.lit(None, t).alias(c) for c, t in missing.items())
    for flag in ("has_samples", "has_capacity"):
        if flag not in rows.columns:
            rows = rows.with_columns(pl.lit(False).alias(flag))
    return rows


def shape(rows: pl.DataFrame, preset: str, top: int = 10, *, tree: bool = False) -> pl.DataFrame:
    """`charge` rows in the preset's shape and order (see `_shaped`), every field's
    column present.  `tree` indents the account of account-by-user's user rows by one
    space, as sreport's `--tree` shows a user under its account."""
    shaped = _complete(_shaped(rows, preset, top))
    if tree and preset == "account-by-user":
        shaped = shaped.with_columns(
            pl.when(pl.col("user") != "").then(pl.lit(" ") + pl.col("account"))
            .otherwise(pl.col("account")).alias("account"))
    return shaped


def _shaped(rows: pl.DataFrame, preset: str, top: int) -> pl.DataFrame:
    """`charge` rows in the preset's shape and order.

    account-by-user: each account's total (user empty), then its users by core-hours;
    user-by-account: each user's rows by core-hours; top-users: users by their total
    core-hours, the first `top`; corehour-*: one row per account and period.
    """
    amounts = ["jobs_running", *AMOUNTS]
    if preset == "account-by-user":
        totals = rows.group_by("cluster", "account", "period_start").agg(
            pl.col(amounts).sum(), pl.col("share", "capacity_share").sum(),
            pl.col("has_capacity").first(),
        ).with_columns(pl.lit("").alias("user"))
        both = pl.concat([totals, rows.select(totals.columns)], how="vertical_relaxed")
        return both.with_columns(
            pl.col("core_h").max().over("cluster", "account").alias("_acct"),
            (pl.col("user") == "").alias("_total"),
        ).sort(["_acct", "account", "_total", "core_h"], descending=[True, False, True, True]
               ).drop("_acct", "_total")  # fmt: skip
    if preset == "user-by-account":
        return rows.with_columns(pl.col("core_h").sum().over("cluster", "user").alias("_user")).sort(
            ["_user", "user", "core_h"], descending=[True, False, True]).drop("_user")
    if preset == "top-users":
        return rows.group_by("cluster", "user", "period_start").agg(
            pl.col(amounts).sum(), pl.col("share", "capacity_share").sum(),
            pl.col("has_capacity").first(), pl.col("account").sort().alias("accounts"),
        ).sort(["core_h", "user"], descending=[True, False]).head(top)
    if preset in ("corehour-monthly", "corehour-weekly"):
        return rows.with_columns(
            pl.col("period_start").dt.strftime("%Y-%m").alias("month"),
            pl.col("period_start").dt.strftime("%G-W%V").alias("week"),
        ).sort("period_start", "account")
    return rows


GRANT_FIELDS = FieldTable(
    (
        F("project", "str", "project", "The project (its Slurm account)", ()),
        F("pi", "str", "pi", "Principal investigator", ()),
        F("type", "str", "type", "Kind of project", ()),
        F("start", "date", "start", "First day of the grant", ()),
        F("end", "date", "end", "Last day of the grant", ()),
        F("granted", "f64", "granted", "Core-hours granted", ()),
        F("used", "f64", "used", "Core-hours allocated to the project's jobs in the grant period, "
          "up to now", ()),
        F("used_30d", "f64", "used_30d", "Of those, in the last 30 days", ()),
        F("remaining", "f64", "remaining", "granted - used (negative when overdrawn)", ()),
        F("used_pct", "f64", "used_pct", "used / granted, percent", ()),
        F("expected_pct", "f64", "expected_pct", "Share of the grant period gone, percent", ()),
        F("gpu_granted", "f64", "gpu_granted", "GPU-hours granted (? if none)", (),
          present="has_gpu_grant"),
        F("gpu_used", "f64", "gpu_used", "GPU-hours allocated in the grant period", ()),
        F("exhaustion", "date", "exhaustion", "When the core-hours run out at the last 30 days' "
          "pace (empty: not within the grant)", ()),
        F("flags", "strings", "flags", "over_use, early_exhaustion, under_use, gpu_over_use, "
          "expired", ()),
    ),
    groups={"default": ("project", "pi", "end", "granted", "used", "used_30d", "remaining",
                        "used_pct", "expected_pct", "exhaustion", "flags"),
            "all": ("project", "pi", "type", "start", "end", "granted", "used", "used_30d",
                    "remaining", "used_pct", "expected_pct", "gpu_granted", "gpu_used",
                    "exhaustion", "flags")},
)  # fmt: skip

GRANT_INFO = VerbInfo("usage grants", (), "Per project: granted, used, remaining, and when it "
                      "runs out.", GRANT_FIELDS)  # fmt: skip
PACE_DAYS = 30


def grants(projects: pl.DataFrame, runs: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """Per project (`tables.projects` rows), use against the grant from `job_runs` rows.

    A job is charged to its account's grant for the part of its run inside the grant
    period (from the start of `start` to the end of `end`) and before `now`."""
    begin = pl.col("start").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    finish = (pl.col("end").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
              + pl.duration(days=1))  # fmt: skip
    periods = projects.with_columns(begin.alias("_p0"), pl.min_horizontal(finish, pl.lit(now))
                                    .alias("_p1"))  # fmt: skip

    def overlap(lo: pl.Expr, hi: pl.Expr) -> pl.Expr:
        secs = (pl.min_horizontal("run_end", hi) - pl.max_horizontal("run_start", lo))
        return secs.dt.total_seconds().cast(pl.Float64).clip(0) * pl.col("_active") / 3600

    recent = pl.max_horizontal("_p0", pl.lit(now) - pl.duration(days=PACE_DAYS))
    charged = periods.join(runs, left_on="project", right_on="account", how="inner").select(
        "project",
        (pl.col("cpus").cast(pl.Float64) * overlap(pl.col("_p0"), pl.col("_p1"))).alias("used"),
        (pl.col("cpus").cast(pl.Float64) * overlap(recent, pl.col("_p1"))).alias("used_30d"),
        (pl.col("gpus").cast(pl.Float64) * overlap(pl.col("_p0"), pl.col("_p1"))).alias("gpu_used"),
    ).group_by("project").agg(pl.col("used", "used_30d", "gpu_used").sum())
    out = periods.join(charged, on="project", how="left").with_columns(
        pl.col("used", "used_30d", "gpu_used").fill_null(0.0),
        pl.col("core_hours").alias("granted"), pl.col("gpu_hours").alias("gpu_granted"),
    )
    length = (finish - begin).dt.total_seconds().cast(pl.Float64)
    gone = ((pl.lit(now) - begin).dt.total_seconds().cast(pl.Float64) / length).clip(0, 1)
    window = pl.min_horizontal((pl.lit(now) - begin).dt.total_days().clip(1), pl.lit(PACE_DAYS))
    per_day = pl.col("used_30d") / window
    days_left = pl.col("remaining") / per_day
    out = out.with_columns((pl.col("granted") - pl.col("used")).alias("remaining"),
                           (100 * gone).alias("expected_pct"))  # fmt: skip
    exhaustion = pl.when((per_day > 0) & (pl.col("remaining") > 0)).then(
        pl.lit(now) + pl.duration(seconds=(days_left * 86400).clip(upper_bound=10**11)))
    out = out.with_columns(
        (100 * pl.col("used") / pl.col("granted")).fill_nan(None).alias("used_pct"),
        pl.when(exhaustion < finish).then(exhaustion).alias("exhaustion"),
        pl.col("gpu_granted").is_not_null().alias("has_gpu_grant"),
    )
    checks = {
        "over_use": pl.col("remaining") < 0,
        "early_exhaustion": pl.col("exhaustion").is_not_null(),
        "under_use": (pl.col("expected_pct") >= 25) & (pl.lit(now) < finish)
        & (pl.col("used_pct") < pl.col("expected_pct") / 2),
        "gpu_over_use": pl.col("gpu_used") > pl.col("gpu_granted"),
        "expired": pl.lit(now) >= finish,
    }  # fmt: skip
    flags = pl.concat_list([pl.when(c.fill_null(False)).then(pl.lit(n)) for n, c in checks.items()])
    return out.with_columns(
        flags.list.drop_nulls().alias("flags"),
        pl.col("exhaustion").dt.date(),
        *(pl.col(c).round(2) for c in ("granted", "used", "used_30d", "remaining", "gpu_granted",
                                       "gpu_used")),
        pl.col("used_pct", "expected_pct").round(1),
    ).sort("project")  # fmt: skip

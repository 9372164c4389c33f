"""The `usage` command: allocated (and used) resource-hours per period and grouping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from sonalyze.cli.commands import _printer, app
from sonalyze.cli.context import split_values
from sonalyze.cli.samples import Invocation, every_job_process, shared_parameters, with_options
from sonalyze.errors import UsageError
from sonalyze.streams.merge import merge_streams
from sonalyze.tables.hostglob import HostFilter
from sonalyze.tables.nodeconfig import config_nodes, newest_per_host, node_configs
from sonalyze.tables.projects import projects_file, read_projects
from sonalyze.tables.scans import scan_sacct, scan_sysinfo
from sonalyze.tables.source import FileListSource, JobanalyzerStore
from sonalyze.tables.window import Window, parse_time
from sonalyze.verbs import efficiency as eff
from sonalyze.verbs import usage

REPORT = "Report"
SELECT = "Job selection"
# Job records are filed by the day the job ended: a job that ran in the window
# may have its record up to this long after it.
RECORD_LOOKAHEAD = timedelta(days=31)

_BEFORE, _AFTER = shared_parameters(records=False)
# usage reads a data tree, never a file list: its one argument is the preset.
_BEFORE = [p for p in _BEFORE if p.name != "files"]


@app.command("usage")
@with_options(_BEFORE, _AFTER)
def usage_cmd(
    preset: Annotated[str | None, typer.Argument(metavar="[PRESET]", show_default=False, help="cluster, account-by-user, user-by-account, top-users, corehour-monthly or corehour-weekly: sreport's (or UPPMAX's) report of that name and shape; grants: use against each project's grant.")] = None,
    top: Annotated[int, typer.Option(metavar="N", min=1, help="top-users: how many.", rich_help_panel=REPORT)] = 10,
    tree: Annotated[bool, typer.Option("--tree", help="account-by-user: indent users' rows under their account, as sreport --tree does.", rich_help_panel=REPORT)] = False,
    projects: Annotated[Path | None, typer.Option(metavar="FILE", help="grants: the projects file [default: cluster-config/<cluster>-projects.csv or .json].", rich_help_panel=REPORT)] = None,
    by: Annotated[str, typer.Option(metavar="KEYS", help="Group by these, comma-separated: cluster, account, user, partition, gpu_type.", rich_help_panel=REPORT)] = "account",
    period: Annotated[str, typer.Option(metavar="PERIOD", help="day, week (ISO, from Monday), month, quarter, year, or none (the whole window).", rich_help_panel=REPORT)] = "day",
    prorate: Annotated[bool, typer.Option("--prorate", help="Spread each job over the periods its run overlaps (the default; sreport's way).", rich_help_panel=REPORT)] = False,
    attribute: Annotated[str | None, typer.Option(metavar="end|start", help="Charge each job whole to the period it ended (or started) in.", rich_help_panel=REPORT)] = None,
    units: Annotated[str, typer.Option(metavar="UNITS", help="hours, minutes, or percent of the period's total.", rich_help_panel=REPORT)] = "hours",
    now: Annotated[str | None, typer.Option(metavar="TIME", help="Count running jobs up to this time instead of the clock.", rich_help_panel=REPORT)] = None,
    user: Annotated[list[str] | None, typer.Option("--user", "-u", metavar="VALUE", help="Only these users' jobs (repeatable).", rich_help_panel=SELECT)] = None,
    account: Annotated[list[str] | None, typer.Option(metavar="VALUE", help="Only these accounts (repeatable).", rich_help_panel=SELECT)] = None,
    partition: Annotated[list[str] | None, typer.Option(metavar="VALUE", help="Only these partitions (repeatable).", rich_help_panel=SELECT)] = None,
    **options: Any,
) -> None:
    """Core-, GPU-, node-, memory- and billing-hours allocated per period and per
    cluster, account, user, partition or GPU type, as sreport counts them; and from
    the samples the hours the cores and GPUs were busy."""  # fmt: skip
    if tree and preset != "account-by-user":
        raise UsageError("--tree goes with the account-by-user report")
    if preset == "grants":
        _grants(options, projects, now)
        return
    if preset is not None and preset not in usage.PRESETS:
        raise UsageError(f"Unknown report {preset!r}: one of {', '.join(usage.PRESETS)}")
    chosen = usage.PRESETS.get(preset or "")
    keys = list(chosen.by) if chosen else split_values([by])
    for key in keys:
        if key not in usage.KEYS:
            raise UsageError(f"Invalid --by key {key!r}: one of {', '.join(usage.KEYS)}")
    fmt = options["fmt"]
    if fmt is None or fmt.lower() in ("fixed", "csv", "csvnamed", "json", "awk"):
        # The grouping keys belong in the default columns.
        fields = chosen.fields if chosen else (
            f"period_start,{','.join(keys)},jobs_running,core_h,gpu_h,billing_h,cpu_used_h,cpu_eff_w,share")
        fmt = f"{fmt + ',' if fmt else ''}{fields}"
    printer = _printer(usage.INFO, fmt, options["query"])
    if printer is None:
        return
    if prorate and attribute:
        raise UsageError("--prorate and --attribute exclude each other")
    if attribute not in (None, "end", "start"):
        raise UsageError(f"Invalid --attribute {attribute!r}: end or start")
    run = Invocation({**options, "files": None})
    if run.window is None or isinstance(run.store.source, FileListSource):
        raise UsageError("usage needs a data tree (--data-dir or --jobanalyzer-dir) and a window")
    clock = datetime.now(UTC).replace(microsecond=0)
    at = parse_time(now, now=clock, end_of_day=False, option="--now") if now else clock
    opts = usage.UsageOptions(
        start=run.window.start, end=run.window.end, now=at,
        by=tuple(keys),
        period=(chosen.period if chosen else None if period == "none" else period),
        mode=attribute or "overlap", units=units, capacity_cores=_cores(run),
    )  # fmt: skip
    later = Window(run.window.start, run.window.end + RECORD_LOOKAHEAD)
    jobs = eff.slurm_jobs(scan_sacct(run.store, later).collect()).with_columns(
        pl.lit(run.store.cluster or "").alias("cluster"))
    for column, values in (("user", user), ("account", account), ("partition", partition)):
        if values:
            jobs = jobs.filter(pl.col(column).is_in(split_values(values)))
    runs = usage.job_runs(jobs, at)
    rows = usage.charge(runs, _busy(run, opts), opts)
    shaped = usage.shape(rows, preset, top, tree=tree) if preset else rows
    printer.print(usage.rounded(shaped))
    run.finish()


def _grants(options: dict, path: Path | None, now: str | None) -> None:
    """`usage grants`: each project's grant period decides what is read, not -f/-t."""
    printer = _printer(usage.GRANT_INFO, options["fmt"], options["query"])
    if printer is None:
        return
    run = Invocation({**options, "files": None})
    if path is None:
        jobanalyzer, cluster = options["jobanalyzer_dir"], run.store.cluster
        found = (projects_file(JobanalyzerStore(jobanalyzer).config_dir, cluster)
                 if jobanalyzer is not None and cluster else None)  # fmt: skip
        if found is None:
            raise UsageError("No projects file: give --projects FILE or put "
                             "cluster-config/<cluster>-projects.csv (or .json) in the store")
        path = found
    table = read_projects(path)
    clock = datetime.now(UTC).replace(microsecond=0)
    at = parse_time(now, now=clock, end_of_day=False, option="--now") if now else clock
    if not table.height:
        printer.print(usage.grants(table, pl.DataFrame(), at))
        return
    first = datetime.combine(table["start"].min(), datetime.min.time(), UTC)  # type: ignore[arg-type]
    jobs = eff.slurm_jobs(scan_sacct(run.store, Window(first, at + RECORD_LOOKAHEAD)).collect())
    printer.print(usage.grants(table, usage.job_runs(jobs, at), at))
    run.finish()


def _cores(run: Invocation) -> int | None:
    """The cluster's cores: its nodes' newest sysinfo in the window, else its config file."""
    nodes = newest_per_host(node_configs(scan_sysinfo(run.store, run.window, HostFilter())))
    found = nodes.select(pl.col("cpu_cores").sum(), pl.len()).collect()
    if found["len"].item() == 0 and run.store.source.config is not None:
        found = config_nodes(run.store.source.config).select(pl.col("cpu_cores").sum(),
                                                             pl.len()).collect()  # fmt: skip
    cores = found["cpu_cores"].item()
    return int(cores) if found["len"].item() and cores else None


def _busy(run: Invocation, opts: usage.UsageOptions) -> pl.DataFrame:
    merged = merge_streams(run.streams(every_job_process()), "job")
    interval = eff.sampling_interval(eff.sonar_usage(merged))
    return usage.sample_busy(merged.steps, merged.groups, interval, opts)

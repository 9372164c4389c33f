"""The Typer commands of the views derived from samples: jobs, load, uptime,
profile, metadata, top.  Each is a thin adapter over `sonalyze.verbs`."""

from __future__ import annotations

import inspect
import sys
from datetime import UTC, datetime
from typing import Annotated

import polars as pl
import typer

from sonalyze.cli import options as o
from sonalyze.cli.commands import _printer, _store, app
from sonalyze.cli.context import hosts_of, report_problems, split_values, window_for
from sonalyze.cli.samples import (
    all_samples,
    capacity_at,
    config_excluded,
    select_records,
    selected_samples,
    with_options,
)
from sonalyze.errors import UsageError
from sonalyze.ingest.schemas import SACCT
from sonalyze.streams.build import build_streams, host_bounds
from sonalyze.streams.merge import merge_streams
from sonalyze.tables.scans import scan_sacct
from sonalyze.tables.source import FileListSource
from sonalyze.tables.window import parse_duration
from sonalyze.verbs import jobs

JOB_FILTER = "Job filters"
AGGREGATION = "Aggregation"

ExcludeSystemJobs = Annotated[
    bool,
    typer.Option("--exclude-system-jobs", help="Exclude records of processes with pid < 1000.",
                 rich_help_panel=o.FILTER),
]  # fmt: skip


def _repeatable(name: str, help_text: str) -> object:
    return Annotated[list[str] | None, typer.Option(name, metavar="VALUE", help=help_text,
                                                   rich_help_panel=JOB_FILTER)]  # fmt: skip


def _limit_parameters() -> list[inspect.Parameter]:
    params = []
    # COMPAT(jobs-limits): every average and peak has both a --min and a --max option.
    for stem, column in jobs.AGGREGATES.items():
        desc = jobs.FIELDS.by_name[stem].desc
        for bound in ("min", "max"):
            option = f"--{bound}-{stem}"
            text = f"Select jobs with {'at least' if bound == 'min' else 'at most'} this {desc[0].lower()}{desc[1:]}."
            params.append(inspect.Parameter(
                f"{bound}_{column}", inspect.Parameter.KEYWORD_ONLY, default=None,
                annotation=Annotated[int | None, typer.Option(option, metavar="N", min=0, help=text,
                                                              rich_help_panel=JOB_FILTER)],
            ))  # fmt: skip
    return params


def _query_columns(printer) -> set[str]:
    columns = {spec.field.column for spec in printer.specs}
    if printer.predicate is not None:
        columns |= set(printer.predicate.meta.root_names())
    return columns


def _group_capacity(store, window, merged) -> pl.DataFrame:
    per_host = merged.groups.select("grp", pl.col("hosts").alias("host"), pl.col("t_first").alias("t"))
    found = capacity_at(store, window, per_host.explode("host"))
    return found.group_by("grp").agg(
        *(pl.col(c).filter(pl.col("known")).sum().alias(c)
          for c in ("cpu_cores", "mem_gb", "gpu_cards", "gpumem_gb")),
        pl.col("known").any(),
    )  # fmt: skip


def _drop_unconfigured(store, window, streams: pl.DataFrame) -> pl.DataFrame:
    """Streams whose host has no known configuration at their start are dropped, with a warning."""
    firsts = streams.group_by("stream").agg(pl.col("host").first(), pl.col("t").min())
    known = capacity_at(store, window, firsts).filter(pl.col("known"))
    missing = sorted(set(firsts["host"]) - set(known["host"]))
    for host in missing:
        sys.stderr.write(f"sonalyze: warning: missing host configuration for {host}\n")
    kept = streams.filter(pl.col("stream").is_in(known["stream"].implode()))
    if streams.height and not kept.height:
        raise UsageError("All configuration data missing: relative format arguments")
    return kept


@app.command("jobs")
@with_options(_limit_parameters())
def jobs_cmd(
    files: o.Files = None,
    data_dir: o.DataDir = None,
    jobanalyzer_dir: o.JobanalyzerDir = None,
    cluster_name: o.Cluster = None,
    config_file: o.ConfigFile = None,
    cache: o.CacheSize = None,
    cache_dir: o.CacheDir = None,
    from_: o.From = None,
    to: o.To = None,
    host: o.Host = None,
    user: o.User = None,
    exclude_user: o.ExcludeUser = None,
    job: o.Job = None,
    exclude_job: o.ExcludeJob = None,
    command: o.Command = None,
    exclude_command: o.ExcludeCommand = None,
    exclude_system_jobs: ExcludeSystemJobs = False,
    min_samples: Annotated[int, typer.Option(metavar="N", min=0, help="Select jobs with at least this many samples.", rich_help_panel=JOB_FILTER)] = 1,
    min_runtime: Annotated[str | None, typer.Option(metavar="DURATION", help="Select jobs that ran at least this long, e.g. 2h30m (WwDdHhMm).", rich_help_panel=JOB_FILTER)] = None,
    no_gpu: Annotated[bool, typer.Option("--no-gpu", help="Select jobs that used no GPU.", rich_help_panel=JOB_FILTER)] = False,
    some_gpu: Annotated[bool, typer.Option("--some-gpu", help="Select jobs that used some GPU.", rich_help_panel=JOB_FILTER)] = False,
    completed: Annotated[bool, typer.Option("--completed", help="Select jobs no longer running at the window's end.", rich_help_panel=JOB_FILTER)] = False,
    running: Annotated[bool, typer.Option("--running", help="Select jobs still running at the window's end.", rich_help_panel=JOB_FILTER)] = False,
    zombie: Annotated[bool, typer.Option("--zombie", help="Select zombie jobs (implies all users).", rich_help_panel=JOB_FILTER)] = False,
    partition: _repeatable("--partition", "Select jobs whose Slurm partition is this (repeatable).") = None,  # type: ignore[valid-type]
    account: _repeatable("--account", "Select jobs whose Slurm account is this (repeatable).") = None,  # type: ignore[valid-type]
    reservation: _repeatable("--reservation", "Select jobs whose Slurm reservation is this (repeatable).") = None,  # type: ignore[valid-type]
    state: _repeatable("--state", "Select jobs whose Slurm state is this (repeatable).") = None,  # type: ignore[valid-type]
    gpu_type: _repeatable("--gpu-type", "Select jobs whose requested GPUs start with this (repeatable).") = None,  # type: ignore[valid-type]
    merge_all: Annotated[bool, typer.Option("--merge-all", "--batch", help="Merge each job's processes across all hosts.", rich_help_panel=AGGREGATION)] = False,
    merge_none: Annotated[bool, typer.Option("--merge-none", help="Never merge a job across hosts.", rich_help_panel=AGGREGATION)] = False,
    numjobs: Annotated[int, typer.Option("--numjobs", "-n", metavar="N", min=0, help="Print at most the N latest jobs per user.", rich_help_panel=o.OUTPUT)] = 0,
    fmt: o.Fmt = None,
    query: o.Query = None,
    verbose: o.Verbose = False,
    **limits: int | None,
) -> None:
    """Aggregate process samples into jobs: CPU, memory and GPU use, duration, hosts.

    A job merges its processes' samples, across hosts where Slurm job ids
    are cluster-wide.  Only the invoking user's jobs are shown unless
    `-u -` (or -u NAME, --job, --exclude-user, --zombie, -q) says otherwise.
    Rows are sorted by start time.
    """  # fmt: skip
    printer = _printer(jobs.INFO, fmt, query)
    if printer is None:
        return
    if merge_all and merge_none:
        raise UsageError("Can't both --merge-all and --merge-none")
    runtime = 0
    if min_runtime:
        parsed = parse_duration(min_runtime)
        if parsed is None:
            raise UsageError(f"Invalid --min-runtime value {min_runtime!r}: use WwDdHhMm, e.g. 2h30m")
        runtime = parsed
    bounds = tuple(
        (column, limits.get(f"min_{column}"), limits.get(f"max_{column}"))
        for column in jobs.AGGREGATES.values()
        if limits.get(f"min_{column}") is not None or limits.get(f"max_{column}") is not None
    )
    opts = jobs.JobsOptions(
        min_samples=min_samples, bounds=bounds, min_runtime=runtime, some_gpu=some_gpu,
        no_gpu=no_gpu, running=running, completed=completed, zombie=zombie,
        slurm=jobs.SlurmFilter(*(tuple(split_values(v)) for v in
                                 (partition, account, reservation, state, gpu_type))),
        numjobs=numjobs, now=datetime.now(UTC).replace(microsecond=0),
    )  # fmt: skip
    store = _store(data_dir, jobanalyzer_dir, cluster_name, config_file, files, cache, cache_dir)
    window = window_for(store, from_, to)
    hosts = hosts_of(host)
    selection = select_records(
        user=user, exclude_user=exclude_user, job=job, exclude_job=exclude_job, command=command,
        exclude_command=exclude_command, exclude_system_jobs=exclude_system_jobs,
        all_users_by_default=zombie or bool(query), exclude_system_commands=True,
        config_excluded_users=config_excluded(store),
    )  # fmt: skip
    streams = build_streams(selected_samples(store, window, hosts, selection)).collect()
    span = host_bounds(all_samples(store, window, hosts)).collect()
    printed = {spec.field.column for spec in printer.specs}
    wanted = _query_columns(printer) | {column for column, _, _ in bounds}
    if jobs.needs_config(printed):
        streams = _drop_unconfigured(store, window, streams)
    merged = merge_streams(streams, "job" if merge_all else "host-job" if merge_none else "auto")
    capacity = _group_capacity(store, window, merged) if jobs.needs_config(wanted) else None
    rows = jobs.filter_jobs(jobs.summarize(merged, span, capacity, opts), opts)
    # COMPAT(jobs-slurm): any Slurm field, printed or queried, brings in the sacct records.
    slurm_wanted = jobs.needs_slurm(wanted) or not opts.slurm.is_empty
    if slurm_wanted and not isinstance(store.source, FileListSource):
        rows = jobs.join_slurm(rows, scan_sacct(store, window).collect(), opts.slurm)
    else:
        rows = jobs.with_empty_slurm(rows, SACCT)
    sys.stdout.write(printer.text(jobs.finish(printer.query(rows), opts)))
    report_problems(store, verbose)

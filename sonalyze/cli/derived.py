"""The Typer commands of the views derived from samples: jobs, load, uptime,
profile, metadata, top.  Each is a thin adapter over `sonalyze.verbs`."""

from __future__ import annotations

import inspect
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from sonalyze.cli import options as o
from sonalyze.cli.commands import _printer, app
from sonalyze.cli.context import split_values
from sonalyze.cli.samples import Invocation, SampleSelection, shared_parameters, with_options
from sonalyze.errors import SonalyzeError, UsageError
from sonalyze.ingest.cpuload import decode_load
from sonalyze.ingest.schemas import SACCT
from sonalyze.output.chart import METRICS, Series, svg, terminal
from sonalyze.streams.merge import (
    Merged,
    StreamMerger,
    concat_merged,
    merge_inputs,
    merge_streams,
)
from sonalyze.tables.hostglob import compress_hostnames
from sonalyze.tables.nodeconfig import config_nodes
from sonalyze.tables.scans import scan_node_samples, scan_sacct, scan_sample, scan_sysinfo
from sonalyze.tables.source import FileListSource
from sonalyze.tables.window import make_window, parse_duration
from sonalyze.verbs import jobs, load, metadata, profile, top, uptime

JOB_FILTER = "Job filters"
AGGREGATION = "Aggregation"


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


def _group_capacity(run: Invocation, merged) -> pl.DataFrame:
    per_host = merged.groups.select("grp", pl.col("hosts").alias("host"), pl.col("t_first").alias("t"))
    found = run.capacity_at(per_host.explode("host"))
    return found.group_by("grp").agg(
        *(pl.col(c).filter(pl.col("known")).sum().alias(c)
          for c in ("cpu_cores", "mem_gb", "gpu_cards", "gpumem_gb")),
        pl.col("known").any(),
    )  # fmt: skip


def _configured_streams(run: Invocation, streams: pl.DataFrame) -> pl.DataFrame:
    """The streams whose host has a known configuration at their start (-v names the others)."""
    firsts = streams.group_by("stream").agg(pl.col("host").first(), pl.col("t").min())
    known = run.capacity_at(firsts).filter(pl.col("known"))
    if run.options["verbose"]:
        for host in sorted(set(firsts["host"]) - set(known["host"])):
            sys.stderr.write(f"sonalyze: missing host configuration for {host}\n")
    return streams.filter(pl.col("stream").is_in(known["stream"].implode()))


def _require_configured(streams_before: int, streams_after: int) -> None:
    if streams_before and not streams_after:
        raise UsageError("All configuration data missing: relative format arguments")


def _merged_per_host(run: Invocation, selection: SampleSelection, mode: str, *,
                     drop_unconfigured: bool) -> Merged:  # fmt: skip
    """The selected streams merged in `mode`, folded a few hosts at a time (see
    `per_host_streams`): only per-time sums and per-stream rows are kept, not records.

    With `drop_unconfigured`, streams whose host has no known configuration at
    their start are left out.
    """
    def new_merger() -> StreamMerger:
        return StreamMerger(mode, jobs.STEP_VALUES)

    mergers = [new_merger()]

    def fold(streams: pl.DataFrame) -> tuple[int, int]:
        kept = _configured_streams(run, streams) if drop_unconfigured else streams
        mergers[-1].add(kept)
        return streams.height, kept.height

    def restart() -> None:
        mergers.append(new_merger())

    counts = run.per_host_streams(selection, fold, restart,
                                  columns=merge_inputs(jobs.STEP_VALUES))  # fmt: skip
    _require_configured(sum(c[0] for c in counts), sum(c[1] for c in counts))
    return mergers[-1].result()


_BEFORE, _AFTER = shared_parameters()


def _flag(name: str, help_text: str, panel: str = JOB_FILTER) -> object:
    return Annotated[bool, typer.Option(name, help=help_text, rich_help_panel=panel)]


@app.command("jobs")
@with_options(_BEFORE, _AFTER + _limit_parameters())
def jobs_cmd(
    min_samples: Annotated[int, typer.Option(metavar="N", min=0, help="Select jobs with at least this many samples.", rich_help_panel=JOB_FILTER)] = 1,
    min_runtime: Annotated[str | None, typer.Option(metavar="DURATION", help="Select jobs that ran at least this long, e.g. 2h30m (WwDdHhMm).", rich_help_panel=JOB_FILTER)] = None,
    no_gpu: _flag("--no-gpu", "Select jobs that used no GPU.") = False,  # type: ignore[valid-type]
    some_gpu: _flag("--some-gpu", "Select jobs that used some GPU.") = False,  # type: ignore[valid-type]
    completed: _flag("--completed", "Select jobs no longer running at the window's end.") = False,  # type: ignore[valid-type]
    running: _flag("--running", "Select jobs still running at the window's end.") = False,  # type: ignore[valid-type]
    zombie: _flag("--zombie", "Select zombie jobs (implies all users).") = False,  # type: ignore[valid-type]
    partition: _repeatable("--partition", "Select jobs whose Slurm partition is this (repeatable).") = None,  # type: ignore[valid-type]
    account: _repeatable("--account", "Select jobs whose Slurm account is this (repeatable).") = None,  # type: ignore[valid-type]
    reservation: _repeatable("--reservation", "Select jobs whose Slurm reservation is this (repeatable).") = None,  # type: ignore[valid-type]
    state: _repeatable("--state", "Select jobs whose Slurm state is this (repeatable).") = None,  # type: ignore[valid-type]
    gpu_type: _repeatable("--gpu-type", "Select jobs whose requested GPUs start with this (repeatable).") = None,  # type: ignore[valid-type]
    merge_all: Annotated[bool, typer.Option("--merge-all", "--batch", help="Merge each job's processes across all hosts.", rich_help_panel=AGGREGATION)] = False,
    merge_none: Annotated[bool, typer.Option("--merge-none", help="Never merge a job across hosts.", rich_help_panel=AGGREGATION)] = False,
    numjobs: Annotated[int, typer.Option("--numjobs", "-n", metavar="N", min=0, help="Print at most the N latest jobs per user.", rich_help_panel=o.OUTPUT)] = 0,
    **options: Any,
) -> None:
    """Aggregate process samples into jobs: CPU, memory and GPU use, duration, hosts.

    A job merges its processes' samples, across hosts where Slurm job ids
    are cluster-wide.  Only the invoking user's jobs are shown unless
    `-u -` (or -u NAME, --job, --exclude-user, --zombie, -q) says otherwise.
    Rows are sorted by start time.
    """  # fmt: skip
    fmt, query = options["fmt"], options["query"]
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
        (column, options.get(f"min_{column}"), options.get(f"max_{column}"))
        for column in jobs.AGGREGATES.values()
        if options.get(f"min_{column}") is not None or options.get(f"max_{column}") is not None
    )
    opts = jobs.JobsOptions(
        min_samples=min_samples, bounds=bounds, min_runtime=runtime, some_gpu=some_gpu,
        no_gpu=no_gpu, running=running, completed=completed, zombie=zombie,
        slurm=jobs.SlurmFilter(*(tuple(split_values(v)) for v in
                                 (partition, account, reservation, state, gpu_type))),
        numjobs=numjobs, now=datetime.now(UTC).replace(microsecond=0),
    )  # fmt: skip
    run = Invocation(options)
    store, window = run.store, run.window
    selection = run.selection(all_users_by_default=zombie or bool(query),
                              exclude_system_commands=True, exclude_heartbeat=True)  # fmt: skip
    printed = {spec.field.column for spec in printer.specs}
    wanted = _query_columns(printer) | {column for column, _, _ in bounds}
    mode = "job" if merge_all else "host-job" if merge_none else "auto"
    merged = _merged_per_host(run, selection, mode, drop_unconfigured=jobs.needs_config(printed))
    span = run.bounds()
    capacity = _group_capacity(run, merged) if jobs.needs_config(wanted) else None
    rows = jobs.filter_jobs(jobs.summarize(merged, span, capacity, opts), opts)
    # COMPAT(jobs-slurm): any Slurm field, printed or queried, brings in the sacct records.
    slurm_wanted = jobs.needs_slurm(wanted) or not opts.slurm.is_empty
    if slurm_wanted and not isinstance(store.source, FileListSource):
        rows = jobs.join_slurm(rows, scan_sacct(store, window).collect(), opts.slurm)
    else:
        rows = jobs.with_empty_slurm(rows, SACCT)
    sys.stdout.write(printer.text(jobs.finish(printer.query(rows), opts)))
    run.finish()


BUCKETING = "Bucketing"


def _node_capacity(run: Invocation, firsts: pl.DataFrame) -> pl.DataFrame:
    """Capacity and description of each series' host at the series' first time."""
    return run.capacity_at(firsts).select(
        "grp", "host", "cpu_cores", "mem_gb", "gpu_cards", "gpumem_gb", "description", "known")


def _group_summary(per_host: pl.DataFrame) -> pl.DataFrame:
    """The summed capacity of the configured hosts, one series named by the host set."""
    known = per_host.filter(pl.col("known")).sort("host")
    name = ",".join(compress_hostnames(per_host["host"].to_list()))
    return pl.DataFrame({
        "grp": [0], "name": [name],
        **{c: [int(known[c].sum() or 0)] for c in ("cpu_cores", "mem_gb", "gpu_cards", "gpumem_gb")},
        "description": ["|||".join(known["description"].fill_null("").to_list())],
        "known": [True],
    }).with_columns(pl.col("grp").cast(pl.UInt32))  # fmt: skip


def _load_output(printer, rows: pl.DataFrame, capacity: pl.DataFrame) -> str:
    """The reference's layout: one table per series; JSON wraps each with its system."""
    opts = printer.opts
    names = {s.field.name for s in printer.specs}
    blocks = []
    for (grp,), part in rows.group_by("grp", maintain_order=True):
        info = capacity.filter(pl.col("grp") == grp).row(0, named=True)
        table = printer.text(part)
        if opts.format == "json":
            desc = info["description"] if info["known"] else "Unknown"
            system = json.dumps({"hostname": info["name"], "description": desc or "",
                                 "gpucards": str(info["gpu_cards"] or 0)}, separators=(",", ":"))
            blocks.append(f'{{"system":{system},"records":{table}}}')
        elif opts.format == "fixed" and "Hostname" not in names:
            blocks.append(f"HOST: {info['name']}\n{table}")
        else:
            blocks.append(table)
    if opts.format == "json":
        # COMPAT(load-json): the array ends with a newline.
        return "[" + ",".join(blocks) + "]\n"
    return "".join(blocks)


@app.command("load")
@with_options(_BEFORE, _AFTER)
def load_cmd(
    half_hourly: _flag("--half-hourly", "Average per half hour.", BUCKETING) = False,  # type: ignore[valid-type]
    hourly: _flag("--hourly", "Average per hour (the default).", BUCKETING) = False,  # type: ignore[valid-type]
    half_daily: _flag("--half-daily", "Average per 12 hours.", BUCKETING) = False,  # type: ignore[valid-type]
    daily: _flag("--daily", "Average per day.", BUCKETING) = False,  # type: ignore[valid-type]
    weekly: _flag("--weekly", "Average per week (from Monday).", BUCKETING) = False,  # type: ignore[valid-type]
    none: _flag("--none", "No averaging: every sample time.", BUCKETING) = False,  # type: ignore[valid-type]
    group: _flag("--group", "Sum the bucketed load of all selected hosts.", BUCKETING) = False,  # type: ignore[valid-type]
    all_: Annotated[bool, typer.Option("--all", help="Print every time bucket (the default).", rich_help_panel=o.OUTPUT)] = False,
    last: Annotated[bool, typer.Option("--last", help="Print only each host's last time bucket.", rich_help_panel=o.OUTPUT)] = False,
    compact: Annotated[bool, typer.Option("--compact", help="Leave out empty time buckets.", rich_help_panel=o.OUTPUT)] = False,
    chart: Annotated[bool, typer.Option("--chart", help="Draw each host's load as a strip chart in the terminal.", rich_help_panel=o.OUTPUT)] = False,
    chart_file: Annotated[Path | None, typer.Option("--chart-file", metavar="FILE.svg", help="Also write the load as an SVG chart to this file.", rich_help_panel=o.OUTPUT)] = None,
    **options: Any,
) -> None:
    """Compute aggregate load for hosts and groups of hosts, per time bucket.

    Each host's processes are summed per sample time, then averaged per UTC
    bucket (hourly by default).  Empty buckets in the window print as zeros
    unless --compact.  All users by default; shells and system daemons are
    left out.
    """  # fmt: skip
    chosen = [name for flag, name in ((half_hourly, "half-hourly"), (hourly, "hourly"),
              (half_daily, "half-daily"), (daily, "daily"), (weekly, "weekly"), (none, "none"))
              if flag]  # fmt: skip
    if len(chosen) > 1:
        raise UsageError("Too many bucketing options: pick one of --half-hourly, --hourly, "
                         "--half-daily, --daily, --weekly, --none")  # fmt: skip
    if all_ and last:
        raise UsageError("Incoherent printing options: both --all and --last")
    if group and none:
        raise UsageError("Grouping across hosts requires first bucketing by time")
    if chart_file is not None and chart_file.suffix.lower() != ".svg":
        raise UsageError(f"--chart-file {chart_file}: only SVG charts are written (name it .svg)")
    opts = load.LoadOptions(bucket=chosen[0] if chosen else "hourly", group=group, last=last,
                            compact=compact)  # fmt: skip
    # COMPAT(load-extras): -q filters the rows; the reference rejects every query.
    printer = _printer(load.INFO, options["fmt"], options["query"])
    if printer is None:
        return
    run = Invocation(options)
    selection = run.selection(all_users_by_default=True, exclude_system_commands=True,
                              exclude_heartbeat=False)  # fmt: skip
    printed = {spec.field.column for spec in printer.specs}
    relative = bool(printed & load.RELATIVE_COLUMNS)

    def bucketed_hosts(streams: pl.DataFrame) -> tuple[int, int, Merged]:
        # Bucketed here, a few hosts at a time: only the buckets are kept, not every step.
        kept = _configured_streams(run, streams) if relative else streams
        merged = merge_streams(kept, "host", load.STEP_VALUES)
        buckets = Merged(steps=load.bucketed(merged.steps, opts.bucket), groups=merged.groups)
        return streams.height, kept.height, buckets

    parts = run.per_host_streams(selection, bucketed_hosts, independent=True,
                                 columns=merge_inputs(load.STEP_VALUES))  # fmt: skip
    _require_configured(sum(p[0] for p in parts), sum(p[1] for p in parts))
    merged = concat_merged([p[2] for p in parts])
    series = merged.steps
    hosts = merged.groups.select("grp", pl.col("hosts").list.first().alias("host"))
    # COMPAT(load-config-time): capacity is looked up at a series' first sample, not at
    # the first (possibly empty) bucket of the window.
    firsts = series.group_by("grp").agg(pl.col("t").min()).join(hosts, on="grp")
    capacity = _node_capacity(run, firsts)
    if opts.group:
        capacity = _group_summary(capacity)
        series = load.grouped(series)
    if not opts.compact and not opts.last and opts.bucket != "none":
        series = load.filled(series, opts.bucket, *run.span(run.bounds()))
    if opts.last:
        series = load.last_only(series)
    if not opts.group:
        # COMPAT(load-hostname): a single host keeps its name as written (no digits rewritten).
        capacity = capacity.with_columns(pl.col("host").alias("name"))
    now = datetime.now(UTC).replace(microsecond=0)
    rows = load.report(series, capacity, now).sort("host", "time", maintain_order=True)
    rows = printer.query(rows)
    if chart or chart_file is not None:
        panels = _chart_panels(rows, capacity)
        if chart_file is not None:
            try:
                chart_file.write_text(svg(panels))
            except OSError as e:
                raise SonalyzeError(f"Cannot write {chart_file}: {e.strerror or e}") from None
        if chart:
            sys.stdout.write(terminal(panels))
            run.finish()
            return
    sys.stdout.write(_load_output(printer, rows, capacity))
    run.finish()


def _chart_panels(rows: pl.DataFrame, capacity: pl.DataFrame) -> list[Series]:
    panels = []
    for (grp,), part in rows.group_by("grp", maintain_order=True):
        info = capacity.filter(pl.col("grp") == grp).row(0, named=True)
        values = {key: [float(v) for v in part[key].to_list()] for key, _ in METRICS}
        caps = {"cpu": (info["cpu_cores"] or 0) * 100, "res": info["mem_gb"] or 0,
                "gpu": (info["gpu_cards"] or 0) * 100, "gpumem": info["gpumem_gb"] or 0}
        scale, label = {}, {}
        for key, _ in METRICS:
            peak = max(values[key], default=0.0)
            scale[key] = float(caps[key]) if caps[key] else max(peak, 1.0)
            label[key] = f"{caps[key]:g} (capacity)" if caps[key] else f"{scale[key]:g} (peak)"
        times = [int(t.timestamp()) for t in part["time"].to_list()]
        panels.append(Series(info["name"], times, values, scale, label))
    return panels


def _known_hosts(run: Invocation) -> list[str]:
    """Hosts the cluster says exist: sysinfo in the window, else the config file."""
    hosts: list[str] = []
    if not isinstance(run.store.source, FileListSource):
        hosts = scan_sysinfo(run.store, run.window, run.hosts).select("host").unique().collect()[
            "host"].to_list()
    if not hosts and run.store.source.config is not None:
        hosts = config_nodes(run.store.source.config).select("host").collect()["host"].to_list()
    return sorted(h for h in hosts if run.hosts.match(h))


@app.command("uptime")
@with_options(_BEFORE, _AFTER)
def uptime_cmd(
    interval: Annotated[int, typer.Option(metavar="MINUTES", min=0, help="The sampling interval in minutes (required): samples more than twice this apart mean down time.")] = 0,
    only_up: Annotated[bool, typer.Option("--only-up", help="Show only the periods when things were up.", rich_help_panel=o.OUTPUT)] = False,
    only_down: Annotated[bool, typer.Option("--only-down", help="Show only the periods when things were down.", rich_help_panel=o.OUTPUT)] = False,
    **options: Any,
) -> None:
    """Display the periods nodes and their GPUs were up and down.

    A host is down where its samples are more than 2 x --interval minutes
    apart, at either end of the window, or throughout when sysinfo or the
    config knows it but it sent no samples.  GPUs are down where samples
    report a GPU failure.  Sorted by host and start time.
    """  # fmt: skip
    printer = _printer(uptime.INFO, options["fmt"], options["query"])
    if printer is None:
        return
    if interval <= 0:
        raise UsageError("--interval is required (minutes between samples, e.g. --interval 5)")
    if only_up and only_down:
        raise UsageError("Nonsensical --only-up AND --only-down")
    opts = uptime.UptimeOptions(interval=interval, only_up=only_up, only_down=only_down)
    run = Invocation(options)
    selection = run.selection(all_users_by_default=True, exclude_system_commands=False,
                              exclude_heartbeat=False)  # fmt: skip
    streams = pl.concat(run.per_host_streams(selection, lambda s: s.select("host", "t", "gpufail"),
                                             independent=True, columns=("gpufail",)))  # fmt: skip
    start, end = run.span(run.bounds())
    silent = [] if only_up else sorted(set(_known_hosts(run)) - set(streams["host"].unique()))
    rows = uptime.periods(streams, silent, start, end, opts)
    sys.stdout.write(printer.text(printer.query(rows)))
    run.finish()


@app.command("metadata")
@with_options(_BEFORE, _AFTER)
def metadata_cmd(
    bounds: Annotated[bool, typer.Option("--bounds", help="List each host with its earliest and latest sample time.")] = False,
    files_: Annotated[bool, typer.Option("--files", help="List the sample files the window and --host select.")] = False,
    times: Annotated[bool, typer.Option("--times", help="Print the window's --from and --to times.")] = False,
    merge_by_job: Annotated[bool, typer.Option("--merge-by-job", help="Bounds per job's host set (after the record filters).", rich_help_panel=AGGREGATION)] = False,
    merge_by_host_and_job: Annotated[bool, typer.Option("--merge-by-host-and-job", help="Accepted for compatibility; bounds are per host anyway.", rich_help_panel=AGGREGATION)] = False,
    **options: Any,
) -> None:
    """Display metadata about the sample data: time bounds per host, files, the window.

    Pick one or more of --times, --files and --bounds.  --bounds is a cheap
    way to see whether, and until when, hosts have been sending data.
    """  # fmt: skip
    del merge_by_host_and_job  # per-host bounds are what it would give
    printer = _printer(metadata.INFO, options["fmt"], options["query"])
    if printer is None:
        return
    run = Invocation(options)
    out = []
    if times:
        window = run.window or make_window(None, None)
        out.append(f"From: {window.start:%Y-%m-%dT%H:%M:%SZ}\nTo:   {window.end:%Y-%m-%dT%H:%M:%SZ}\n")
    if files_:
        # COMPAT(metadata-files): a day's files in name order.
        out += [f"{f.path}\n" for f in run.store.source.files("sample", run.window, run.hosts)]
    if bounds:
        per_host = run.bounds()
        if merge_by_job:
            selection = run.selection(all_users_by_default=True, exclude_system_commands=False,
                                      exclude_heartbeat=False)  # fmt: skip
            groups = merge_streams(run.streams(selection), "job").groups
            rows = metadata.job_bounds(per_host, groups)
        else:
            rows = metadata.host_bounds(per_host)
        out.append(printer.text(printer.query(rows)))
    sys.stdout.write("".join(out))
    run.finish()


_TOP_BEFORE, _TOP_AFTER = shared_parameters(records=False)


@app.command("top")
@with_options(_TOP_BEFORE, [p for p in _TOP_AFTER if p.name == "verbose"])
def top_cmd(**options: Any) -> None:
    """Per-core CPU busyness over time, one strip per sample: O >= 25%, o >= 10%, . less.

    Reads Sonar's per-core CPU time counters (the `load` field of old CSV
    samples, `system.cpus` of new JSON samples).  Experimental, as in the
    reference; --fmt and -q do not apply.
    """
    run = Invocation(options)
    # COMPAT(top-filters): --host and the window select samples as everywhere.
    from_csv = (
        scan_sample(run.store, run.window, run.hosts)
        .filter(pl.col("load").is_not_null())
        .select("host", pl.col("time").dt.epoch("s").alias("t"), "load")
        .collect()
    )
    decoded = decode_load(from_csv).select("host", "t", "cpus").drop_nulls("cpus")
    from_json = scan_node_samples(run.store, run.window, run.hosts).select(
        "host", pl.col("time").dt.epoch("s").alias("t"), "cpus").collect()  # fmt: skip
    readings = pl.concat([decoded, from_json], how="vertical_relaxed")
    sys.stdout.write(top.strips(readings))
    run.finish()


def _profile_fmt(fmt: str | None) -> tuple[str | None, bool, bool]:
    """The --fmt value without profile's own words, and whether html / nomemory were given."""
    words = [w.strip() for w in (fmt or "").split(",") if w.strip()]
    html, no_memory = "html" in words, "nomemory" in words
    rest = [w for w in words if w not in ("html", "nomemory")]
    if html and any(w in ("csv", "csvnamed", "json", "awk", "native", "fixed") for w in rest):
        raise UsageError("Multiple output formats requested")
    return (",".join(rest) or None), html, no_memory


@app.command("profile")
@with_options(_BEFORE, _AFTER)
def profile_cmd(
    max_: Annotated[float, typer.Option("--max", metavar="X", help="Clamp values to X (memory in GiB): above X counts as X, above 2X as 0, to tame noise.")] = 0.0,
    bucket: Annotated[int, typer.Option(metavar="N", min=0, help="Average every N consecutive minutes.", rich_help_panel=AGGREGATION)] = 0,
    **options: Any,
) -> None:
    """Print one job's processes over time: CPU, memory and GPU per process per minute.

    Needs exactly one --job.  fixed prints a line per process per minute;
    csv and awk a matrix of one quantity (--fmt=csv,cpu); json every
    value; --fmt=html,QUANTITY a Chart.js page.
    """  # fmt: skip
    fmt, html, no_memory = _profile_fmt(options["fmt"])
    printer = _printer(profile.INFO, fmt, options["query"])
    if printer is None:
        return
    jobs_given = split_values(options["job"])
    if len(jobs_given) != 1 or options["exclude_job"]:
        raise UsageError("Exactly one specific job number is required by `profile`")
    if max_ < 0:
        raise UsageError("Invalid --max, must be nonnegative")
    names = [s.field.column for s in printer.specs]
    quantities = [n for n in names if n in profile.QUANTITIES]
    matrix = html or printer.opts.format in ("csv", "csvnamed", "awk")
    if matrix and (len(quantities) != 1 or len(names) != 1):
        raise UsageError("csv, awk and html output need exactly one of the fields "
                         "cpu, mem, res, gpu, gpumem")  # fmt: skip
    run = Invocation(options)
    # COMPAT(profile-users): -u root profiles root's job (a bare --job leaves out root, zabbix).
    selection = run.selection(all_users_by_default=True, exclude_system_commands=False,
                              exclude_heartbeat=True)  # fmt: skip
    streams = run.streams(selection)
    if streams.height == 0:
        raise SonalyzeError(f"No processes matching job ID(s): [{jobs_given[0]}]")
    grid = profile.build(streams, profile.ProfileOptions(max=max_, bucket=bucket))
    if html:
        out = profile.html_text(grid, quantities[0], printer.specs[0].header, int(jobs_given[0]),
                                bucket)  # fmt: skip
    elif matrix:
        words = set((fmt or "").split(","))
        header = "header" in words or (printer.opts.format != "awk" and "noheader" not in words)
        out = profile.matrix_text(grid, quantities[0], printer.opts.format, header=header)
    elif printer.opts.format == "json":
        out = profile.json_text(grid, no_memory)
    else:
        if not options["fmt"]:
            printer = _profile_default_printer(grid, options["query"])
        out = printer.text(profile.fixed_rows(grid))
    sys.stdout.write(out)
    run.finish()


def _profile_default_printer(grid, query):
    """Without --fmt: add nproc for rolled-up processes and host for several hosts."""
    fields = ["time", "cpu", "mem", "gpu", "gpumem", "cmd"]
    if grid.rolled_up:
        fields.insert(len(fields) - 1, "nproc")
    if grid.many_hosts:
        fields.insert(1, "host")
    return _printer(profile.INFO, ",".join(fields), query)

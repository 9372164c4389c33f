"""The Typer commands: one thin adapter per verb over `sonalyze.verbs`."""

from __future__ import annotations

import copy
import importlib
import sys
from typing import Annotated

import polars as pl
import typer

from sonalyze import __version__
from sonalyze.cli import options as o
from sonalyze.cli.context import (
    Printer,
    hosts_of,
    job_ids,
    open_disk_cache,
    open_store,
    report_problems,
    split_values,
    window_for,
)
from sonalyze.cli.samples import SYSTEM_PID_LIMIT
from sonalyze.errors import UsageError
from sonalyze.tables.nodeconfig import config_nodes, node_configs, scan_cluster
from sonalyze.tables.scans import (
    scan_node_states,
    scan_partitions,
    scan_sacct,
    scan_sample,
    scan_sysinfo,
)
from sonalyze.tables.source import JobanalyzerStore
from sonalyze.tables.store import Store
from sonalyze.tables.window import Window, parse_duration
from sonalyze.verbs import cluster, config, node, partitions, sacct, sample
from sonalyze.verbs.filters import RecordFilter

app = typer.Typer(
    name="sonalyze",
    help="Columnar analytics over HPC monitoring data: Sonar samples, node sysinfo, "
    "Slurm job records and partitions, in dated per-cluster trees.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _printer(info, fmt: str | None, query: str | None) -> Printer | None:
    printer = Printer(info, fmt, query)
    # COMPAT(fmt-help): the field list goes to stdout.
    if printer.help:
        sys.stdout.write(printer.help_text())
        return None
    return printer


def _store(data_dir, jobanalyzer_dir, cluster_name, config_file, files, cache, cache_dir
           ) -> Store:  # fmt: skip
    return open_store(data_dir=data_dir, jobanalyzer_dir=jobanalyzer_dir, cluster=cluster_name,
                      config_file=config_file, files=files, cache=cache,
                      cache_dir=cache_dir)  # fmt: skip


@app.command("sample")
def sample_cmd(
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
    exclude_system_jobs: o.ExcludeSystemJobs = False,
    clean: Annotated[bool, typer.Option("--clean", help="Print cleaned-up streams: one per process, duplicates dropped, CPU utilisation computed.")] = False,
    merge_by_job: Annotated[bool, typer.Option("--merge-by-job", help="Print streams merged per job across hosts.")] = False,
    merge_by_host_and_job: Annotated[bool, typer.Option("--merge-by-host-and-job", help="Print streams merged per host and job.")] = False,
    last: Annotated[int, typer.Option(metavar="N", min=0, help="With a stream view: only each stream's last N samples.")] = 0,
    fmt: o.Fmt = None,
    query: o.Query = None,
    verbose: o.Verbose = False,
) -> None:
    """Print raw Sonar process samples (alias: parse).  Default output: csv of job,user,cmd.

    --clean, --merge-by-job and --merge-by-host-and-job print streams
    instead, each preceded by a `*` line in fixed output or with
    `--fmt=separator,...`.
    """
    printer = _printer(sample.INFO, fmt, query)
    if printer is None:
        return
    users = split_values(user)
    records = RecordFilter(
        users=None if not users or "-" in users else tuple(users),
        exclude_users=tuple(split_values(exclude_user)),
        jobs=job_ids(job, "--job"),
        exclude_jobs=job_ids(exclude_job, "--exclude-job"),
        commands=tuple(split_values(command)),
        exclude_commands=tuple(split_values(exclude_command)),
    )
    views = [v for v, on in zip(sample.STREAM_VIEWS, (clean, merge_by_job, merge_by_host_and_job),
                                strict=True) if on]  # fmt: skip
    if len(views) > 1:
        raise UsageError("Pick one of --clean, --merge-by-job, --merge-by-host-and-job")
    if last and not views:
        raise UsageError("--last requires --clean, --merge-by-job or --merge-by-host-and-job")
    store = _store(data_dir, jobanalyzer_dir, cluster_name, config_file, files, cache, cache_dir)
    hosts = hosts_of(host)
    window = window_for(store, from_, to)
    samples = scan_sample(store, window, hosts)
    if exclude_system_jobs:
        samples = samples.filter(pl.col("pid").fill_null(0) >= SYSTEM_PID_LIMIT)
    if not views:
        printer.print(sample.run(samples, sample.SampleOptions(records)))
    else:
        rows = sample.stream_rows(samples.filter(records.predicate()), views[0], last)
        _print_streams(printer, rows)
    report_problems(store, verbose)


def _print_streams(printer: Printer, rows: pl.DataFrame) -> None:
    """One table per stream, each after a `*` line in fixed output or with `separator`."""
    opts = printer.opts
    if not (opts.format == "fixed" or opts.separator):
        sys.stdout.write(printer.text(printer.query(rows)))
        return
    out = []
    for _, part in rows.group_by("stream_no", maintain_order=True):
        out.append("*\n" + printer.text(printer.query(part)))
    sys.stdout.write("".join(out))


app.command("parse", help="Alias for sample.", hidden=True)(sample_cmd)


def _duration_option(text: str | None, option: str) -> int | None:
    if not text:
        return None
    seconds = parse_duration(text)
    if seconds is None:
        raise UsageError(f"Invalid {option} value {text!r}: use WwDdHhMm, e.g. 2h30m")
    return seconds


@app.command("sacct")
def sacct_cmd(
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
    job: o.Job = None,
    state: Annotated[list[str] | None, typer.Option(
        metavar="STATE", help="Job state: COMPLETED, CANCELLED, FAILED, OUT_OF_MEMORY, TIMEOUT, ...")] = None,
    account: Annotated[list[str] | None, typer.Option(metavar="ACCOUNT", help="Account (repeatable).")] = None,
    partition: Annotated[list[str] | None, typer.Option(metavar="PARTITION", help="Partition (repeatable).")] = None,
    min_runtime: Annotated[str | None, typer.Option(metavar="DURATION", help="Elapsed at least, e.g. 1h30m.")] = None,
    max_runtime: Annotated[str | None, typer.Option(metavar="DURATION", help="Elapsed at most, e.g. 2d.")] = None,
    min_reserved_mem: Annotated[int, typer.Option(metavar="N", min=0, help="Requested memory at least (GB).")] = 0,
    max_reserved_mem: Annotated[int, typer.Option(metavar="N", min=0, help="Requested memory at most (GB).")] = 0,
    min_reserved_cores: Annotated[int, typer.Option(metavar="N", min=0, help="Requested CPUs at least.")] = 0,
    max_reserved_cores: Annotated[int, typer.Option(metavar="N", min=0, help="Requested CPUs at most.")] = 0,
    all_: Annotated[bool, typer.Option("--all", help="Reset every min/max filter.")] = False,
    some_gpu: Annotated[bool, typer.Option("--some-gpu", help="Only jobs that requested GPUs.")] = False,
    no_gpu: Annotated[bool, typer.Option("--no-gpu", help="Only jobs that requested no GPUs.")] = False,
    regular: Annotated[bool, typer.Option("--regular", help="Show regular jobs (the default).")] = False,
    array: Annotated[bool, typer.Option("--array", help="Show array jobs, grouped by array.")] = False,
    het: Annotated[bool, typer.Option("--het", help="Show heterogeneous jobs.")] = False,
    fmt: o.Fmt = None,
    query: o.Query = None,
    verbose: o.Verbose = False,
) -> None:
    """Print Slurm jobs with CPU and memory utilisation.  Rows sorted by job id."""
    printer = _printer(sacct.INFO, fmt, query)
    if printer is None:
        return
    if sum([regular, array, het]) > 1:
        raise UsageError("Too many output types, pick only one of --regular, --array, --het")
    opts = sacct.SacctOptions(
        states=tuple(split_values(state)),
        users=tuple(u for u in split_values(user) if u != "-"),
        accounts=tuple(split_values(account)),
        partitions=tuple(split_values(partition)),
        jobs=job_ids(job, "--job"),
        min_runtime=0 if all_ else (_duration_option(min_runtime, "--min-runtime") or 0),
        max_runtime=None if all_ else _duration_option(max_runtime, "--max-runtime"),
        min_reserved_mem_gb=0 if all_ else min_reserved_mem,
        max_reserved_mem_gb=None if all_ or not max_reserved_mem else max_reserved_mem,
        min_reserved_cores=0 if all_ else min_reserved_cores,
        max_reserved_cores=None if all_ or not max_reserved_cores else max_reserved_cores,
        some_gpu=some_gpu,
        no_gpu=no_gpu,
        kind="array" if array else "het" if het else "regular",
        hosts=hosts_of(host),
    )
    store = _store(data_dir, jobanalyzer_dir, cluster_name, config_file, files, cache, cache_dir)
    rows = printer.query(sacct.run(scan_sacct(store, window_for(store, from_, to)), opts))
    if opts.kind == "array":
        for (array_id,), group in rows.group_by("array_job_id", maintain_order=True):
            first = group.row(0, named=True)
            sys.stdout.write(
                f"\n{array_id} array {first['user']} {group.height} elements {first['state']}\n"
            )
            sys.stdout.write(printer.text(group))
    else:
        sys.stdout.write(printer.text(rows))
    report_problems(store, verbose)


# COMPAT(node-fallback): the config file stands in when the window has no sysinfo.
def _node_rows(store: Store, window: Window | None, host: list[str] | None) -> pl.LazyFrame:
    hosts = hosts_of(host)
    # Collected once here: the emptiness test and the caller would otherwise both run it.
    readings = node_configs(scan_sysinfo(store, window, hosts)).collect().lazy()
    if readings.select(pl.len()).collect().item() == 0 and store.source.config is not None:
        fallback = config_nodes(store.source.config)
        if not hosts.is_empty:
            fallback = fallback.filter(pl.col("host").str.contains(hosts.regex()))
        return fallback
    return readings


@app.command("node")
def node_cmd(
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
    newest: Annotated[bool, typer.Option("--newest", help="Only each host's newest record.")] = False,
    fmt: o.Fmt = None,
    query: o.Query = None,
    verbose: o.Verbose = False,
) -> None:
    """Print what nodes reported about themselves (sysinfo), sorted by host and time."""
    printer = _printer(node.INFO, fmt, query)
    if printer is None:
        return
    store = _store(data_dir, jobanalyzer_dir, cluster_name, config_file, files, cache, cache_dir)
    window = window_for(store, from_, to)
    opts = node.NodeOptions(newest=newest)
    rows = printer.query(node.run(_node_rows(store, window, host), opts).collect())
    sys.stdout.write(printer.text(node.finish(rows, opts)))
    report_problems(store, verbose)


@app.command("config")
def config_cmd(
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
    fmt: o.Fmt = None,
    query: o.Query = None,
    verbose: o.Verbose = False,
) -> None:
    """Print each node's current configuration, sorted by host.  Default window: 14 days."""
    printer = _printer(config.INFO, fmt, query)
    if printer is None:
        return
    store = _store(data_dir, jobanalyzer_dir, cluster_name, config_file, files, cache, cache_dir)
    window = window_for(store, from_, to, default_days=config.DEFAULT_DAYS)
    printer.print(config.run(_node_rows(store, window, host)).collect())
    report_problems(store, verbose)


@app.command("cluster")
def cluster_cmd(
    jobanalyzer_dir: o.JobanalyzerDir = None,
    data_dir: o.DataDir = None,
    fmt: o.Fmt = None,
    query: o.Query = None,
) -> None:
    """Print the clusters of a Jobanalyzer store (or the one of --data-dir), by name."""
    printer = _printer(cluster.INFO, fmt, query)
    if printer is None:
        return
    if jobanalyzer_dir is not None and data_dir is not None:
        raise UsageError("--jobanalyzer-dir precludes --data-dir")
    if jobanalyzer_dir is not None:
        clusters = scan_cluster(JobanalyzerStore(jobanalyzer_dir))
    elif data_dir is not None:
        clusters = cluster.anonymous(data_dir)
    else:
        raise UsageError("cluster needs --jobanalyzer-dir or --data-dir")
    printer.print(cluster.run(clusters).collect())


def _partition_command(info, scan, run):
    def command(
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
        fmt: o.Fmt = None,
        query: o.Query = None,
        verbose: o.Verbose = False,
    ) -> None:
        printer = _printer(info, fmt, query)
        if printer is None:
            return
        store = _store(data_dir, jobanalyzer_dir, cluster_name, config_file, files, cache, cache_dir)
        rows = run(scan(store, window_for(store, from_, to)), hosts_of(host))
        printer.print(rows.collect())
        report_problems(store, verbose)

    command.__doc__ = info.summary
    return command


spart_cmd = _partition_command(partitions.SPART_INFO, scan_partitions, partitions.run_spart)
snode_cmd = _partition_command(partitions.SNODE_INFO, scan_node_states, partitions.run_snode)
app.command("spart")(spart_cmd)
app.command("partitions", help="Alias for spart.", hidden=True)(spart_cmd)
app.command("snode")(snode_cmd)


cache_app = typer.Typer(help="Inspect or empty the cache of parsed files kept between runs.",
                        no_args_is_help=True)  # fmt: skip
app.add_typer(cache_app, name="cache")


@cache_app.command("stats")
def cache_stats_cmd(cache_dir: o.CacheDir = None) -> None:
    """Print where the cache is, how many files it holds and their size."""
    disk = open_disk_cache(cache_dir)
    if disk is None:
        sys.stdout.write("cache: off\n")
        return
    count, size = disk.usage()
    sys.stdout.write(f"directory: {disk.root}\nentries: {count}\nbytes: {size}\n"
                     f"budget: {disk.budget}\n")  # fmt: skip


@cache_app.command("clear")
def cache_clear_cmd(cache_dir: o.CacheDir = None) -> None:
    """Delete every cached file (the data is untouched)."""
    disk = open_disk_cache(cache_dir)
    removed = disk.clear() if disk is not None else 0
    sys.stdout.write(f"removed {removed} cache entries\n")


@app.command("version")
def version_cmd() -> None:
    """Print the version."""
    sys.stdout.write(f"sonalyze {__version__}\n")


def long_option_names(command: object) -> set[str]:
    """Every long option name of `command` (and of its subcommands, for a group), for
    Go-style `-name` spellings."""
    names: set[str] = set()
    for cmd in [command, *getattr(command, "commands", {}).values()]:
        for param in getattr(cmd, "params", []):
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    names.add(opt[2:])
    return names


def command_for(args: list[str]) -> tuple[object, list[str], str]:
    """The command that runs `args`, the arguments it takes, and its name in messages.

    Typer inspects every command's signature when it builds them (~0.05 s for
    all of them, a tenth of a small query), so when `args` start with a verb
    only that verb's command is built; anything else gets the whole group.
    """
    verb = args[0] if args else ""
    if verb in COMMAND_MODULES:
        importlib.import_module(f"sonalyze.cli.{COMMAND_MODULES[verb]}")
    commands = [c for c in app.registered_commands if c.name == verb]
    if not commands or verb.startswith("-"):
        return typer.main.get_command(full_app()), args, "sonalyze"
    single = copy.copy(app)
    single.registered_commands = commands
    single.registered_groups = []
    return typer.main.get_command(single), args[1:], f"sonalyze {verb}"


# The other command modules register their verbs on `app` when imported.  A run imports
# only the module of its verb; help, docs and unknown verbs import them all.
COMMAND_MODULES = {
    "jobs": "derived", "load": "derived", "uptime": "derived", "metadata": "derived",
    "top": "derived", "profile": "derived", "efficiency": "efficiency", "eff": "efficiency",
    "fairshare": "fairshare", "sshare": "fairshare", "add": "ingest", "ingest": "ingest",
    "status": "ingest", "reconcile": "reconcile", "usage": "usage",
}  # fmt: skip


def full_app() -> typer.Typer:
    """`app` with every command registered."""
    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(f"sonalyze.cli.{module}")
    return app

"""Shared plumbing of the verbs derived from samples: record filters, user
defaults, the filtered sample frame, streams and node capacity."""

from __future__ import annotations

import inspect
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import TypeVar

import polars as pl

from sonalyze.cli.context import (
    hosts_of,
    job_ids,
    open_store,
    report_problems,
    split_values,
    window_for,
)
from sonalyze.errors import UsageError
from sonalyze.ingest.schemas import FLAG_HEARTBEAT, SYSINFO, empty
from sonalyze.tables.hostglob import HostFilter
from sonalyze.tables.nodeconfig import LOOKBACK_SECONDS, config_nodes, configs_at, node_configs
from sonalyze.tables.scans import sample_runs, scan_sample, scan_sample_run, scan_sysinfo
from sonalyze.tables.source import FileListSource
from sonalyze.tables.store import Store
from sonalyze.tables.window import Window
from sonalyze.verbs.filters import RecordFilter

T = TypeVar("T")
# Sample files read at a time by per-host views: bounds their memory (see per_host_streams).
# 64 MiB (two hosts of a month of 5-minute JSON samples) rather than 32: each run costs
# ~150 small Polars calls whose Python glue holds the GIL, and fewer, larger runs let
# the two threads overlap more (`load` over 200 hosts x 30 days: 25.1 -> 22.4 s).
CHUNK_BYTES = 64 << 20

SYSTEM_USERS = ("root", "zabbix")
SYSTEM_COMMANDS = ("bash", "zsh", "sshd", "tmux", "systemd")
HEARTBEAT = "_heartbeat_"
SYSTEM_PID_LIMIT = 1000


def current_user() -> str:
    """The invoking user, from $LOGNAME or else $USER, as the reference finds it."""
    for name in ("LOGNAME", "USER"):
        if value := os.environ.get(name):
            return value
    raise UsageError("Not able to determine user, none given and $LOGNAME and $USER are empty")


@dataclass(frozen=True)
class SampleSelection:
    """What the record-filter options of a sample-derived verb select."""

    records: RecordFilter
    exclude_heartbeat: bool = True
    exclude_system_pids: bool = False

    def predicate(self) -> pl.Expr:
        keep = self.records.predicate()
        # COMPAT(jobs-heartbeat): new-format samples without jobs are heartbeats too.
        if self.exclude_heartbeat:
            keep &= (pl.col("cmd") != HEARTBEAT) & (
                (pl.col("flags").fill_null(0) & FLAG_HEARTBEAT) == 0
            )
        if self.exclude_system_pids:
            keep &= pl.col("pid").fill_null(0) >= SYSTEM_PID_LIMIT
        return keep


def select_records(
    *,
    user: list[str] | None,
    exclude_user: list[str] | None,
    job: list[str] | None,
    exclude_job: list[str] | None,
    command: list[str] | None,
    exclude_command: list[str] | None,
    exclude_system_jobs: bool,
    all_users_by_default: bool,
    exclude_system_commands: bool,
    exclude_heartbeat: bool,
    config_excluded_users: tuple[str, ...] = (),
) -> SampleSelection:
    """The reference's record filter with its per-verb defaults.

    Without `-u`, a `--job` means every user but root and zabbix, an
    `--exclude-user` means every user, and otherwise the verb decides:
    all users, or only the invoking one.
    """
    users = split_values(user)
    excluded = list(split_values(exclude_user)) + list(config_excluded_users)
    jobs = job_ids(job, "--job")
    selected: tuple[str, ...] | None
    if users:
        selected = None if "-" in users else tuple(users)
    elif jobs:
        selected = None
        excluded += SYSTEM_USERS
    elif exclude_user or all_users_by_default:
        selected = None
    else:
        selected = (current_user(),)
    commands_out = list(split_values(exclude_command))
    if exclude_system_commands:
        commands_out += SYSTEM_COMMANDS
    return SampleSelection(
        RecordFilter(
            users=selected,
            exclude_users=tuple(dict.fromkeys(excluded)),
            jobs=jobs,
            exclude_jobs=job_ids(exclude_job, "--exclude-job"),
            commands=tuple(split_values(command)),
            exclude_commands=tuple(dict.fromkeys(commands_out)),
        ),
        exclude_heartbeat=exclude_heartbeat,
        exclude_system_pids=exclude_system_jobs,
    )


def every_job_process() -> SampleSelection:
    """Every user's job and non-job processes (root's too: they may be what keeps a
    job's node busy), without Sonar's own, system commands or heartbeats: what the
    accounting reports (`efficiency`, `usage`) read."""
    return select_records(
        user=["-"], exclude_user=None, job=None, exclude_job=None, command=None,
        exclude_command=None, exclude_system_jobs=False, all_users_by_default=True,
        exclude_system_commands=True, exclude_heartbeat=True,
    )  # fmt: skip


def config_excluded(store: Store) -> tuple[str, ...]:
    """Users the cluster's config file excludes from every sample view."""
    config = store.source.config
    return tuple(config.exclude_user) if config is not None else ()


def all_samples(store: Store, window: Window | None, hosts: HostFilter) -> pl.LazyFrame:
    """Every sample record of the files the window selects, before any record filter.

    The reference takes each host's earliest and latest time from these,
    so a job is "running at the end" only against its host's data.
    """
    return scan_sample(store, window, hosts, clip=False)


def node_readings(store: Store, window: Window | None, needed: tuple[int, int] | None = None
                  ) -> tuple[pl.DataFrame, pl.DataFrame | None]:  # fmt: skip
    """Node configurations from sysinfo back to 14 days before the window, and the config file's.

    `needed` (the first and last time, in epoch seconds, configurations will be
    looked up at) narrows the sysinfo read to the readings such lookups can
    find: a query over a month whose series all start on its first day reads
    that day's sysinfo, not the month's.
    """
    sys_window = None
    if window is not None:
        lookback = timedelta(seconds=LOOKBACK_SECONDS)
        start, end = window.start - lookback, window.end
        if needed is not None:
            start = max(start, datetime.fromtimestamp(needed[0], UTC) - lookback)
            end = max(start, min(end, datetime.fromtimestamp(needed[1], UTC)))
        sys_window = Window(start, end)
    if isinstance(store.source, FileListSource):
        # The files given are samples; only a --config-file describes their nodes.
        readings = node_configs(empty(SYSINFO).lazy()).collect()
    else:
        readings = node_configs(scan_sysinfo(store, sys_window)).collect()
    config = store.source.config
    return readings, (config_nodes(config).collect() if config is not None else None)


def with_options(before: list[inspect.Parameter], after: list[inspect.Parameter]) -> Callable:
    """Add keyword parameters (Typer options) around a command function's own.

    Typer reads a function's signature; options shared by several verbs and
    generated families (`--min-*`/`--max-*`) are declared once as data and
    added here; the function receives them in its `**options`.
    """

    def decorate(func: Callable) -> Callable:
        sig = inspect.signature(func, eval_str=True)
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in sig.parameters.values()
               if p.kind != p.VAR_KEYWORD]  # fmt: skip
        func.__signature__ = sig.replace(parameters=before + own + after)  # type: ignore[attr-defined]
        return func

    return decorate


def data_span(window: Window | None, from_given: bool, to_given: bool,
              bounds: pl.DataFrame) -> tuple[int, int]:  # fmt: skip
    """The time span (epoch seconds) that empty buckets and down-times are measured against.

    As in the reference: a window edge the user gave, else the data's own
    earliest or latest sample time, else the default window's edge.
    """
    now = int(datetime.now(UTC).timestamp())
    have = bounds.height > 0
    if window is not None and (from_given or not have):
        start = int(window.start.timestamp())
    else:
        start = int(bounds["earliest"].min()) if have else now - 86400  # type: ignore[arg-type]
    if window is not None and (to_given or not have):
        end = int(window.end.timestamp())
    else:
        end = int(bounds["latest"].max()) if have else now  # type: ignore[arg-type]
    return start, end


def _param(name: str, annotation: object, default: object = None) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)  # fmt: skip


def shared_parameters(*, records: bool = True) -> tuple[list[inspect.Parameter], list[inspect.Parameter]]:
    """The options every sample-derived verb takes: (before its own, after its own)."""
    from sonalyze.cli import options as o

    before = [
        _param("files", o.Files), _param("data_dir", o.DataDir),
        _param("jobanalyzer_dir", o.JobanalyzerDir), _param("cluster_name", o.Cluster),
        _param("config_file", o.ConfigFile), _param("cache", o.CacheSize),
        _param("cache_dir", o.CacheDir), _param("from_", o.From), _param("to", o.To),
        _param("host", o.Host),
    ]  # fmt: skip
    if records:
        before += [
            _param("user", o.User), _param("exclude_user", o.ExcludeUser), _param("job", o.Job),
            _param("exclude_job", o.ExcludeJob), _param("command", o.Command),
            _param("exclude_command", o.ExcludeCommand),
            _param("exclude_system_jobs", o.ExcludeSystemJobs, False),
        ]  # fmt: skip
    after = [_param("fmt", o.Fmt), _param("query", o.Query), _param("verbose", o.Verbose, False)]
    return before, after


class Invocation:
    """The shared options of one sample-derived command, turned into store, window, filters."""

    def __init__(self, options: dict) -> None:
        self.options = options
        self.store = open_store(
            data_dir=options["data_dir"], jobanalyzer_dir=options["jobanalyzer_dir"],
            cluster=options["cluster_name"], config_file=options["config_file"],
            files=options["files"], cache=options["cache"], cache_dir=options["cache_dir"],
        )  # fmt: skip
        self.window = window_for(self.store, options["from_"], options["to"])
        self.hosts = hosts_of(options["host"])
        self._raw: pl.DataFrame | None = None
        self._bounds: pl.DataFrame | None = None
        self._readings: tuple[pl.DataFrame, pl.DataFrame | None] | None = None
        self._span = (0, 0)  # the lookup times `_readings` serve (see node_readings)
        self._readings_lock = threading.Lock()

    def selection(self, *, all_users_by_default: bool, exclude_system_commands: bool,
                  exclude_heartbeat: bool) -> SampleSelection:  # fmt: skip
        o = self.options
        return select_records(
            user=o["user"], exclude_user=o["exclude_user"], job=o["job"],
            exclude_job=o["exclude_job"], command=o["command"],
            exclude_command=o["exclude_command"], exclude_system_jobs=o["exclude_system_jobs"],
            all_users_by_default=all_users_by_default,
            exclude_system_commands=exclude_system_commands, exclude_heartbeat=exclude_heartbeat,
            config_excluded_users=config_excluded(self.store),
        )  # fmt: skip

    def _read(self) -> pl.DataFrame:
        # Read once: the selected records and the hosts' bounds come from the same frame.
        if self._raw is None:
            self._raw = all_samples(self.store, self.window, self.hosts).collect()
        return self._raw

    def capacity_at(self, hosts_times: pl.DataFrame) -> pl.DataFrame:
        """`configs_at` for (host, t) rows; node readings are read once per run (again,
        over a wider span, only if a later lookup needs readings the first did not)."""
        times = hosts_times["t"].drop_nulls()
        needed = (int(times.min()), int(times.max())) if times.len() else (0, 0)  # type: ignore[arg-type]
        # THREADS: `per_host_streams` may look up capacities for two runs at once.
        with self._readings_lock:
            if self._readings is None or not (self._span[0] <= needed[0] <= needed[1] <= self._span[1]):
                if self._readings is not None:
                    needed = (min(needed[0], self._span[0]), max(needed[1], self._span[1]))
                self._readings, self._span = node_readings(self.store, self.window, needed), needed
            readings = self._readings
        return configs_at(hosts_times, *readings)

    def _where(self, selection: SampleSelection) -> pl.Expr:
        where = selection.predicate()
        if self.window is not None:
            where &= pl.col("time").is_between(self.window.start, self.window.end)
        return where

    def streams(self, selection: SampleSelection, columns: Sequence[str] | None = None
                ) -> pl.DataFrame:  # fmt: skip
        """The clean process streams of the selected records, with the sample `columns`
        (by default those every stream view may use)."""
        from sonalyze.streams.build import STREAM_COLUMNS, build_streams

        return build_streams(self._read().lazy(), columns=columns or STREAM_COLUMNS,
                             where=self._where(selection)).collect()  # fmt: skip

    def per_host_streams(self, selection: SampleSelection, each: Callable[[pl.DataFrame], T],
                         restart: Callable[[], None] | None = None, *,
                         independent: bool = False, columns: Sequence[str] | None = None,
                         ) -> list[T]:  # fmt: skip
        """`each` applied to the clean streams of a few hosts at a time, in host order.

        For results built a run of whole hosts at a time (per-host series,
        per-host down times, merges that keep only sums): memory then grows
        with the largest runs of hosts read (`CHUNK_BYTES` of files, three
        runs at a time), not with the window.  While `each` works on one
        run, the next two are read and their streams built in two worker
        threads; an `independent` `each` (one that keeps nothing from run to
        run) runs there too.  Also records the hosts' bounds, as
        `bounds()` would find them.  When a host's records turn out to lie
        in two runs, everything is read at once instead, after `restart`
        (which undoes what `each` did).  The streams hold the sample
        `columns` (see `streams`).
        """
        from sonalyze.streams.build import STREAM_COLUMNS, build_streams, host_bounds, stream_inputs

        if isinstance(self.store.source, FileListSource) or self._raw is not None:
            return [each(self.streams(selection, columns))]
        where = self._where(selection)
        columns = columns or STREAM_COLUMNS
        # Only what the streams need (the bounds' host and time among it) is decoded.
        inputs = stream_inputs(columns, where)

        def prepare(files: list) -> tuple[pl.DataFrame, pl.DataFrame | T]:
            raw = scan_sample_run(self.store, files, self.hosts, inputs).collect()
            streams = build_streams(raw.lazy(), columns=columns, where=where).collect()
            return host_bounds(raw.lazy()).collect(), each(streams) if independent else streams

        runs = iter(sample_runs(self.store, self.window, self.hosts, CHUNK_BYTES))
        results: list[T] = []
        bounds: list[pl.DataFrame] = []
        seen: set[str] = set()
        workers = 2  # with one, `jobs` (200 hosts x 30 days) waited for reading 40% of its time
        # THREADS: workers read (the store lets one read run at a time), build new
        # frames and, if `independent`, apply `each`; results are taken in run order.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            upcoming = deque(pool.submit(prepare, files) for files in islice(runs, workers))
            while upcoming:
                found, item = upcoming.popleft().result()
                upcoming.extend(pool.submit(prepare, files) for files in islice(runs, 1))
                hosts = set(found["host"].drop_nulls())
                if hosts & seen:
                    # Files named after one host hold another's records: a run would
                    # split that host's streams, so everything is read at once instead.
                    for future in upcoming:
                        future.cancel()
                    break
                seen |= hosts
                bounds.append(found)
                results.append(item if independent else each(item))  # type: ignore[arg-type]
                del item
            else:
                self._bounds = pl.concat(bounds)
                return results
        if restart is not None:
            restart()
        return [each(self.streams(selection, columns))]

    def bounds(self) -> pl.DataFrame:
        """Each host's earliest and latest sample time in the files read."""
        from sonalyze.streams.build import host_bounds

        if self._bounds is None:
            self._bounds = host_bounds(self._read().lazy()).collect()
        return self._bounds

    def span(self, bounds: pl.DataFrame) -> tuple[int, int]:
        """`data_span` for this invocation."""
        return data_span(self.window, bool(self.options["from_"]), bool(self.options["to"]), bounds)

    def finish(self) -> None:
        """Report skipped input records."""
        report_problems(self.store, self.options["verbose"])

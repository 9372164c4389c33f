"""Shared plumbing of the verbs derived from samples: record filters, user
defaults, the filtered sample frame, streams and node capacity."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from sonalyze.cli.context import job_ids, split_values
from sonalyze.errors import UsageError
from sonalyze.ingest.schemas import FLAG_HEARTBEAT, SYSINFO, empty
from sonalyze.tables.hostglob import HostFilter
from sonalyze.tables.nodeconfig import LOOKBACK_SECONDS, config_nodes, configs_at, node_configs
from sonalyze.tables.scans import scan_sample, scan_sysinfo
from sonalyze.tables.source import FileListSource
from sonalyze.tables.store import Store
from sonalyze.tables.window import Window
from sonalyze.verbs.filters import RecordFilter

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
        exclude_heartbeat=exclude_system_commands,
        exclude_system_pids=exclude_system_jobs,
    )


def config_excluded(store: Store) -> tuple[str, ...]:
    """Users the cluster's config file excludes from every sample view."""
    config = store.source.config
    return tuple(config.exclude_user) if config is not None else ()


def selected_samples(store: Store, window: Window | None, hosts: HostFilter,
                     selection: SampleSelection) -> pl.LazyFrame:  # fmt: skip
    """The sample records the filters keep, in data order."""
    return scan_sample(store, window, hosts).filter(selection.predicate())


def all_samples(store: Store, window: Window | None, hosts: HostFilter) -> pl.LazyFrame:
    """Every sample record of the files the window selects, before any record filter.

    The reference takes each host's earliest and latest time from these,
    so a job is "running at the end" only against its host's data.
    """
    return scan_sample(store, window, hosts, clip=False)


def capacity_at(store: Store, window: Window | None, hosts_times: pl.DataFrame) -> pl.DataFrame:
    """`configs_at` for (host, t) rows, reading sysinfo back to 14 days before the window."""
    sys_window = None
    if window is not None:
        sys_window = Window(window.start - timedelta(seconds=LOOKBACK_SECONDS), window.end)
    if isinstance(store.source, FileListSource):
        # The files given are samples; only a --config-file describes their nodes.
        readings = node_configs(empty(SYSINFO).lazy()).collect()
    else:
        readings = node_configs(scan_sysinfo(store, sys_window)).collect()
    config = store.source.config
    fallback = config_nodes(config).collect() if config is not None else None
    return configs_at(hosts_times, readings, fallback)


def with_options(extra: list[inspect.Parameter]) -> Callable:
    """Add generated keyword parameters (Typer options) to a command function.

    Typer reads a function's signature; the `--min-*`/`--max-*` families are
    declared once as data and added here instead of being spelled out.
    """

    def decorate(func: Callable) -> Callable:
        sig = inspect.signature(func, eval_str=True)
        params = [p for p in sig.parameters.values() if p.kind != p.VAR_KEYWORD]
        func.__signature__ = sig.replace(parameters=params + extra)  # type: ignore[attr-defined]
        return func

    return decorate

"""The table functions: `scan_<table>(store, window, hosts) -> pl.LazyFrame`.

Records are kept when their time lies inside the (inclusive) window and
their host matches the `--host` patterns; both filters run after the file
selection that already pruned day directories and host-named files.
"""

from __future__ import annotations

import polars as pl

from sonalyze.ingest.schemas import (
    GPU_SAMPLE,
    NODE_SAMPLE,
    NODE_STATE,
    PARTITION,
    SACCT,
    SAMPLE,
    SYSINFO,
    empty,
)
from sonalyze.tables.hostglob import HostFilter
from sonalyze.tables.source import SelectedFile, host_chunks
from sonalyze.tables.store import Store
from sonalyze.tables.window import Window


def within_window(frame: pl.LazyFrame, window: Window | None, column: str = "time") -> pl.LazyFrame:
    """Rows whose time lies in the (inclusive) window; all rows without one."""
    if window is None:
        return frame
    return frame.filter(pl.col(column).is_between(window.start, window.end, closed="both"))


def _host_filter(frame: pl.LazyFrame, hosts: HostFilter, column: str = "host") -> pl.LazyFrame:
    if hosts.is_empty:
        return frame
    return frame.filter(pl.col(column).str.contains(hosts.regex()))


def _read(store: Store, table: str, schema: dict, window: Window | None, hosts: HostFilter,
          extra: str | None = None, *, remember: bool = True) -> pl.LazyFrame:  # fmt: skip
    return _lazy(store.read(table, window, hosts, extra, remember=remember), schema)


def _lazy(frame: pl.DataFrame, schema: dict) -> pl.LazyFrame:
    """The frame, or an empty one of the table's schema when no file had records."""
    return (frame if frame.width else empty(schema)).lazy()


def scan_sample(store: Store, window: Window | None, hosts: HostFilter | None = None,
                *, clip: bool = True) -> pl.LazyFrame:  # fmt: skip
    """Per-process samples in the window, in file then line order.

    `clip=False` keeps every record of the files the window selects, also
    those outside the window's times.
    """
    hosts = hosts or HostFilter()
    frame = _read(store, "sample", SAMPLE, window, hosts)
    return _host_filter(within_window(frame, window if clip else None, "time"), hosts)


def sample_runs(store: Store, window: Window | None, hosts: HostFilter | None,
                max_bytes: int) -> list[list[SelectedFile]]:  # fmt: skip
    """The sample files `scan_sample` would read, in runs of a few whole hosts (by
    file name, about `max_bytes` of files each); read each with `scan_sample_run`."""
    return host_chunks(store.source.files("sample", window, hosts or HostFilter()), max_bytes)


def scan_sample_run(store: Store, files: list[SelectedFile], hosts: HostFilter | None,
                    columns: tuple[str, ...] | None = None) -> pl.LazyFrame:  # fmt: skip
    """Like `scan_sample(clip=False)` for one run of `sample_runs`, with only the
    sample `columns` if given; the parses are not kept in the in-process cache."""
    frame = store.read_files(files, remember=False, columns=columns)
    schema = SAMPLE if columns is None else {c: SAMPLE[c] for c in columns}
    return _host_filter(_lazy(frame, schema), hosts or HostFilter())


def scan_node_samples(
    store: Store, window: Window | None, hosts: HostFilter | None = None
) -> pl.LazyFrame:
    """Node-wide samples (new format's `system` block) in the window."""
    hosts = hosts or HostFilter()
    frame = _read(store, "sample", NODE_SAMPLE, window, hosts, extra="node")
    return _host_filter(within_window(frame, window, "time"), hosts)


def scan_gpu_samples(
    store: Store, window: Window | None, hosts: HostFilter | None = None
) -> pl.LazyFrame:
    """Per-card GPU samples (new format's `system.gpus`) in the window."""
    hosts = hosts or HostFilter()
    frame = _read(store, "sample", GPU_SAMPLE, window, hosts, extra="gpu")
    return _host_filter(within_window(frame, window, "time"), hosts)


def scan_sysinfo(store: Store, window: Window | None, hosts: HostFilter | None = None) -> pl.LazyFrame:
    """Node sysinfo readings in the window."""
    hosts = hosts or HostFilter()
    # One small frame per host and day: not kept per file (see Store.read_files).
    frame = _read(store, "sysinfo", SYSINFO, window, hosts, remember=False)
    return _host_filter(within_window(frame, window, "time"), hosts)


def scan_sacct(store: Store, window: Window | None) -> pl.LazyFrame:
    """Slurm job and step records from the window's day directories.

    As in the reference, the window selects directories, not records: a job
    is reported on the day its record was written.  Later records for the
    same (job, step) override earlier ones -- the newest record time wins,
    then the more final state, then the later file and line.
    """
    frame = _read(store, "sacct", SACCT, window, HostFilter())
    # COMPAT(dedup): ties are broken by file and line order, not read order.
    state_rank = (
        pl.when(pl.col("state") == "PENDING").then(0)
        .when(pl.col("state") == "RUNNING").then(1)
        .otherwise(2)
    )  # fmt: skip
    return (
        frame.with_row_index("_order")
        .with_columns(state_rank.alias("_rank"))
        .sort(["job_id", "job_step", "time", "_rank", "_order"], nulls_last=False)
        .group_by(["job_id", "job_step"], maintain_order=True)
        .last()
        .drop("_order", "_rank")
    )


def scan_partitions(store: Store, window: Window | None) -> pl.LazyFrame:
    """Slurm partition snapshots in the window."""
    frame = _read(store, "partitions", PARTITION, window, HostFilter())
    return within_window(frame, window, "time")


def scan_node_states(store: Store, window: Window | None) -> pl.LazyFrame:
    """Slurm node-state snapshots in the window."""
    frame = _read(store, "partitions", NODE_STATE, window, HostFilter(), extra="nodes")
    return within_window(frame, window, "time")

"""Whether data are flowing: per cluster, table and host, the newest record and the
last append -- what the UPPMAX database keeps in its `last_updated` table.

Only the newest day's files of each host are read (one or two files per host,
found by listing the day directories), so the cost does not grow with the tree.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from sonalyze.ingest.schemas import UTC_TIME
from sonalyze.tables.hostglob import HostFilter
from sonalyze.tables.source import SelectedFile, TreeSource
from sonalyze.tables.store import Store
from sonalyze.tables.window import Window

TABLES = ("sample", "sysinfo", "sacct", "partitions")
SCHEMA: dict[str, pl.DataType] = {
    "table": pl.String(),
    "host": pl.String(),  # null for the tables that are not per host
    "newest": UTC_TIME,  # the newest record's time
    "last_append": UTC_TIME,  # the newest modification time of those files
}


def _host_of(selected: SelectedFile) -> str | None:
    kind = selected.kind
    if not kind.host_named:
        return None
    return selected.path.name[len(kind.prefix) : len(selected.path.name) - len(kind.suffix)]


def files_by_day(source: TreeSource, table: str, window: Window, hosts: HostFilter
                 ) -> dict[str | None, list[list[SelectedFile]]]:  # fmt: skip
    """For each host (None for tables not kept per host), its files in the window
    grouped by day, newest day first."""
    days: dict[str | None, list[list[SelectedFile]]] = {}
    for selected in reversed(source.files(table, window, hosts)):
        groups = days.setdefault(_host_of(selected), [])
        if not groups or groups[-1][0].path.parent != selected.path.parent:
            groups.append([])
        groups[-1].append(selected)
    return days


def _newest_time(frames: list[pl.DataFrame], until: datetime) -> datetime | None:
    """The newest record time up to `until`: `time`, or for job records without one
    their latest of submit, start and end."""
    found: list[datetime] = []
    for frame in frames:
        if not frame.height or "time" not in frame.columns:
            continue
        stamps = frame.select(
            pl.coalesce("time", pl.max_horizontal(*[c for c in ("submit", "start", "end")
                                                    if c in frame.columns]))  # fmt: skip
            if "end" in frame.columns else pl.col("time")
        ).to_series()
        newest = stamps.filter(stamps <= until).max()
        if isinstance(newest, datetime):
            found.append(newest)
    return max(found) if found else None


def host_status(store: Store, window: Window, hosts: HostFilter) -> pl.DataFrame:
    """One row per table and host (SCHEMA): newest record and last append.

    Each host's newest day is read first; only a host whose newest day holds no
    record up to the window's end (files of the future, or empty ones) costs the
    day before, and so on.
    """
    source = store.source
    assert isinstance(source, TreeSource)
    rows = []
    for table in TABLES:
        pending = files_by_day(source, table, window, hosts)
        last_append = {h: _mtime(days[0]) for h, days in pending.items()}
        found: dict[str | None, datetime | None] = dict.fromkeys(pending)
        while pending:  # rounds over days, newest first; each round one read of all files
            files = [f for days in pending.values() for f in days[0]]
            parsed = dict(zip([f.path for f in files], store.parse_all(files), strict=True))
            for host, days in list(pending.items()):  # per host, not per record
                frames = [f for s in days.pop(0) for f in (parsed[s.path].frame,
                                                           *parsed[s.path].extra.values())]
                found[host] = _newest_time(frames, window.end)
                if found[host] is not None or not days:
                    del pending[host]
        rows += [{"table": table, "host": h, "newest": t, "last_append": last_append[h]}
                 for h, t in found.items()]  # fmt: skip
    return pl.DataFrame(rows, schema=SCHEMA)


def _mtime(files: list[SelectedFile]) -> datetime | None:
    stamps = [s.path.stat().st_mtime for s in files if s.path.exists()]
    return datetime.fromtimestamp(max(stamps), UTC) if stamps else None

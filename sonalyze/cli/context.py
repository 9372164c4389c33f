"""Turning the shared options into a data store, a window and printed output."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from sonalyze.errors import UsageError
from sonalyze.output.fields import FieldTable
from sonalyze.output.fmtspec import FieldSpec, FormatOptions, parse_fmt
from sonalyze.output.render import format_help, render, write
from sonalyze.query import compile_query
from sonalyze.tables.cache import FileCache, parse_cache_size
from sonalyze.tables.clusterconfig import read_cluster_config
from sonalyze.tables.diskcache import DEFAULT_BUDGET, DiskCache, default_dir, parse_budget
from sonalyze.tables.hostglob import HostFilter
from sonalyze.tables.source import FileListSource, JobanalyzerStore, TreeSource
from sonalyze.tables.store import Store, default_cache
from sonalyze.tables.window import Window, make_window
from sonalyze.verbs import VerbInfo

_CACHES: dict[int, FileCache] = {}  # THREADS: filled from the CLI's one thread


def split_values(values: Iterable[str] | None) -> list[str]:
    """Repeatable options also take comma lists: `-u a,b -u c` -> a, b, c."""
    out: list[str] = []
    for v in values or ():
        parts = v.split(",")
        if any(p == "" for p in parts):
            raise UsageError(f"Empty value in {v!r}")
        out.extend(parts)
    return out


def job_ids(values: Iterable[str] | None, option: str) -> tuple[int, ...]:
    """Job ids from repeatable, comma-separated values."""
    ids = []
    for v in split_values(values):
        if not (v.isascii() and v.isdigit() and len(v) <= 19):
            raise UsageError(f"Invalid {option} value {v!r}: job ids are non-negative integers")
        ids.append(int(v))
    return tuple(ids)


def open_store(
    *,
    data_dir: Path | None,
    jobanalyzer_dir: Path | None,
    cluster: str | None,
    config_file: Path | None,
    files: list[Path] | None,
    cache: str | None,
    cache_dir: str | None = None,
) -> Store:
    """The store the data-source options describe; conflicting sources are usage errors."""
    given = [n for n, v in (("--data-dir", data_dir), ("--jobanalyzer-dir", jobanalyzer_dir),
                            ("a file list", files)) if v]  # fmt: skip
    if len(given) > 1:
        raise UsageError(f"{given[0]} precludes {given[1]}")
    if jobanalyzer_dir and config_file:
        raise UsageError("--jobanalyzer-dir precludes --config-file")
    size = parse_cache_size(cache) if cache else None
    file_cache = _CACHES.setdefault(size, FileCache(size)) if size else default_cache()
    config = read_cluster_config(config_file) if config_file else None
    disk = open_disk_cache(cache_dir)
    if jobanalyzer_dir:
        store = JobanalyzerStore(jobanalyzer_dir)
        name = cluster or _only_cluster(store)
        return Store(store.tree(name), file_cache, disk)
    if data_dir:
        return Store(TreeSource(data_dir, cluster, config), file_cache, disk)
    if files or config is not None:
        # A config file alone is a source too: `config` and `node` show its nodes.
        return Store(FileListSource(tuple(files or ()), cluster, config), file_cache, disk)
    raise UsageError("No data source: give --data-dir, --jobanalyzer-dir with --cluster, "
                     "or files after --")


def open_disk_cache(cache_dir: str | None) -> DiskCache | None:
    """The persistent cache for --cache-dir (or the default place); None when off."""
    if cache_dir is not None and cache_dir.strip().lower() in ("", "off", "none"):
        return None
    root = Path(cache_dir) if cache_dir is not None else default_dir()
    if root is None:
        return None
    budget_text = os.environ.get("SONALYZE_CACHE_BUDGET")
    return DiskCache(root, parse_budget(budget_text) if budget_text else DEFAULT_BUDGET)


def _only_cluster(store: JobanalyzerStore) -> str:
    names = store.cluster_names()
    if len(names) == 1:
        return names[0]
    raise UsageError("--cluster is required: the store holds " + (", ".join(names) or "no clusters"))


def window_for(store: Store, from_: str | None, to: str | None, default_days: int = 1
               ) -> Window | None:
    """The query window; None (no time limit) for a file list without --from/--to."""
    if isinstance(store.source, FileListSource) and not from_ and not to:
        return None
    return make_window(from_, to, now=datetime.now(UTC), default_days=default_days)


def hosts_of(values: list[str] | None) -> HostFilter:
    """Compiled --host patterns."""
    return HostFilter.parse(values)


class Printer:
    """Parses --fmt once, applies -q, renders, and reports skipped records."""

    def __init__(self, info: VerbInfo, fmt: str | None, query: str | None) -> None:
        self.info = info
        self.specs: list[FieldSpec]
        self.opts: FormatOptions
        self.specs, self.opts = parse_fmt(fmt, info.fields, default_format=info.default_format)
        self.help = self.opts.help
        self.predicate = compile_query(query, info.fields) if query else None

    @property
    def table(self) -> FieldTable:
        """The verb's fields."""
        return self.info.fields

    def query(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Rows that pass -q."""
        return frame.filter(self.predicate) if self.predicate is not None else frame

    def text(self, frame: pl.DataFrame) -> str:
        """Formatted output for the rows."""
        return render(frame, self.specs, self.opts)

    def print(self, frame: pl.DataFrame) -> None:
        """Query, render and write the rows to stdout (as bytes, a slice at a time,
        where stdout has a byte stream under it)."""
        rows = self.query(frame)
        out = getattr(sys.stdout, "buffer", None)
        if out is None:
            sys.stdout.write(self.text(rows))
            return
        sys.stdout.flush()  # what was written as text comes first
        write(rows, self.specs, self.opts, out)
        out.flush()

    def help_text(self) -> str:
        """The --fmt=help text."""
        return format_help(self.info.fields, self.info.summary)


def report_problems(store: Store, verbose: bool) -> None:
    """One summary line on stderr when records were skipped; every one with -v."""
    diag = store.diagnostics
    if not diag.skipped:
        return
    if verbose:
        # By file and line: runs of hosts read in two threads may record them out of order.
        for path, p in sorted(diag.problems, key=lambda found: (str(found[0]), found[1].line)):
            sys.stderr.write(f"sonalyze: skipped {path}:{p.line}: {p.reason}\n")
    files = len({path for path, _ in diag.problems})
    sys.stderr.write(
        f"sonalyze: skipped {diag.skipped} bad record(s) in {files} file(s)"
        + ("" if verbose else " (use -v to list them)")
        + "\n"
    )

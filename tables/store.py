"""Reading tables: selected files -> cached parses -> one frame per table.

`Store` bundles a data source, the in-process and on-disk caches of parsed
files and a record of what was skipped, so the CLI can report "N records
skipped" after any query.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from sonalyze.ingest import Parsed, Problem
from sonalyze.tables.cache import FileCache
from sonalyze.tables.diskcache import DiskCache
from sonalyze.tables.hostglob import HostFilter
from sonalyze.tables.loader import load_all
from sonalyze.tables.source import DataSource, SelectedFile
from sonalyze.tables.window import Window

_DEFAULT_CACHE = FileCache()


def default_cache() -> FileCache:
    """The process-wide cache used when no size is asked for."""
    return _DEFAULT_CACHE


@dataclass
class Diagnostics:
    """What a query read and what it had to skip."""

    files_read: int = 0
    bytes_read: int = 0
    problems: list[tuple[Path, Problem]] = field(default_factory=list)
    # Files already counted: a verb that reads a file twice reports its problems once.
    seen: set[Path] = field(default_factory=set)

    @property
    def skipped(self) -> int:
        """How many records were skipped as unreadable."""
        return len(self.problems)


@dataclass
class Store:
    """A data source with a cache and diagnostics; what `scan_<table>` reads from."""

    source: DataSource
    cache: FileCache = field(default_factory=lambda: _DEFAULT_CACHE)
    disk: DiskCache | None = None
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    # THREADS: a query may read the next hosts' files in a second thread while this
    # one reads sysinfo; reads take turns, as the caches and diagnostics are shared.
    _reading: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def cluster(self) -> str | None:
        """The canonical cluster name, if known."""
        return self.source.cluster

    def parse_all(self, files: list[SelectedFile], *, remember: bool = True,
                  columns: tuple[str, ...] | None = None) -> list[Parsed]:  # fmt: skip
        """The parse of every file, in order, from whichever cache can serve it.

        `remember=False` keeps the parses out of the in-process cache: for files
        read once, a few hosts at a time, where holding them would defeat the point.
        Only then may `columns` be given: the disk cache then decodes only those
        columns of its entries' main frames (other parses hold them all).
        """
        if columns is not None and remember:
            raise ValueError("only parses not remembered may lack columns")
        with self._reading:
            return self._parse_all(files, remember, columns)

    def _parse_all(self, files: list[SelectedFile], remember: bool,
                   columns: tuple[str, ...] | None) -> list[Parsed]:  # fmt: skip
        parsed, size = load_all(files, self.cache if remember else None, self.disk, columns)
        diag = self.diagnostics
        new = [(f, p) for f, p in zip(files, parsed, strict=True) if f.path not in diag.seen]
        diag.files_read += len(new)
        diag.bytes_read += size if len(new) == len(files) else sum(
            f.path.stat().st_size for f, _ in new if f.path.exists())
        for selected, p in new:
            diag.seen.add(selected.path)
            diag.problems.extend((selected.path, q) for q in p.problems)
        return parsed

    def read(
        self, table: str, window: Window | None, hosts: HostFilter, extra: str | None = None,
        *, remember: bool = True,
    ) -> pl.DataFrame:
        """All records of `table` (or of its extra frame `extra`) from the selected files."""
        return self.read_files(self.source.files(table, window, hosts), extra, remember=remember)

    def read_files(self, files: list[SelectedFile], extra: str | None = None, *,
                   remember: bool = True, columns: tuple[str, ...] | None = None,
                   ) -> pl.DataFrame:  # fmt: skip
        """All records (or the extra frame `extra`) of these files, in order; only the
        main frames' `columns`, if given (and the files are not remembered).

        Files not remembered are read a group at a time, each group's frames
        copied into one: thousands of small per-file frames (a month of
        sysinfo) would otherwise cost far more than their rows.
        """
        if remember:
            return _concat(self._frames(self.parse_all(files, columns=columns), extra))
        wanted = None if extra else columns
        groups = []
        for start in range(0, len(files), _FILES_PER_GROUP):
            group = files[start : start + _FILES_PER_GROUP]
            frames = self._frames(self.parse_all(group, remember=False, columns=wanted), extra)
            if wanted is not None:  # decoded frames have just these; fresh parses all
                frames = [f if f.columns == list(wanted) else f.select(wanted) for f in frames]
            groups.append(_concat(frames).rechunk())
        return _concat([g for g in groups if g.width])

    @staticmethod
    def _frames(parses: list[Parsed], extra: str | None) -> list[pl.DataFrame]:
        frames = []
        for parsed in parses:
            frame = parsed.extra.get(extra) if extra else parsed.frame
            if frame is not None and frame.height:
                frames.append(frame)
        return frames


_FILES_PER_GROUP = 256


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    if not frames:
        return pl.DataFrame()
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed")

"""Reading tables: selected files -> cached parses -> one frame per table.

`Store` bundles a data source, the parsed-file cache and a record of what
was skipped, so the CLI can report "N records skipped" after any query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from sonalyze.errors import DataSourceError
from sonalyze.ingest import Parsed, Problem
from sonalyze.tables.cache import FileCache
from sonalyze.tables.hostglob import HostFilter
from sonalyze.tables.source import DataSource, SelectedFile
from sonalyze.tables.window import Window

_DEFAULT_CACHE = FileCache()


@dataclass
class Diagnostics:
    """What a query read and what it had to skip."""

    files_read: int = 0
    bytes_read: int = 0
    problems: list[tuple[Path, Problem]] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        """How many records were skipped as unreadable."""
        return len(self.problems)


@dataclass
class Store:
    """A data source with a cache and diagnostics; what `scan_<table>` reads from."""

    source: DataSource
    cache: FileCache = field(default_factory=lambda: _DEFAULT_CACHE)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)

    @property
    def cluster(self) -> str | None:
        """The canonical cluster name, if known."""
        return self.source.cluster

    def parse(self, selected: SelectedFile) -> Parsed:
        """One file's parse, from the cache when unchanged since last read."""
        try:
            parsed = self.cache.get(selected.path, selected.kind.parser)
            size = selected.path.stat().st_size
        except FileNotFoundError:
            return Parsed(pl.DataFrame())  # removed since listing: nothing to read
        except PermissionError:
            raise DataSourceError(f"Cannot read {selected.path}: permission denied") from None
        except IsADirectoryError:
            raise DataSourceError(f"Cannot read {selected.path}: it is a directory") from None
        self.diagnostics.files_read += 1
        self.diagnostics.bytes_read += size
        self.diagnostics.problems.extend((selected.path, p) for p in parsed.problems)
        return parsed

    def read(
        self, table: str, window: Window | None, hosts: HostFilter, extra: str | None = None
    ) -> pl.DataFrame:
        """All records of `table` (or of its extra frame `extra`) from the selected files."""
        frames = []
        for selected in self.source.files(table, window, hosts):
            parsed = self.parse(selected)
            frame = parsed.extra.get(extra) if extra else parsed.frame
            if frame is not None and frame.height:
                frames.append(frame)
        if not frames:
            return pl.DataFrame()
        return pl.concat(frames, how="vertical_relaxed")

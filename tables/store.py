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
from sonalyze.tables.batch import batches, parse_batch
from sonalyze.tables.cache import FileCache
from sonalyze.tables.hostglob import HostFilter
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

    def parse_all(self, files: list[SelectedFile]) -> list[Parsed]:
        """The parse of every file, in order: cached ones reused, the rest parsed in batches."""
        results: list[Parsed | None] = [None] * len(files)
        pending: dict[object, list[tuple[int, tuple[str, int, int], bytes]]] = {}
        for i, selected in enumerate(files):
            try:
                key = self.cache.key(selected.path)
                found = self.cache.lookup(key)
                data = b"" if found is not None else selected.path.read_bytes()
            except FileNotFoundError:
                results[i] = Parsed(pl.DataFrame())  # removed since listing: nothing to read
                continue
            except PermissionError:
                raise DataSourceError(f"Cannot read {selected.path}: permission denied") from None
            except IsADirectoryError:
                raise DataSourceError(f"Cannot read {selected.path}: it is a directory") from None
            self.diagnostics.files_read += 1
            self.diagnostics.bytes_read += key[1]
            if found is not None:
                results[i] = found
            else:
                pending.setdefault(selected.kind.parser, []).append((i, key, data))
        for parser, items in pending.items():
            for run in batches([len(d) for _, _, d in items]):
                parsed = parse_batch([items[j][2] for j in run], parser)  # type: ignore[arg-type]
                for j, p in zip(run, parsed, strict=True):
                    i, key, _ = items[j]
                    p = p.without_lines()
                    self.cache.put(key, p)
                    results[i] = p
        for selected, p in zip(files, results, strict=True):
            assert p is not None
            self.diagnostics.problems.extend((selected.path, q) for q in p.problems)
        return [p for p in results if p is not None]

    def read(
        self, table: str, window: Window | None, hosts: HostFilter, extra: str | None = None
    ) -> pl.DataFrame:
        """All records of `table` (or of its extra frame `extra`) from the selected files."""
        frames = []
        for parsed in self.parse_all(self.source.files(table, window, hosts)):
            frame = parsed.extra.get(extra) if extra else parsed.frame
            if frame is not None and frame.height:
                frames.append(frame)
        if not frames:
            return pl.DataFrame()
        return pl.concat(frames, how="vertical_relaxed")

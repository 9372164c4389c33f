"""Getting the parse of a set of files as cheaply as their caches allow.

For each file, in order of preference: the in-process cache (unchanged
file), the on-disk cache (unchanged, or appended to: then only the new
bytes are parsed), a fresh parse.  Whatever must be parsed -- whole files
or new tails -- is parsed in batches per format.  Only whole lines go into
the disk cache; a torn last line is parsed on each read until it is whole.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sonalyze.errors import DataSourceError
from sonalyze.ingest import Parsed, Problem
from sonalyze.tables.batch import batches, parse_batch
from sonalyze.tables.cache import FileCache
from sonalyze.tables.diskcache import DiskCache, Entry, Fingerprint, checks
from sonalyze.tables.source import SelectedFile


@dataclass
class _Work:
    """One file that needs parsing: the bytes to parse and the cached prefix, if any."""

    index: int
    selected: SelectedFile
    fingerprint: Fingerprint
    base: Entry | None
    new_bytes: bytes  # after base.offset (or the whole file without a base)


def shift(parsed: Parsed, lines: int) -> Parsed:
    """The parse with its problem line numbers moved down by `lines`."""
    if not lines:
        return parsed
    moved = tuple(Problem(p.line + lines, p.reason) for p in parsed.problems)
    return Parsed(parsed.frame, moved, parsed.extra)


def join(first: Parsed, second: Parsed) -> Parsed:
    """Two parses of consecutive parts of one file as one."""
    if not second.frame.height and not second.problems and not any(
        f.height for f in second.extra.values()
    ):
        return first
    frame = pl.concat([first.frame, second.frame], how="vertical_relaxed")
    extra = {
        k: pl.concat([v, second.extra[k]], how="vertical_relaxed") if k in second.extra else v
        for k, v in first.extra.items()
    }
    return Parsed(frame, first.problems + second.problems, extra)


def _read_range(path: Path, start: int, length: int | None = None) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read() if length is None else f.read(length)


def _appended(entry: Entry, fp: Fingerprint) -> bool:
    """True if the file is the cached bytes plus more (checked by head and tail sums).

    Data files are append-only; a file that did not grow but changed (same size,
    new mtime) is treated as rewritten and parsed again.
    """
    if fp.inode != entry.inode or fp.size <= entry.size:
        return False
    head = _read_range(fp.path, 0, min(4096, entry.offset))
    tail_start = max(0, entry.offset - 4096)
    tail = _read_range(fp.path, tail_start, entry.offset - tail_start)
    return checks(head)[0] == entry.head and checks(tail)[1] == entry.tail


def _plan(selected: SelectedFile, fp: Fingerprint, entry: Entry | None,
          disk: DiskCache | None, index: int) -> tuple[Parsed | None, _Work | None]:  # fmt: skip
    unchanged = entry is not None and (entry.size, entry.mtime_ns, entry.inode) == (
        fp.size, fp.mtime_ns, fp.inode)  # fmt: skip
    if unchanged and entry.offset == fp.size:  # type: ignore[union-attr]
        disk.touch(selected.path, entry.used_ns)  # type: ignore[union-attr]
        disk.hits += 1  # type: ignore[union-attr]
        return entry.parsed, None  # type: ignore[union-attr]
    if entry is not None and (unchanged or _appended(entry, fp)):
        if entry.columns is not None:  # it will be extended and saved: it needs every column
            entry = disk.load(selected.path, selected.kind.parser_name)  # type: ignore[union-attr]
            if entry is None:
                return None, _Work(index, selected, fp, None, selected.path.read_bytes())
        # Unchanged with a torn last line, or appended to: parse only what follows.
        return None, _Work(index, selected, fp, entry, _read_range(fp.path, entry.offset))
    return None, _Work(index, selected, fp, None, selected.path.read_bytes())


def _load_entries(disk: DiskCache | None, files: list[SelectedFile],
                  columns: tuple[str, ...] | None) -> list[Entry | None]:  # fmt: skip
    """Cache entries for the files (with their main frames' `columns`, if given),
    decoded two at a time (the decoding releases the GIL)."""
    if disk is None or not files:
        return [None] * len(files)
    # THREADS: each worker reads and decodes one entry file into new objects; the
    # DiskCache counters are not touched by `load`.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda f: disk.load(f.path, f.kind.parser_name, columns), files))


def load_all(files: list[SelectedFile], memory: FileCache | None, disk: DiskCache | None,
             columns: tuple[str, ...] | None = None) -> tuple[list[Parsed], int]:  # fmt: skip
    """The parse of every file, in order, and the bytes the files hold.

    The in-process cache `memory` is consulted and filled, if given.  With
    `columns`, a parse served by the disk cache may hold only those columns
    (it decodes faster); others hold all.  The caller selects them.
    """
    results: list[Parsed | None] = [None] * len(files)
    misses: list[tuple[int, SelectedFile, Fingerprint]] = []
    total = 0
    for i, selected in enumerate(files):
        try:
            fp = Fingerprint.of(selected.path)
        except FileNotFoundError:
            results[i] = Parsed(pl.DataFrame())  # removed since listing: nothing to read
            continue
        total += fp.size
        key = (str(selected.path), fp.size, fp.mtime_ns)
        found = memory.lookup(key) if memory is not None else None
        if found is not None:
            results[i] = found
        else:
            misses.append((i, selected, fp))
    cached = [selected for _, selected, _ in misses if selected.kind.disk_cached]
    loaded = iter(_load_entries(disk, cached, columns))
    entries = [next(loaded) if selected.kind.disk_cached else None for _, selected, _ in misses]
    work: list[_Work] = []
    for (i, selected, fp), entry in zip(misses, entries, strict=True):
        try:
            found, todo = _plan(selected, fp, entry, disk, i)
        except FileNotFoundError:
            results[i] = Parsed(pl.DataFrame())
            continue
        except PermissionError:
            raise DataSourceError(f"Cannot read {selected.path}: permission denied") from None
        except IsADirectoryError:
            raise DataSourceError(f"Cannot read {selected.path}: it is a directory") from None
        if todo is not None:
            work.append(todo)
        else:
            if memory is not None:
                memory.put((str(selected.path), fp.size, fp.mtime_ns), found)  # type: ignore[arg-type]
            results[i] = found
    for w, parsed in _parse(work, disk):
        results[w.index] = parsed
        if memory is not None:
            memory.put((str(w.selected.path), w.fingerprint.size, w.fingerprint.mtime_ns), parsed)
    if disk is not None and work:
        disk.evict_if_due()
    return [r if r is not None else Parsed(pl.DataFrame()) for r in results], total


def _parse(work: list[_Work], disk: DiskCache | None) -> list[tuple[_Work, Parsed]]:
    """Parse the new bytes of every work item, batched per format; update the disk cache."""
    by_parser: dict[object, list[_Work]] = {}
    for w in work:
        by_parser.setdefault(w.selected.kind.parser, []).append(w)
    out: list[tuple[_Work, Parsed]] = []
    jobs = []
    for parser, items in by_parser.items():
        cuts = [w.new_bytes.rfind(b"\n") + 1 for w in items]
        whole = [w.new_bytes[:c] for w, c in zip(items, cuts, strict=True)]
        for run in batches([len(b) for b in whole]):
            jobs.append((parser, items, whole, run))
    # Two batches at a time: Polars and Arrow release the GIL, and the Python glue
    # of one batch overlaps the Rust work of the other.
    # THREADS: the workers only parse bytes into new frames; everything shared (the
    # caches, the results) is touched by this thread alone, as results come back.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(
            lambda job: parse_batch([job[2][j] for j in job[3]], job[0]), jobs
        )
        for (_, items, whole, run), parsed in zip(jobs, results, strict=True):
            for j, p in zip(run, parsed, strict=True):
                w = items[j]
                entry = _extend(w, whole[j], p.without_lines())
                if disk is not None and w.selected.kind.disk_cached and whole[j] and entry.offset > 0:
                    disk.save(w.selected.path, entry)
                    disk.extended += w.base is not None
                out.append((w, _with_torn_line(w, entry)))
    return out


def _extend(w: _Work, whole: bytes, parsed: Parsed) -> Entry:
    """The cache entry covering the base (if any) plus the newly parsed whole lines."""
    base = w.base
    lines = base.lines if base else 0
    merged = join(base.parsed, shift(parsed, lines)) if base else parsed
    offset = (base.offset if base else 0) + len(whole)
    head = base.head if base else checks(whole[:4096])[0]
    if len(whole) >= 4096 or base is None:
        tail = checks(whole[-4096:])[1]
    else:  # the last 4 KiB reach back into the cached prefix
        start = max(0, offset - 4096)
        tail = checks(_read_range(w.fingerprint.path, start, offset - start))[1]
    fp = w.fingerprint
    return Entry(w.selected.kind.parser_name, fp.size, fp.mtime_ns, fp.inode, offset,
                 lines + whole.count(b"\n"), head, tail, merged)  # fmt: skip


def _with_torn_line(w: _Work, entry: Entry) -> Parsed:
    """Account for a last line still being written (never cached).

    In a data tree it is skipped and counted: a partial record could parse as a
    whole one with wrong values.  A file named on the command line is read whole.
    """
    torn = w.new_bytes[w.new_bytes.rfind(b"\n") + 1 :]
    if not torn or not torn.strip():
        return entry.parsed
    if w.selected.in_tree:
        # COMPAT(torn-line): the Go sonalyze reads an unterminated last line too.
        problem = Problem(entry.lines + 1, "unterminated last line (a write in progress or interrupted)")
        parsed = entry.parsed
        return Parsed(parsed.frame, (*parsed.problems, problem), parsed.extra, parsed.lines)
    return join(entry.parsed, shift(w.selected.kind.parser(torn).without_lines(), entry.lines))

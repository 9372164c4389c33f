"""The periodic ingester: every file a collector dropped into a spool directory is
added to the tree, then moved to `done/` (or `rejected/`, with its reasons).

One run at a time per spool (a non-blocking `flock` on `SPOOL/.ingest.lock`:
an overlapping run from cron finds it taken and leaves at once).  Files are
checked together, up to 64 MiB at a time, but each is all or nothing on its
own: one invalid record and the whole file goes to `rejected/`.  Files whose names start with `.` or end in
`.tmp`/`.part` are being written by their collector and are left alone, as are
files changed in the last `min_age` seconds.  A run killed half-way leaves
its current file in the spool; the next run adds it again, and records
already in the tree are not written twice.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from sonalyze.errors import DataSourceError
from sonalyze.tables.add import Input, Target, chunked, commit, prepare
from sonalyze.tables.append import AppendResult
from sonalyze.tables.rejects import write_rejects

LOCK_NAME = ".ingest.lock"
BATCH_BYTES = 64 << 20
_IN_PROGRESS = (".tmp", ".part")


@dataclass
class SpoolRun:
    """What one run did."""

    busy: bool = False  # another run held the lock: nothing was done
    done: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    appended: AppendResult = field(default_factory=AppendResult)
    records_refused: int = 0
    reports: int = 0


def _waiting(spool: Path, min_age: float, now: float) -> list[Path]:
    """Regular files ready to ingest, oldest first."""
    ready = []
    with os.scandir(spool) as entries:
        for e in entries:
            if e.name.startswith(".") or e.name.endswith(_IN_PROGRESS):
                continue
            if not e.is_file(follow_symlinks=False):
                continue
            mtime = e.stat(follow_symlinks=False).st_mtime
            if now - mtime >= min_age:
                ready.append((mtime, e.name))
    return [spool / name for _, name in sorted(ready)]


def _free_name(directory: Path, name: str) -> Path:
    """`directory/name`, or `name.1`, `name.2`, ... if taken (the spool lock is held)."""
    candidate, n = directory / name, 0
    while candidate.exists() or candidate.with_name(candidate.name + ".reason").exists():
        n += 1
        candidate = directory / f"{name}.{n}"
    return candidate


def _subdir(spool: Path, name: str) -> Path:
    path = spool / name
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise DataSourceError(f"{path} must be a directory, not a symlink or file")
    path.mkdir(mode=0o755, exist_ok=True)
    return path


def _ingest_files(chunk: list[Input], spool: Path, target: Target, skip_invalid: bool,
                  expect: str | None, done: Path, rejected: Path, run: SpoolRun) -> None:  # fmt: skip
    """One prepare for the group; each file is still all or nothing on its own."""
    try:
        inputs = [(i.name, i.read()) for i in chunk]
    except OSError as e:
        raise DataSourceError(f"Cannot read {e.filename}: {e.strerror}") from None
    paths = [spool / i.name for i in chunk]
    prepared = prepare(inputs, target, expect)
    run.reports += len(prepared.reports)
    run.records_refused += len(prepared.rejected)
    refused: dict[str, list] = {}
    for name, r in prepared.rejected:
        refused.setdefault(name, []).append((name, r))
    failed = set() if skip_invalid else set(refused)
    if failed:
        prepared.placed = prepared.placed.filter(~pl.col("input").is_in(list(failed)))
    run.appended.add(commit(prepared, target))
    for path in paths:
        if path.name in failed:
            destination = _free_name(rejected, path.name)
            destination.with_name(destination.name + ".reason").write_text(
                "".join(f"{r.line}: {r.reason}\n" for _, r in refused[path.name])
            )
            path.rename(destination)
            run.rejected.append(path.name)
            continue
        destination = _free_name(done, path.name)
        if path.name in refused:
            write_rejects(rejected / (destination.name + ".rejected"), refused[path.name])
        path.rename(destination)
        run.done.append(path.name)


def ingest_spool(spool: Path, target: Target, *, skip_invalid: bool = False,
                 expect: str | None = None, min_age: float = 5.0) -> SpoolRun:  # fmt: skip
    """Add every ready file in `spool` to `target`; move each to done/ or rejected/."""
    if not spool.is_dir():
        raise DataSourceError(f"Spool directory {spool} does not exist")
    run = SpoolRun()
    lock = os.open(spool / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            run.busy = True
            return run
        done, rejected = _subdir(spool, "done"), _subdir(spool, "rejected")
        ready = [Input(p.name, p.stat().st_size, p.read_bytes) for p in _waiting(spool, min_age, time.time())]
        for chunk in chunked(ready, BATCH_BYTES):
            _ingest_files(chunk, spool, target, skip_invalid, expect, done, rejected, run)
    finally:
        os.close(lock)
    return run

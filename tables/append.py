"""Appending records to a data tree: one file per table, UTC day and host, each
record written once, under a lock, never through a symlink.

Per target file, under an exclusive `flock` on the file itself: a last line
left unterminated by a killed writer is cut off (the repair), the records
already in the file are skipped (identity: the line, or for old sysinfo the
object in canonical JSON), and the rest is written with one `write` call.
So concurrent writers never interleave inside a record, a re-run adds
nothing, and a reader sees whole records plus at most an unterminated last
line, which it skips.  Files are created 0644 and directories 0755.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from sonalyze.errors import DataSourceError
from sonalyze.tables.filekinds import KINDS, FileKind, kind_of

_DIR_MODE = 0o755
_FILE_MODE = 0o644


def kind_for(table: str, fmt: str) -> FileKind:
    """The file kind that holds records of `table` in format `fmt` ("old" or "new")."""
    for kind in KINDS:
        if kind.table == table and kind.prefix.startswith("0+") == (fmt == "new"):
            return kind
    raise ValueError(f"no {fmt}-format files hold {table} records")


def file_name(kind: FileKind, host: str | None) -> str:
    """The base name of the `kind` file for `host`."""
    return kind.prefix + (host or "") + kind.suffix if kind.host_named else kind.prefix + kind.suffix


def place(records: pl.DataFrame, directory: pl.Expr | str = "") -> tuple[pl.DataFrame, pl.DataFrame]:
    """`records` with `path` (relative: [directory/]YYYY/MM/DD/name); and, with a
    `reason`, those whose host name would make a file another table claims
    (`cpuhog.csv`, `sysinfo-x.csv`)."""
    pairs = records.select("table", "format", "host").unique()
    names: dict[tuple[str, str, str | None], str | None] = {}
    for table, fmt, host in pairs.iter_rows():  # one per distinct file name: few
        kind = kind_for(table, fmt)
        name = file_name(kind, host)
        names[(table, fmt, host)] = name if kind_of(name) == kind else None
    lookup = pl.DataFrame(
        [{"table": t, "format": f, "host": h, "name": n} for (t, f, h), n in names.items()],
        schema={"table": pl.String, "format": pl.String, "host": pl.String, "name": pl.String},
    )
    joined = records.join(lookup, on=["table", "format", "host"], how="left", nulls_equal=True)
    clash = joined.filter(pl.col("name").is_null()).with_columns(
        pl.format("host name {} would give a file name that another table uses",
                  pl.col("host")).alias("reason")
    )  # fmt: skip
    prefix = pl.lit(directory) if isinstance(directory, str) else directory
    day = pl.col("time").dt.strftime("%Y/%m/%d")
    path = pl.when(prefix == "").then(day).otherwise(pl.concat_str(prefix, pl.lit("/"), day))
    placed = joined.filter(pl.col("name").is_not_null()).with_columns(
        pl.concat_str(path, pl.lit("/"), pl.col("name")).alias("path")
    )
    return placed.drop("name"), clash.drop("name")


@dataclass
class AppendResult:
    """What one append did."""

    written: int = 0
    duplicates: int = 0
    files: int = 0
    created: int = 0
    repaired: list[tuple[str, int]] = field(default_factory=list)  # (path, bytes cut)
    paths: list[Path] = field(default_factory=list)  # the files written to

    def add(self, other: AppendResult) -> None:
        """Accumulate another result into this one."""
        self.written += other.written
        self.duplicates += other.duplicates
        self.files += other.files
        self.created += other.created
        self.repaired += other.repaired
        self.paths += other.paths


def append(base: Path, placed: pl.DataFrame) -> AppendResult:
    """Append the placed records under `base`, file by file (a batch touches each file once)."""
    result = AppendResult()
    groups = placed.group_by("path", maintain_order=True).agg("table", "format", "text", "key")
    for path, tables, formats, texts, keys in groups.sort("path").iter_rows():
        kind = kind_for(tables[0], formats[0])
        try:
            result.add(_append_file(base, path, kind, texts, keys))
        except DataSourceError:
            raise
        except OSError as e:  # disk full, permissions, a file system gone away
            raise DataSourceError(f"Cannot append to {base}/{path}: {e.strerror}") from None
    return result


def _open_dir(base: Path, parts: list[str]) -> int:
    """A descriptor for base/parts..., creating what is missing, following no symlink
    below `base`."""
    try:
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise DataSourceError(f"Data directory {base} does not exist") from None
    except NotADirectoryError:
        raise DataSourceError(f"Data directory {base} is not a directory") from None
    try:
        for part in parts:
            created = False
            try:
                os.mkdir(part, _DIR_MODE, dir_fd=fd)
                created = True
            except FileExistsError:
                pass
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                dir_fd=fd)  # fmt: skip
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise DataSourceError(
                        f"Refusing to write into {base}/{'/'.join(parts)}: {part} is a symlink "
                        "or not a directory"
                    ) from None
                raise
            if created:
                os.fchmod(child, _DIR_MODE)  # whatever the umask
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def _open_file(dir_fd: int, name: str, where: str) -> tuple[int, bool]:
    flags = os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(name, flags | os.O_CREAT | os.O_EXCL, _FILE_MODE, dir_fd=dir_fd)
        os.fchmod(fd, _FILE_MODE)
        return fd, True
    except FileExistsError:
        pass
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise DataSourceError(f"Refusing to write to {where}: it is a symlink") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DataSourceError(f"Refusing to write to {where}: not a regular file")
    return fd, False


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def present_keys(kind: FileKind, data: bytes) -> pl.Series:
    """The identities of the records a file already holds."""
    text = data.decode("utf-8", errors="replace")
    if kind.prefix == "sysinfo-":
        from sonalyze.ingest.sysinfo_old import object_spans

        spans, _ = object_spans(text)
        keys = [json.dumps(o, sort_keys=True, separators=(",", ":")) for _, _, _, o in spans]
        return pl.Series(keys, dtype=pl.String)
    return pl.Series(text.split("\n"), dtype=pl.String).str.strip_chars_end("\r")


def _append_file(base: Path, path: str, kind: FileKind, texts: list[str], keys: list[str]
                 ) -> AppendResult:  # fmt: skip
    parts = path.split("/")
    where = f"{base}/{path}"
    dir_fd = _open_dir(base, parts[:-1])
    try:
        fd, created = _open_file(dir_fd, parts[-1], where)
    finally:
        os.close(dir_fd)
    result = AppendResult(files=1, created=int(created))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = _read_all(fd)
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            os.ftruncate(fd, keep)
            result.repaired.append((where, len(data) - keep))
            data = data[:keep]
        batch = pl.DataFrame({"text": texts, "key": keys}, schema={"text": pl.String, "key": pl.String})
        fresh = batch.filter(
            pl.col("key").is_first_distinct() & ~pl.col("key").is_in(present_keys(kind, data).implode())
        )
        result.duplicates = batch.height - fresh.height
        result.written = fresh.height
        if fresh.height:
            payload = (fresh["text"].str.join("\n").item() + "\n").encode()
            _write_all(fd, payload)
            result.paths.append(base / path)
    finally:
        os.close(fd)  # releases the lock
    return result


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        n = os.write(fd, view)
        view = view[n:]

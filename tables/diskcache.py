"""The persistent cache: parsed files kept on disk as Arrow IPC between CLI runs.

One entry file per data file, named by a hash of its absolute path, holding
a JSON header (what was parsed: size, mtime, inode, the byte offset parsed
up to, checksums of the first and last 4 KiB before that offset, line count,
skipped records; each frame's length, decoded size and CRC-32) and the
frames as LZ4-compressed Arrow IPC streams (the stream format: Polars reads
a small file-format frame through its query engine, ~1 ms each, and a
stream in a twentieth of that).  The process records are decoded on
loading, the node and GPU frames only when a query asks for them.

Rules that keep it honest:

- An entry is used as is only when size and mtime match.  A file that grew
  and whose head and tail checksums still match was appended to: only the
  new bytes are parsed and the entry is extended.  Anything else (rewritten,
  truncated, replaced) is parsed again from scratch.
- Only whole lines are cached; a torn last line is parsed on every read until
  its writer finishes it.
- Entries are written to a temporary file and renamed into place, so
  concurrent processes see the old entry or the new one, never half of one.
  An entry that cannot be read for any reason, or whose frames fail their
  CRC, is ignored and rebuilt.
- The total size stays under a budget: after writing, the least recently
  used entries (by file mtime, refreshed on use if older than ten minutes) are deleted.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import struct
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sonalyze.errors import UsageError
from sonalyze.ingest import Parsed, Problem
from sonalyze.tables.cache import parse_cache_size
from sonalyze.tables.deferred import DeferredFrames

FORMAT = 3  # 1 held Arrow IPC files, 2 Arrow IPC streams, 3 also decoded sizes and CRC-32s
MAGIC = b"SONALYZE-CACHE\n"
DEFAULT_BUDGET = 4 << 30
_CHECK_BYTES = 4096
_STALE_TEMP_SECONDS = 3600
# Eviction order is kept to within this: marking an entry used costs a metadata
# write (a month of a cluster's entries: thousands), so a recent mark is left as it is.
TOUCH_AFTER_SECONDS = 600


@functools.cache
def code_tag() -> str:
    """Changes whenever what a parse produces may change: version and storage schemas.

    An entry written by another version of sonalyze is simply not used.
    """
    from sonalyze import __version__
    from sonalyze.ingest import schemas

    shapes = [repr(v) for k, v in sorted(vars(schemas).items()) if k.isupper()]
    return _digest((__version__ + "".join(shapes)).encode())


def default_dir() -> Path | None:
    """$SONALYZE_CACHE_DIR (`off` disables), else $XDG_CACHE_HOME/sonalyze, else ~/.cache/sonalyze."""
    env = os.environ.get("SONALYZE_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "none") else Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "sonalyze"


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    """What a data file looks like now, as far as the cache needs to know."""

    path: Path
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> Fingerprint:
        """Stat the file."""
        st = os.stat(path)
        return cls(path, st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass(frozen=True)
class Entry:
    """A cached prefix of a data file: its parse and how to recognise the bytes."""

    parser: str
    size: int
    mtime_ns: int
    inode: int
    offset: int  # bytes parsed: always just after a newline
    lines: int  # newlines in those bytes
    head: str
    tail: str
    parsed: Parsed
    # The columns of `parsed.frame` that were decoded, when not all: such an entry
    # serves a read as it is, but is never extended or saved.
    columns: tuple[str, ...] | None = None
    used_ns: int = 0  # when the entry file was last marked used (its mtime), if read from one


def checks(data: bytes) -> tuple[str, str]:
    """Checksums of the first and the last 4 KiB of `data`."""
    return _digest(data[:_CHECK_BYTES]), _digest(data[-_CHECK_BYTES:])


class DiskCache:
    """Entries under one directory, within a byte budget."""

    def __init__(self, root: Path, budget: int = DEFAULT_BUDGET) -> None:
        self.root = root
        self.budget = budget
        self.hits = 0
        self.extended = 0
        self.written = 0
        # Bytes written since the last eviction pass; a process's first writes are
        # always checked, as earlier processes may have left the cache just over budget.
        self._unchecked_bytes = budget + 1

    def _entry_path(self, path: Path) -> Path:
        name = hashlib.sha256(str(_real_path(path)).encode()).hexdigest()[:40]
        return self.root / name[:2] / f"{name}.arrow"

    def load(self, path: Path, parser: str, columns: tuple[str, ...] | None = None
             ) -> Entry | None:  # fmt: skip
        """The entry for `path`, or None if absent, of another parser or unreadable.

        With `columns`, only those columns of its main frame are decoded (all of
        them if it lacks one).
        """
        where = self._entry_path(path)
        try:
            with open(where, "rb") as f:
                used_ns = os.fstat(f.fileno()).st_mtime_ns
                raw = f.read()
            return _decode(raw, parser, columns, used_ns)
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - any damage means "not cached"; it is rebuilt
            _remove(where)
            return None

    def touch(self, path: Path, used_ns: int = 0) -> None:
        """Mark an entry as used (eviction drops the least recently used), unless it
        was marked (at `used_ns`) less than `TOUCH_AFTER_SECONDS` ago."""
        if time.time_ns() - used_ns < TOUCH_AFTER_SECONDS * 1_000_000_000:
            return
        try:
            os.utime(self._entry_path(path))
        except OSError:
            pass

    def save(self, path: Path, entry: Entry) -> None:
        """Write an entry atomically; a failure to write only costs the caching."""
        where = self._entry_path(path)
        tmp: str | None = None
        try:
            where.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=where.parent)
            data = _encode(entry)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, where)
            self.written += 1
            self._unchecked_bytes += len(data)
        except OSError:
            if tmp is not None:
                _remove(Path(tmp))

    def usage(self) -> tuple[int, int]:
        """(entries, bytes) currently on disk."""
        count = total = 0
        for f in self._files():
            try:
                total += f.stat().st_size
                count += 1
            except OSError:
                continue
        return count, total

    def _files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [f for d in self.root.iterdir() if d.is_dir() for f in d.iterdir()
                if f.suffix == ".arrow"]  # fmt: skip

    def evict_if_due(self) -> None:
        """`evict` after a process's first writes, then whenever 1/64 of the budget
        has been written since the last pass.

        A pass stats every entry; a query that reads hosts a few at a time
        writes entries in many small rounds, and a pass after each would cost
        more than the writing.  The budget may be overrun by that 1/64.
        """
        if self._unchecked_bytes > self.budget // 64:
            self.evict()

    def evict(self) -> None:
        """Delete the least recently used entries until the budget holds; drop stale temps."""
        self._unchecked_bytes = 0
        now = time.time()
        entries = []
        for d in (d for d in self.root.iterdir() if d.is_dir()) if self.root.is_dir() else ():
            for f in d.iterdir():
                try:
                    st = f.stat()
                except OSError:
                    continue
                if f.name.startswith(".tmp-"):
                    if now - st.st_mtime > _STALE_TEMP_SECONDS:
                        _remove(f)
                    continue
                entries.append((st.st_mtime, st.st_size, f))
        total = sum(size for _, size, _ in entries)
        for _, size, f in sorted(entries):
            if total <= self.budget:
                break
            _remove(f)
            total -= size

    def clear(self) -> int:
        """Delete every entry; returns how many."""
        files = self._files()
        for f in files:
            _remove(f)
        return len(files)


def _real_path(path: Path) -> Path:
    """`path.resolve()`, resolving each directory once: a month of a cluster's files
    lies in a few hundred directories, and resolving walks every component."""
    if path.is_symlink():
        return path.resolve()
    return _real_directory(path.parent.absolute()) / path.name


@functools.lru_cache(maxsize=4096)
def _real_directory(directory: Path) -> Path:
    return directory.resolve()


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _ipc(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_ipc_stream(buf, compression="lz4")
    return buf.getvalue()


def _read_ipc(blob: bytes, columns: tuple[str, ...] | None = None) -> pl.DataFrame:
    return pl.read_ipc_stream(io.BytesIO(blob), columns=list(columns) if columns else None)


def _encode(entry: Entry) -> bytes:
    frames = {"": entry.parsed.frame, **entry.parsed.extra}
    blobs = {name: _ipc(frame) for name, frame in frames.items()}
    header = {
        "format": FORMAT,
        "code": code_tag(),
        "parser": entry.parser,
        "size": entry.size,
        "mtime_ns": entry.mtime_ns,
        "inode": entry.inode,
        "offset": entry.offset,
        "lines": entry.lines,
        "head": entry.head,
        "tail": entry.tail,
        "problems": [[p.line, p.reason] for p in entry.parsed.problems],
        "frames": [[name, len(blob), int(frames[name].estimated_size()), zlib.crc32(blob)]
                   for name, blob in blobs.items()],
    }
    head = json.dumps(header).encode()
    return MAGIC + struct.pack("<Q", len(head)) + head + b"".join(blobs.values())


def _decode(raw: bytes, parser: str, columns: tuple[str, ...] | None = None, used_ns: int = 0
            ) -> Entry | None:  # fmt: skip
    if not raw.startswith(MAGIC):
        raise ValueError("not a cache entry")
    pos = len(MAGIC)
    (length,) = struct.unpack_from("<Q", raw, pos)
    pos += 8
    header = json.loads(raw[pos : pos + length])
    pos += length
    if header["format"] != FORMAT or header["parser"] != parser or header["code"] != code_tag():
        return None
    blobs: dict[str, tuple[bytes, int]] = {}
    for name, size, decoded_size, crc in header["frames"]:
        blob = raw[pos : pos + size]
        if len(blob) != size or zlib.crc32(blob) != crc:
            # Checked here, as frames decoded later could not be rebuilt by then.
            raise ValueError("damaged cache entry")
        blobs[name] = (blob, int(decoded_size))
        pos += size
    main_blob = blobs.pop("")[0]
    try:
        main = _read_ipc(main_blob, columns)
    except pl.exceptions.ColumnNotFoundError:
        main, columns = _read_ipc(main_blob), None
    # The node and GPU frames are decoded only if a query asks for them.
    extra = DeferredFrames({name: (functools.partial(_read_ipc, blob), size)
                            for name, (blob, size) in blobs.items()})  # fmt: skip
    problems = tuple(Problem(int(line), str(reason)) for line, reason in header["problems"])
    return Entry(
        parser,
        int(header["size"]),
        int(header["mtime_ns"]),
        int(header["inode"]),
        int(header["offset"]),
        int(header["lines"]),
        str(header["head"]),
        str(header["tail"]),
        Parsed(main, problems, extra),
        columns,
        used_ns,
    )


def parse_budget(text: str) -> int:
    """A disk budget like `4G`; reuses the memory cache's size syntax."""
    try:
        return parse_cache_size(text)
    except UsageError:
        raise UsageError(f"Bad cache budget {text!r}: use a size like 500M or 4G") from None

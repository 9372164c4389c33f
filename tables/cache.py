"""An in-process LRU of parsed files, bounded by the bytes of the frames it holds.

Keys are (path, size, mtime_ns): a file that grew or was rewritten has a new
key, so a stale parse is never served; its old entry just ages out.  Cached
frames are shared and must be treated as read-only (Polars frames are
immutable unless mutated in place, which no code here does).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from cachetools import LRUCache

from sonalyze.errors import UsageError
from sonalyze.ingest import Parsed
from sonalyze.tables.deferred import frames_size

DEFAULT_CACHE_BYTES = 512 * 1024 * 1024
_SUFFIX = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_cache_size(text: str) -> int:
    """`512M`, `2G`, `100K` or plain bytes -> bytes; a usage error otherwise."""
    t = text.strip().upper().removesuffix("B")
    scale = _SUFFIX.get(t[-1:], 1) if t else 1
    digits = t[:-1] if t[-1:] in _SUFFIX else t
    if not (digits.isascii() and digits.isdigit()) or int(digits) <= 0:
        raise UsageError(f"Bad --cache value {text!r}: use a size like 512M or 2G")
    return int(digits) * scale


def _parsed_size(parsed: Parsed) -> int:
    size = int(parsed.frame.estimated_size())
    size += frames_size(parsed.extra)
    return max(size, 1)


class FileCache:
    """Parsed files by (path, size, mtime_ns), least recently used dropped first."""

    # THREADS: one lock guards the LRU; parsing happens outside it, so two threads
    # may parse the same file once each, which is harmless.
    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._lru: LRUCache[tuple[str, int, int], Parsed] = LRUCache(
            maxsize=max_bytes, getsizeof=_parsed_size
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(path: Path) -> tuple[str, int, int]:
        """The cache key of a file as it is on disk now."""
        st = os.stat(path)
        return (str(path), st.st_size, st.st_mtime_ns)

    def lookup(self, key: tuple[str, int, int]) -> Parsed | None:
        """The cached parse for `key`, if any."""
        with self._lock:
            found = self._lru.get(key)
            if found is not None:
                self.hits += 1
            else:
                self.misses += 1
            return found

    def put(self, key: tuple[str, int, int], parsed: Parsed) -> None:
        """Remember a parse; one larger than the whole cache is not kept."""
        with self._lock:
            try:
                self._lru[key] = parsed
            except ValueError:
                pass

    def get(self, path: Path, parse: Callable[[bytes], Parsed]) -> Parsed:
        """The parse of `path`, from the cache when the file is unchanged."""
        key = self.key(path)
        found = self.lookup(key)
        if found is not None:
            return found
        parsed = parse(path.read_bytes()).without_lines()
        self.put(key, parsed)
        return parsed

    def clear(self) -> None:
        """Forget everything (e.g. after an append by this process)."""
        with self._lock:
            self._lru.clear()

    @property
    def current_bytes(self) -> int:
        """Bytes currently held."""
        return int(self._lru.currsize)

"""Named frames built on first use, with their sizes known before they are built.

A cache entry holds a sample file's process records and its node and GPU
frames; most queries read only one of them.  Each frame is decoded when it
is first asked for, and a memory budget can count the decoded size the
entry recorded instead of decoding everything to measure it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import polars as pl


class DeferredFrames(Mapping[str, pl.DataFrame]):
    """A read-only mapping of name -> frame; each frame is made by its function once."""

    def __init__(self, makers: dict[str, tuple[Callable[[], pl.DataFrame], int]]) -> None:
        # name -> (function that builds the frame, the frame's estimated size in bytes)
        self._makers = makers
        self._built: dict[str, pl.DataFrame] = {}

    def __getitem__(self, name: str) -> pl.DataFrame:
        # THREADS: two threads may build the same frame once each; both results are
        # equal and either may be kept.
        found = self._built.get(name)
        if found is None:
            found = self._built[name] = self._makers[name][0]()
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)

    def estimated_size(self) -> int:
        """The frames' estimated size in bytes, built or not."""
        return sum(size for _, size in self._makers.values())


def frames_size(frames: Mapping[str, pl.DataFrame]) -> int:
    """Estimated bytes of named frames, without building deferred ones."""
    if isinstance(frames, DeferredFrames):
        return frames.estimated_size()
    return sum(int(f.estimated_size()) for f in frames.values())

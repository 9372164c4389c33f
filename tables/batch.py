"""Parsing many files of one kind in one go, then splitting the result per file.

Every parser reads records that start on a new line and is vectorised, so
its fixed cost per call dominates on small files.  Concatenating the files (each ended by a
newline), parsing once and cutting the rows back apart by input line gives
each file its own `Parsed`, as if it had been parsed alone, for a fraction
of the cost.  Batches are capped in bytes to bound memory.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from itertools import accumulate

import polars as pl

from sonalyze.ingest import Parsed, Problem

MAX_BATCH_BYTES = 32 * 1024 * 1024


def _terminated(data: bytes) -> bytes:
    return data if not data or data.endswith(b"\n") else data + b"\n"


def _cut(frame: pl.DataFrame, lines: pl.Series | None, ends: list[int]) -> list[pl.DataFrame]:
    if lines is None or lines.len() != frame.height:
        # No line bookkeeping: only possible for empty frames.
        return [frame.clear() for _ in ends]
    bounds = lines.search_sorted(pl.Series(ends, dtype=pl.UInt32), side="left").to_list()
    starts = [0, *bounds[:-1]]
    return [frame.slice(s, e - s) for s, e in zip(starts, bounds, strict=True)]


def parse_batch(datas: list[bytes], parser: Callable[[bytes], Parsed]) -> list[Parsed]:
    """One `Parsed` per input, computed with a single call of `parser`."""
    if len(datas) == 1:
        return [parser(datas[0])]
    chunks = [_terminated(d) for d in datas]
    counts = [c.count(b"\n") for c in chunks]
    ends = list(accumulate(counts))
    starts = [0, *ends[:-1]]
    whole = parser(b"".join(chunks))
    mains = _cut(whole.frame, whole.lines.get(""), ends)
    extras = {k: _cut(f, whole.lines.get(k), ends) for k, f in whole.extra.items()}
    problems: list[list[Problem]] = [[] for _ in datas]
    for p in whole.problems:
        i = min(bisect.bisect_right(ends, p.line - 1), len(datas) - 1)
        problems[i].append(Problem(p.line - starts[i], p.reason))
    return [
        Parsed(mains[i], tuple(problems[i]), {k: v[i] for k, v in extras.items()})
        for i in range(len(datas))
    ]


def batches(sizes: list[int], limit: int = MAX_BATCH_BYTES) -> list[list[int]]:
    """Group indices into runs whose sizes add up to at most `limit` (at least one each)."""
    out: list[list[int]] = []
    total = 0
    for i, size in enumerate(sizes):
        if out and total + size <= limit:
            out[-1].append(i)
            total += size
        else:
            out.append([i])
            total = size
    return out

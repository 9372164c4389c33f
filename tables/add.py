"""One `add`: inputs checked and placed as a whole, then appended -- or nothing.

`prepare` cuts every input into records (`ingest.records`), resolves each
record's cluster directory and file, and collects every refusal; `commit`
appends what was prepared.  Callers decide what refusals mean: all or nothing
(`add`), or write the good and set the bad aside (`--skip-invalid`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate
from pathlib import Path

import polars as pl

from sonalyze.errors import DataSourceError, UsageError
from sonalyze.ingest.parsed import Problem
from sonalyze.ingest.records import RECORD_SCHEMA, SAFE_NAME, Rejected, classify, detect_format
from sonalyze.tables.append import AppendResult, append, place
from sonalyze.tables.source import JobanalyzerStore

PLACED_SCHEMA: dict[str, pl.DataType] = {
    **RECORD_SCHEMA, "input": pl.String(), "directory": pl.String(), "path": pl.String()
}


@dataclass(frozen=True)
class Target:
    """Where records go: one cluster's tree, or a Jobanalyzer store's `data/<cluster>`."""

    base: Path
    store: JobanalyzerStore | None = None
    cluster: str | None = None  # canonical; fixed for every record when given

    @classmethod
    def of(cls, data_dir: Path | None, jobanalyzer_dir: Path | None, cluster: str | None
           ) -> Target:  # fmt: skip
        """The target named by `--data-dir`, or `--jobanalyzer-dir` [`--cluster`]."""
        if (data_dir is None) == (jobanalyzer_dir is None):
            raise UsageError("Give one of --data-dir or --jobanalyzer-dir")
        if cluster is not None and not pl.Series([cluster]).str.contains(SAFE_NAME).item():
            raise UsageError(f"Invalid cluster name {cluster!r}")
        if data_dir is not None:
            if data_dir.exists() and not data_dir.is_dir():
                raise DataSourceError(f"Data directory {data_dir} is not a directory")
            return cls(data_dir, None, cluster)  # created by the first commit
        store = JobanalyzerStore(jobanalyzer_dir)  # type: ignore[arg-type]
        return cls(store.root, store, store.resolve(cluster) if cluster else None)

    def directories(self, records: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """`records` with `directory` (relative to `base`); and, with a `reason`, those
        of another cluster."""
        cluster = pl.col("cluster")
        if self.store is not None:
            aliases = self.store.aliases()
            if aliases:
                cluster = cluster.replace(aliases)
        if self.cluster is not None:
            wrong = pl.col("cluster").is_not_null() & (cluster != self.cluster)
            reason = pl.format("a record of cluster {}, not {}", pl.col("cluster"), pl.lit(self.cluster))
            directory = pl.lit("data/" + self.cluster if self.store is not None else "")
        elif self.store is not None:
            wrong = pl.col("cluster").is_null() | ~cluster.str.contains(SAFE_NAME)
            reason = pl.when(pl.col("cluster").is_null()).then(
                pl.lit("an old-format record names no cluster: give --cluster")
            ).otherwise(pl.format("cluster {} has an unsafe alias target", pl.col("cluster")))
            directory = pl.concat_str(pl.lit("data/"), cluster)
        else:  # one tree, no name given: records' clusters are not checked
            wrong, reason, directory = pl.lit(False), pl.lit(None, pl.String), pl.lit("")
        marked = records.with_columns(
            pl.when(wrong).then(reason).alias("reason"), directory.alias("directory")
        )
        good = marked.filter(pl.col("reason").is_null()).drop("reason")
        return good, marked.filter(pl.col("reason").is_not_null())


@dataclass
class Prepared:
    """Placed records of all inputs, and what was refused or reported, per input name."""

    placed: pl.DataFrame  # PLACED_SCHEMA
    rejected: list[tuple[str, Rejected]] = field(default_factory=list)
    reports: list[tuple[str, Problem]] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)

    @property
    def records(self) -> int:
        """How many records are ready to append."""
        return self.placed.height


def prepare(inputs: list[tuple[str, bytes]], target: Target, expect: str | None = None,
            now: datetime | None = None) -> Prepared:  # fmt: skip
    """Check and place the records of every input (name, bytes).

    Inputs of one format are classified in one pass over their concatenation
    (a spool of many small files costs about what one large file does); each
    record keeps its input's name and its line number there.
    """
    out = Prepared(pl.DataFrame(schema=PLACED_SCHEMA))
    groups: dict[str, list[tuple[str, bytes]]] = {}
    for name, data in inputs:
        data = data.removeprefix(b"\xef\xbb\xbf")
        out.formats[name] = detect_format(data)
        if out.formats[name] != "empty":
            groups.setdefault(out.formats[name], []).append((name, _terminated(data)))
    frames = []
    for group in groups.values():
        names = [name for name, _ in group]
        starts = list(accumulate((data.count(b"\n") for _, data in group), initial=0))[:-1]
        records = classify(b"".join(data for _, data in group), expect, now)
        frame = _local(records.frame, names, starts)
        routed, wrong_cluster = target.directories(frame)
        placed, clashes = place(routed, pl.col("directory"))
        refused = [_rejected(r, names, starts) for r in records.rejected]
        for bad in (wrong_cluster, clashes):
            refused += [(n, Rejected(line, reason, text.encode())) for n, line, reason, text
                        in bad.select("input", "lineno", "reason", "text").iter_rows()]  # fmt: skip
        out.rejected += sorted(refused, key=lambda item: (names.index(item[0]), item[1].line))
        for p in records.reports:
            name, local = _rejected(Rejected(p.line, p.reason, b""), names, starts)
            out.reports.append((name, Problem(local.line, p.reason)))
        frames.append(placed.select(list(PLACED_SCHEMA)))
    if frames:
        out.placed = pl.concat(frames)
    return out


def _terminated(data: bytes) -> bytes:
    return data if data.endswith(b"\n") else data + b"\n"


def _local(frame: pl.DataFrame, names: list[str], starts: list[int]) -> pl.DataFrame:
    """Line numbers of the concatenation made local to each input, with its `input` name."""
    begins = pl.Series(starts, dtype=pl.UInt32)
    index = begins.search_sorted(frame["lineno"] - 1, side="right") - 1
    return frame.with_columns(
        input=pl.Series(names, dtype=pl.String).gather(index),
        lineno=frame["lineno"] - begins.gather(index),
    )


def _rejected(r: Rejected, names: list[str], starts: list[int]) -> tuple[str, Rejected]:
    i = bisect_right(starts, r.line - 1) - 1
    return names[i], Rejected(r.line - starts[i], r.reason, r.raw)


CHUNK_BYTES = 128 << 20


@dataclass(frozen=True)
class Input:
    """One input by name, with its size and a way to read it (files are read when needed)."""

    name: str
    size: int
    read: Callable[[], bytes]


def chunked(inputs: list[Input], limit: int) -> list[list[Input]]:
    """Consecutive groups of inputs of about `limit` bytes (at least one input each)."""
    chunks: list[list[Input]] = [[]]
    size = 0
    for item in inputs:
        if chunks[-1] and size + item.size > limit:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item.size
    return [c for c in chunks if c]


@dataclass
class Outcome:
    """What an `add` did: appended (if anything), refused, reported."""

    appended: AppendResult = field(default_factory=AppendResult)
    rejected: list[tuple[str, Rejected]] = field(default_factory=list)
    reports: list[tuple[str, Problem]] = field(default_factory=list)


def add_inputs(inputs: list[Input], target: Target, expect: str | None = None, *,
               skip_invalid: bool = False, now: datetime | None = None) -> Outcome:  # fmt: skip
    """All inputs as one batch: nothing is appended if any record is refused, unless
    `skip_invalid`.  Inputs are prepared about `CHUNK_BYTES` at a time so memory stays
    bounded: when there is more than one chunk, a first pass checks them all and a
    second appends (checking twice, but never holding more than a chunk)."""
    out = Outcome()
    chunks = chunked(inputs, CHUNK_BYTES)
    prepared: Prepared | None = None
    for chunk in chunks:
        prepared = prepare([(i.name, i.read()) for i in chunk], target, expect, now)
        out.rejected += prepared.rejected
        out.reports += prepared.reports
    if out.rejected and not skip_invalid:
        return out
    if len(chunks) == 1 and prepared is not None:
        out.appended = commit(prepared, target)
        return out
    for chunk in chunks:
        out.appended.add(commit(prepare([(i.name, i.read()) for i in chunk], target, expect, now),
                                target))  # fmt: skip
    return out


def commit(prepared: Prepared, target: Target) -> AppendResult:
    """Append the prepared records (each file once, under its lock)."""
    if not prepared.placed.height:
        return AppendResult()
    if target.store is None:
        target.base.mkdir(mode=0o755, parents=True, exist_ok=True)
    return append(target.base, prepared.placed)

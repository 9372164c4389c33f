"""Merging process streams into one synthesised time series per job or host.

Streams are grouped (by job across hosts, by host and job, or by host),
and each group becomes one series of *steps*, with the reference's
alignment rule: a step starts at the earliest time not yet consumed, takes
every stream's next record that lies less than `WINDOW` seconds after
that, and also counts, for `LINGER` seconds after a stream's last record,
that last record again -- so a process that just ended still weighs in
when other hosts' records arrive a little later.  A step's values are sums
over the records it took; its GPU set is their union.

A *sparse* stream (no two records less than `WINDOW` seconds apart:
always, for Sonar's minutes-apart sampling) has its record at time t taken
by the first step that starts after t - `WINDOW`, whatever the other
streams hold.  So sparse streams are summed per time first, and a group's
steps come from its distinct times: a time starts a step unless it lies
within `WINDOW` of the step before.  Only the records of dense streams are
stepped one at a time, with a loop over steps (not records).

`StreamMerger` takes the streams a few hosts at a time and keeps only the
per-time sums and one row per stream, so a merge across hosts never holds
every record.  A time's float32 sums add its records in stream order, a
run of hosts after the one before, so any split into runs of whole hosts
gives the same figures to the last bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from sonalyze.ingest.schemas import GPUSET_UNKNOWN
from sonalyze.streams.floatsum import group_starts, sequential_sums

if TYPE_CHECKING:
    import numpy as np

WINDOW = 10
LINGER = 60
_KEY_SPAN = 1 << 34

SUMMED = (
    "cpu_pct", "cpu_util_pct", "cpu_sampled_util_pct", "gpu_pct", "gpumem_pct",
    "cpu_kib", "rssanon_kib", "gpu_kib", "cputime_sec", "threads", "rolledup",
    "data_read_kib", "data_written_kib", "data_cancelled_kib",
)  # fmt: skip
VALUES = (*SUMMED, "gpus", "gpufail", "in_container", "records")
_KEYS = ["k_host", "k_job", "k_stream"]

_FLAGS = ("gpus", "gpufail", "in_container", "records")

MODES = ("auto", "job", "host-job", "host")


@dataclass(frozen=True)
class Merged:
    """Synthesised series: `steps` (grp, t, the step values merged -- sums, gpus,
    gpufail, in_container, or those asked for -- with records and rolledup) and `groups`.

    `groups` has one row per group: grp, job, user, cmd, hosts (sorted
    list), streams (count), t_first, t_last (epoch seconds), and totals
    over its processes: cputime_total (s), read_kib_total,
    written_kib_total (each process's last counter), zombie.
    """

    steps: pl.DataFrame
    groups: pl.DataFrame


def gpus_union(column: pl.Expr) -> pl.Expr:
    """The union of GPU sets; `unknown` if any of them is."""
    union = column.fill_null(0).bitwise_or()
    unknown = pl.lit(GPUSET_UNKNOWN, pl.UInt32)
    return pl.when((union & unknown) != 0).then(unknown).otherwise(union)


# The float32 percentages are added one record after the other (`floatsum`), as the
# reference adds them, so that a merge of runs of hosts matches a whole one to the bit;
# the integer counters are plain sums.
FLOAT32_SUMMED = ("cpu_pct", "cpu_util_pct", "cpu_sampled_util_pct", "gpu_pct", "gpumem_pct")


def aggregate(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per group of `keys`, in key order: the sums, GPU union, failure flag and record count.

    One stable sort puts each group's rows together in row order; each column
    is then reduced per group in numpy (`reduceat`), the float32 percentages
    one value after the other.
    """
    import numpy as np  # here, not at import: every command's start-up would pay for it

    ordered = frame.sort(keys, maintain_order=True)
    present = set(frame.columns)
    columns = [c for c in SUMMED if c not in FLOAT32_SUMMED and c in present]
    floats = [c for c in FLOAT32_SUMMED if c in present]
    if ordered.height == 0:
        return ordered.select(*keys, *columns, *(c for c in _FLAGS if c in present), *floats)
    starts = group_starts(ordered, keys)

    def reduced(column: str, ufunc: np.ufunc, fill: object) -> np.ndarray:
        return ufunc.reduceat(ordered[column].fill_null(fill).to_numpy(), starts)

    def series(column: str, values: np.ndarray) -> pl.Series:
        return pl.Series(column, values, dtype=ordered.schema[column])

    def gpu_union() -> np.ndarray:
        union = reduced("gpus", np.bitwise_or, 0)
        unknown = np.asarray(GPUSET_UNKNOWN, dtype=union.dtype)
        return np.where((union & unknown) != 0, unknown, union)

    flags = {"gpus": gpu_union, "gpufail": lambda: reduced("gpufail", np.maximum, 0),
             "in_container": lambda: reduced("in_container", np.logical_or, False),
             "records": lambda: reduced("records", np.add, 0)}  # fmt: skip
    return ordered.select(keys).gather(starts).with_columns(
        *(series(c, reduced(c, np.add, 0)) for c in columns),
        *(series(c, flags[c]()) for c in _FLAGS if c in present),
        *(pl.Series(c, sequential_sums(ordered[c].fill_null(0).to_numpy(), starts))
          for c in floats),
    )  # fmt: skip


def _group_keys(mode: str) -> list[pl.Expr]:
    """Per-stream group key columns (`k_host`, `k_job`, `k_stream`) for a merge mode.

    Job 0 (no job) is never merged: each such stream is a group of its own.
    """
    # COMPAT(jobs-job0): job-0 streams are kept also on hosts that ran no other job.
    job = pl.col("stream_job")
    alone = job == 0
    by_job = {
        "job": pl.lit(True),
        "auto": pl.col("stream_epoch") == 0,
        "host-job": pl.lit(False),
        "host": pl.lit(False),
    }[mode]
    if mode == "host":
        return [pl.col("host").alias("k_host"), pl.lit(0, pl.UInt64).alias("k_job"),
                pl.lit(0, pl.UInt64).alias("k_stream")]  # fmt: skip
    return [
        pl.when(by_job & ~alone).then(pl.lit("")).otherwise(pl.col("host")).alias("k_host"),
        job.cast(pl.UInt64).alias("k_job"),
        pl.when(alone).then(pl.col("stream")).otherwise(0).cast(pl.UInt64).alias("k_stream"),
    ]


def _per_stream(streams: pl.DataFrame, mode: str, first_stream: int) -> pl.DataFrame:
    """One row per stream, in stream order, with its group key."""
    # Rows are in (stream, t) order: the gaps between a stream's records come from one
    # shift of the whole frame (a diff inside the aggregation costs 3x the rest).
    same_stream = pl.col("stream") == pl.col("stream").shift(1)
    gap = pl.when(same_stream).then(pl.col("t") - pl.col("t").shift(1))
    per_stream = streams.with_columns(gap.alias("_gap")).group_by("stream").agg(
        pl.col("host").first(), pl.col("cmd").first(), pl.col("stream_job").first(),
        pl.col("stream_user").first(), pl.col("stream_epoch").first(),
        pl.col("t").min().alias("t_first"), pl.col("t").max().alias("t_last"),
        (pl.col("_gap").min() < WINDOW).fill_null(False).alias("dense"),
        # COMPAT(jobs-cputime), COMPAT(jobs-io): each process's largest counter, not a sum
        # of counters over samples.
        pl.col("cputime_sec").max().fill_null(0).alias("cputime_total"),
        pl.col("data_read_kib").max().fill_null(0).alias("read_kib_total"),
        pl.col("data_written_kib").max().fill_null(0).alias("written_kib_total"),
    )  # fmt: skip
    shifted = pl.col("stream").cast(pl.UInt64) + first_stream
    return per_stream.with_columns(shifted).sort("stream").with_columns(_group_keys(mode))


class StreamMerger:
    """One merge of runs of whole hosts' clean streams (from `build_streams`), added
    in host name order: it keeps per-time sums and one row per stream, not records.

    A time's sums add its records in stream order (host, pid, command), a run
    after the one before: sums of groups that may span hosts stay open, and the
    next run's records are added to them.
    """

    def __init__(self, mode: str, values: tuple[str, ...] = VALUES) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown merge mode {mode}")
        unknown = set(values) - set(VALUES)
        if unknown:
            raise ValueError(f"cannot merge {sorted(unknown)}")
        self.mode = mode
        # The step values to compute (a view that prints few saves adding the others up).
        self.values = tuple(c for c in VALUES if c in values or c in ("records", "rolledup"))
        self._streams: list[pl.DataFrame] = []
        self._stream_count = 0
        self._closed: list[pl.DataFrame] = []  # per-time sums of groups on one host
        self._open: pl.DataFrame | None = None  # per-time sums of groups across hosts
        self._dense: list[pl.DataFrame] = []
        self._lasts: list[pl.DataFrame] = []

    def add(self, streams: pl.DataFrame) -> StreamMerger:
        """Fold in the streams of the next run of hosts."""
        first = self._stream_count
        per_stream = _per_stream(streams, self.mode, first)
        self._stream_count += per_stream.height
        local = per_stream.select(_KEYS).unique(maintain_order=True).with_row_index("_g")
        per_stream = per_stream.join(local, on=_KEYS, maintain_order="left")
        self._streams.append(per_stream.drop("_g"))
        # Stream ids are 1..N within the run and every stream has rows: a gather maps
        # records to their group without a join, keeping the (stream, t) order.
        of_stream = pl.col("stream").cast(pl.Int64) - 1
        records = streams.select(
            "stream", "t", *(c for c in self.values if c != "records"),
            pl.lit(per_stream["_g"]).gather(of_stream).alias("_g"),
            pl.lit(per_stream["dense"]).gather(of_stream).alias("_dense"),
            pl.lit(1, pl.UInt32).alias("records"),
        ).with_columns(pl.col("stream").cast(pl.UInt64) + first)

        def keyed(frame: pl.DataFrame) -> pl.DataFrame:
            return frame.join(local, on="_g").drop("_g")

        is_last = (pl.col("stream") != pl.col("stream").shift(-1)).fill_null(True)
        self._lasts.append(keyed(records.filter(is_last).select("_g", "stream", "t", *self.values)))
        self._dense.append(keyed(records.filter(pl.col("_dense")).drop("_dense")))
        self._sum_by_time(records.filter(~pl.col("_dense")).select("_g", "t", *self.values), local)
        return self

    def _sum_by_time(self, sparse: pl.DataFrame, local: pl.DataFrame) -> None:
        spanning = local.filter(pl.col("k_host") == "")
        earlier = None
        if self._open is not None and spanning.height:
            continued = pl.col("k_job").is_in(spanning["k_job"].implode())
            earlier = self._open.filter(continued).join(spanning, on=_KEYS).select(sparse.columns)
            self._open = self._open.filter(~continued)
        # The earlier runs' sums come first, so that the float32 sums continue from them.
        frame = sparse if earlier is None else pl.concat([earlier, sparse], how="vertical_relaxed")
        sums = aggregate(frame, ["_g", "t"]).join(local, on="_g").drop("_g")
        across = pl.col("k_host") == ""
        self._closed.append(sums.filter(~across))
        opened = sums.filter(across)
        self._open = opened if self._open is None else pl.concat([self._open, opened],
                                                                 how="vertical_relaxed")  # fmt: skip

    def result(self) -> Merged:
        """The merged series of everything added."""
        if not self._streams:
            raise ValueError("nothing to merge")
        per_stream = pl.concat(self._streams, how="vertical_relaxed")
        ids = per_stream.select(_KEYS).unique().sort(_KEYS).with_row_index("grp")

        def with_group(frames: list[pl.DataFrame]) -> pl.DataFrame:
            frame = pl.concat(frames, how="vertical_relaxed")
            return frame.join(ids, on=_KEYS, maintain_order="left").drop(_KEYS)

        per_stream = with_group([per_stream])
        groups = _describe_groups(per_stream, self.mode)
        by_time = [*self._closed, *([self._open] if self._open is not None else [])]
        contributions = _contributions(with_group(by_time), with_group(self._dense), self.values)
        step_times = contributions.select("grp", "step").unique().sort("grp", "step")
        lasts = with_group(self._lasts).sort("grp", "stream")
        # In stream order within each (grp, step), as `lasts` is sorted.
        linger = _lingering(lasts, step_times)
        value_cols = ["grp", "step", *self.values]
        dense_records = sum(d.height for d in self._dense)
        if not dense_records and not linger.height and step_times.height == contributions.height:
            # Every step took one time's sums (sparse streams, minutes apart): they are
            # the step's sums already, in (grp, step) order.
            steps = contributions.select(value_cols)
        else:
            # Sums add a step's rows in row order: its times in order, then what lingers.
            all_parts = pl.concat([contributions.select(value_cols), linger.select(value_cols)],
                                  how="vertical_relaxed")  # fmt: skip
            steps = aggregate(all_parts, ["grp", "step"])
        # COMPAT(merge-rolledup): a step stands for the processes it took and those they
        # rolled up.
        steps = steps.rename({"step": "t"}).with_columns(
            (pl.col("rolledup") + pl.col("records") - 1).alias("rolledup"))
        return Merged(steps=steps, groups=groups)


def _describe_groups(per_stream: pl.DataFrame, mode: str) -> pl.DataFrame:
    merged_name = pl.lit("_merged_")
    return per_stream.group_by("grp").agg(
        pl.col("stream_job").first().alias("job") if mode != "host"
        else pl.lit(0, pl.UInt64).alias("job"),
        pl.col("stream_user").unique().sort().str.join(",").alias("user") if mode != "host"
        else merged_name.alias("user"),
        pl.col("cmd").unique().sort().str.join(",").alias("cmd") if mode != "host"
        else merged_name.alias("cmd"),
        pl.col("host").unique().sort().alias("hosts"),
        pl.len().alias("streams"),
        pl.col("t_first").min(),
        pl.col("t_last").max(),
        pl.col("cputime_total").sum(),
        pl.col("read_kib_total").sum(),
        pl.col("written_kib_total").sum(),
        (pl.col("cmd").str.contains("<defunct>", literal=True)
         | pl.col("cmd").str.starts_with("_zombie_")).any().alias("zombie"),
    ).sort("grp")  # fmt: skip


def _cluster_times(times: pl.DataFrame) -> pl.DataFrame:
    """Step start `step` for each distinct (grp, t), sorted; `WINDOW`-wide greedy clusters."""
    times = times.sort("grp", "t")
    new_group = (pl.col("grp") != pl.col("grp").shift(1)).fill_null(True)
    run_start = new_group | ((pl.col("t") - pl.col("t").shift(1)) >= WINDOW)
    runs = times.with_columns(run_start.cum_sum().alias("run"))
    runs = runs.with_columns(
        pl.col("t").first().over("run").alias("step"),
        (pl.col("t").max() - pl.col("t").min()).over("run").alias("span"),
    )
    simple = runs.filter(pl.col("span") < WINDOW).select("grp", "t", "step")
    pending = runs.filter(pl.col("span") >= WINDOW).select("grp", "t", "run")
    resolved = [simple]
    while pending.height:
        pending = pending.with_columns(pl.col("t").first().over("run").alias("step"))
        inside = pl.col("t") < pl.col("step") + WINDOW
        resolved.append(pending.filter(inside).select("grp", "t", "step"))
        pending = pending.filter(~inside).drop("step")
    return pl.concat(resolved).sort("grp", "t")


def _exact_steps(sparse_t: pl.Series, dense: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """Step starts of one group, stepping as the reference does: for its sparse
    streams' distinct times (sorted), and for its dense records (in (stream, t) order).

    Every live dense stream's head within `WINDOW` of the step's start is taken,
    and every sparse time within it (see the module docstring).
    """
    import numpy as np  # here, not at import: every command's start-up would pay for it

    never = np.iinfo(np.int64).max
    times = sparse_t.to_numpy().astype(np.int64)
    t = dense["t"].to_numpy().astype(np.int64)
    stream = dense["stream"].to_numpy()
    starts = np.flatnonzero(np.r_[True, stream[1:] != stream[:-1]])
    ends = np.r_[starts[1:], len(t)]
    at = starts.copy()
    step = np.empty(len(t), dtype=np.int64)
    sparse_step = np.empty(len(times), dtype=np.int64)
    next_sparse = 0
    while True:
        live = at < ends
        heads = np.where(live, t[np.minimum(at, len(t) - 1)], never)
        low = min(heads.min(), times[next_sparse] if next_sparse < len(times) else never)
        if low == never:
            break
        take = live & (heads < low + WINDOW)
        step[at[take]] = low
        at[take] += 1
        taken_to = int(np.searchsorted(times, low + WINDOW, side="left"))
        sparse_step[next_sparse:taken_to] = low
        next_sparse = max(next_sparse, taken_to)
    return pl.Series("step", sparse_step), pl.Series("step", step)


def _lingering(lasts: pl.DataFrame, steps: pl.DataFrame) -> pl.DataFrame:
    """Each stream's last record again, once for every later step within `LINGER` s."""
    import numpy as np

    step_key = (steps["grp"].cast(pl.Int64) * _KEY_SPAN + steps["step"]).to_numpy()
    base = lasts["grp"].cast(pl.Int64).to_numpy() * _KEY_SPAN + lasts["t"].to_numpy()
    lo = np.searchsorted(step_key, base, side="right")
    hi = np.searchsorted(step_key, base + LINGER, side="right")
    repeated = lasts.with_columns(
        pl.int_ranges(pl.Series(lo), pl.Series(hi)).alias("at")
    ).explode("at").drop_nulls("at")
    if repeated.height == 0:
        return repeated.drop("at").with_columns(pl.lit(0, pl.Int64).alias("step")).clear()
    return repeated.with_columns(
        steps["step"].gather(repeated["at"].cast(pl.UInt32)).alias("step")
    ).drop("at")


def _contributions(by_time: pl.DataFrame, dense: pl.DataFrame, values: tuple[str, ...]
                   ) -> pl.DataFrame:  # fmt: skip
    """The per-time sums and dense records, each with the start of the step that takes it,
    in (grp, step, t, stream) order (a time's sums before its dense records)."""
    dense_groups = dense["grp"].unique()
    in_dense = pl.col("grp").is_in(dense_groups.implode())
    times = by_time.select("grp", "t").unique()
    stepped = [_cluster_times(times.filter(~in_dense))]
    dense_parts = []
    if dense.height:
        mixed = times.filter(in_dense).sort("grp", "t").partition_by("grp", as_dict=True)
        for (grp,), records in dense.sort("grp", "stream", "t").group_by(
            "grp", maintain_order=True
        ):
            sparse_t = mixed.get((grp,), times.clear())["t"]
            sparse_step, dense_step = _exact_steps(sparse_t, records)
            stepped.append(pl.DataFrame({"grp": grp, "t": sparse_t, "step": sparse_step},
                                        schema=stepped[0].schema))  # fmt: skip
            dense_parts.append(records.with_columns(dense_step))
    steps = pl.concat(stepped)
    # A group's steps rise with its times: rows in (grp, t) order are in step order.
    sparse = by_time.sort("grp", "t").join(steps, on=["grp", "t"], maintain_order="left")
    columns = ["grp", "step", "t", "stream", *values]
    sparse = sparse.with_columns(pl.lit(0, pl.UInt64).alias("stream")).select(columns)
    if not dense_parts:
        return sparse
    return pl.concat([sparse, *(p.select(columns) for p in dense_parts)],
                     how="vertical_relaxed").sort("grp", "step", "t", "stream")  # fmt: skip


def merge_inputs(values: tuple[str, ...]) -> tuple[str, ...]:
    """The sample columns a merge computing step `values` reads from the streams
    (for `build_streams(columns=...)`)."""
    computed = ("records", "cpu_util_pct")
    return ("host", "cmd", "user", "cputime_sec", "data_read_kib", "data_written_kib", "rolledup",
            *(v for v in values if v not in computed))  # fmt: skip


def merge_streams(streams: pl.DataFrame, mode: str, values: tuple[str, ...] = VALUES) -> Merged:
    """Merge clean streams (from `build_streams`, in its order) into one series per group,
    with the step `values` asked for (and `records`, `rolledup`)."""
    return StreamMerger(mode, values).add(streams).result()


def concat_merged(parts: list[Merged]) -> Merged:
    """Series merged separately for disjoint sets of hosts, as one (groups renumbered).

    Only for merges whose groups never span hosts (modes `host` and `host-job`):
    given the parts in host order, the result is what one merge of all their
    streams gives.  `steps` may be anything keyed by `grp` (per-group buckets, say).
    """
    steps, groups = [], []
    offset = 0
    for part in parts:
        shift = pl.col("grp") + offset
        steps.append(part.steps.with_columns(shift.cast(part.steps["grp"].dtype)))
        groups.append(part.groups.with_columns(shift.cast(part.groups["grp"].dtype)))
        offset += part.groups.height
    if not parts:
        raise ValueError("nothing to concatenate")
    return Merged(steps=pl.concat(steps, how="vertical_relaxed"),
                  groups=pl.concat(groups, how="vertical_relaxed"))  # fmt: skip

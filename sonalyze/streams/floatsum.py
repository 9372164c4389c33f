"""The reference's float arithmetic: group sums added one value after the other,
and rounding half away from zero.

The Go sonalyze sums CPU and GPU percentages in float32, record by record.
Polars (and numpy's reductions) add pairwise, which is more accurate but
lands on the other side of an integer often enough to change a truncated
or rounded-up figure (3% of `load --none` rows on a 50-node week).  Here
a stable sort makes each group's rows contiguous, and the k-th values of
all groups are added in step k, so the loop runs as many times as the
largest group has members, each step vectorised.
Go's `math.Round` rounds halves away from zero (2.5 -> 3), where Python and
Polars round them to even.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    import numpy as np


def group_starts(ordered: pl.DataFrame, keys: list[str]) -> np.ndarray:
    """Where each group of `keys` starts in a frame sorted by them (row indices)."""
    import numpy as np

    changed = pl.any_horizontal([pl.col(k).ne_missing(pl.col(k).shift(1)) for k in keys])
    starts = ordered.select(pl.arg_where(changed.fill_null(True))).to_series()
    return starts.to_numpy().astype(np.intp)


def sequential_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each group's values (contiguous, from `starts`) added one after the other, in
    the values' own type."""
    import numpy as np

    lengths = np.diff(np.append(starts, len(values)))
    # Groups longest first: the groups that have a k-th value are then a prefix.
    by_length = np.argsort(-lengths, kind="stable")
    first = starts[by_length]
    having = np.searchsorted(-lengths[by_length], -np.arange(1, lengths.max() + 1), side="right")
    acc = np.zeros(len(starts), dtype=values.dtype)
    for k, n in enumerate(having):
        acc[:n] += values[first[:n] + k]
    sums = np.empty_like(acc)
    sums[by_length] = acc
    return sums


def running_sums(frame: pl.DataFrame, keys: list[str], columns: list[str],
                 dtype: str = "float32") -> pl.DataFrame:  # fmt: skip
    """One row per group of `keys` (in key order) with each column's running sum.

    Values are added in row order within a group, in `dtype` (float32 unless
    asked: the reference's float64 averages are running sums too).
    """
    polars_type = {"float32": pl.Float32, "float64": pl.Float64}[dtype]
    # A stable sort puts each group's rows together, still in row order.
    ordered = frame.select(*keys, *(pl.col(c).cast(polars_type).fill_null(0) for c in columns)
                           ).sort(keys, maintain_order=True)  # fmt: skip
    if ordered.height == 0:
        return ordered
    starts = group_starts(ordered, keys)
    return ordered.select(keys).gather(starts).with_columns(
        pl.Series(c, sequential_sums(ordered[c].to_numpy(), starts)) for c in columns)


def round_half_away(x: pl.Expr) -> pl.Expr:
    """Round to the nearest integer, halves away from zero, as Go's `math.Round`."""
    return (x.sign() * (x.abs() + 0.5).floor()).cast(pl.Int64)

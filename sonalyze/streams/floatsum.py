"""The reference's float arithmetic: group sums added one value after the other,
and rounding half away from zero.

The Go sonalyze sums CPU and GPU percentages in float32, record by record.
Polars (and numpy's reductions) add pairwise, which is more accurate but
lands on the other side of an integer often enough to change a truncated
or rounded-up figure (3% of `load --none` rows on a 50-node week).  Here
the k-th values of all groups are added in step k, so the loop runs as
many times as the largest group has members, each step vectorised.
Go's `math.Round` rounds halves away from zero (2.5 -> 3), where Python and
Polars round them to even.
"""

from __future__ import annotations

import polars as pl


def running_sums(frame: pl.DataFrame, keys: list[str], columns: list[str],
                 dtype: str = "float32") -> pl.DataFrame:  # fmt: skip
    """One row per group of `keys` (in first-seen order) with each column's running sum.

    Values are added in row order within a group, in `dtype` (float32 unless
    asked: the reference's float64 averages are running sums too).
    """
    import numpy as np  # here, not at import: every command's start-up would pay for it

    polars_type = {"float32": pl.Float32, "float64": pl.Float64}[dtype]
    if frame.height == 0:
        return frame.select(*keys, *(pl.col(c).cast(polars_type) for c in columns)).clear()
    grouped = frame.select(keys).with_row_index("_i").group_by(keys, maintain_order=True).agg(
        pl.col("_i")
    )
    lengths = grouped["_i"].list.len().to_numpy().astype(np.int64)
    rows = grouped["_i"].explode().to_numpy().astype(np.int64)
    group = np.repeat(np.arange(len(lengths)), lengths)
    position = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    by_position = np.argsort(position, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(position))))
    source = rows[by_position]
    targets = group[by_position]
    sums = {}
    for c in columns:
        values = frame[c].cast(polars_type).fill_null(0).to_numpy()[source]
        acc: np.ndarray = np.zeros(len(lengths), dtype=np.dtype(dtype))
        for k in range(len(bounds) - 1):
            lo, hi = bounds[k], bounds[k + 1]
            idx = targets[lo:hi]
            acc[idx] = acc[idx] + values[lo:hi]
        sums[c] = acc
    return grouped.drop("_i").with_columns(pl.Series(c, sums[c]) for c in columns)


def round_half_away(x: pl.Expr) -> pl.Expr:
    """Round to the nearest integer, halves away from zero, as Go's `math.Round`."""
    return (x.sign() * (x.abs() + 0.5).floor()).cast(pl.Int64)

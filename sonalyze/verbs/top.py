"""`top`: per-core busyness strips, from Sonar's per-core CPU time counters.

Between two consecutive readings of a host, each core's CPU seconds over
the seconds passed is its busyness: `O` at 25% or more, `o` at 10% or
more, `.` below.  One line per reading after the first, one block per
host.  A counter that went backwards (a reboot) shows as `O`, as in the
reference; when the number of cores changes, only the cores both
readings have are shown.
"""

from __future__ import annotations

import polars as pl

BUSY = 0.25
SOMEWHAT = 0.10
_WRAP = 1 << 64


# COMPAT(top-cores): only the cores both readings have; CSV and JSON readings together.
def strips(readings: pl.DataFrame) -> str:
    """The text for readings with columns host, t (epoch s), cpus (list of counters)."""
    if readings.height == 0:
        return ""
    ordered = (
        readings.filter(pl.col("cpus").list.len() > 0)
        .sort("host", "t", maintain_order=True)
        .unique(["host", "t"], keep="first", maintain_order=True)
        .with_row_index("row")
    )
    cores = ordered.select("row", "host", "t", "cpus").explode("cpus").with_columns(
        pl.int_range(pl.len()).over("row").alias("core")
    )
    previous = ordered.select(
        "row", pl.col("row").shift(1).over("host").alias("prev"),
        (pl.col("t") - pl.col("t").shift(1).over("host")).alias("dt"),
    ).drop_nulls("prev")  # fmt: skip
    pairs = (
        cores.join(previous, on="row")
        .join(cores.select(pl.col("row").alias("prev"), "core", pl.col("cpus").alias("before")),
              on=["prev", "core"])  # fmt: skip
        .with_columns(
            # Counters are unsigned: going backwards wraps around to a huge value.
            pl.when(pl.col("cpus") >= pl.col("before"))
            .then((pl.col("cpus") - pl.col("before")).cast(pl.Float64))
            .otherwise(pl.lit(float(_WRAP)))
            .alias("used")
        )
        .with_columns(
            pl.when(pl.col("used") / pl.col("dt") >= BUSY).then(pl.lit("O"))
            .when(pl.col("used") / pl.col("dt") >= SOMEWHAT).then(pl.lit("o"))
            .otherwise(pl.lit(".")).alias("mark")
        )  # fmt: skip
        .sort("row", "core")
    )
    lines = pairs.group_by("row", maintain_order=True).agg(
        pl.col("host").first(), pl.col("t").first(), pl.col("mark").str.join("").alias("marks")
    )
    stamp = pl.from_epoch("t", "s").dt.strftime("%Y-%m-%d %H:%M")
    body = lines.select("host", (pl.lit("  ") + stamp + pl.lit(" ") + pl.col("marks")).alias("text"))
    out = []
    for host in ordered["host"].unique(maintain_order=True).to_list():
        out.append(f"HOST: {host}\n")
        text = body.filter(pl.col("host") == host)["text"]
        out.extend(line + "\n" for line in text.to_list())
    return "".join(out)

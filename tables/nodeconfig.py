"""The `config` and `cluster` tables: node descriptions and the clusters of a store.

A node's configuration at a time is derived from its sysinfo reading, as
the Go sonalyze derives it: cores = sockets x cores x threads, memory and
GPU memory in whole GiB (rounded), and a description synthesised from the
parts (`2x14 (hyperthreaded) Intel Xeon, 125 GiB, 4x NVIDIA A100 @ 40GiB`).
Where there are no sysinfo readings, the cluster's config file describes
the nodes.
"""

from __future__ import annotations

import polars as pl

from sonalyze.tables.clusterconfig import ClusterConfig
from sonalyze.tables.source import JobanalyzerStore

_KIB_PER_GIB = 1024 * 1024

NODE_CONFIG: dict[str, pl.DataType] = {
    "time": pl.Datetime("us", "UTC"),
    "timestamp": pl.String(),
    "host": pl.String(),
    "description": pl.String(),
    "cpu_cores": pl.Int64(),
    "numa_nodes": pl.Int64(),
    "mem_gb": pl.Int64(),
    "gpu_cards": pl.Int64(),
    "gpumem_gb": pl.Int64(),
    "gpumem_pct": pl.Boolean(),
    "distances": pl.String(),
    "topo_svg": pl.String(),
    "topo_text": pl.String(),
}


def _round_gib(kib: pl.Expr) -> pl.Expr:
    # Go's math.Round rounds halves away from zero; values here are non-negative.
    return (kib.cast(pl.Float64) / _KIB_PER_GIB + 0.5).floor().cast(pl.Int64)


def _distances_text(col: pl.Expr) -> pl.Expr:
    rows = col.list.eval(
        pl.lit("[") + pl.element().list.eval(pl.element().cast(pl.String)).list.join(" ")
        + pl.lit("]")
    )
    return pl.when(col.is_null()).then(pl.lit("")).otherwise(
        pl.lit("[") + rows.list.join(" ") + pl.lit("]")
    )


def node_configs(sysinfo: pl.LazyFrame) -> pl.LazyFrame:
    """One node-config row per sysinfo reading (first of any repeated host/time)."""
    mem_gb = _round_gib(pl.col("memory_kib"))
    first_card = pl.col("cards").list.first()
    card_count = pl.col("cards").list.len().fill_null(0)
    ht = pl.when(pl.col("threads_per_core") > 1).then(pl.lit(" (hyperthreaded)")).otherwise(
        pl.lit("")
    )
    desc = pl.format(
        "{}x{}{} {}, {} GiB",
        pl.col("sockets"), pl.col("cores_per_socket"), ht, pl.col("cpu_model").fill_null(""),
        mem_gb,
    )  # fmt: skip
    card_desc = pl.format(
        ", {}x {} @ {}GiB",
        card_count,
        first_card.struct.field("model").fill_null(""),
        (first_card.struct.field("memory_kib").fill_null(0) // _KIB_PER_GIB),
    )
    gpumem = pl.col("cards").list.eval(pl.element().struct.field("memory_kib")).list.sum()
    return (
        sysinfo.unique(subset=["host", "time"], keep="first", maintain_order=True)
        .select(
            "time",
            "timestamp",
            "host",
            pl.when(card_count > 0).then(desc + card_desc).otherwise(desc).alias("description"),
            (pl.col("sockets") * pl.col("cores_per_socket") * pl.col("threads_per_core"))
            .cast(pl.Int64).alias("cpu_cores"),
            pl.col("numa_nodes").cast(pl.Int64),
            mem_gb.alias("mem_gb"),
            card_count.cast(pl.Int64).alias("gpu_cards"),
            _round_gib(gpumem.fill_null(0)).alias("gpumem_gb"),
            pl.lit(False).alias("gpumem_pct"),
            _distances_text(pl.col("distances")).alias("distances"),
            pl.col("topo_svg").fill_null(""),
            pl.col("topo_text").fill_null(""),
        )
    )


def config_nodes(config: ClusterConfig) -> pl.LazyFrame:
    """The nodes of a cluster config file in the node-config shape."""
    n = config.nodes
    return n.lazy().select(
        pl.lit(None, pl.Datetime("us", "UTC")).alias("time"),
        pl.col("timestamp").fill_null(""),
        pl.col("hostname").alias("host"),
        "description",
        "cpu_cores",
        pl.lit(0, pl.Int64).alias("numa_nodes"),
        "mem_gb",
        "gpu_cards",
        "gpumem_gb",
        "gpumem_pct",
        pl.lit("").alias("distances"),
        pl.lit("").alias("topo_svg"),
        pl.lit("").alias("topo_text"),
    )


def newest_per_host(nodes: pl.LazyFrame) -> pl.LazyFrame:
    """The newest row for each host."""
    return nodes.sort("time", nulls_last=False).group_by("host", maintain_order=True).last()


def scan_cluster(store: JobanalyzerStore) -> pl.LazyFrame:
    """One row per cluster of a Jobanalyzer store: name, description, aliases."""
    aliases = store.aliases()
    rows = []
    for name in store.cluster_names():
        cfg = store.config_for(name)
        rows.append(
            {
                "name": name,
                "description": cfg.description if cfg else "",
                "aliases": sorted(a for a, v in aliases.items() if v == name),
            }
        )
    schema: dict[str, pl.DataType] = {
        "name": pl.String(), "description": pl.String(), "aliases": pl.List(pl.String())
    }
    return pl.DataFrame(rows, schema=schema).lazy()


LOOKBACK_SECONDS = 14 * 24 * 3600
_CAPACITY = ("cpu_cores", "mem_gb", "gpu_cards", "gpumem_gb", "description")


def configs_at(queries: pl.DataFrame, readings: pl.DataFrame,
               fallback: pl.DataFrame | None) -> pl.DataFrame:  # fmt: skip
    """Each query row (`host`, `t` in epoch seconds) with the host's capacity at `t`.

    The capacity is the newest sysinfo-derived reading at or before `t` and
    at most 14 days old, as the reference looks it up; failing that, the
    config file's entry for the host; failing that, null.  Adds
    `cpu_cores`, `mem_gb`, `gpu_cards`, `gpumem_gb`, `description` and `known`.
    """
    left = queries.with_row_index("_q").sort("t")
    right = (
        readings.select(pl.col("time").dt.epoch("s").alias("t_conf"), "host", *_CAPACITY)
        .drop_nulls("t_conf").sort("t_conf")
    )
    found = left.join_asof(
        right, left_on="t", right_on="t_conf", by="host", strategy="backward",
        tolerance=LOOKBACK_SECONDS, check_sortedness=False,
    ).with_columns(pl.col("t_conf").is_not_null().alias("known"))  # fmt: skip
    if fallback is not None and fallback.height:
        spare = fallback.select("host", *(pl.col(c).alias(f"_fb_{c}") for c in _CAPACITY))
        found = found.join(spare, on="host", how="left").with_columns(
            *(pl.when(pl.col("known")).then(pl.col(c)).otherwise(pl.col(f"_fb_{c}")).alias(c)
              for c in _CAPACITY),
            (pl.col("known") | pl.col("_fb_cpu_cores").is_not_null()).alias("known"),
        ).drop([f"_fb_{c}" for c in _CAPACITY])  # fmt: skip
    return found.sort("_q").drop("_q", "t_conf")

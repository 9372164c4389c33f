"""`node`: what each node reported about itself (sysinfo), one row per reading.

Rows are sorted by host, then time; `--newest` keeps each host's newest.
With no sysinfo in the window, the cluster config file's nodes are shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sonalyze.output.fields import Field, FieldTable
from sonalyze.tables.nodeconfig import newest_per_host
from sonalyze.verbs import VerbInfo

F = Field
FIELDS = FieldTable(
    (
        F("Timestamp", "str", "timestamp", "Full ISO timestamp of when the reading was taken",
          ("timestamp",)),
        F("Hostname", "str", "host", "Name that host is known by on the cluster", ("host",)),
        F("Description", "str", "description", "End-user description, not parseable",
          ("desc",)),
        F("CpuCores", "int", "cpu_cores", "Total number of cores x threads", ("cores",)),
        F("NumaNodes", "int", "numa_nodes", "NUMA nodes", ("numas",)),
        F("MemGB", "int", "mem_gb", "GB of installed main RAM", ("mem",)),
        F("GpuCards", "int", "gpu_cards", "Number of installed cards", ("gpus",)),
        F("GpuMemGB", "int", "gpumem_gb", "Total GPU memory across all cards", ("gpumem",)),
        F("GpuMemPct", "bool", "gpumem_pct",
          "True if GPUs report accurate memory usage in percent", ("gpumempct",)),
        F("Distances", "str", "distances", "NUMA distance matrix", ("distances",)),
        F("TopoSVG", "str", "topo_svg", "SVG encoding of node topology", ("toposvg",)),
        F("TopoText", "str", "topo_text", "Text encoding of node topology", ("topotext",)),
    ),
    groups={
        "default": ("host", "cores", "mem", "gpus", "gpumem", "desc"),
        "Default": ("Hostname", "CpuCores", "MemGB", "GpuCards", "GpuMemGB", "Description"),
        "all": ("timestamp", "host", "desc", "cores", "numas", "mem", "gpus", "gpumem",
                "gpumempct", "distances"),
        "All": ("Timestamp", "Hostname", "Description", "CpuCores", "NumaNodes", "MemGB",
                "GpuCards", "GpuMemGB", "GpuMemPct", "Distances"),
    },
)  # fmt: skip

INFO = VerbInfo(
    "node",
    (),
    "Print what nodes reported about themselves (cores, memory, GPUs) over time.",
    FIELDS,
)


@dataclass(frozen=True)
class NodeOptions:
    """`--newest`: only each host's newest reading."""

    newest: bool = False


def run(nodes: pl.LazyFrame, opts: NodeOptions) -> pl.LazyFrame:
    """Node readings sorted by host and time (the query runs before `--newest`)."""
    return nodes.sort(["host", "time"], nulls_last=False, maintain_order=True)


def finish(rows: pl.DataFrame, opts: NodeOptions) -> pl.DataFrame:
    """Apply `--newest` after the query, as the reference does."""
    if not opts.newest:
        return rows
    return newest_per_host(rows.lazy()).sort(["host", "time"], nulls_last=False).collect()

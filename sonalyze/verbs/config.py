"""`config`: each node's current configuration, one row per host.

The newest sysinfo reading in the window (default 14 days) describes each
host; with none at all, the cluster config file does.  Sorted by host.
"""

from __future__ import annotations

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
        F("MemGB", "int", "mem_gb", "GB of installed main RAM", ("mem",)),
        F("GpuCards", "int", "gpu_cards", "Number of installed cards", ("gpus",)),
        F("GpuMemGB", "int", "gpumem_gb", "Total GPU memory across all cards", ("gpumem",)),
        F("GpuMemPct", "bool", "gpumem_pct",
          "True if GPUs report accurate memory usage in percent", ("gpumempct",)),
    ),
    groups={
        "default": ("host", "cores", "mem", "gpus", "gpumem", "desc"),
        "Default": ("Hostname", "CpuCores", "MemGB", "GpuCards", "GpuMemGB", "Description"),
        "all": ("timestamp", "host", "desc", "cores", "mem", "gpus", "gpumem", "gpumempct"),
        "All": ("Timestamp", "Hostname", "Description", "CpuCores", "MemGB", "GpuCards",
                "GpuMemGB", "GpuMemPct"),
    },
)  # fmt: skip

INFO = VerbInfo(
    "config",
    (),
    "Print each node's current configuration (newest sysinfo, else the config file).",
    FIELDS,
)

DEFAULT_DAYS = 14


def run(nodes: pl.LazyFrame) -> pl.LazyFrame:
    """The newest configuration per host, sorted by host."""
    return newest_per_host(nodes).sort("host")

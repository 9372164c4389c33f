"""`spart` and `snode` (also `partitions`): Slurm partitions and node states over time.

Both read the `partitions` table (the reference's `cluzter`).  `spart`
lists each snapshot's partitions sorted by time and name; `snode` lists the
node-state groups sorted by time.  Node lists keep Slurm's compressed form.
"""

from __future__ import annotations

import polars as pl

from sonalyze.errors import UsageError
from sonalyze.output.fields import Field, FieldTable
from sonalyze.tables.hostglob import HostFilter, expand_pattern
from sonalyze.verbs import VerbInfo

F = Field
SPART_FIELDS = FieldTable(
    (
        F("Timestamp", "str", "timestamp", "Full ISO timestamp of when the reading was taken",
          ("timestamp",)),
        F("Partition", "str", "partition", "Name of the partition", ("part",)),
        F("Nodes", "strings", "nodes", "Node list", ("nodes",)),
    ),
    groups={
        "default": ("part", "nodes"),
        "Default": ("Partition", "Nodes"),
        "all": ("timestamp", "part", "nodes"),
        "All": ("Timestamp", "Partition", "Nodes"),
    },
)
SNODE_FIELDS = FieldTable(
    (
        F("Timestamp", "str", "timestamp", "Full ISO timestamp of when the reading was taken",
          ("timestamp",)),
        F("Nodes", "strings", "nodes", "Node list", ("nodes",)),
        F("States", "strings", "states", "State list", ("states",)),
    ),
    groups={
        "default": ("nodes", "states"),
        "Default": ("Nodes", "States"),
        "all": ("timestamp", "nodes", "states"),
        "All": ("Timestamp", "Nodes", "States"),
    },
)

SPART_INFO = VerbInfo(
    "spart", ("partitions",), "Print Slurm partitions and their nodes over time.", SPART_FIELDS
)
SNODE_INFO = VerbInfo("snode", (), "Print Slurm node states over time.", SNODE_FIELDS)


NO_HOSTS = HostFilter()


def _with_hosts(rows: pl.LazyFrame, hosts: HostFilter) -> pl.LazyFrame:
    # COMPAT(partition-host): --host keeps rows naming a matching node; the reference ignores it.
    if hosts.is_empty:
        return rows
    names = pl.col("nodes").map_elements(_expand, return_dtype=pl.List(pl.String))
    return rows.filter(names.list.eval(pl.element().str.contains(hosts.regex())).list.any())


def _expand(ranges: pl.Series) -> list[str]:
    # Runs per snapshot row, only with --host: node ranges need pattern expansion.
    # A malformed range in the data matches nothing; it is not the user's error.
    names: list[str] = []
    for r in ranges:
        try:
            names.extend(expand_pattern(r))
        except UsageError:
            continue
    return names


def run_spart(partitions: pl.LazyFrame, hosts: HostFilter = NO_HOSTS) -> pl.LazyFrame:
    """Partition rows sorted by time, then partition name."""
    return _with_hosts(partitions, hosts).sort(["time", "partition"], maintain_order=True)


def run_snode(states: pl.LazyFrame, hosts: HostFilter = NO_HOSTS) -> pl.LazyFrame:
    """Node-state rows sorted by time (file order within a snapshot)."""
    return _with_hosts(states, hosts).sort("time", maintain_order=True)

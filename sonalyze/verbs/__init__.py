"""The verbs: each a pure function from table frames to one result frame.

Every verb module declares its output `FIELDS` (a FieldTable), a frozen
options dataclass and `run(...)`.  `VERBS` lists them once; the docs and
the contract tests iterate over it.  It is built on first use, not on
import: a command imports only its own verb's module.
"""

from __future__ import annotations

from dataclasses import dataclass

from sonalyze.output.fields import FieldTable


@dataclass(frozen=True)
class VerbInfo:
    """What the CLI and docs need to know about a verb."""

    name: str
    aliases: tuple[str, ...]
    summary: str
    fields: FieldTable
    default_format: str = "fixed"


def _verbs() -> tuple[VerbInfo, ...]:
    from sonalyze.verbs import (
        cluster,
        config,
        efficiency,
        jobs,
        load,
        metadata,
        node,
        partitions,
        sacct,
        sample,
        status,
        uptime,
        usage,
    )

    return (
        sample.INFO,
        sacct.INFO,
        node.INFO,
        config.INFO,
        cluster.INFO,
        partitions.SPART_INFO,
        partitions.SNODE_INFO,
        jobs.INFO,
        load.INFO,
        uptime.INFO,
        metadata.INFO,
        status.INFO,
        efficiency.INFO,
        usage.INFO,
    )


def _shaped_verbs() -> tuple[VerbInfo, ...]:
    from sonalyze.verbs import profile

    return (profile.INFO,)


def __getattr__(name: str) -> tuple[VerbInfo, ...]:
    # VERBS: the verbs with one row per record.  SHAPED_VERBS: verbs with fields
    # but an output shape of their own.
    if name == "VERBS":
        return _verbs()
    if name == "SHAPED_VERBS":
        return _shaped_verbs()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Which file names belong to which table, and which parser reads each.

Names follow the Go sonalyze's data tree: in every `YYYY/MM/DD` directory,

    <host>.csv               old samples (not cpuhog.csv, bughunt.csv, slurm-sacct.csv)
    0+sample-<host>.json     new samples
    sysinfo-<host>.json      old sysinfo
    0+sysinfo-<host>.json    new sysinfo
    slurm-sacct.csv          old Slurm job records
    0+job-slurm.json         new Slurm job records
    0+cluzter-slurm.json     partitions and node states
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from sonalyze.ingest import Parsed
from sonalyze.tables.hostglob import HostFilter, pattern_regex


@dataclass(frozen=True)
class FileKind:
    """One file-name scheme: `prefix<host>suffix`, or a fixed name when `host_named` is false."""

    table: str
    prefix: str
    suffix: str
    parser_name: str  # "module:function" under sonalyze.ingest, imported on first use
    host_named: bool = True
    excluded: frozenset[str] = frozenset()
    # False where parsing a file is cheaper than decoding its disk cache entry.
    disk_cached: bool = True

    @property
    def parser(self) -> Callable[[bytes], Parsed]:
        """The parse function (importing its module only when a file of this kind is read)."""
        module, function = self.parser_name.split(":")
        return getattr(importlib.import_module(f"sonalyze.ingest.{module}"), function)

    def claims(self, name: str) -> bool:
        """True if a file with this base name is of this kind."""
        if not self.host_named:
            return name == self.prefix + self.suffix
        return (
            name.startswith(self.prefix)
            and name.endswith(self.suffix)
            and len(name) > len(self.prefix) + len(self.suffix)
            and name not in self.excluded
            and not any(
                name.startswith(p) for p in _RESERVED_PREFIXES if not self.prefix.startswith(p)
            )
        )

    def host_of(self, name: str) -> str | None:
        """The host a base name of this kind is named after (None for fixed names)."""
        if not self.host_named or not self.claims(name):
            return None
        return name[len(self.prefix) : len(name) - len(self.suffix)]

    def name_regex(self, hosts: HostFilter) -> re.Pattern[str] | None:
        """A regex over base names selecting `hosts` (prefix-of-name matching), or None."""
        if hosts.is_empty or not self.host_named:
            return None
        alternatives = "|".join(
            pattern_regex(p, prefix=True)[1:-1] for p in hosts.patterns
        )
        return re.compile(
            "^" + re.escape(self.prefix) + f"(?:{alternatives})" + re.escape(self.suffix) + "$"
        )


# Names that start with these belong to the kind with that prefix only; this keeps
# `sysinfo-x.json` and `0+sample-x.json` out of the bare `<host>.csv` kind and vice versa.
_RESERVED_PREFIXES = ("0+", "sysinfo-")

KINDS: tuple[FileKind, ...] = (
    FileKind(
        "sample", "", ".csv", "sample_csv:parse_sample_csv",
        excluded=frozenset({"cpuhog.csv", "bughunt.csv", "slurm-sacct.csv"}),
    ),
    FileKind("sample", "0+sample-", ".json", "sample_json:parse_sample_json"),
    # One small JSON document per file: parsed in ~0.1 ms, where a cache entry's Arrow
    # stream takes ~0.3 ms to decode (a `node` query over days reads hundreds).
    FileKind("sysinfo", "sysinfo-", ".json", "sysinfo_old:parse_sysinfo_old", disk_cached=False),
    FileKind("sysinfo", "0+sysinfo-", ".json", "sysinfo_json:parse_sysinfo_json"),
    FileKind("sacct", "slurm-sacct", ".csv", "sacct_csv:parse_sacct_csv", host_named=False),
    FileKind("sacct", "0+job-slurm", ".json", "sacct_json:parse_job_json", host_named=False),
    FileKind("partitions", "0+cluzter-slurm", ".json", "cluzter_json:parse_cluzter_json",
             host_named=False),
)  # fmt: skip


def kind_of(name: str) -> FileKind | None:
    """The kind a base name belongs to, or None for files no table reads."""
    for kind in KINDS:
        if kind.claims(name):
            return kind
    return None


def kinds_for(table: str) -> tuple[FileKind, ...]:
    """The file kinds that make up `table`."""
    return tuple(k for k in KINDS if k.table == table)

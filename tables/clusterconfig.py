"""Cluster configuration files: `<cluster>-config.json` (v1 list or v2 object)
and the store-wide `cluster-aliases.json`.

v1 is a JSON array of node records; v2 an object with `name`,
`description`, `aliases`, `exclude-user` and `nodes`.  Node `hostname`s may
be patterns (`c1-[10-12]`) and are expanded.  Validation follows the Go
sonalyze: `cpu_cores` and `mem_gb` must be non-zero, GPU memory needs cards,
and a host may be described once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from sonalyze.errors import ConfigError, UsageError
from sonalyze.tables.hostglob import expand_pattern

NODE_SCHEMA: dict[str, pl.DataType] = {
    "timestamp": pl.String(),
    "hostname": pl.String(),
    "description": pl.String(),
    "cross_node_jobs": pl.Boolean(),
    "cpu_cores": pl.Int64(),
    "mem_gb": pl.Int64(),
    "gpu_cards": pl.Int64(),
    "gpumem_gb": pl.Int64(),
    "gpumem_pct": pl.Boolean(),
    "metadata": pl.String(),
}


@dataclass(frozen=True)
class ClusterConfig:
    """One cluster's hand-maintained description and its nodes."""

    version: int
    name: str
    description: str
    aliases: tuple[str, ...] = ()
    exclude_user: tuple[str, ...] = ()
    nodes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=NODE_SCHEMA))


def _int(record: dict, key: str, where: str) -> int:
    value = record.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: Field '{key}' must have unsigned integer value")
    return value


def _node_rows(records: list, where: str) -> list[dict]:
    rows: list[dict] = []
    seen: set[str] = set()
    for rec in records:
        if not isinstance(rec, dict) or not isinstance(rec.get("hostname"), str):
            raise ConfigError(f"{where}: every node needs a 'hostname' string")
        host = rec["hostname"]
        cores, mem = _int(rec, "cpu_cores", where), _int(rec, "mem_gb", where)
        cards, gpumem = _int(rec, "gpu_cards", where), _int(rec, "gpumem_gb", where)
        if cores <= 0:
            raise ConfigError(f"{where}: Zero or missing 'cpu_cores' for {host}")
        if mem <= 0:
            raise ConfigError(f"{where}: Zero or missing 'mem_gb' for {host}")
        if cards == 0 and (gpumem != 0 or rec.get("gpumem_pct")):
            raise ConfigError(f"{where}: inconsistent GPU information for {host}")
        meta = rec.get("metadata")
        try:
            names = expand_pattern(host)
        except UsageError as e:
            raise ConfigError(f"{where}: bad hostname pattern {host!r}: {e}") from None
        for name in names:
            if name in seen:
                raise ConfigError(f"{where}: Duplicate host name in config: {name}")
            seen.add(name)
            rows.append(
                {
                    "timestamp": rec.get("timestamp") or None,
                    "hostname": name,
                    "description": str(rec.get("description", "")),
                    "cross_node_jobs": bool(rec.get("cross_node_jobs", False)),
                    "cpu_cores": cores,
                    "mem_gb": mem,
                    "gpu_cards": cards,
                    "gpumem_gb": gpumem,
                    "gpumem_pct": bool(rec.get("gpumem_pct", False)),
                    "metadata": json.dumps(meta) if meta else None,
                }
            )
    return rows


def read_cluster_config(path: Path) -> ClusterConfig:
    """Read and validate a cluster configuration file."""
    try:
        doc = json.loads(path.read_bytes())
    except OSError as e:
        raise ConfigError(f"Cannot read config file {path}: {e.strerror}") from None
    except (ValueError, RecursionError) as e:
        raise ConfigError(f"Config file {path} is not valid JSON: {e}") from None
    where = str(path)
    if isinstance(doc, list):
        version, name, desc, aliases, excl, records = 1, "v1 config", "v1 config", [], [], doc
    elif isinstance(doc, dict):
        version = 2
        name = str(doc.get("name", ""))
        desc = str(doc.get("description", ""))
        aliases = [str(a) for a in doc.get("aliases") or []]
        excl = [str(u) for u in doc.get("exclude-user") or []]
        records = doc.get("nodes") or []
        if not isinstance(records, list):
            raise ConfigError(f"{where}: 'nodes' must be a list")
    else:
        raise ConfigError(f"{where}: expected a JSON array or object")
    nodes = pl.DataFrame(_node_rows(records, where), schema=NODE_SCHEMA)
    return ClusterConfig(version, name, desc, tuple(aliases), tuple(excl), nodes)


def cluster_file(config_dir: Path, cluster: str, name: str, suffixes: tuple[str, ...]
                 ) -> Path | None:  # fmt: skip
    """`<config_dir>/<cluster>-<name><suffix>` for the first suffix that exists, if any."""
    for suffix in suffixes:
        path = config_dir / f"{cluster}-{name}{suffix}"
        if path.is_file():
            return path
    return None


def read_aliases(path: Path) -> dict[str, str]:
    """`cluster-aliases.json`: a list of `{"alias": A, "value": CLUSTER}`; missing file = none."""
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as e:
        raise ConfigError(f"Cannot read cluster aliases {path}: {e}") from None
    if not isinstance(doc, list):
        raise ConfigError(f"{path}: expected a list of alias objects")
    out: dict[str, str] = {}
    for item in doc:
        if isinstance(item, dict) and isinstance(item.get("alias"), str):
            out[item["alias"]] = str(item.get("value", ""))
    return out

"""The share tree of a cluster: `cluster-config/<cluster>-shares.json` or `.csv`.

JSON: flux's emulator tree (`{"root": {"bank", "shares", "children": [...]}}`,
users `{"username", "shares"}`); any usage in it is replaced by usage from
the job records.  CSV: one row per account or user association,

    account,parent,user,shares

an account row has an empty `user` (and `parent` empty for the top accounts,
which hang under `root`); a user row names its account and leaves `parent`
empty.  `shares` may be `parent` (Slurm's FairShare=parent).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sonalyze.errors import ConfigError
from sonalyze.tables.clusterconfig import cluster_file


def shares_file(config_dir: Path, cluster: str) -> Path | None:
    """The cluster's share tree file, JSON or CSV, if there is one."""
    return cluster_file(config_dir, cluster, "shares", (".json", ".csv"))


def read_shares(path: Path) -> dict:
    """The tree in the emulator's JSON shape, from either format."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"Cannot read share tree {path}: {e}") from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as e:
            raise ConfigError(f"{path} is not valid JSON: {e}") from None
    return _from_csv(text, path)


def _shares(value: str, where: str) -> int | str:
    value = value.strip() or "1"
    if value == "parent":
        return value
    if not value.isdigit():
        raise ConfigError(f"{where}: shares must be a non-negative integer or 'parent'")
    return int(value)


def _from_csv(text: str, path: Path) -> dict:
    rows = list(csv.DictReader(io.StringIO(text)))
    if rows and not {"account", "parent", "user", "shares"} <= set(rows[0]):
        raise ConfigError(f"{path}: the header must name account, parent, user, shares")
    banks: dict[str, dict] = {"root": {"bank": "root", "shares": 1, "children": []}}
    parents: dict[str, str] = {}
    for i, row in enumerate(rows, start=2):
        where = f"{path}:{i}"
        account = (row.get("account") or "").strip()
        if not account:
            raise ConfigError(f"{where}: every row needs an account")
        if not (row.get("user") or "").strip():
            if account in banks and account != "root":
                raise ConfigError(f"{where}: account {account} is listed twice")
            banks.setdefault(account, {"bank": account, "children": []})
            banks[account]["shares"] = _shares(row.get("shares") or "", where)
            parents[account] = (row.get("parent") or "").strip() or "root"
    for account, parent in parents.items():
        if parent not in banks:
            raise ConfigError(f"{path}: account {account}'s parent {parent} is not listed")
        banks[parent]["children"].append(banks[account])
    for i, row in enumerate(rows, start=2):
        user = (row.get("user") or "").strip()
        if user:
            account = row["account"].strip()
            if account not in banks:
                raise ConfigError(f"{path}:{i}: user {user}'s account {account} is not listed")
            banks[account]["children"].append(
                {"username": user, "shares": _shares(row.get("shares") or "", f"{path}:{i}")})
    return {"root": banks["root"]}


def read_flux_export(directory: Path) -> dict:
    """The tree in the emulator's JSON shape from `flux account export-db` output:
    `bank_table.csv` (bank, active, parent_bank, shares) and `association_table.csv`
    (username, bank, active, shares, job_usage).  As flux's own update-fshare does, only
    active banks and associations count, and a bank's usage is the sum of its users'."""
    banks_path, users_path = directory / "bank_table.csv", directory / "association_table.csv"
    tables = []
    for path, needed in ((banks_path, {"bank", "active", "parent_bank", "shares"}),
                         (users_path, {"username", "bank", "active", "shares", "job_usage"})):  # fmt: skip
        try:
            rows = list(csv.DictReader(io.StringIO(path.read_text())))
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"Cannot read {path}: {e}") from None
        if rows and not needed <= set(rows[0]):
            raise ConfigError(f"{path}: needs the columns {', '.join(sorted(needed))}")
        tables.append([r for r in rows if (r.get("active") or "1").strip() != "0"])
    bank_rows, user_rows = tables
    nodes: dict[str, dict] = {
        r["bank"]: {"bank": r["bank"], "shares": _shares(r["shares"], str(banks_path)),
                    "children": []} for r in bank_rows}  # fmt: skip
    roots = [r["bank"] for r in bank_rows if not (r.get("parent_bank") or "").strip()]
    if len(roots) != 1:
        raise ConfigError(f"{banks_path}: expected one root bank (no parent_bank), found {len(roots)}")
    for r in bank_rows:
        parent = (r.get("parent_bank") or "").strip()
        if parent:
            if parent not in nodes:
                raise ConfigError(f"{banks_path}: bank {r['bank']}'s parent {parent} is not listed")
            nodes[parent]["children"].append(nodes[r["bank"]])
    for r in user_rows:
        if r["bank"] not in nodes:
            raise ConfigError(f"{users_path}: {r['username']}'s bank {r['bank']} is not listed")
        try:
            usage = float(r["job_usage"] or 0)
        except ValueError:
            raise ConfigError(f"{users_path}: bad job_usage for {r['username']}") from None
        nodes[r["bank"]]["children"].append({"username": r["username"], "usage": usage,
                                             "shares": _shares(r["shares"], str(users_path))})  # fmt: skip
    return {"root": nodes[roots[0]]}

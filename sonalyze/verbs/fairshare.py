"""`fairshare`: shares and usage over a bank/account tree, and the fair-share value of
every user, by flux-accounting's weighted tree, Slurm's Fair Tree or Slurm's classic
algorithm; rows in `sshare`'s columns.

A tree is small (banks and users, not records), so it is walked in Python.  Every
formula and tie rule is in docs/fairshare.md.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from sonalyze.errors import UsageError
from sonalyze.output.fields import Field, FieldTable
from sonalyze.verbs import VerbInfo

ALGORITHMS = ("flux", "fairtree", "classic")
PARENT = "parent"  # Slurm's FairShare=parent: the association takes its parent's place
_FLUX_ZERO_USAGE = 1e-9
_FLUX_UNUSED_WEIGHT = float(2**64)  # flux's weight for shares with no usage: above any ratio
_EPSILON = 2.220446049250313e-16
PRIORITY_WEIGHT = 100_000  # flux-accounting's fair-share weight; Slurm's is site-set (default 0)


@dataclass
class Node:
    """A bank (account) or a user association."""

    name: str
    is_user: bool
    shares: int | None  # None: "parent"
    usage: float
    children: list[Node] = field(default_factory=list)
    parent: Node | None = None
    # Results.
    norm_shares: float | None = None
    norm_usage: float | None = None
    effective_usage: float | None = None
    level_fs: float | None = None
    fairshare: float | None = None

    @property
    def bank(self) -> str:
        """The bank a user belongs to (its own name for a bank)."""
        return self.parent.name if self.is_user and self.parent else self.name

    def users(self) -> list[Node]:
        """The user associations below, in tree order."""
        found = [self] if self.is_user else []
        for c in self.children:
            found += c.users()
        return found


def parse_tree(doc: object) -> Node:
    """A tree from flux's emulator JSON: `{"root": {"bank", "shares", "usage", "children"}}`,
    users `{"username", "shares", "usage"}`.  Shares default to 1 and may be "parent";
    a user's usage defaults to 0; a bank's usage, when given, is used as given, else
    it is the sum of its children's."""
    if not isinstance(doc, dict) or not isinstance(doc.get("root"), dict):
        raise UsageError('the tree must be a JSON object with a "root" bank')
    root = _node(doc["root"], None, "root")
    if not root.users():
        raise UsageError("the tree has no users")
    return root


def _node(obj: object, parent: Node | None, where: str) -> Node:
    if not isinstance(obj, dict):
        raise UsageError(f"{where}: a bank or user must be a JSON object")
    is_user = "username" in obj
    name = obj.get("username") if is_user else obj.get("bank")
    if not isinstance(name, str) or not name:
        raise UsageError(f"{where}: every node needs a non-empty 'username' or 'bank'")
    shares_raw = obj.get("shares", 1)
    if shares_raw == PARENT:
        shares = None
    elif isinstance(shares_raw, int) and not isinstance(shares_raw, bool) and shares_raw >= 0:
        shares = shares_raw
    else:
        raise UsageError(f"{name}: shares must be a non-negative integer or 'parent'")
    usage = obj.get("usage")
    if usage is not None and (isinstance(usage, bool) or not isinstance(usage, int | float)
                              or not math.isfinite(usage) or usage < 0):  # fmt: skip
        raise UsageError(f"{name}: usage must be a non-negative number")
    node = Node(name, is_user, shares, float(usage or 0.0), parent=parent)
    children = obj.get("children", [])
    if not isinstance(children, list):
        raise UsageError(f"{name}: children must be a list")
    if not is_user:
        node.children = [_node(c, node, f"{name}/child {i + 1}") for i, c in enumerate(children)]
        if usage is None:
            node.usage = sum(c.usage for c in node.children)
    return node


def compute(root: Node, algorithm: str, damping: float = 1.0) -> None:
    """Fill every node's figures by `algorithm`."""
    if algorithm not in ALGORITHMS:
        raise UsageError(f"Invalid --algorithm {algorithm!r}: one of {', '.join(ALGORITHMS)}")
    for node in _walk(root):
        node.norm_usage = min(1.0, node.usage / root.usage) if root.usage > 0 else 0.0
    {"flux": _flux, "fairtree": _fair_tree, "classic": lambda r: _classic(r, damping)}[algorithm](root)


def _walk(node: Node) -> list[Node]:
    out = [node]
    for c in node.children:
        out += _walk(c)
    return out


# --- flux-accounting's weighted tree -------------------------------------------------------


def _flux_weights(siblings: list[Node]) -> None:
    total_shares = sum(c.shares or 0 for c in siblings)
    total_usage = sum(c.usage for c in siblings)
    for c in siblings:
        c.norm_shares = (c.shares or 0) / total_shares if total_shares else 0.0
        c.effective_usage = c.usage / total_usage if total_usage else 0.0
        if not c.shares:
            c.level_fs = 0.0
        elif abs(c.usage) < _FLUX_ZERO_USAGE:
            c.level_fs = _FLUX_UNUSED_WEIGHT
        else:
            c.level_fs = (c.shares / total_shares) / (c.usage / total_usage)


def _flux_equal(a: float, b: float) -> bool:
    return abs(a - b) < _EPSILON * max(abs(a), abs(b), 1.0)


def _flux_order(a: Node, b: Node) -> int:
    wa, wb = a.level_fs or 0.0, b.level_fs or 0.0
    if _flux_equal(wa, wb):
        return -1 if a.is_user and not b.is_user else 1 if b.is_user and not a.is_user else 0
    return -1 if wa > wb else 1


def _flux(root: Node) -> None:
    for node in _walk(root):
        if node.children:
            _flux_weights(node.children)
    users = root.users()
    state = {"rank": len(users), "stride": 0}
    _flux_visit(_flux_sorted(root.children), state, len(users))


def _flux_sorted(nodes: list[Node]) -> list[Node]:
    """Highest weight first; equal weights (within rounding) put users before banks."""
    return sorted(nodes, key=functools.cmp_to_key(_flux_order))


def _flux_visit(ordered: list[Node], state: dict[str, int], n: int) -> None:
    """Visit siblings in weight order; tied sibling banks have their children pooled."""
    pool: list[Node] | None = None
    for i, c in enumerate(ordered):
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        tied_next = (nxt is not None and nxt.is_user == c.is_user
                     and _flux_equal(c.level_fs or 0.0, nxt.level_fs or 0.0))  # fmt: skip
        if c.is_user:
            c.fairshare = state["rank"] / n
            if tied_next:
                state["stride"] += 1
            else:
                state["rank"] -= 1 + state["stride"]
                state["stride"] = 0
            continue
        if tied_next:
            pool = (pool or []) + list(c.children)
            continue
        if pool is not None:
            merged = _flux_sorted(pool + list(c.children))
            pool = None
            _flux_visit(merged, state, n)
        else:
            _flux_visit(_flux_sorted(c.children), state, n)


# --- Slurm's Fair Tree ----------------------------------------------------------------------


def _fs_children(node: Node) -> list[Node]:
    """Children as Fair Tree sees them: a "parent" account stays, and its children join
    this level."""
    out: list[Node] = []
    for c in node.children:
        out.append(c)
        if not c.is_user and c.shares is None:
            out += _fs_children(c)
    return out


def _fair_tree(root: Node) -> None:
    n = len(root.users())
    state = {"rank": n, "rnt": n}
    root.effective_usage = 1.0
    root.norm_shares = 0.0
    _fair_tree_level(root, False, state, n)


def _fair_tree_level(parent: Node, account_tied: bool, state: dict[str, int], n: int) -> None:
    siblings = _fs_children(parent)
    level_shares = sum(c.shares for c in siblings if c.shares is not None)
    for c in siblings:
        if c.shares is None:
            c.norm_shares = parent.norm_shares
        else:
            c.norm_shares = c.shares / level_shares if level_shares else 0.0
        c.effective_usage = c.usage / parent.usage if parent.usage > 0 else 0.0
        if c.shares is None:
            c.level_fs = math.inf if c.is_user else None
        elif not c.norm_shares:
            c.level_fs = 0.0
        elif c.effective_usage == 0:
            c.level_fs = math.inf
        else:
            c.level_fs = c.norm_shares / c.effective_usage
    # Highest LevelFS first; on exactly equal values users before accounts; else as given.
    ordered = sorted(siblings, key=lambda c: (-(c.level_fs if c.level_fs is not None else -1.0),
                                              not c.is_user))  # fmt: skip
    previous: float | None = None
    for i, c in enumerate(ordered):
        tied = account_tied if i == 0 else (previous is not None and previous == c.level_fs)
        if c.is_user:
            if not tied:
                state["rank"] = state["rnt"]
            c.fairshare = state["rank"] / n
            state["rnt"] -= 1
        elif c.shares is not None:  # a "parent" account's children are at this level already
            _fair_tree_level(c, tied, state, n)
        previous = c.level_fs


# --- Slurm's classic fair share -------------------------------------------------------------


def _classic(root: Node, damping: float) -> None:
    root.norm_shares, root.effective_usage = 1.0, 1.0
    _classic_level(root, root, damping)


def _classic_level(node: Node, root: Node, damping: float) -> None:
    level_shares = sum(c.shares for c in node.children if c.shares is not None)
    for c in node.children:
        if c.shares is None:  # FairShare=parent: the parent's figures
            c.norm_shares, c.effective_usage = node.norm_shares, node.effective_usage
        else:
            part = c.shares / level_shares if level_shares else 0.0
            c.norm_shares = (node.norm_shares or 0.0) * part if level_shares else 0.0
            own = c.norm_usage or 0.0
            if node is root:
                c.effective_usage = own
            elif not level_shares:
                c.effective_usage = node.effective_usage
            else:
                c.effective_usage = own + ((node.effective_usage or 0.0) - own) * part
        if c.is_user:
            shares = c.norm_shares or 0.0
            c.fairshare = (2 ** (-((c.effective_usage or 0.0) / shares) / damping)
                           if shares > 0 else 0.0)  # fmt: skip
        _classic_level(c, root, damping)


# --- rows -------------------------------------------------------------------------------------

F = Field
FIELDS = FieldTable(
    (
        F("Account", "str", "account", "The account (bank); for a user, its account", ("account",)),
        F("User", "str", "user", "The user (empty on an account's own row)", ("user",)),
        F("RawShares", "str", "raw_shares", "Shares assigned (parent: the parent's)",
          ("rawshares", "shares")),
        F("NormShares", "f6", "norm_shares", "Shares as a fraction: of the level (flux, Fair "
          "Tree) or of the whole machine (classic)", ("normshares",)),
        F("RawUsage", "str", "raw_usage", "Usage (decayed), as given or summed; charge units x "
          "seconds from job records", ("rawusage", "usage")),
        F("NormUsage", "f6", "norm_usage", "Usage / the root's usage", ("normusage",)),
        F("EffectvUsage", "f6", "effective_usage", "Usage as the algorithm weighs it: of the level "
          "(flux), of the parent (Fair Tree), propagated from above (classic)", ("effectvusage",)),
        F("FairShare", "f6", "fairshare", "The user's fair-share factor, 0-1 (empty for accounts)",
          ("fairshare",)),
        F("LevelFS", "f6", "level_fs", "Shares / usage within the level (flux's weight); inf "
          "(null in JSON) without usage", ("levelfs",)),
        F("LevelFSInf", "bool", "level_fs_inf", "True when LevelFS is infinite", ("levelfsinf",)),
        F("FSPriority", "str", "fs_priority", "The fair-share part of a job's priority: "
          "--priority-weight x FairShare, rounded (flux's plugin; Slurm's multifactor term); "
          "empty for accounts",
          ("fspriority",)),
    ),
    groups={"default": ("Account", "User", "RawShares", "NormShares", "RawUsage", "NormUsage",
                        "EffectvUsage", "FairShare", "LevelFS"),
            "all": ("Account", "User", "RawShares", "NormShares", "RawUsage", "NormUsage",
                    "EffectvUsage", "FairShare", "LevelFS", "LevelFSInf", "FSPriority")},
)  # fmt: skip

INFO = VerbInfo("fairshare", ("sshare",), "Shares, usage and fair-share per account and user "
                "(flux-accounting's weighted tree, Slurm's Fair Tree or classic).", FIELDS)  # fmt: skip

_ROW_SCHEMA: dict[str, pl.DataType] = {
    "account": pl.String(), "user": pl.String(), "raw_shares": pl.String(),
    "norm_shares": pl.Float64(), "raw_usage": pl.String(), "norm_usage": pl.Float64(),
    "effective_usage": pl.Float64(), "fairshare": pl.Float64(), "level_fs": pl.Float64(),
    "level_fs_inf": pl.Boolean(), "fs_priority": pl.String(), "depth": pl.Int64(),
}  # fmt: skip


def rows(root: Node, algorithm: str, indent: bool = True,
         priority_weight: float = PRIORITY_WEIGHT) -> pl.DataFrame:  # fmt: skip
    """One row per account and user, in tree order (an account's users before its
    sub-accounts, as sshare lists them); names indented one space per level."""
    out: list[dict] = []
    _rows(root, 0, algorithm, indent, out)
    return pl.DataFrame(out, schema=_ROW_SCHEMA).with_columns(
        (pl.col("fairshare") * priority_weight).round(0).cast(pl.Int64).cast(pl.String)
        .fill_null("").alias("fs_priority"))


def _plain(value: float) -> str:
    """A number without exponent or trailing zeros: 25370040, 2.5, 0.000001."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _rows(node: Node, depth: int, algorithm: str, indent: bool, out: list[dict]) -> None:
    pad = " " * depth if indent else ""
    is_root = node.parent is None
    level = None if is_root or algorithm == "classic" else node.level_fs
    if algorithm == "flux" and level is not None and level >= _FLUX_UNUSED_WEIGHT:
        level = math.inf
    account = node.bank
    out.append({
        "account": pad + account,
        "user": node.name if node.is_user else "",
        "raw_shares": "" if is_root else (PARENT if node.shares is None else str(node.shares)),
        "norm_shares": node.norm_shares, "raw_usage": _plain(node.usage),
        "norm_usage": None if is_root else node.norm_usage,
        "effective_usage": node.effective_usage,
        "fairshare": node.fairshare if node.is_user else None,
        "level_fs": level, "level_fs_inf": level is not None and math.isinf(level),
        "fs_priority": None, "depth": depth,
    })  # fmt: skip
    for c in [c for c in node.children if c.is_user] + [c for c in node.children if not c.is_user]:
        _rows(c, depth + 1, algorithm, indent, out)


# --- usage from job records -------------------------------------------------------------------

CHARGES = {"slurm": {"billing": 1.0}, "flux": {"nodes": 1.0}}
DECAYS = ("slurm", "flux", "none")


def charge_weights(text: str) -> dict[str, float]:
    """`slurm` (billing, else cpus), `flux` (nodes) or `nodes=W,cpus=W,gpus=W,billing=W`."""
    if text in CHARGES:
        return CHARGES[text]
    weights: dict[str, float] = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if name not in ("nodes", "cpus", "gpus", "billing"):
            raise UsageError(f"Invalid --charge {text!r}: slurm, flux, or weights of nodes, "
                             "cpus, gpus, billing (e.g. nodes=1,gpus=10)")  # fmt: skip
        try:
            weights[name] = float(value)
        except ValueError:
            raise UsageError(f"Invalid --charge weight {item!r}") from None
        if not math.isfinite(weights[name]) or weights[name] < 0:
            raise UsageError(f"Invalid --charge weight {item!r}")
    return weights


def association_usage(runs: pl.DataFrame, now: float, charge: dict[str, float], decay: str,
                      half_life: float, *, window_start: float | None = None,
                      decay_factor: float = 0.5, periods: int = 4,
                      reset_at: float | None = None) -> pl.DataFrame:  # fmt: skip
    """Usage per (account, user) from `usage.job_runs` rows (times in epoch seconds).

    A job's rate is its charge weights times its allocation (`slurm`: billing, which
    falls back to cpus).  `slurm` decay integrates rate x 2^(-age/half_life) over the
    run up to `now` (Slurm's continuous decay, in closed form); `flux` sums the run's
    rate x time in half-life bins back from `now`, bin k weighted decay_factor^k, for
    `periods` bins; `none` sums rate x time after `window_start`.  Nothing before
    `reset_at` (Slurm's PriorityUsageResetPeriod) counts.
    """
    rate = pl.lit(0.0)
    for name, weight in charge.items():
        column = "billing" if name == "billing" else name
        rate = rate + weight * pl.col(column).cast(pl.Float64).fill_null(0)
    t0 = pl.col("run_start").dt.epoch("s").cast(pl.Float64)
    if reset_at is not None:  # usage before the last reset is gone
        t0 = pl.max_horizontal(t0, pl.lit(reset_at))
    t1 = pl.min_horizontal(pl.col("run_end").dt.epoch("s").cast(pl.Float64), pl.lit(now))
    active = pl.col("_active")
    if decay == "slurm":
        ln2 = math.log(2)
        decayed = (half_life / ln2) * ((2 ** ((t1 - now) / half_life)) - (2 ** ((t0 - now) / half_life)))
        amount = rate * decayed.clip(0) * active
    elif decay == "flux":
        amount = pl.lit(0.0)
        for k in range(periods):
            hi, lo = now - k * half_life, now - (k + 1) * half_life
            inside = (pl.min_horizontal(t1, pl.lit(hi)) - pl.max_horizontal(t0, pl.lit(lo))).clip(0)
            amount = amount + rate * inside * active * (decay_factor ** k)
    elif decay == "none":
        start = pl.lit(window_start if window_start is not None else -math.inf)
        amount = rate * (t1 - pl.max_horizontal(t0, start)).clip(0) * active
    else:
        raise UsageError(f"Invalid --decay {decay!r}: one of {', '.join(DECAYS)}")
    return (
        runs.with_columns(amount.alias("usage"))
        .group_by("account", "user").agg(pl.col("usage").sum())
        .sort("account", "user")
    )  # fmt: skip


RESETS = ("none", "daily", "weekly", "monthly", "quarterly", "yearly")


def last_reset(now: datetime, period: str) -> datetime | None:
    """The most recent reset at or before `now` (UTC): midnight, Sunday 00:00, the 1st of
    the month, of the quarter, of the year -- Slurm's PriorityUsageResetPeriod."""
    if period not in RESETS:
        raise UsageError(f"Invalid --reset {period!r}: one of {', '.join(RESETS)}")
    if period == "none":
        return None
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=(day.weekday() + 1) % 7)  # back to Sunday
    if period == "monthly":
        return day.replace(day=1)
    if period == "quarterly":
        return day.replace(day=1, month=(day.month - 1) // 3 * 3 + 1)
    return day.replace(day=1, month=1)


def attach_usage(root: Node, usage: pl.DataFrame) -> list[tuple[str, str]]:
    """Set each user's usage from (account, user, usage) rows and each bank's to the sum
    below it; return the (account, user) pairs that have usage but no place in the tree."""
    found = {(a, u): x for a, u, x in usage.select("account", "user", "usage").iter_rows()}
    placed: set[tuple[str, str]] = set()
    for u in root.users():
        key = (u.bank, u.name)
        u.usage = float(found.get(key, 0.0))
        placed.add(key)
    _sum_banks(root)
    return sorted(k for k in found if k not in placed and found[k] > 0)


def _sum_banks(node: Node) -> float:
    if not node.is_user:
        node.usage = sum(_sum_banks(c) for c in node.children)
    return node.usage


# --- what-if, the priority preview, other trees ------------------------------------------------

def what_if(root: Node, changes: list[str]) -> None:
    """Add hypothetical usage, `ACCOUNT/USER=+N` (or `-N`), to the user and every bank above
    it; usage does not go below 0."""
    for change in changes:
        target, _, amount = change.partition("=")
        try:
            delta = float(amount)
        except ValueError:
            raise UsageError(f"Invalid --what-if {change!r}: ACCOUNT/USER=+USAGE") from None
        account, _, name = target.partition("/")
        matches = [u for u in root.users() if u.bank == account and u.name == name]
        if not name or not matches:
            raise UsageError(f"--what-if {change!r}: no user {name or '?'} in account {account}")
        for u in matches:
            u.usage = max(0.0, u.usage + delta)
            node = u.parent
            while node is not None:
                node.usage = max(0.0, node.usage + delta)
                node = node.parent


def parse_sshare(text: str) -> dict:
    """A tree (emulator JSON shape) from `sshare -a -l -P` output: accounts and users with
    RawShares and RawUsage; nesting from the indentation of the Account column."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("Account|User|RawShares"):
        raise UsageError("not sshare -P output: the header must start Account|User|RawShares")
    header = lines[0].rstrip("|").split("|")
    try:
        col = {name: header.index(name) for name in ("Account", "User", "RawShares", "RawUsage")}
    except ValueError:
        raise UsageError("sshare output needs the Account, User, RawShares and RawUsage "
                         "columns (use -l)") from None  # fmt: skip
    root: dict | None = None
    stack: list[tuple[int, dict]] = []
    for n, line in enumerate(lines[1:], start=2):
        cells = line.split("|")
        if len(cells) < len(header):
            raise UsageError(f"sshare output line {n}: {len(cells)} fields, expected {len(header)}")
        account, user = cells[col["Account"]], cells[col["User"]]
        depth = len(account) - len(account.lstrip(" "))
        shares_text, usage_text = cells[col["RawShares"]], cells[col["RawUsage"]]
        try:
            usage = float(usage_text or 0)
            shares: int | str = PARENT if shares_text == PARENT else int(shares_text or 1)
        except ValueError:
            raise UsageError(f"sshare output line {n}: bad RawShares or RawUsage") from None
        if root is None:
            root = {"bank": account.strip() or "root", "shares": 1, "usage": usage, "children": []}
            stack = [(depth, root)]
            continue
        if user:  # a user row shows its account one level deeper than the account's row
            while len(stack) > 1 and stack[-1][0] >= depth:
                stack.pop()
            stack[-1][1]["children"].append({"username": user, "shares": shares, "usage": usage})
            continue
        while len(stack) > 1 and stack[-1][0] >= depth:
            stack.pop()
        node: dict = {"bank": account.strip(), "shares": shares, "usage": usage, "children": []}
        stack[-1][1]["children"].append(node)
        stack.append((depth, node))
    if root is None:
        raise UsageError("sshare output has no rows")
    return {"root": root}


def view_bank(root: Node) -> str:
    """flux's `view-bank --tree` layout: 20-character columns, one more space of indent
    per level, a user's row repeating its bank."""
    cols = ("Username", "Active", "RawShares", "RawUsage", "Fairshare")
    lines = ["Bank".ljust(20) + "".join(c.rjust(20) for c in cols)]
    lines.append(root.name.ljust(20) + "".rjust(20) + "true".rjust(20)
                 + str(root.shares if root.shares is not None else PARENT).rjust(20)
                 + str(round(root.usage, 2)).rjust(20))  # fmt: skip
    _view_bank(root, "", lines)
    return "\n".join(lines) + "\n"


def _view_bank(bank_node: Node, indent: str, lines: list[str]) -> None:
    prefix = indent + " "
    banks = [c for c in bank_node.children if not c.is_user]
    if not banks:
        for u in bank_node.children:
            lines.append(prefix + bank_node.name.ljust(20) + u.name.rjust(20 - len(prefix))
                         + "true".rjust(20) + str(u.shares if u.shares is not None else PARENT)
                         .rjust(20) + str(float(u.usage)).rjust(20)
                         + str(round(u.fairshare or 0.0, 6)).rjust(20))  # fmt: skip
        return
    for b in banks:
        lines.append(prefix + b.name.ljust(20) + "".rjust(20 - len(prefix)) + "true".rjust(20)
                     + str(b.shares if b.shares is not None else PARENT).rjust(20)
                     + str(float(b.usage)).rjust(20))  # fmt: skip
        _view_bank(b, prefix, lines)

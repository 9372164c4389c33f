"""Output fields, declared once per verb: name, kind, source column, help.

A `Field`'s `kind` decides how its values print (see `values.py`) and how
`-q` compares them.  `aliases` are other names for the same field; a
`FieldTable` adds named groups (`default`, `all`, ...) that expand to lists
of names, exactly as the Go sonalyze's `ALIASES` blocks do.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import polars as pl

from sonalyze.errors import UsageError

KINDS = {
    "str": "string",
    "str30": "string, cut to 30 characters in fixed output",
    "int": "integer",
    "uint": "unsigned integer",
    "f32": "number",
    "f64": "number",
    "bool": "yes/no",
    "gib": "KiB shown as whole GiB",
    "datetime": "time, YYYY-MM-DD HH:MM UTC",
    "isotime": "time, ISO 8601 UTC",
    "isotime_or_unknown": "time, ISO 8601 UTC, or Unknown",
    "gpuset": "GPU set: none, unknown or card list",
    "strings": "list of strings",
    "duration": "duration, _d_h_m",
    "ceil": "number, rounded up to an integer",
    "date": "date, YYYY-MM-DD UTC",
    "hhmm": "time of day, HH:MM UTC",
    "hosts": "host names, compressed as c1-[1-3].fox",
    "f6": "number with 6 decimals, as sshare prints it; empty when absent; inf when infinite "
    "(null in JSON)",
}


@dataclass(frozen=True)
class Field:
    """One output column as users name it, and the frame column it shows."""

    name: str
    kind: str
    column: str
    desc: str
    aliases: tuple[str, ...] = ()
    # A boolean column; where it is false the value is absent and prints `?`.
    present: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown field kind {self.kind!r} for {self.name}")

    @property
    def help(self) -> str:
        """The help line, with the value kind in front as in the reference."""
        return f"({KINDS[self.kind]}) {self.desc}"

    def expr(self) -> pl.Expr:
        """The typed value from the verb's result frame."""
        return pl.col(self.column)


@dataclass(frozen=True)
class FieldTable:
    """A verb's fields, named groups and default field list."""

    fields: tuple[Field, ...]
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    default: str = "default"
    by_name: dict[str, Field] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for f in self.fields:
            for name in (f.name, *f.aliases):
                if name in self.by_name:
                    raise ValueError(f"duplicate field name {name}")
                self.by_name[name] = f
        for group, names in self.groups.items():
            for n in names:
                base = n.partition("/")[0]
                if base not in self.by_name and n not in self.groups:
                    raise ValueError(f"group {group} names unknown field {n}")

    def lookup(self, name: str) -> Field | None:
        """The field called `name` (canonical or alias), if any."""
        return self.by_name.get(name)

    def all_names(self) -> list[str]:
        """Every field name and alias and group name, for suggestions."""
        return [*self.by_name, *self.groups]

    def suggest(self, name: str, where: str = "--fmt") -> UsageError:
        """A usage error for an unknown field, naming the closest known name."""
        close = difflib.get_close_matches(name, self.all_names(), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return UsageError(f"Unknown field {name!r} in {where}{hint}; try --fmt=help")

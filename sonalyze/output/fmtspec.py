"""Parsing `--fmt`: fields, groups, `/sec` `/iso` `/m30` modifiers and control words.

Grammar and precedence follow the Go sonalyze: a comma-separated list of
field names, aliases, groups and controls (`fixed csv csvnamed json awk
header noheader nodefaults tag:X help`).  Of several formats csvnamed wins,
then csv, json, awk, fixed.  Two deliberate differences: a list with only
controls (`--fmt=csv`) selects the default fields, and an unknown word is a
usage error with a suggestion instead of being ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from sonalyze.output.fields import Field, FieldTable

MAX_FIELDS = 200
CONTROLS = {"fixed", "csv", "csvnamed", "json", "awk", "header", "noheader", "nodefaults",
            "separator", "help", "native"}  # fmt: skip
MODIFIERS = ("sec", "iso", "m30")


@dataclass(frozen=True)
class FieldSpec:
    """A field to print, its modifiers, and the header text (the name as typed)."""

    field: Field
    mods: frozenset[str]
    header: str


@dataclass(frozen=True)
class FormatOptions:
    """How to print: the format, header on/off, `nodefaults`, and a tag column."""

    format: str  # fixed | csv | csvnamed | json | awk
    header: bool
    nodefaults: bool
    tag: str | None
    separator: bool = False
    help: bool = False


def _expand(
    word: str, table: FieldTable, out: list[FieldSpec], depth: int = 0
) -> bool:
    if depth > 10:
        return True
    if len(out) >= MAX_FIELDS:
        return word in table.groups or table.lookup(word.partition("/")[0]) is not None
    found = False
    field = table.lookup(word)
    if field is not None:
        out.append(FieldSpec(field, frozenset(), word))
        found = True
    if word in table.groups:
        for name in table.groups[word]:
            found = _expand(name, table, out, depth + 1) or found
        return True
    if found:
        return True
    base, slash, mod = word.partition("/")
    if slash and mod in MODIFIERS:
        field = table.lookup(base)
        # A modifier that does not apply to the field's kind changes nothing, as in the
        # reference (scripts use e.g. `Timestamp/sec` on snode's text timestamps).
        if field is not None:
            out.append(FieldSpec(field, frozenset({mod}), word))
            return True
    return False


def parse_fmt(
    spec: str | None, table: FieldTable, *, default_format: str = "fixed"
) -> tuple[list[FieldSpec], FormatOptions]:
    """Fields and options from a `--fmt` value; unknown words are usage errors."""
    spec = spec or ""
    fields: list[FieldSpec] = []
    controls: set[str] = set()
    tag: str | None = None
    for word in (w.strip() for w in spec.split(",")) if spec else ():
        if not word:
            continue
        if word.startswith("tag:"):
            tag = word[4:] or None
        elif word in CONTROLS:
            controls.add(word)
        elif not _expand(word, table, fields):
            # COMPAT(fmt-unknown): the reference drops unknown names silently.
            raise table.suggest(word)
    # COMPAT(fmt-defaults): a format word alone selects the default fields.
    if not fields:
        _expand(table.default, table, fields)
    fmt = next(
        (f for f in ("csvnamed", "csv", "json", "awk", "native", "fixed") if f in controls),
        default_format,
    )
    # COMPAT(native): typed "native" JSON is printed in the json layout.
    if fmt == "native":
        fmt = "json"
    header = (fmt == "fixed" and "noheader" not in controls) or (
        fmt in ("csv", "csvnamed") and "header" in controls
    )
    return fields[:MAX_FIELDS], FormatOptions(
        format=fmt,
        header=header,
        nodefaults="nodefaults" in controls,
        tag=tag,
        separator="separator" in controls,
        help="help" in controls,
    )

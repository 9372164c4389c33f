"""Compiling a `-q` tree to a Polars predicate over a verb's result frame.

The value on the right is converted once, by the field's kind: numbers,
yes/no booleans, times (`2024-10-31 12:00`, ISO 8601), durations
(`2d12h`, or seconds), GPU sets and string lists (compared as sets: `<`
is "proper subset of").  `=~` matches a regex anywhere in the field's
printed text.  Field names and aliases are both accepted.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from sonalyze.errors import QueryError, UsageError
from sonalyze.ingest.schemas import GPUSET_UNKNOWN
from sonalyze.output.fields import Field, FieldTable
from sonalyze.output.fmtspec import FieldSpec, FormatOptions
from sonalyze.output.values import format_expr
from sonalyze.query.parser import Compare, Node, Not, parse_query
from sonalyze.tables.hostglob import expand_pattern, split_multi_pattern
from sonalyze.tables.window import parse_duration

_PLAIN = FormatOptions(format="csv", header=False, nodefaults=False, tag=None)


def _bad(field: Field, value: str, what: str) -> QueryError:
    return QueryError(f"Bad value {value!r} for {field.name} in query: expected {what}")


def _time(field: Field, value: str) -> datetime:
    text = value.strip().replace("Z", "+00:00")
    try:
        stamp = datetime.fromisoformat(text)
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _bad(field, value, "a time like '2024-10-31 12:00:00' or ISO 8601") from None


def _duration(field: Field, value: str) -> int:
    seconds = parse_duration(value)
    if seconds is None:
        raise _bad(field, value, "a duration like 2d12h or seconds")
    return seconds


def _gpuset(field: Field, value: str) -> int:
    if value == "none":
        return 0
    if value == "unknown":
        return GPUSET_UNKNOWN
    try:
        cards = [int(x) for x in value.split(",")]
    except ValueError:
        raise _bad(field, value, "none, unknown or a card list like 0,1") from None
    if any(c < 0 or c > 30 for c in cards):
        raise _bad(field, value, "card numbers 0..30")
    mask = 0
    for c in cards:
        mask |= 1 << c
    return mask


def _ordered(lhs: pl.Expr, op: str, rhs: object) -> pl.Expr:
    r = pl.lit(rhs)
    return {
        "=": lhs == r, "<": lhs < r, "<=": lhs <= r, ">": lhs > r, ">=": lhs >= r,
    }[op]  # fmt: skip


def _set_compare(a_sub_b: pl.Expr, b_sub_a: pl.Expr, equal: pl.Expr, op: str) -> pl.Expr:
    return {
        "=": equal,
        "<": a_sub_b & ~equal,
        "<=": a_sub_b,
        ">": b_sub_a & ~equal,
        ">=": b_sub_a,
    }[op]


def _compare(node: Compare, table: FieldTable) -> pl.Expr:
    field = table.lookup(node.field)
    if field is None:
        raise table.suggest(node.field, "-q")
    if node.op == "=~":
        try:  # the regex runs in Polars (Rust syntax), so Polars checks it
            pl.select(pl.lit("").str.contains(node.value))
        except pl.exceptions.PolarsError as e:
            first = str(e).splitlines()[0]
            raise QueryError(f"Bad regular expression {node.value!r} in query: {first}") from None
        text = format_expr(FieldSpec(field, frozenset(), field.name), _PLAIN)
        return text.str.contains(node.value)
    # COMPAT(query): aliases are accepted, strings compare as text, GiB fields as printed.
    col, kind, v, op = field.expr(), field.kind, node.value, node.op
    if kind in ("str", "str30"):
        return _ordered(col.fill_null(""), op, v)
    if kind in ("int", "uint", "gib"):
        try:
            n = int(v)
        except ValueError:
            raise _bad(field, v, "an integer") from None
        if kind == "gib":
            col = col // (1024 * 1024)
        return _ordered(col.fill_null(0), op, n)
    if kind in ("f32", "f64", "ceil"):
        try:
            x = float(v)
        except ValueError:
            raise _bad(field, v, "a number") from None
        return _ordered(col.fill_null(0).cast(pl.Float64), op, x)
    if kind == "bool":
        truth = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
        if v.lower() not in truth:
            raise _bad(field, v, "yes/no/true/false/1/0")
        return _ordered(col.fill_null(False).cast(pl.Int8), op, int(truth[v.lower()]))
    if kind in ("datetime", "isotime", "isotime_or_unknown", "date", "hhmm"):
        return _ordered(col, op, _time(field, v)).fill_null(False)
    if kind == "duration":
        return _ordered(col.fill_null(0), op, _duration(field, v))
    if kind == "gpuset":
        mask = _gpuset(field, v)
        a = col.fill_null(0)
        known = (a != GPUSET_UNKNOWN) & pl.lit(mask != GPUSET_UNKNOWN)
        a_sub_b = known & ((a & pl.lit(mask, pl.UInt32)) == a)
        b_sub_a = known & ((a & pl.lit(mask, pl.UInt32)) == mask)
        return _set_compare(a_sub_b, b_sub_a, a == mask, op)
    if kind in ("strings", "hosts"):
        items = sorted(x for x in v.split(",") if x)
        if kind == "hosts":
            items = _host_names(field, v)
        rhs = pl.lit(items, dtype=pl.List(pl.String))
        a = col.fill_null([]).list.unique()
        a_sub_b = a.list.set_difference(rhs).list.len() == 0
        b_sub_a = rhs.list.set_difference(a).list.len() == 0
        return _set_compare(a_sub_b, b_sub_a, a_sub_b & b_sub_a, op)
    raise QueryError(f"Field {field.name} cannot be used in a query")  # pragma: no cover


def _host_names(field: Field, text: str) -> list[str]:
    try:
        return sorted({n for p in split_multi_pattern(text) for n in expand_pattern(p)})
    except UsageError as e:
        raise QueryError(f"Bad host pattern {text!r} for {field.name}: {e}") from None


def _compile(node: Node, table: FieldTable) -> pl.Expr:
    if isinstance(node, Compare):
        return _compare(node, table)
    if isinstance(node, Not):
        return ~_compile(node.inner, table)
    left, right = _compile(node.left, table), _compile(node.right, table)
    return left & right if node.op == "and" else left | right


MAX_QUERY_LENGTH = 10_000


def compile_query(text: str, table: FieldTable) -> pl.Expr:
    """A predicate for the rows a query keeps; errors are QueryErrors (usage, exit 2)."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"Query too long ({len(text)} characters, at most {MAX_QUERY_LENGTH})")
    try:
        return _compile(parse_query(text), table)
    except RecursionError:
        raise QueryError("Query nested too deeply") from None


"""Sonar's "free CSV": one record per line, `key=value` fields in any order.

Fields may be CSV-quoted (`"cmd=a, b"`, quotes doubled inside).  A quote
anywhere else is a syntax error and the line is bad, as in the Go reader.
Splitting is vectorised: a regex pulls out the fields, which are exploded
to (line, key, value) rows and pivoted back to one column per known key.
"""

from __future__ import annotations

import polars as pl

# A whole line of well-formed fields: quoted ones, or unquoted ones without quotes.
VALID_LINE = r'^(?:"(?:[^"]|"")*"|[^,"]*)(?:,(?:"(?:[^"]|"")*"|[^,"]*))*$'
_FIELD = r'"(?:[^"]|"")*"|[^,]+'


def syntax_ok() -> pl.Expr:
    """True for lines whose quoting is well formed."""
    line = pl.col("line")
    return ~line.str.contains('"') | line.str.contains(VALID_LINE)


def tagged_fields(lines: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """One String column per key (null when absent) for each `lineno`.

    A key given twice on a line keeps its first value.
    """
    fields = (
        lines.select("lineno", pl.col("line").str.extract_all(_FIELD).alias("f"))
        .explode("f")
        .filter(pl.col("f").is_not_null())
    )
    field = pl.col("f")
    unquoted = (
        pl.when(field.str.starts_with('"'))
        .then(field.str.slice(1, field.str.len_chars() - 2).str.replace_all('""', '"'))
        .otherwise(field)
    )
    pairs = (
        fields.with_columns(unquoted.str.splitn("=", 2).struct.rename_fields(["key", "value"]))
        .unnest("f")
        .filter(pl.col("key").is_in(keys) & pl.col("value").is_not_null())
    )
    wide = pairs.pivot(on="key", index="lineno", values="value", aggregate_function="first")
    base = lines.select("lineno").join(wide, on="lineno", how="left", maintain_order="left")
    return base.select(
        "lineno",
        *[
            (pl.col(k) if k in base.columns else pl.lit(None, pl.String)).cast(pl.String).alias(k)
            for k in keys
        ],
    )

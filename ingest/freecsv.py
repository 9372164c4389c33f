"""Sonar's "free CSV": one record per line, `key=value` fields in any order.

Fields may be CSV-quoted (`"cmd=a, b"`, quotes doubled inside).  A quote
anywhere else is a syntax error and the line is bad, as in the Go reader.
Splitting is vectorised: a regex pulls out the fields, which are exploded
to (line, key, value) rows and pivoted back to one column per known key.
"""

from __future__ import annotations

import io

import polars as pl

# A whole line of well-formed fields: quoted ones, or unquoted ones without quotes.
VALID_LINE = r'^(?:"(?:[^"]|"")*"|[^,"]*)(?:,(?:"(?:[^"]|"")*"|[^,"]*))*$'
_FIELD = r'"(?:[^"]|"")*"|[^,]+'


def syntax_ok() -> pl.Expr:
    """True for lines whose quoting is well formed."""
    line = pl.col("line")
    return ~line.str.contains('"') | line.str.contains(VALID_LINE)


def tagged_columns(
    lines: pl.DataFrame, keys: list[str], payload: bytes | None = None
) -> pl.DataFrame | None:
    """One String column per key (null when absent) for each `lineno`; fast path.

    Polars' CSV reader splits the fields (honouring quotes) into positional
    columns; each column then usually holds one key, since a producer writes
    its keys in a fixed order.  For every (column, key) pair present, values
    are peeled off with a prefix test -- no regex over whole lines.  The
    leftmost occurrence of a key wins.  Returns None if the reader's rows do
    not line up with the lines (the caller then uses `tagged_fields`).  `payload`
    may be given when it is exactly the lines' bytes, to save joining them.
    """
    if not lines.height:
        return None
    width = int(lines.select(pl.col("line").str.count_matches(",", literal=True).max()).item()) + 1
    names = [f"c{i}" for i in range(width)]
    if payload is None:
        payload = (lines["line"].str.join("\n").item() + "\n").encode()
    try:
        cells = pl.read_csv(
            io.BytesIO(payload), has_header=False, new_columns=names, infer_schema=False,
            schema_overrides=dict.fromkeys(names, pl.String), quote_char='"',
            truncate_ragged_lines=True, raise_if_empty=False, missing_columns="insert",
        )  # fmt: skip
    except pl.exceptions.PolarsError:
        return None
    if cells.height != lines.height:
        return None
    wanted = set(keys)
    longest = max(len(k) for k in keys) + 1
    # The distinct beginnings of each column, cut just past the longest key, say which
    # keys the column holds; a few thousand short strings, looked at in Python.
    beginnings = cells.select(
        pl.col(c).str.slice(0, longest).unique().implode().alias(c) for c in names
    ).row(0)
    sources: dict[str, list[pl.Expr]] = {k: [] for k in keys}
    for column, starts in zip(names, beginnings, strict=True):
        found = {s.split("=", 1)[0] for s in starts if s and "=" in s}
        for key in (k for k in keys if k in found):
            if key in wanted:
                col = pl.col(column)
                value = col.str.slice(len(key) + 1)
                sources[key].append(pl.when(col.str.starts_with(key + "=")).then(value))
    return cells.select(
        pl.Series("lineno", lines["lineno"]),
        *[
            (pl.coalesce(exprs) if exprs else pl.lit(None, pl.String)).alias(key)
            for key, exprs in sources.items()
        ],
    )


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

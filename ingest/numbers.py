"""Checked casts from text columns: a value that does not parse marks its row bad.

The Go sonalyze accepts only plain non-negative decimals in Sonar data; so do
we.  Each helper returns the cast value and a boolean "bad" expression that
is true where text was present but did not parse.
"""

from __future__ import annotations

import polars as pl


def checked_uint(text: pl.Expr, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """Cast `text` to an unsigned type; bad where it is not a number or overflows.

    The cast itself is the check (no regex pass): Polars rejects signs below
    zero, fractions, letters and overflow.
    """
    value = text.cast(dtype, strict=False)
    return value, text.is_not_null() & value.is_null()


def checked_float(text: pl.Expr, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """Cast `text` to a float type; bad where it is not a finite non-negative number."""
    value = text.cast(pl.Float64, strict=False)
    value = pl.when(value.is_finite() & (value >= 0)).then(value).cast(dtype)
    return value, text.is_not_null() & value.is_null()


def checked_time(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Parse RFC 3339 timestamps (any offset) to UTC, truncated to whole seconds."""
    value = (
        text.str.replace(r"^(\d{4}-\d\d-\d\d) ", "${1}T")
        .str.strptime(pl.Datetime("us", "UTC"), "%+", strict=False)
        .dt.truncate("1s")
    )
    return value, text.is_not_null() & value.is_null()

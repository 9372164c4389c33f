"""Sonar's per-core CPU time (the old CSV `load=` field, base-45 encoded).

The field is a sequence of little-endian base-45 numbers: a number's
first (least significant) digit comes from one alphabet and the digits
after it from another, so a first-alphabet character starts the next
number.  The first number is a base and the others are per-core offsets
from it; base + offset is the core's CPU seconds since boot.  Decoding is
vectorised: tokens by regex, digits by lookup, values by a grouped sum.
"""

from __future__ import annotations

import re

import polars as pl

FIRST_DIGITS = "(){}[]<>+-abcdefghijklmnopqrstuvwxyz!@#$%^&*_"
LATER_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ~|';:.?/`"
BASE = 45
# At most 11 digits a number: 45**12 would not fit in 64 bits.
_TOKEN = f"[{re.escape(FIRST_DIGITS)}][{re.escape(LATER_DIGITS)}]{{0,10}}"
_VALID = f"^(?:{_TOKEN}){{2,}}$"
_DIGIT_VALUE = {c: i for i, c in enumerate(FIRST_DIGITS)} | {c: i for i, c in enumerate(LATER_DIGITS)}


def valid_load(text: pl.Expr) -> pl.Expr:
    """True where the field is a well-formed encoding of a base and at least one core."""
    return text.fill_null("").str.contains(_VALID)


def decode_load(frame: pl.DataFrame, column: str = "load") -> pl.DataFrame:
    """Add `cpus` (per-core CPU seconds, list of UInt64) decoded from a valid `column`.

    Rows whose field is missing or malformed get a null list.
    """
    rows = frame.with_row_index("_row")
    tokens = (
        rows.filter(valid_load(pl.col(column)))
        .select("_row", pl.col(column).str.extract_all(_TOKEN).alias("_tok"))
        .explode("_tok")
        .with_columns(pl.int_range(pl.len()).over("_row").alias("_pos"))
    )
    digits = (
        tokens.with_columns(pl.col("_tok").str.split("").alias("_ch"))
        .explode("_ch")
        .with_columns(pl.int_range(pl.len()).over("_row", "_pos").alias("_place"))
        .with_columns(
            (pl.col("_ch").replace_strict(_DIGIT_VALUE, return_dtype=pl.UInt64)
             * pl.lit(BASE, pl.UInt64).pow(pl.col("_place").cast(pl.UInt64))).alias("_v")
        )  # fmt: skip
    )
    numbers = digits.group_by("_row", "_pos").agg(pl.col("_v").sum()).sort("_row", "_pos")
    cpus = numbers.group_by("_row", maintain_order=True).agg(
        (pl.col("_v").slice(1) + pl.col("_v").first()).alias("cpus")
    )
    return rows.join(cpus, on="_row", how="left").sort("_row").drop("_row")

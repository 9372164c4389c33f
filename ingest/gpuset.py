"""GPU sets as UInt32 bit masks, with the Go sonalyze's text form.

`none` is 0, `unknown` is 1<<31, `0,2` is 0b101.  Cards above 30 cannot be
represented and make the text invalid, as in the reference.
"""

from __future__ import annotations

import polars as pl

from sonalyze.ingest.schemas import GPUSET_UNKNOWN

MAX_CARD = 30


def parse_gpuset(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Text to mask, and a "bad" flag where the text is present but invalid."""
    parts = text.str.split(",")
    numbers = parts.list.eval(
        pl.when(pl.element().str.contains(r"^\d{1,2}$"))
        .then(pl.element())
        .cast(pl.UInt32, strict=False)
    )
    ok = numbers.list.eval(pl.element().is_not_null() & (pl.element() <= MAX_CARD)).list.all()
    mask = numbers.list.eval(pl.lit(2, pl.UInt32).pow(pl.element()).cast(pl.UInt32)).list.eval(
        pl.element().unique()
    ).list.sum().cast(pl.UInt32)
    value = (
        pl.when(text == "none")
        .then(pl.lit(0, pl.UInt32))
        .when(text == "unknown")
        .then(pl.lit(GPUSET_UNKNOWN, pl.UInt32))
        .when(ok)
        .then(mask)
    )
    return value, text.is_not_null() & value.is_null()


def mask_from_indices(indices: pl.Expr) -> pl.Expr:
    """Mask from a list of card indices (new format); out-of-range cards mark unknown."""
    bad = indices.list.eval(pl.element() > MAX_CARD).list.any()
    mask = (
        indices.list.eval(pl.lit(2, pl.UInt64).pow(pl.element().clip(0, MAX_CARD)))
        .list.eval(pl.element().unique())
        .list.sum()
    )
    return (
        pl.when(indices.is_null() | (indices.list.len() == 0))
        .then(pl.lit(0, pl.UInt32))
        .when(bad)
        .then(pl.lit(GPUSET_UNKNOWN, pl.UInt32))
        .otherwise(mask.cast(pl.UInt32))
    )


def format_gpuset(mask: pl.Expr) -> pl.Expr:
    """Mask to text: `none`, `unknown` or the sorted card list `0,1,3`."""
    cards = pl.concat_str(
        [
            pl.when((mask & pl.lit(1 << k, pl.UInt32)) != 0).then(pl.lit(str(k)))
            for k in range(MAX_CARD + 1)
        ],
        separator=",",
        ignore_nulls=True,
    )
    return (
        pl.when(mask == 0)
        .then(pl.lit("none"))
        .when(mask == GPUSET_UNKNOWN)
        .then(pl.lit("unknown"))
        .otherwise(cards)
    )

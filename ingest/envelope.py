"""Shared pieces of Sonar's new JSON-lines envelopes (`meta`, `data`, `errors`)."""

from __future__ import annotations

import polars as pl

META = pl.Struct({"producer": pl.String, "version": pl.String, "format": pl.UInt64})
ERROR_OBJECT = pl.Struct(
    {"time": pl.String, "detail": pl.String, "cluster": pl.String, "node": pl.String}
)


def envelope_schema(attributes: pl.Struct) -> dict[str, pl.DataType]:
    """The schema of one envelope line whose `data.attributes` is `attributes`."""
    return {
        "meta": META,
        "data": pl.Struct({"type": pl.String, "attributes": attributes}),
        "errors": pl.List(ERROR_OBJECT),
    }


def split_errors(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(envelopes with data, envelopes that carry `errors` or no data at all)."""
    has_errors = pl.col("errors").is_not_null() & (pl.col("errors").list.len() > 0)
    no_data = pl.col("data").struct.field("attributes").is_null()
    bad = frame.select(has_errors | no_data).to_series()
    if not bad.any():  # the usual case: no copy of the (large, nested) frame
        return frame, frame.clear()
    return frame.filter(~bad), frame.filter(bad)


def attributes(frame: pl.DataFrame) -> pl.DataFrame:
    """Flatten `meta.version` and `data.attributes.*` to top-level columns."""
    return frame.select(
        "lineno",
        pl.col("meta").struct.field("version").alias("version"),
        pl.col("data").struct.field("attributes").alias("_attrs"),
    ).unnest("_attrs")

"""Slurm's textual units, as checked vectorised casts.

Elapsed times `[D-][H:]M:S[.frac]`, byte sizes with K/M/G/T/P suffixes
(to KiB, rounded up), job ids `N`, `A_T` (array) and `H+O` (het), and the
GPU part of a TRES string (`gres/gpu:a100=1,gres/gpu=1` -> `a100=1,*=1`).
"""

from __future__ import annotations

import polars as pl

_ELAPSED = r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)(?:\.\d*)?$"
_BYTES = r"^(\d+(?:\.\d*)?)([KMGTP]?)([nc]?)$"
_SCALE = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def elapsed_seconds(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Slurm elapsed text to seconds, and a "bad" flag."""
    parts = text.str.extract_groups(_ELAPSED)
    days = parts.struct.field("1").cast(pl.UInt64, strict=False).fill_null(0)
    hours = parts.struct.field("2").cast(pl.UInt64, strict=False).fill_null(0)
    minutes = parts.struct.field("3").cast(pl.UInt64, strict=False)
    seconds = parts.struct.field("4").cast(pl.UInt64, strict=False)
    value = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    return value, text.is_not_null() & value.is_null()


def size_kib(text: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Slurm size to KiB (rounded up), its `n`/`c` per-node/per-CPU suffix, and "bad"."""
    parts = text.str.extract_groups(_BYTES)
    number = parts.struct.field("1").cast(pl.Float64, strict=False)
    unit = parts.struct.field("2")
    scale = unit.replace_strict(_SCALE, default=None, return_dtype=pl.Float64)
    value = (number * scale / 1024).ceil().cast(pl.UInt64, strict=False)
    per = parts.struct.field("3")
    return value, per, text.is_not_null() & value.is_null()


def split_job_id(text: pl.Expr) -> dict[str, pl.Expr]:
    """From sacct's `JobID` (`A_T.s`, `H+O.s`, `N.s`): array and het ids, and "bad"."""
    head = text.str.split_exact(".", 1).struct.field("field_0")
    array = head.str.extract_groups(r"^(\d+)_(\d+)$")
    het = head.str.extract_groups(r"^(\d+)\+(\d+)$")
    plain = head.str.contains(r"^\d+$")
    u64 = pl.UInt64
    return {
        "array_job_id": array.struct.field("1").cast(u64, strict=False),
        "array_task_id": array.struct.field("2").cast(u64, strict=False),
        "het_job_id": het.struct.field("1").cast(u64, strict=False),
        "het_job_offset": het.struct.field("2").cast(u64, strict=False),
        "_bad": text.is_not_null()
        & ~plain
        & array.struct.field("1").is_null()
        & het.struct.field("1").is_null(),
    }


# COMPAT(tres-gpus): only gres/gpu= and gres/gpu:TYPE= items, not gres/gpumem etc.
def gpus_from_tres(tres: pl.Expr) -> pl.Expr:
    """`a100=1,*=1` from the GPU items of a TRES string; "" when there are none."""
    items = tres.str.split(",").list.eval(
        pl.when(pl.element().str.starts_with("gres/gpu="))
        .then(pl.lit("*") + pl.element().str.slice(8))
        .when(pl.element().str.starts_with("gres/gpu:"))
        .then(pl.element().str.slice(9))
    )
    return items.list.drop_nulls().list.join(",").fill_null("")
